"""Cross-origin requests, for the paths browsers may call."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class Cors(CORSMiddleware):
    """Starlette's CORS middleware, but for the ``exempt`` paths, which answer no
    preflight and carry no ``Access-Control-*`` header, so no browser script can call
    them: the OAuth endpoints take an API key, which belongs in a backend."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        exempt: frozenset[str],
        allow_origins: Sequence[str],
        allow_methods: Sequence[str],
        allow_headers: Sequence[str],
        max_age: int,
    ) -> None:
        super().__init__(
            app,
            allow_origins=allow_origins,
            allow_methods=allow_methods,
            allow_headers=allow_headers,
            max_age=max_age,
        )
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
