"""``kill -9`` in the middle of a stream of creates, refreshes and revocations: every
change the server acknowledged has exactly its event, and no event lacks its change."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from service.access import generate_api_key
from store import open_store
from tests.operations import operation
from tests.processes import Server

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
WORKERS = 4


def call(client: httpx.Client, server: Server, key: str | None, name: str, **variables: Any) -> Any:
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    response = client.post(
        f"{server.url}/graphql",
        json={"query": operation(name), "variables": variables},
        headers=headers,
        timeout=5.0,
    )
    return response.json()["data"]


async def test_kill_9_leaves_exactly_the_acknowledged_changes_events(
    tmp_path: Path, servers: list[Server], client: httpx.Client, database_url: str
) -> None:
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
            "TESSERA_RATE_LIMIT_REFRESH_PER_SESSION": "",
            "TESSERA_RATE_LIMIT_REFRESH_PER_IP": "",
        }
    )
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client)
    # What the server acknowledged: session id -> [created, refreshes, revoked].
    acknowledged: dict[str, list[int]] = {}
    stop = threading.Event()

    def stream(worker: int) -> None:
        with httpx.Client(trust_env=False) as own:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    data = {"userId": f"u{worker}-{n}", "details": {}}
                    created = call(
                        own, server, admin_key, "CreateSessionWith", input={**SCOPE, "data": data}
                    )["createSession"]
                    sid, token = created["sessionId"], created["refreshToken"]
                    acknowledged[sid] = [1, 0, 0]
                    for _ in range(2):
                        refreshed = call(
                            own,
                            server,
                            None,
                            "RefreshSession",
                            input={**SCOPE, "refreshToken": token},
                        )["refreshSession"]
                        assert refreshed["__typename"] == "SessionTokens", refreshed
                        token = refreshed["refreshToken"]
                        acknowledged[sid][1] += 1
                    if n % 2:
                        revoked = call(
                            own,
                            server,
                            admin_key,
                            "RevokeSession",
                            input={**SCOPE, "sessionId": sid},
                        )["revokeSession"]
                        assert revoked["count"] == 1, revoked
                        acknowledged[sid][2] = 1
                except (httpx.HTTPError, ValueError, TypeError):
                    return  # the server died under us; the response (if any) is lost

    workers = [threading.Thread(target=stream, args=(i,)) for i in range(WORKERS)]
    for worker in workers:
        worker.start()
    await asyncio.sleep(2.0)
    server.kill()
    stop.set()
    for worker in workers:
        worker.join(timeout=10)
    assert server.process.returncode == -signal.SIGKILL
    assert len(acknowledged) > WORKERS, len(acknowledged)

    store = open_store(database_url)
    try:
        events = await store.events_after((0, 0), 100_000)
        sessions = {
            sid: await store.get_session(sid)
            for sid in {e.session_id for e in events if e.session_id} | set(acknowledged)
        }
    finally:
        await store.close()
    counted: Counter[tuple[str, str]] = Counter(
        (e.session_id, e.type) for e in events if e.session_id is not None
    )
    for sid, (created, refreshes, revoked) in acknowledged.items():
        assert counted[sid, "session_created"] == created, sid
        assert counted[sid, "session_refreshed"] >= refreshes, sid
        assert counted[sid, "session_revoked"] >= revoked, sid
    # And exactly what committed, acknowledged or not (the reply may have been lost).
    for sid, session in sessions.items():
        assert session is not None, f"event without its session {sid}"
        assert counted[sid, "session_created"] == 1, sid
        assert counted[sid, "session_refreshed"] == session.refresh_generation, sid
        assert counted[sid, "session_revoked"] == (session.revoked_at is not None), sid
