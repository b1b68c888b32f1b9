from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import get_introspection_query, specified_rules

from schema import documents, schema
from schema.engine import UnknownOperation
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


def _prepared(query: str, **limits: Any) -> documents.Prepared:
    prepared = documents.prepare(_context(query, **limits))
    assert prepared is not None
    return prepared


def _errors(query: str, **limits: Any) -> list[str]:
    return [e.message for e in _prepared(query, **limits).errors]


def _codes(query: str, **limits: Any) -> list[str]:
    return [(e.extensions or {})["code"] for e in _prepared(query, **limits).errors]


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
    assert first.fields(None) == ("__typename",)
    assert documents.cache_info() == (hits + 1, misses)


def test_documents_too_many_fields_is_refused_without_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(documents, "validate_document", pytest.fail)

    assert _errors("{ a b c d }", max_fields=3) == ["the document selects more than 3 fields"]


@pytest.mark.parametrize("query", ["", "{ unclosed", "{ " + "a " * 2000 + "}"])
def test_documents_unparsable_or_missing_query_is_left_to_strawberry(query: str) -> None:
    assert documents.prepare(_context(query)) is None


SEVERAL = """
query Listing { products { tag } ...Keys }
mutation Creating { createProduct(input: {tag: "t", name: "T"}) { __typename } }
query Nested { ... on Query { ... on Query { sessionConfigs(product: "p") { tag } } } }
fragment Keys on Query { apiKeys { id } ...Keys }
"""


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("Listing", ("products", "apiKeys")),
        ("Creating", ("createProduct",)),
        ("Nested", ("sessionConfigs",)),
    ],
)
def test_documents_fields_are_the_root_fields_of_the_named_operation_only(
    name: str, fields: tuple[str, ...]
) -> None:
    assert _prepared(SEVERAL).fields(name) == fields


@pytest.mark.parametrize(
    ("query", "name"),
    [
        (SEVERAL, None),
        (SEVERAL, "Missing"),
        ("{ products { tag } } { apiKeys { id } }", None),
        ("{ products { tag } }", "Named"),
        ("fragment F on Query { products { tag } }", None),
    ],
    ids=["several-none-named", "unknown-name", "two-anonymous", "anonymous-named", "none"],
)
def test_documents_request_naming_no_single_operation_is_refused(
    query: str, name: str | None
) -> None:
    with pytest.raises(UnknownOperation) as refused:
        _prepared(query).fields(name)

    assert refused.value.operation_name == name


@pytest.mark.parametrize(
    "query",
    [
        "{ nope }",
        "{ products(x: 1) { tag } }",
        "query ($a: Nope) { __typename }",
        "{ ...Missing }",
        "query A { __typename } query A { __typename }",
    ],
)
def test_documents_validation_errors_are_coded(query: str) -> None:
    codes = _codes(query)

    assert codes and set(codes) == {"GRAPHQL_VALIDATION_FAILED"}


@pytest.mark.parametrize(
    "query",
    [
        "{ " + "a { " * 11 + "b" + " }" * 11 + " }",
        "{ " + " ".join(f"a{i}: nope" for i in range(21)) + " }",
        "{ __typename " + "@skip(if: false) " * 11 + "}",
    ],
    ids=["depth", "aliases", "directives"],
)
def test_documents_refused_document_is_answered_with_its_refusal_alone(query: str) -> None:
    # Each of these documents has validation errors besides the limit it breaks.
    assert len(_errors(query, max_fields=1000)) == 1
    assert _codes(query, max_fields=1000) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "query",
    [
        get_introspection_query(),
        '{ __schema { types { name } } __type(name: "Query") { name } }',
        "{ __schema { nope } products { nope } }",
    ],
    ids=["standard", "both-roots", "with-unknown-fields"],
)
def test_documents_refused_introspection_is_one_error(query: str) -> None:
    prepared = _prepared(query, introspection=False, max_fields=1000)

    assert [(e.extensions or {})["code"] for e in prepared.errors] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "introspection" in prepared.errors[0].message
