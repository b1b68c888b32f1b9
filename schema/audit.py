"""One structured audit line per GraphQL operation, and one per request refused before
any operation ran. Never a secret: the caller is named by key id or session id, and no
argument value other than product/env/tag is logged.

With uvicorn's access log off (the default, ``TESSERA_ACCESS_LOG``) these lines are the
record of every request to ``/graphql``."""

from __future__ import annotations

import json
import logging
import time

from strawberry.types.execution import ExecutionContext

from service import metrics
from service.errors import RequestErrorCode
from service.logs import REQUEST_ID

audit_log = logging.getLogger("tessera.audit")


def outcome(execution_context: ExecutionContext) -> str:
    """``ok``, or the code of the operation's first top-level error, or else of the
    first expected error its fields answered with."""
    result = execution_context.result
    if result is not None and result.errors:
        code: str = (result.errors[0].extensions or {}).get(
            "code", RequestErrorCode.GRAPHQL_VALIDATION_FAILED
        )
        return code
    outcomes = execution_context.context.audit.outcomes
    return outcomes[0] if outcomes else "ok"


async def record(execution_context: ExecutionContext, started: float) -> None:
    """Write the operation's audit line (``started``: its ``perf_counter`` at start)."""
    if not audit_log.isEnabledFor(logging.INFO):
        return
    context = execution_context.context
    principal = await context.principal_or_none()
    audit_log.info(
        json.dumps(
            {
                "event": "operation",
                "operation": execution_context.operation_name,
                "fields": context.audit.fields,
                "product": context.audit.product,
                "env": context.audit.env,
                "tag": context.audit.tag,
                "outcome": outcome(execution_context),
                "caller": None if principal is None else principal.label,
                "client": context.client_ip,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "request_id": REQUEST_ID.get(),
            },
            separators=(",", ":"),
        )
    )


def refused(client: str, method: str, path: str, status: int, reason: str) -> None:
    """Write the audit line of a request refused before any GraphQL work (``reason``:
    the fixed text the client was answered with, never request content)."""
    metrics.refused(status)
    if not audit_log.isEnabledFor(logging.INFO):
        return
    audit_log.info(
        json.dumps(
            {
                "event": "refused",
                "method": method,
                "path": path,
                "status": status,
                "reason": reason,
                "client": client,
                "request_id": REQUEST_ID.get(),
            },
            separators=(",", ":"),
        )
    )
