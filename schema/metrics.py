"""Each GraphQL operation counted and timed (service/metrics.py), under labels from fixed
sets: the operation is named by its root field as the schema defines it — never by the
client's operation name or by anything the document could make up — and its outcome by
an error code of the service's enumerations."""

from __future__ import annotations

import time
from functools import cache

import strawberry
from strawberry.types.execution import ExecutionContext

from schema.audit import outcome
from schema.engine import graphql_schema
from service import metrics
from service.errors import ErrorCode, RequestErrorCode

MULTIPLE = "multiple"
INTROSPECTION = "introspection"
OTHER = "other"
_INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})
OUTCOMES = frozenset({"ok", *ErrorCode, *RequestErrorCode})


@cache
def root_fields(schema: strawberry.Schema) -> frozenset[str]:
    """The names of the schema's root fields: the only operation labels besides the
    three above."""
    core = graphql_schema(schema)
    roots = (core.query_type, core.mutation_type, core.subscription_type)
    return frozenset(name for root in roots if root is not None for name in root.fields)


def operation_label(fields: tuple[str, ...], known: frozenset[str]) -> str:
    """The label of an operation selecting ``fields`` (its root fields, repeats and
    ``__typename`` included): the one root field it selects, ``introspection`` for
    ``__schema``/``__type`` alone, ``multiple`` for several, ``other`` when it selects
    none or one the schema does not have (it did not validate)."""
    if len(fields) == 1 and fields[0] in known:
        return fields[0]
    selected = {f for f in fields if f != "__typename"}
    if not selected <= known | _INTROSPECTION_FIELDS:
        return OTHER
    if selected and selected <= _INTROSPECTION_FIELDS:
        return INTROSPECTION
    selected -= _INTROSPECTION_FIELDS
    if not selected:
        return OTHER
    return selected.pop() if len(selected) == 1 else MULTIPLE


def observe(execution_context: ExecutionContext, started: float) -> None:
    """Count the operation that just ran (``started``: its ``perf_counter`` at start)."""
    label = operation_label(
        execution_context.context.audit.fields, root_fields(execution_context.schema)
    )
    result = outcome(execution_context)
    metrics.operation_done(
        label, result if result in OUTCOMES else OTHER, time.perf_counter() - started
    )
