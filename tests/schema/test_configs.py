"""The session-config inputs carry the service's fields (ConfigSpec, ConfigPatch) by name:
what the schema declares and what the service takes cannot drift apart."""

from __future__ import annotations

import dataclasses
from typing import Any

from strawberry.types.arguments import convert_argument
from strawberry.types.base import get_object_definition
from strawberry.types.field import StrawberryField

from schema import schema
from schema.configs import CreateSessionConfigInput, UpdateSessionConfigInput
from service.catalog import ConfigPatch, ConfigSpec, Period


def _convert(cls: type, value: dict[str, Any]) -> Any:
    converter = schema.schema_converter
    return convert_argument(value, cls, converter.scalar_registry, schema.config)


def _fields(cls: type) -> dict[str, StrawberryField]:
    return {f.python_name: f for f in get_object_definition(cls, strict=True).fields}


def test_create_input_has_every_spec_field_with_the_service_default() -> None:
    declared = _fields(CreateSessionConfigInput)

    assert set(declared) == {"product"} | {f.name for f in dataclasses.fields(ConfigSpec)}
    for field in dataclasses.fields(ConfigSpec):
        if field.name != "name":  # required in GraphQL, defaults to the tag in the service
            assert declared[field.name].default_value == field.default, field.name


def test_update_input_has_every_patch_field() -> None:
    declared = set(_fields(UpdateSessionConfigInput))
    patched = {f.name for f in dataclasses.fields(ConfigPatch) if not f.name.startswith("clear_")}

    assert declared == {"product", "tag"} | patched


def test_create_input_spec_carries_every_value() -> None:
    given = _convert(
        CreateSessionConfigInput,
        {
            "product": "shop",
            "tag": "web",
            "name": "Web",
            "description": "d",
            "selector": "$Session{details.email}",
            "expiry": 15,
            "period": Period.MINUTES,
            "refreshExpiry": 7,
            "refreshPeriod": Period.HOURS,
            "idleTimeout": 600,
            "refreshGraceSeconds": 5,
            "schema": {"type": "object"},
        },
    )

    assert given.spec() == ConfigSpec(
        tag="web",
        name="Web",
        description="d",
        selector="$Session{details.email}",
        expiry=15,
        period=Period.MINUTES,
        refresh_expiry=7,
        refresh_period=Period.HOURS,
        idle_timeout=600,
        refresh_grace_seconds=5,
        schema={"type": "object"},
    )


def test_update_input_patch_keeps_omitted_and_clears_null() -> None:
    given = _convert(
        UpdateSessionConfigInput,
        {"product": "shop", "tag": "web", "expiry": 2, "idleTimeout": None, "schema": {"a": 1}},
    )
    omitted = _convert(UpdateSessionConfigInput, {"product": "shop", "tag": "web"})

    assert given.patch() == ConfigPatch(expiry=2, schema={"a": 1}, clear_idle_timeout=True)
    assert omitted.patch() == ConfigPatch()
