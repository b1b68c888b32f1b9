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

from service.errors import RequestErrorCode
from service.logs import REQUEST_ID

audit_log = logging.getLogger("tessera.audit")


async def record(execution_context: ExecutionContext, started: float) -> None:
    """Write the operation's audit line (``started``: its ``perf_counter`` at start)."""
    if not audit_log.isEnabledFor(logging.INFO):
        return
    context = execution_context.context
    result = execution_context.result
    top = [
        (e.extensions or {}).get("code", RequestErrorCode.GRAPHQL_VALIDATION_FAILED)
        for e in (result.errors if result is not None and result.errors else [])
    ]
    outcome = (top or context.audit.outcomes or ["ok"])[0]
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
                "outcome": outcome,
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
