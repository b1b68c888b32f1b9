"""The per-operation policy: limits before parsing, cached parsing, the field cap and
cached validation, error rewriting and the audit line after execution.

One extension with one hook per phase, on purpose: Strawberry builds context managers for
every hook of every extension on every request. Merging three ``on_operation`` hooks into
this one cut a verifySession request by 5 % of its instructions (callgrind, 400
requests); folding the parser and validation caches in as well removed two more
extensions from every request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

from strawberry.extensions import ParserCache

from schema.audit import record
from schema.errors import escaped, rewrite_errors
from schema.guards import apply_limits, check_fields
from schema.validation import DOCUMENTS, validate


class OperationPolicy(ParserCache):
    """Strawberry's parser cache (``on_parse``) with Tessera's policy around it."""

    def __init__(self) -> None:
        super().__init__(maxsize=DOCUMENTS)

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        execution_context = self.execution_context
        await apply_limits(execution_context)
        try:
            yield
        except Exception as exc:
            mapped = escaped(exc)
            if mapped is None:
                raise
            raise mapped from exc
        await rewrite_errors(execution_context)
        await record(execution_context, started)

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        check_fields(execution_context)
        # Strawberry skips its own validation when this is already set.
        execution_context.pre_execution_errors = validate(execution_context)
        yield
