"""``kill -9`` in the middle of a stream of refreshes: after a restart every session
still has exactly one working refresh token."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from service.access import generate_api_key
from tests.operations import operation
from tests.processes import Server, graphql

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
SESSIONS = 6


def refresh(client: httpx.Client, server: Server, token: str) -> dict[str, Any]:
    response = client.post(
        f"{server.url}/graphql",
        json={
            "query": operation("RefreshSession"),
            "variables": {"input": {**SCOPE, "refreshToken": token}},
        },
        timeout=5.0,
    )
    result: dict[str, Any] = response.json()["data"]["refreshSession"]
    return result


def test_refresh_stream_survives_kill_9_with_one_live_token_per_session(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
            # The retry after the restart must fall inside the grace window.
            "TESSERA_REFRESH_GRACE_SECONDS": "120",
            "TESSERA_RATE_LIMIT_REFRESH_PER_SESSION": "",
            "TESSERA_RATE_LIMIT_REFRESH_PER_IP": "",
        }
    )
    log = tmp_path / "server.log"
    first = Server(env, tmp_path, log)
    servers.append(first)
    first.wait_ready(client)
    chains: list[list[str]] = []
    for i in range(SESSIONS):
        data = {"userId": f"u{i}", "details": {}}
        tokens = graphql(
            client, first, admin_key, "CreateSessionWith", input={**SCOPE, "data": data}
        )
        chains.append([tokens["createSession"]["refreshToken"]])

    stop = threading.Event()

    def stream(chain: list[str]) -> None:
        with httpx.Client(trust_env=False) as own:
            while not stop.is_set():
                try:
                    result = refresh(own, first, chain[-1])
                except (httpx.HTTPError, ValueError):
                    return  # the server died under us; the response (if any) is lost
                assert result["__typename"] == "SessionTokens", result
                chain.append(result["refreshToken"])

    workers = [threading.Thread(target=stream, args=(chain,)) for chain in chains]
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    first.kill()
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    assert first.process.returncode == -signal.SIGKILL
    assert all(len(chain) > 2 for chain in chains), [len(c) for c in chains]

    second = Server(env, tmp_path, log)
    servers.append(second)
    second.wait_ready(client)
    for chain in chains:
        # The newest token the client holds works (rotated now, or — if the server
        # committed a rotation whose response was lost — inside the grace window it
        # yields that same successor).
        resumed = refresh(client, second, chain[-1])
        assert resumed["__typename"] == "SessionTokens", resumed
        again = refresh(client, second, resumed["refreshToken"])
        assert again["__typename"] == "SessionTokens", again
        # Anything older is theft, and ends the session.
        stale = refresh(client, second, chain[-3])
        assert stale["code"] == "REFRESH_TOKEN_REUSED", stale
        assert refresh(client, second, again["refreshToken"])["code"] == "SESSION_REVOKED"
