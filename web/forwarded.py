"""A guard for ASGI servers that rewrite the client address from ``X-Forwarded-For``
before Tessera sees the request."""

from __future__ import annotations

import logging

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from schema import audit

log = logging.getLogger("tessera")


class ForwardedGuard:
    """For the module-level ``app``, which other ASGI servers load: ``uvicorn server:app``
    (and gunicorn's uvicorn worker) rewrite the client address from ``X-Forwarded-For``
    for peers *they* trust (127.0.0.1 by default) before the app sees the request, and
    the peer's own address is then lost. A request whose client address is one of its
    own forwarded hops was rewritten like that, and is refused rather than believed:
    only ``TESSERA_TRUSTED_PROXIES`` decides whose forwarded address counts. (``serve``
    turns uvicorn's rewriting off and does not need this.)"""

    REASON = (
        "the ASGI server took the client address from X-Forwarded-For: run `tessera "
        "serve`, or uvicorn with --no-proxy-headers"
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client") and _rewritten(scope):
            log.error("request refused: %s", self.REASON)
            audit.refused("unknown", scope["method"], scope["path"], 500, self.REASON)
            await PlainTextResponse(self.REASON, 500)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _rewritten(scope: Scope) -> bool:
    """The client address is one of the request's ``X-Forwarded-For`` hops."""
    client = scope["client"][0]
    for name, value in scope["headers"]:
        if name != b"x-forwarded-for":
            continue
        for hop in value.decode("latin-1").split(","):
            hop = hop.strip()
            if hop.startswith("["):  # [IPv6]:port
                hop = hop[1:].partition("]")[0]
            elif hop.count(":") == 1:  # IPv4:port
                hop = hop.partition(":")[0]
            if hop == client:
                return True
    return False
