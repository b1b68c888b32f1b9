"""The parts of the shutdown sequence the app itself plays (tests/api/test_shutdown.py
sends SIGTERM to a real server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from server import create_app
from service.tessera import Tessera
from tests.conftest import make_settings
from web.shutdown import GOING_AWAY, Drain


async def test_readyz_says_503_once_draining_while_the_rest_is_served(
    tessera: Tessera, tmp_path: Path
) -> None:
    app = create_app(tessera.settings, tessera=tessera)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/readyz")).status_code == 200
        app.state.drain.draining = True
        ready = await client.get("/readyz")
        health = await client.get("/healthz")

    assert (ready.status_code, ready.json()) == (503, {"status": "shutting down"})
    assert health.status_code == 200
    assert "connection" not in ready.headers  # connections stay open while draining


async def test_once_closing_every_response_closes_its_connection(
    tessera: Tessera, tmp_path: Path
) -> None:
    app = create_app(tessera.settings, tessera=tessera)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        before = await client.get("/healthz")
        await app.state.drain.close()
        after = [await client.get(path) for path in ("/healthz", "/readyz", "/nowhere")]

    assert "connection" not in before.headers
    assert [r.headers.get("connection") for r in after] == ["close"] * 3
    assert all(r.headers.get("x-request-id") for r in after)


async def test_close_runs_every_registered_hook_once_bounded() -> None:
    drain = Drain()
    closed: list[int] = []

    async def going_away() -> None:
        closed.append(GOING_AWAY)

    async def stuck() -> None:
        await asyncio.sleep(3600)

    async def ended() -> None:
        closed.append(0)

    drain.on_close(going_away)
    drain.on_close(stuck)
    unregister = drain.on_close(ended)
    unregister()  # that subscription ended by itself

    await asyncio.wait_for(drain.close(), 10)
    await drain.close()

    assert closed == [GOING_AWAY]
    assert drain.draining and drain.closing


def test_drain_delay_and_log_format_defaults_follow_the_mode(tmp_path: Path) -> None:
    dev = make_settings(tmp_path)
    prod = make_settings(tmp_path, mode="production")

    assert (dev.resolved_drain_seconds, prod.resolved_drain_seconds) == (0.0, 5.0)
    assert (dev.resolved_log_format, prod.resolved_log_format) == ("text", "json")
    explicit = make_settings(tmp_path, shutdown_drain_seconds=1.5, log_format="json")
    assert (explicit.resolved_drain_seconds, explicit.resolved_log_format) == (1.5, "json")
