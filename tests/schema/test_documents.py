from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import specified_rules

from schema import documents, schema
from schema.guards import rules

INTROSPECTION = "query Probe { __schema { queryType { name } } }"


def _context(query: str, *, introspection: bool = True, max_fields: int = 150) -> Any:
    settings = SimpleNamespace(max_fields=max_fields)
    return SimpleNamespace(
        query=query,
        schema=schema,
        parse_options={"max_tokens": 1000},
        validation_rules=(*specified_rules, *rules(10, 20, 10, introspection)),
        context=SimpleNamespace(tessera=SimpleNamespace(settings=settings)),
    )


def _errors(query: str, **limits: Any) -> list[str]:
    prepared = documents.prepare(_context(query, **limits))
    assert prepared is not None
    return [e.message for e in prepared.errors]


def test_documents_same_text_other_rules_is_validated_again() -> None:
    assert _errors(INTROSPECTION, introspection=True) == []
    refused = _errors(INTROSPECTION, introspection=False)

    assert any("introspection" in m for m in refused)
    assert _errors(INTROSPECTION, introspection=True) == []


def test_documents_repeated_text_is_answered_from_the_cache() -> None:
    query = "query Cached { __typename }"
    first = documents.prepare(_context(query))
    hits, misses = documents.cache_info()

    again = documents.prepare(_context(query))

    assert first is not None and again is first
    assert first.fields == ("__typename",)
    assert documents.cache_info() == (hits + 1, misses)


def test_documents_too_many_fields_is_refused_without_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(documents, "validate_document", pytest.fail)

    assert _errors("{ a b c d }", max_fields=3) == ["the document selects more than 3 fields"]


@pytest.mark.parametrize("query", ["", "{ unclosed", "{ " + "a " * 2000 + "}"])
def test_documents_unparsable_or_missing_query_is_left_to_strawberry(query: str) -> None:
    assert documents.prepare(_context(query)) is None
