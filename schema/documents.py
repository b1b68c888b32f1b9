"""Operation documents parsed, measured and validated once per query text.

One LRU cache, keyed by the query text and the limits in force, holds each document with
its verdict; the policy's operation hook hands both to Strawberry, which then neither
parses nor validates again. Strawberry's ``ParserCache`` and ``ValidationCache`` would
do the same as two more extensions, and every extension hook is wrapped anew on every
request; the validation cache also hashes the parsed document, which graphql-core does
by walking every node of it on each lookup."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
)
from strawberry.schema.schema import validate_document
from strawberry.types.execution import ExecutionContext

from schema.guards import count_fields

DOCUMENTS = 1024
"""Distinct query texts kept; bounded so unique documents from clients cannot grow
memory."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed document, its errors (none: an empty list) and the root fields its
    operations select (for the audit line)."""

    document: DocumentNode
    errors: list[GraphQLError]
    fields: tuple[str, ...]


@lru_cache(maxsize=DOCUMENTS)
def _prepare(
    query: str,
    schema: GraphQLSchema,
    rules: tuple[type[ASTValidationRule], ...],
    max_tokens: int,
    max_fields: int,
) -> Prepared:
    document = parse(query, max_tokens=max_tokens)
    fields = tuple(
        selection.name.value
        for definition in document.definitions
        if isinstance(definition, OperationDefinitionNode)
        for selection in definition.selection_set.selections
        if hasattr(selection, "name")
    )
    # Counted before validation, not as a rule: graphql-core's overlapping-fields rule
    # is quadratic in the fields of a selection set, so hundreds of repeated fields
    # would cost seconds before any rule could object.
    if count_fields(document, max_fields) > max_fields:
        refusal = GraphQLError(
            f"the document selects more than {max_fields} fields",
            extensions={"code": "BAD_REQUEST"},
        )
        return Prepared(document, [refusal], fields)
    return Prepared(document, validate_document(schema, document, rules), fields)


def prepare(execution_context: ExecutionContext) -> Prepared | None:
    """The operation's document and verdict under the limits ``apply_limits`` set, from
    the cache when this text was prepared before. ``None`` when there is no query or it
    does not parse: Strawberry then parses it and reports the error itself."""
    query = execution_context.query
    if not query:
        return None
    try:
        return _prepare(
            query,
            execution_context.schema._schema,
            execution_context.validation_rules,
            execution_context.parse_options["max_tokens"],
            execution_context.context.tessera.settings.max_fields,
        )
    except GraphQLError:
        return None


def cache_info() -> tuple[int, int]:
    """(hits, misses) of the document cache since the process started."""
    info = _prepare.cache_info()
    return info.hits, info.misses
