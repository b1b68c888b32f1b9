from __future__ import annotations

from typing import Any

import pytest
from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition

from schema import schema
from schema.configs import CreateSessionConfigInput, UpdateSessionConfigInput
from schema.products import CreateProductInput
from schema.sessions import (
    CreateSessionInput,
    RevokeSessionInput,
    RevokeSessionTarget,
    VerifySessionInput,
)
from service.catalog import Period


def _convert(cls: type, value: dict[str, Any]) -> Any:
    converter = schema.schema_converter
    return convert_argument(value, cls, converter.scalar_registry, schema.config)


def _convert_by_strawberry(cls: type, value: dict[str, Any], monkeypatch: Any) -> Any:
    """The same conversion with the plans switched off: Strawberry field by field."""
    for definition in _input_definitions():
        monkeypatch.setattr(definition, "from_input", None)
    return _convert(cls, value)


def _input_definitions() -> list[Any]:
    types = schema.schema_converter.type_map.values()
    return [
        t.definition
        for t in types
        if getattr(t.definition, "is_input", False) and hasattr(t.definition, "from_input")
    ]


SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
CASES = [
    (VerifySessionInput, {**SCOPE, "token": "web:abc"}),
    (
        CreateSessionInput,
        {**SCOPE, "data": {"userId": "u1", "details": {"email": "a@b.c", "n": [1, None]}}},
    ),
    (RevokeSessionInput, {**SCOPE, "sessionId": None, "identifier": "u1"}),
    (RevokeSessionInput, {**SCOPE, "target": {"sessionId": "s1"}}),
    (RevokeSessionTarget, {"identifier": "u1"}),
    (CreateProductInput, {"tag": "shop", "name": "Shop", "envs": ["prd", "dev"]}),
    (
        CreateSessionConfigInput,
        {"product": "shop", "tag": "web", "name": "Web", "period": Period.DAYS, "schema": None},
    ),
    (
        UpdateSessionConfigInput,
        {"product": "shop", "tag": "web", "idleTimeout": None, "schema": {"type": "object"}},
    ),
]


def test_inputs_every_input_type_builds_through_its_plan() -> None:
    definitions = _input_definitions()

    assert definitions
    assert all(d.from_input is not None for d in definitions), [
        d.name for d in definitions if d.from_input is None
    ]


@pytest.mark.parametrize(("cls", "value"), CASES, ids=[c.__name__ for c, _ in CASES])
def test_inputs_plan_builds_what_strawberry_builds(
    cls: type, value: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = _convert(cls, value)

    assert planned == _convert_by_strawberry(cls, value, monkeypatch)
    assert get_object_definition(cls, strict=True).from_input is None  # really switched off


def test_inputs_omitted_maybe_field_stays_unset_and_null_is_kept() -> None:
    omitted = _convert(UpdateSessionConfigInput, {"product": "shop", "tag": "web"})
    cleared = _convert(UpdateSessionConfigInput, {"product": "shop", "tag": "web", "schema": None})

    assert omitted.schema is None
    assert cleared.schema is not None and cleared.schema.value is None
