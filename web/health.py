"""The probes a load balancer or an orchestrator asks."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


async def healthz(request: Request) -> Response:
    """The process is alive (for a load balancer's liveness check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers and its migrations are at head, and the process is not
    shutting down (readiness check)."""
    if request.app.state.drain.draining:
        return JSONResponse({"status": "shutting down"}, status_code=503)
    if await request.app.state.tessera.store.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready"}, status_code=503)
