from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from graphql import parse, specified_rules

from schema import schema, validation
from schema.guards import rules

QUERY = "query Probe { __schema { queryType { name } } }"


def _validate(query: str, *, introspection: bool) -> list[str]:
    context: Any = SimpleNamespace(
        query=query,
        graphql_document=parse(query),
        validation_rules=(*specified_rules, *rules(10, 20, 10, introspection)),
        schema=schema,
    )
    return [e.message for e in validation.validate(context)]


def test_validation_same_text_other_rules_is_validated_again() -> None:
    assert _validate(QUERY, introspection=True) == []
    refused = _validate(QUERY, introspection=False)

    assert any("introspection" in m for m in refused)
    assert _validate(QUERY, introspection=True) == []


def test_validation_repeated_text_is_answered_from_the_cache() -> None:
    query = "query Cached { __typename }"
    _validate(query, introspection=False)
    hits, misses = validation.cache_info()

    assert _validate(query, introspection=False) == []
    assert validation.cache_info() == (hits + 1, misses)
