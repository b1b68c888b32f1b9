"""The HTTP application: Starlette routes around the Strawberry GraphQL view.

``create_app(settings)`` builds the app; the module-level ``app`` serves the settings
from the environment; ``python server.py`` runs it with uvicorn."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http.ides import get_graphql_ide_html

from schema import schema
from schema.context import Context
from service.errors import StartupError
from service.settings import Settings, load_settings
from service.tessera import Tessera

OPERATIONS = Path(__file__).resolve().parent / "graphql" / "operations"
log = logging.getLogger("tessera")


def graphiql_html() -> str:
    """Strawberry's GraphiQL page with the seed's createSession example preloaded and a
    header template for the admin key."""
    html = get_graphql_ide_html("graphiql")
    document = (OPERATIONS / "CreateSession.graphql").read_text()
    start = html.index("const EXAMPLE_QUERY = `")
    end = html.index("`;", start) + 2
    html = html[:start] + f"const EXAMPLE_QUERY = {json.dumps(document)};" + html[end:]
    headers = json.dumps(json.dumps({"Authorization": "Bearer <paste your admin key>"}))
    return html.replace(
        "React.useState(parameters.headers)",
        f"React.useState(parameters.headers || {headers})",
    )


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, *, development: bool) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if development else None,
            allow_queries_via_get=False,
        )
        self._ide_html = graphiql_html() if development else ""

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        assert isinstance(request, Request)
        return Context(request.app.state.tessera, request)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)

    def decode_json(self, data: str | bytes) -> object:
        """A JSON object (or a batch array, which Strawberry then refuses). Any other
        JSON value, or JSON nested too deeply to decode, would raise past Strawberry's
        handling into a 500; as a ``JSONDecodeError`` it is the usual 400."""
        try:
            decoded = json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("nested too deeply", "", 0) from None
        if not isinstance(decoded, dict | list):
            raise json.JSONDecodeError("not a JSON object", "", 0)
        return decoded


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before anything parses them:
    by ``Content-Length`` up front, and by counting for chunked bodies."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

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
        response = PlainTextResponse("request body too large", status_code=413)
        await response(scope, receive, send)


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
                response = PlainTextResponse("POST bodies must be application/json", 415)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


async def healthz(request: Request) -> Response:
    """The process is alive (for a load balancer's liveness check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers and its migrations are at head (readiness check)."""
    if await request.app.state.tessera.store.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready"}, status_code=503)


def create_app(settings: Settings, *, tessera: Tessera | None = None) -> Starlette:
    """The ASGI app. Pass a started ``tessera`` to share one (tests); otherwise the app
    starts its own on lifespan startup and closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if tessera is not None:
            app.state.tessera = tessera
            yield
            return
        app.state.tessera = await Tessera.start(settings)
        # The schema, the caches and the modules are alive until exit: moving them out
        # of the collector's generations stops every full collection from re-walking
        # them (measured: p99 under load down by about a third, bench/RESULTS.md).
        gc.collect()
        gc.freeze()
        sweeper = asyncio.create_task(
            app.state.tessera.sweeper.run(settings.sweep_interval_seconds)
        )
        try:
            yield
        finally:
            sweeper.cancel()
            await app.state.tessera.close()

    cors = settings.cors_origins
    if cors is None:
        cors = [] if settings.production else ["*"]
    app = Starlette(
        middleware=[
            Middleware(BodyLimit, limit=settings.max_body_bytes),
            Middleware(JsonOnly),
            Middleware(
                CORSMiddleware,
                allow_origins=cors,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            ),
        ],
        routes=[
            Route(
                "/graphql",
                GraphQLView(development=not settings.production),
                methods=["GET", "POST"],
            ),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    if tessera is not None:
        app.state.tessera = tessera
    return app


def serve(settings: Settings) -> int:
    """Check that the service can start (one clear line if not), then serve it."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_preflight(settings))
    except StartupError as exc:
        print(f"tessera: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        server_header=False,
    )
    return 0


async def _preflight(settings: Settings) -> None:
    tessera = await Tessera.start(settings)
    await tessera.close()


app = create_app(load_settings())


if __name__ == "__main__":
    raise SystemExit(serve(load_settings()))
