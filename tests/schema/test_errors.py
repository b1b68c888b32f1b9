"""Top-level errors leave with a code, whatever produced them (schema/errors.py)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLError, GraphQLSyntaxError, Source, parse

from schema.errors import top_level
from service.errors import RequestErrorCode


def _syntax_error(query: str, **limits: Any) -> GraphQLSyntaxError:
    with pytest.raises(GraphQLSyntaxError) as raised:
        parse(query, **limits)
    return raised.value


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (_syntax_error("{ unclosed"), "GRAPHQL_PARSE_FAILED"),
        (_syntax_error('{ a(b: "unterminated) }'), "GRAPHQL_PARSE_FAILED"),
        (_syntax_error("{ " + "a " * 60 + "}", max_tokens=50), "BAD_REQUEST"),
        (_syntax_error("# x\n" * 60 + "{ a }", max_tokens=50), "BAD_REQUEST"),
        (_syntax_error("{ a }" + " " * 100, max_source_length=50), "BAD_REQUEST"),
    ],
    ids=["unclosed", "unterminated-string", "tokens", "comment-tokens", "source-length"],
)
def test_top_level_document_that_does_not_parse_is_coded(error: GraphQLError, code: str) -> None:
    mapped = top_level(error, suggestions=False)

    assert mapped.extensions == {"code": code}
    assert (mapped.message, mapped.locations) == (error.message, error.locations)


def test_top_level_request_error_before_execution_is_bad_user_input() -> None:
    # What graphql-core reports for variables that do not coerce: no path, no original.
    error = GraphQLError("Variable '$first' got invalid value 'x'; Int cannot represent it.")

    assert top_level(error, suggestions=True).extensions == {"code": "BAD_USER_INPUT"}


def test_top_level_graphql_error_raised_in_a_field_without_code_is_masked() -> None:
    raised = GraphQLError("Abstract type 'X' must resolve to an Object type at runtime.")
    error = GraphQLError(raised.message, path=["products"], original_error=raised)

    mapped = top_level(error, suggestions=True)

    assert (mapped.message, mapped.extensions) == (
        "Internal server error.",
        {"code": "INTERNAL_SERVER_ERROR"},
    )
    assert mapped.path == ["products"]


def test_top_level_coded_error_keeps_its_code_without_suggestions() -> None:
    code = RequestErrorCode.GRAPHQL_VALIDATION_FAILED
    error = GraphQLError(
        "Cannot query field 'product' on type 'Query'. Did you mean 'products'?",
        source=Source("{ product }"),
        positions=[2],
        extensions={"code": code},
    )

    mapped = top_level(error, suggestions=False)

    assert mapped.message == "Cannot query field 'product' on type 'Query'."
    assert mapped.extensions == {"code": code}
    assert mapped.locations == error.locations
    assert top_level(error, suggestions=True) is error
