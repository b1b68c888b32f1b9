"""Operation documents parsed, measured and validated once per query text.

One LRU cache, keyed by the query text and the limits in force, holds each document with
its verdict; the policy's operation hook hands both to Strawberry, which then neither
parses nor validates again (``schema.engine.use_document``, where what this replaces and
gains is told).

The verdict is final when cached: every error carries its ``extensions.code``, and a
document a guard refused carries only its refusals (schema/guards.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)
from strawberry.types.execution import ExecutionContext

from schema.engine import UnknownOperation, graphql_schema, validate_document
from schema.guards import Refusal, count_fields
from service.errors import RequestErrorCode

DOCUMENTS = 1024
"""Distinct query texts kept; bounded so unique documents from clients cannot grow
memory."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed document, its errors (none: an empty list) and the root fields of each
    of its operations (for the audit line): by name, and under ``None`` as well when
    the document has only one operation — the one a request naming none runs."""

    document: DocumentNode
    errors: list[GraphQLError]
    operations: Mapping[str | None, tuple[str, ...]]

    def fields(self, operation_name: str | None) -> tuple[str, ...]:
        """The root fields of the operation a request naming ``operation_name`` runs;
        ``UnknownOperation`` when that names no single operation of the document."""
        fields = self.operations.get(operation_name)
        if fields is None:
            raise UnknownOperation(operation_name)
        return fields


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    spread: set[str],
) -> Iterator[str]:
    """The fields a root selection set selects, through its fragments (each spread once:
    a cyclic or repeated spread adds nothing, and validation reports the cycle)."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _root_fields(selection.selection_set, fragments, spread)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None and fragment.name.value not in spread:
                spread.add(fragment.name.value)
                yield from _root_fields(fragment.selection_set, fragments, spread)


def _operations(document: DocumentNode) -> dict[str | None, tuple[str, ...]]:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    found: dict[str | None, tuple[str, ...]] = {}
    for definition in operations:
        fields = tuple(_root_fields(definition.selection_set, fragments, set()))
        if definition.name is not None:
            found.setdefault(definition.name.value, fields)
        if len(operations) == 1:
            found[None] = fields
    return found


def _verdict(errors: list[GraphQLError]) -> list[GraphQLError]:
    """The refusals alone if a guard refused the document; otherwise every error, coded
    as a validation failure."""
    refusals: list[GraphQLError] = [e for e in errors if isinstance(e, Refusal)]
    if refusals:
        return refusals
    for error in errors:
        if not (error.extensions or {}).get("code"):
            error.extensions = {
                **(error.extensions or {}),
                "code": RequestErrorCode.GRAPHQL_VALIDATION_FAILED,
            }
    return errors


@lru_cache(maxsize=DOCUMENTS)
def _prepare(
    query: str,
    schema: strawberry.Schema,
    rules: tuple[type[ASTValidationRule], ...],
    max_tokens: int,
    max_fields: int,
) -> Prepared:
    document = parse(query, max_tokens=max_tokens)
    operations = _operations(document)
    # Counted before validation, not as a rule: graphql-core's overlapping-fields rule
    # is quadratic in the fields of a selection set, so hundreds of repeated fields
    # would cost seconds before any rule could object.
    if count_fields(document, max_fields) > max_fields:
        refusal = Refusal(
            f"the document selects more than {max_fields} fields",
            None,
            RequestErrorCode.BAD_REQUEST,
        )
        return Prepared(document, [refusal], operations)
    errors = validate_document(graphql_schema(schema), document, rules)
    return Prepared(document, _verdict(errors), operations)


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
            execution_context.schema,
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
