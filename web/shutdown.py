"""Graceful shutdown: what happens between SIGTERM and the process's exit.

1. At once: ``/readyz`` answers 503, so balancers take the instance out of rotation;
   everything else is served as before, new connections included.
2. After the drain delay (``TESSERA_SHUTDOWN_DRAIN_SECONDS``): the listening sockets
   close, so a new connection is refused (the client tries another instance) rather
   than accepted and then reset; open subscriptions are closed with 1001 (going away);
   every response from then on says ``Connection: close`` and ends its connection, so a
   keep-alive client is never cut off between two of its requests.
3. uvicorn's own graceful shutdown: connections still idle are closed, requests in
   flight finish within ``TESSERA_SHUTDOWN_TIMEOUT_SECONDS`` (then they are cancelled),
   and the app's lifespan ends: the sweeper stops, the store closes, SQLite's group
   commit flushing what it holds first.

A second signal skips what is left of the drain delay; a third CTRL+C quits at once."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tessera")

GOING_AWAY = 1001
"""The WebSocket close code for a server going away (RFC 6455)."""
# How long connections may stay open once the listener is closed, for their next
# request to be answered with Connection: close, before uvicorn closes those still idle.
LINGER_SECONDS = 1.0
# How long each close hook (a subscription's going-away) may take.
HOOK_SECONDS = 2.0

Hook = Callable[[], Awaitable[None]]


class Drain:
    """How far the shutdown got, for the app's parts to act on: ``draining`` once it
    began (``/readyz`` says 503), ``closing`` once new connections are refused (every
    response closes its connection). Subscriptions register a close hook."""

    def __init__(self) -> None:
        self.draining = False
        self.closing = False
        self._hooks: set[Hook] = set()

    def on_close(self, hook: Hook) -> Callable[[], None]:
        """Run ``hook`` when the listener closes (e.g. close a subscription's socket
        with ``GOING_AWAY``); returns what unregisters it (call it when the subscription
        ends on its own)."""
        self._hooks.add(hook)
        return lambda: self._hooks.discard(hook)

    async def close(self) -> None:
        """Stop: ``closing`` from now on, and every hook run (each bounded)."""
        self.draining = self.closing = True
        hooks, self._hooks = list(self._hooks), set()
        if hooks:
            await asyncio.gather(
                *(asyncio.wait_for(hook(), HOOK_SECONDS) for hook in hooks),
                return_exceptions=True,
            )


class CloseConnections:
    """Once the drain says ``closing``, every response carries ``Connection: close``
    (uvicorn then ends the connection after it). Costs one attribute read until then."""

    def __init__(self, app: ASGIApp, *, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.drain.closing or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        await self.app(scope, receive, send_closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the drain delay in front of its own graceful shutdown
    (which ``timeout_graceful_shutdown`` bounds), and the listener closed before any
    connection is."""

    def __init__(self, config: uvicorn.Config, *, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self._drain_signal: int | None = None
        self._drain_until: float | None = None
        self._announced = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.draining or self.drain_seconds <= 0:
            self.drain.draining = True
            super().handle_exit(sig, frame)  # uvicorn's: shut down now
            return
        # In a signal handler: set flags only; the server's tick acts on them.
        self.drain.draining = True
        self._drain_signal = sig
        self._drain_until = time.monotonic() + self.drain_seconds

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and self._drain_signal is not None:
            if not self._announced:
                self._announced = True
                log.info(
                    "shutting down: /readyz says 503; new connections refused in %.1f s",
                    max(0.0, self._drain_until - time.monotonic()),
                )
            if time.monotonic() >= self._drain_until and not self.should_exit:
                signal, self._drain_signal = self._drain_signal, None
                super().handle_exit(signal, None)
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # new connections are refused from here on
        for sock in sockets or []:
            sock.close()
        await self.drain.close()
        deadline = time.monotonic() + LINGER_SECONDS
        # uvicorn keeps its connections in a plain set, and polls it the same way.
        while self.server_state.connections and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await super().shutdown(sockets)
