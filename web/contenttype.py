"""The one content type a POST may have."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from web.refusals import refusal


class JsonOnly:
    """POST bodies must be exactly ``application/json``. Strawberry would accept any
    content type merely containing it (``text/plain, application/json``); anything a
    browser can send cross-site without a CORS preflight must never run an operation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            content_type = next(
                (v for k, v in scope["headers"] if k == b"content-type"), b""
            ).decode("latin-1")
            if content_type.split(";")[0].strip().lower() != "application/json":
                response = refusal(scope, 415, "POST bodies must be application/json")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
