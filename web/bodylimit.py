"""The request body limit, enforced before anything parses a body."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.refusals import refusal


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before anything parses them:
    by ``Content-Length`` up front, and by counting for chunked bodies. A path of
    ``answers`` is refused with the response its function builds instead (the OAuth
    endpoints answer in their protocol's form)."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        answers: Mapping[str, Callable[[Scope], Response]] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        self.answers = dict(answers or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._refuse(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answers.get(scope["path"])
        response = (
            refusal(scope, 413, "request body too large") if answer is None else answer(scope)
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
