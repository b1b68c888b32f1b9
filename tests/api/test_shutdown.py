"""SIGTERM under load, on a real server: ``/readyz`` says 503 at once, requests are
served through the drain delay, new connections are refused after it, and no request
the server accepted fails — and every session it acknowledged is still there after."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from service.access import generate_api_key
from tests.operations import operation
from tests.processes import Server, graphql

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
DRAIN_SECONDS = 2.0
CLIENTS = 6


@dataclass
class Load:
    """What the load generator saw, with ``time.monotonic()`` stamps."""

    ok: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)  # never accepted: not a failure
    failed: list[str] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    readiness: list[tuple[float, int | None]] = field(default_factory=list)
    # Set once every client has been served a few times.
    warm: asyncio.Event = field(default_factory=asyncio.Event)


async def call(
    client: httpx.AsyncClient, load: Load, key: str, name: str, **variables: Any
) -> dict[str, Any] | None:
    try:
        response = await client.post(
            "/graphql",
            json={"query": operation(name), "variables": variables},
            headers={"authorization": f"Bearer {key}"},
        )
    except httpx.ConnectError:
        load.refused.append(time.monotonic())
        await asyncio.sleep(0.01)
        return None
    except httpx.HTTPError as exc:  # read error, reset, timeout: an accepted request lost
        load.failed.append(f"{name}: {type(exc).__name__}: {exc}")
        return None
    body = response.json() if response.status_code == 200 else {}
    if "data" not in body or body.get("errors"):
        load.failed.append(f"{name}: {response.status_code} {response.text[:200]}")
        return None
    load.ok.append(time.monotonic())
    if len(load.ok) >= 5 * CLIENTS:
        load.warm.set()
    data: dict[str, Any] = body["data"]
    return data


async def backend(url: str, key: str, load: Load, stop: asyncio.Event, n: int) -> None:
    """A backend with one keep-alive connection: create a session, verify it, again."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=30.0, trust_env=False
    ) as client:
        i = 0
        while not stop.is_set():
            i += 1
            data = {"userId": f"u{n}-{i}", "details": {"n": i}}
            created = await call(
                client, load, key, "CreateSessionWith", input={**SCOPE, "data": data}
            )
            if created is None:
                continue
            tokens = created["createSession"]
            load.created.append(tokens)
            await call(
                client, load, key, "VerifySession", input={**SCOPE, "token": tokens["token"]}
            )


async def prober(url: str, load: Load, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=5.0, trust_env=False) as client:
        while not stop.is_set():
            try:
                status: int | None = (await client.get("/readyz")).status_code
            except httpx.HTTPError:
                status = None
            load.readiness.append((time.monotonic(), status))
            await asyncio.sleep(0.05)


async def run_load(server: Server, key: str) -> tuple[Load, float]:
    load, stop = Load(), asyncio.Event()
    tasks = [asyncio.create_task(backend(server.url, key, load, stop, n)) for n in range(CLIENTS)]
    tasks.append(asyncio.create_task(prober(server.url, load, stop)))
    await asyncio.wait_for(load.warm.wait(), 30)  # under way first
    sent = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(server.process.wait, 60)
    await asyncio.sleep(0.3)  # the clients see the refusals
    stop.set()
    await asyncio.gather(*tasks)
    return load, sent


def test_sigterm_under_load_fails_no_accepted_request(
    tmp_path: Path, database_url: str, servers: list[Server], client: httpx.Client
) -> None:
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "development",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
            "TESSERA_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        }
    )
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client)

    load, sent = asyncio.run(run_load(server, admin_key))

    assert server.process.returncode in (0, -signal.SIGTERM), server.output()
    assert load.failed == [], load.failed
    # Served before and through the drain delay; refused only after it.
    assert any(t < sent for t in load.ok)
    assert any(sent + 0.5 < t for t in load.ok), "nothing served during the drain delay"
    assert load.refused, "the clients never saw the listener closed"
    assert min(load.refused) >= sent + DRAIN_SECONDS - 0.25
    # /readyz: 200 before, 503 from the signal on (as soon as a probe went out).
    before = [s for t, s in load.readiness if t < sent]
    during = [s for t, s in load.readiness if sent + 0.3 < t < sent + DRAIN_SECONDS - 0.3]
    assert before and set(before) == {200}
    assert during and set(during) == {503}, load.readiness

    # Every session acknowledged is there: the newest (around the signal) and a sample.
    again = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(again)
    again.wait_ready(client)
    created = load.created
    sample = created[-100:] + random.sample(created, min(100, len(created)))
    for tokens in sample:
        verified = graphql(
            client, again, admin_key, "VerifySession", input={**SCOPE, "token": tokens["token"]}
        )["verifySession"]
        assert verified["valid"] is True, (tokens["sessionId"], verified)
