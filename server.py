"""The HTTP application: the routes and middlewares of web/ put together.

``create_app(settings)`` builds the app; ``serve(settings)`` runs it with uvicorn
(``tessera serve`` and ``python server.py``); the module-level ``app`` serves the
settings from the environment to other ASGI servers (``uvicorn server:app``)."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from service import logs
from service.errors import StartupError
from service.metrics import sample_every
from service.settings import Settings, load_settings
from service.tessera import Tessera
from web import oauth
from web.assets import PATH as ASSETS_PATH
from web.assets import assets
from web.bodylimit import BodyLimit
from web.contenttype import JsonOnly
from web.cors import Cors
from web.discovery import JWKS_PATH, METADATA_PATH, authorization_server, jwks
from web.endpoint import GraphQLEndpoint
from web.forwarded import ForwardedGuard
from web.health import healthz, readyz
from web.metrics import (
    MetricsEndpoint,
    check_mode,
    prepare_workers,
    process_stopped,
    worker_exited,
)
from web.requestid import RequestId
from web.shutdown import CloseConnections, Drain, DrainingServer
from web.workers import Supervisor

log = logging.getLogger("tessera")
# How often each process records its database pool's use for /metrics.
SAMPLE_SECONDS = 1.0


def create_app(settings: Settings, *, tessera: Tessera | None = None) -> Starlette:
    """The ASGI app. Pass a started ``tessera`` to share one (tests); otherwise the app
    runs its own from lifespan startup to shutdown: the one ``serve`` started and put in
    ``app.state.tessera`` before serving, or else one it starts itself."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if tessera is not None:
            app.state.tessera = tessera
            yield
            return
        if getattr(app.state, "tessera", None) is None:
            # Served by another ASGI server, which configured its own loggers only.
            logs.configure(settings.log_level, settings.resolved_log_format)
            app.state.tessera = await Tessera.start(settings)
        # The schema, the caches and the modules are alive until exit: moving them out
        # of the collector's generations stops every full collection from re-walking
        # them (measured: p99 under load down by about a third, bench/RESULTS.md).
        gc.collect()
        gc.freeze()
        sweeper = asyncio.create_task(
            app.state.tessera.sweeper.run(settings.sweep_interval_seconds)
        )
        counting = asyncio.create_task(app.state.tessera.verification_counts.run())
        check_mode()
        sampler = asyncio.create_task(sample_every(app.state.tessera.store, SAMPLE_SECONDS))
        try:
            yield
        finally:
            counting.cancel()
            sweeper.cancel()
            sampler.cancel()
            # A sweep or a counts flush stopped mid-batch before the store closes under it.
            await asyncio.gather(sweeper, sampler, counting, return_exceptions=True)
            await app.state.tessera.close()
            process_stopped()

    drain = Drain()
    cors = settings.cors_origins
    if cors is None:
        cors = [] if settings.production else ["*"]
    middleware = [
        Middleware(
            BodyLimit,
            limit=settings.max_body_bytes,
            answers=dict.fromkeys(oauth.PATHS, oauth.too_large),
        ),
        Middleware(JsonOnly, exempt=oauth.PATHS),
    ]
    if cors:
        # Without an allowed origin there is nothing to add to any response, and
        # Starlette's CORS middleware would still wrap every one.
        middleware.append(
            Middleware(
                Cors,
                exempt=oauth.PATHS,
                allow_origins=cors,
                allow_methods=["GET", "POST"],
                allow_headers=settings.cors_headers,
                max_age=600,
            )
        )
    app = _App(
        outer=lambda inner: RequestId(
            CloseConnections(inner, drain=drain), trusted_proxies=settings.trusted_proxies
        ),
        middleware=middleware,
        routes=[
            Route(
                "/graphql",
                GraphQLEndpoint(development=not settings.production).handle,
                methods=["GET", "POST"],
            ),
            # Every method, so that the endpoints refuse all but POST themselves.
            Route(oauth.INTROSPECT_PATH, oauth.introspect, methods=oauth.METHODS),
            Route(oauth.REVOKE_PATH, oauth.revoke, methods=oauth.METHODS),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            # Public, for verifiers of SIGNED tokens and OAuth clients.
            Route(METADATA_PATH, authorization_server),
            Route(JWKS_PATH, jwks),
            Route("/metrics", MetricsEndpoint(settings).handle, methods=["GET"]),
            # GraphiQL's files, only where GraphiQL is served.
            *([] if settings.production else [Route(ASSETS_PATH, assets().handle)]),
        ],
        lifespan=lifespan,
    )
    app.state.drain = drain
    if tessera is not None:
        app.state.tessera = tessera
    return app


class _App(Starlette):
    """Starlette, with ``outer`` layers around everything, Starlette's own error
    middleware included, so that even its 500s carry a request id."""

    def __init__(self, *, outer: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        self._outer = outer
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return self._outer(super().build_middleware_stack())


def serve(settings: Settings, *, workers: int | None = None) -> int:
    """Serve until stopped; 2 after one line on stderr if Tessera cannot start.

    ``workers`` (default ``settings.resolved_workers``) above 1: the service starts once
    in this process, then that many worker processes serve the sockets
    (``web.workers.Supervisor``), each with its own ``Tessera``.

    The listening sockets are claimed first, so a port in use is reported before
    anything else runs; then the service starts, once, and uvicorn serves it on those
    sockets. uvicorn's own proxy-header handling is off: it would rewrite the client's
    address from ``X-Forwarded-For`` for peers it trusts itself (127.0.0.1 by default),
    and only ``TESSERA_TRUSTED_PROXIES`` may decide whose forwarded address is believed."""
    logs.configure(settings.log_level, settings.resolved_log_format)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        # uvicorn's own lines go through Tessera's handler, in its format.
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
    try:
        sockets = listen(settings.host, settings.port, config.backlog)
    except StartupError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    count = workers or settings.resolved_workers
    if count > 1:
        try:
            return _supervise(settings, config, sockets, count)
        except KeyboardInterrupt:  # CTRL+C before the supervisor took over SIGINT
            return 0
        finally:
            for sock in sockets:
                sock.close()
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            return runner.run(_serve(app, config, settings, sockets))
    except KeyboardInterrupt:  # uvicorn re-raises the CTRL+C it stopped on
        return 0
    finally:
        for sock in sockets:
            sock.close()


async def _serve(
    app: Starlette, config: uvicorn.Config, settings: Settings, sockets: list[socket.socket]
) -> int:
    try:
        app.state.tessera = await Tessera.start(settings)
    except StartupError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    drain_seconds = settings.resolved_drain_seconds
    await _Server(config, drain=app.state.drain, drain_seconds=drain_seconds).serve(sockets)
    return 0


def _supervise(
    settings: Settings, config: uvicorn.Config, sockets: list[socket.socket], workers: int
) -> int:
    async def prepare() -> None:
        # Migrations, the master key and the development admin key, once, before any
        # worker exists: the workers then find them all and create nothing.
        await (await Tessera.start(settings)).close()

    try:
        asyncio.run(prepare())
    except StartupError as exc:
        print(exc.line(), file=sys.stderr)
        return 2
    config.app = WorkerApp(settings)
    # Before any worker exists, so that each one's metrics are multiprocess ones.
    prepare_workers()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    log.info(
        "Tessera serving on http://%s:%d with %d workers (CTRL+C to quit)",
        host,
        settings.port,
        workers,
    )
    # The same server class as one process runs: whatever it adds, every worker has.
    return Supervisor(
        config, sockets, workers, server_class=_WorkerServer, on_exit=worker_exited
    ).run()


class WorkerApp:
    """The app of a worker process: pickled to it with the settings, and built there
    (on the lifespan's start) by ``create_app``, which starts the worker's ``Tessera``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._app: Starlette | None = None

    @property
    def app(self) -> Starlette:
        """The worker's app, built on first need (in the worker, never before pickling)."""
        if self._app is None:
            logs.configure(self._settings.log_level, self._settings.resolved_log_format)
            self._app = create_app(self._settings)
        return self._app

    @property
    def settings(self) -> Settings:
        return self._settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _Server(DrainingServer):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # uvicorn says where it listens only for sockets it bound itself.
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        log.info("Tessera serving on http://%s:%d (CTRL+C to quit)", host, self.config.port)


class _WorkerServer(_Server):
    """A worker's server: the same drain as one process has, on the worker's own app."""

    def __init__(self, config: uvicorn.Config) -> None:
        worker = config.app
        assert isinstance(worker, WorkerApp)
        super().__init__(
            config,
            drain=worker.app.state.drain,
            drain_seconds=worker.settings.resolved_drain_seconds,
        )


def listen(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Sockets listening on every address ``host`` resolves to, on ``port``: claimed for
    good (two processes may both bind a port with SO_REUSEADDR, but only one listens),
    and what connects before uvicorn serves them waits in the backlog. Why one cannot
    be had is a ``StartupError``."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError("TESSERA_HOST", f"cannot resolve {host!r}: {exc.strerror}") from None
    families = {family for family, *_ in addresses}
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and len(families) > 1:
                # The IPv4 addresses get sockets of their own.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise _bind_failure(host, port, exc) from None
    return sockets


def _bind_failure(host: str, port: int, exc: OSError) -> StartupError:
    if exc.errno == errno.EADDRINUSE:
        return StartupError("TESSERA_PORT", f"port {port} is already in use on {host}")
    if exc.errno == errno.EACCES:
        return StartupError("TESSERA_PORT", f"no permission to listen on port {port}")
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupError("TESSERA_HOST", f"{host} is not an address of this machine")
    reason = (exc.strerror or type(exc).__name__).lower()
    return StartupError("TESSERA_HOST", f"cannot listen on {host} port {port}: {reason}")


app = ForwardedGuard(create_app(load_settings()))


if __name__ == "__main__":
    raise SystemExit(serve(load_settings()))
