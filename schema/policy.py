"""The per-operation policy, as one hook around the whole operation: before it the
limits and the prepared (parsed, measured, validated) document; after it the errors
rewritten and the audit line.

One extension with one hook, on purpose: Strawberry wraps every hook of every extension
anew on every request. Merging three ``on_operation`` hooks cut a verifySession request
by 5 % of its instructions (callgrind, 400 requests); folding in the parse and
validation caches (schema/documents.py) removed two more extensions and two hooks."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from strawberry.extensions import SchemaExtension

from schema.audit import record
from schema.documents import prepare
from schema.engine import use_document
from schema.errors import escaped, rewrite_errors
from schema.guards import apply_limits
from schema.metrics import observe
from schema.persisted import register_valid


class OperationPolicy(SchemaExtension):
    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        execution_context = self.execution_context
        await apply_limits(execution_context)
        try:
            prepared = prepare(execution_context)
            if prepared is not None:
                name = use_document(execution_context, prepared.document, prepared.errors)
                # Raises for an unknown or ambiguous operation before anything runs.
                execution_context.context.audit.fields = prepared.fields(name)
            yield
        except Exception as exc:
            mapped = escaped(exc)
            if mapped is None:
                raise
            raise mapped from exc
        await register_valid(execution_context, prepared)
        await rewrite_errors(execution_context)
        observe(execution_context, started)
        await record(execution_context, started)
