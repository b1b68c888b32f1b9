"""Operation labels for the metrics come from the schema, never from the document."""

from __future__ import annotations

import pytest

from schema import schema
from schema.metrics import operation_label, root_fields

KNOWN = root_fields(schema)


def test_root_fields_are_the_schemas_query_and_mutation_fields() -> None:
    assert {"verifySession", "createSession", "refreshSession", "_entities", "_service"} <= KNOWN
    assert "__typename" not in KNOWN and "__schema" not in KNOWN


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        (("verifySession",), "verifySession"),
        (("verifySession", "verifySession"), "verifySession"),  # aliases of one field
        (("__typename", "createSession"), "createSession"),
        (("products", "sessionConfigs"), "multiple"),
        (("__schema",), "introspection"),
        (("__type", "__typename", "__schema"), "introspection"),
        (("__schema", "products"), "products"),
        (("__typename",), "other"),
        ((), "other"),
        (("madeUpField",), "other"),
        (("products", "madeUpField"), "other"),
        (("VerifySession",), "other"),
    ],
)
def test_operation_label(fields: tuple[str, ...], label: str) -> None:
    assert operation_label(fields, KNOWN) == label
