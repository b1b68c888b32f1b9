"""The HTTP application: the routes and middlewares of web/ put together.

``create_app(settings)`` builds the app; the module-level ``app`` serves the settings
from the environment; ``python server.py`` runs it with uvicorn."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from service import logs
from service.errors import StartupError
from service.settings import Settings, load_settings
from service.tessera import Tessera
from web.bodylimit import BodyLimit
from web.contenttype import JsonOnly
from web.endpoint import GraphQLEndpoint
from web.health import healthz, readyz


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
    middleware = [Middleware(BodyLimit, limit=settings.max_body_bytes), Middleware(JsonOnly)]
    if cors:
        # Without an allowed origin there is nothing to add to any response, and
        # Starlette's CORS middleware would still wrap every one.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors,
                allow_methods=["GET", "POST"],
                allow_headers=settings.cors_headers,
                max_age=600,
            )
        )
    app = Starlette(
        middleware=middleware,
        routes=[
            Route(
                "/graphql",
                GraphQLEndpoint(development=not settings.production).handle,
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
    logs.configure(settings.log_level)
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
        access_log=settings.access_log,
        server_header=False,
    )
    return 0


async def _preflight(settings: Settings) -> None:
    tessera = await Tessera.start(settings)
    await tessera.close()


app = create_app(load_settings())


if __name__ == "__main__":
    raise SystemExit(serve(load_settings()))
