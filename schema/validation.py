"""Validation results, cached per query text.

Strawberry's ``ValidationCache`` keys its cache by the parsed document, and graphql-core
hashes a document by walking every node of it on every lookup: for the createSession
document that walk cost more than a fifth of the whole operation hook (cProfile, 2,000
requests). The document is the parse of exactly its query text (the parser cache hands
back the same object for the same text), so the text and the rules are the whole key."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from strawberry.schema.schema import validate_document
from strawberry.types.execution import ExecutionContext

DOCUMENTS = 1024
"""Distinct documents whose parse and validation are kept; bounded so unique query
texts from clients cannot grow memory."""


@dataclass(frozen=True, slots=True)
class _Validation:
    query: str
    rules: tuple[type[ASTValidationRule], ...]
    schema: GraphQLSchema
    # Carried along for the first validation, never hashed or compared.
    document: DocumentNode = field(compare=False)


@lru_cache(maxsize=DOCUMENTS)
def _validated(validation: _Validation) -> list[GraphQLError]:
    return validate_document(validation.schema, validation.document, validation.rules)


def validate(execution_context: ExecutionContext) -> list[GraphQLError]:
    """The validation errors of the operation's document (none: an empty list), from
    the cache when this query text was validated before under the same rules."""
    assert execution_context.query is not None
    assert execution_context.graphql_document is not None
    return _validated(
        _Validation(
            execution_context.query,
            execution_context.validation_rules,
            execution_context.schema._schema,
            execution_context.graphql_document,
        )
    )


def cache_info() -> tuple[int, int]:
    """(hits, misses) of the validation cache since the process started."""
    info = _validated.cache_info()
    return info.hits, info.misses
