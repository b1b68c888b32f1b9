"""The one content type a POST may have."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from web.refusals import refusal


class JsonOnly:
    """POST bodies must be exactly ``application/json``. Strawberry would accept any
    content type merely containing it (``text/plain, application/json``); anything a
    browser can send cross-site without a CORS preflight must never run an operation.
    The ``exempt`` paths check their own (the OAuth endpoints take forms, and need a
    client's API key in ``Authorization``, which no cross-site form can send)."""

    def __init__(self, app: ASGIApp, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] not in self.exempt
        ):
            content_type = next(
                (v for k, v in scope["headers"] if k == b"content-type"), b""
            ).decode("latin-1")
            if content_type.split(";")[0].strip().lower() != "application/json":
                response = refusal(scope, 415, "POST bodies must be application/json")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
