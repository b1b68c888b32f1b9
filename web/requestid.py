"""Request ids: every request gets one, every response says it in ``X-Request-ID``,
and every line logged while serving it carries it (service/logs.py)."""

from __future__ import annotations

import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.context import is_trusted_proxy
from service.logs import REQUEST_ID

HEADER = b"x-request-id"
# What a proxy's id may look like to be kept: UUIDs, hex, nginx's $request_id, Envoy's,
# Heroku's and the like. Anything else (too long, spaces, quotes, control characters)
# is replaced, so an id never breaks a log line or a header.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,128}")


def new_id() -> str:
    """A fresh id: 128 random bits in hex, as ``uuid4().hex`` but for the version bits."""
    return os.urandom(16).hex()


class RequestId:
    """The outermost layer: takes the request's id from ``X-Request-ID`` when the peer is
    one of ``trusted_proxies`` and the value is acceptable, else makes one; sets it for
    the logs (``service.logs.REQUEST_ID``) and adds it to the response, whoever answers:
    a route, a middleware's refusal, a 404, or Starlette's own 500."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: tuple[str, ...]) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        request_id = self._given(scope) or new_id()
        # Left set when the request ends: each request runs in a task of its own, whose
        # context ends with it, and the server's own error line comes after the app's
        # return and must still carry it.
        REQUEST_ID.set(request_id)
        header = (HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id if kind == "http" else send)

    def _given(self, scope: Scope) -> str | None:
        if not self.trusted_proxies:
            return None
        client = scope.get("client")
        if not client or not is_trusted_proxy(client[0], self.trusted_proxies):
            return None
        for name, value in scope["headers"]:
            if name == HEADER:
                return value.decode("ascii") if _ACCEPTED.fullmatch(value) else None
        return None
