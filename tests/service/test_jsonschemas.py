"""Session-config JSON Schemas: every reference is resolved without retrieval when the
schema is checked, and one that does not resolve is named by its path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.jsonschemas import NOT_A_SCHEMA, NOT_A_STRING, NOT_RESOLVED, compiled, problems_of

REMOTE = "http://127.0.0.1:9/x.json"


@pytest.mark.parametrize(
    ("schema", "fields"),
    [
        ({"$ref": REMOTE}, ["schema.$ref"]),
        ({"$ref": "https://example.com/s.json"}, ["schema.$ref"]),
        ({"$ref": "file:///etc/passwd"}, ["schema.$ref"]),
        ({"$ref": "other.json"}, ["schema.$ref"]),
        ({"$ref": "#/$defs/missing"}, ["schema.$ref"]),
        ({"$ref": "#nowhere", "$defs": {"a": {"$anchor": "somewhere"}}}, ["schema.$ref"]),
        ({"$dynamicRef": REMOTE + "#meta"}, ["schema.$dynamicRef"]),
        ({"properties": {"a": {"$ref": REMOTE}}}, ["schema.properties.a.$ref"]),
        (
            {"$defs": {"a": {"allOf": [{"type": "object"}, {"$ref": REMOTE}]}}},
            ["schema.$defs.a.allOf.1.$ref"],
        ),
        (
            {"items": {"anyOf": [{"not": {"$ref": "#/$defs/gone"}}]}},
            ["schema.items.anyOf.0.not.$ref"],
        ),
        # A relative reference resolves against the $id in force, here a remote base.
        (
            {"$id": "http://127.0.0.1:9/root.json", "properties": {"a": {"$ref": "x.json"}}},
            ["schema.properties.a.$ref"],
        ),
        (
            {"$defs": {"b": {"$id": "http://127.0.0.1:9/b/", "$ref": "c.json"}}},
            ["schema.$defs.b.$ref"],
        ),
        # Under a keyword jsonschema does not know, reached only through a pointer.
        ({"$ref": "#/x-extra", "x-extra": {"$ref": REMOTE}}, ["schema.x-extra.$ref"]),
        # A pointer to a value that is no schema would crash validation.
        ({"$ref": "#/required", "required": ["a"]}, ["schema.$ref"]),
        ({"$ref": "#/properties/a/type", "properties": {"a": {"type": "string"}}}, ["schema.$ref"]),
        # Every problem is listed, in path order.
        (
            {"properties": {"b": {"$ref": "#/$defs/x"}, "a": {"$ref": REMOTE}}},
            ["schema.properties.a.$ref", "schema.properties.b.$ref"],
        ),
    ],
)
def test_problems_of_unresolvable_reference_names_its_path(
    schema: dict[str, Any], fields: list[str]
) -> None:
    problems = problems_of(schema)

    assert [p.field for p in problems] == fields
    assert all(p.message in (NOT_RESOLVED, NOT_A_SCHEMA) for p in problems)


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"email": {"type": "string"}}, "properties": {"e": {"$ref": "#/$defs/email"}}},
        {"properties": {"e": {"$ref": "#mail"}}, "$defs": {"m": {"$anchor": "mail"}}},
        {"$ref": "#", "type": "object"},
        {"$dynamicAnchor": "node", "properties": {"next": {"$dynamicRef": "#node"}}},
        # A remote-looking $id names the schema itself: its references stay inside.
        {
            "$id": "http://127.0.0.1:9/root.json",
            "$ref": "http://127.0.0.1:9/root.json#/$defs/a",
            "$defs": {"a": {"type": "object"}},
        },
        {"$id": "https://e.x/r", "$defs": {"b": {"$id": "b.json"}}, "$ref": "b.json"},
        {"$ref": "#/$defs/a~1b", "$defs": {"a/b": {"type": "object"}}},
        {"$ref": "#/$defs/a%20b", "$defs": {"a b": {"type": "object"}}},
        # The meta-schemas ship with jsonschema: resolved locally.
        {"$ref": "https://json-schema.org/draft/2020-12/schema"},
        {"$ref": "http://json-schema.org/draft-07/schema#"},
        # "$ref" as data or as a property name is no reference.
        {"const": {"$ref": REMOTE}, "examples": [{"$ref": REMOTE}]},
        {"properties": {"$ref": {"type": "string"}}},
        # $schema is never fetched (jsonschema only looks it up among known dialects).
        {"$schema": REMOTE, "type": "object"},
    ],
)
def test_problems_of_local_references_resolve(schema: dict[str, Any]) -> None:
    assert problems_of(schema) == ()
    assert compiled(json.dumps(schema)).validator is not None


def test_problems_of_reference_that_is_not_a_string() -> None:
    # Under an unknown keyword, so the meta-schema does not catch it first.
    problems = problems_of({"$ref": "#/x-extra", "x-extra": {"$ref": 5}})

    assert [(p.field, p.message) for p in problems] == [("schema.x-extra.$ref", NOT_A_STRING)]


def test_compiled_validator_follows_local_references() -> None:
    schema = {
        "$defs": {"email": {"type": "string", "format": "email"}},
        "properties": {"email": {"$ref": "#/$defs/email"}},
    }
    validator = compiled(json.dumps(schema)).validator
    assert validator is not None

    assert validator.is_valid({"email": "a@b.co"})
    assert [e.message for e in validator.iter_errors({"email": "nope"})] == [
        "'nope' is not a 'email'"
    ]


@pytest.mark.parametrize(
    "text",
    [json.dumps({"$ref": REMOTE}), json.dumps({"type": "no-such-type"}), "{", "[1]"],
)
def test_compiled_unusable_stored_schema_has_problems(text: str) -> None:
    result = compiled(text)

    assert result.validator is None
    assert result.problems
