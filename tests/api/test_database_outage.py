"""PostgreSQL goes away and comes back: Tessera fails fast meanwhile, never mints a token
without a committed session, and recovers without a restart of its own."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import time
from pathlib import Path

import httpx

from service.access import generate_api_key
from tests.databases import cluster_control, fresh_postgres_database
from tests.operations import operation
from tests.processes import Server, graphql

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def test_outage_fails_fast_and_recovers(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    pg_ctl, cluster = cluster_control()
    control = [*pg_ctl, "-D", f"{cluster}/data", "-l", f"{cluster}/server.log", "-w"]
    database_url = asyncio.run(fresh_postgres_database())
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_DATA_DIR": str(tmp_path),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client)
    create = {"input": {**SCOPE, "data": {"userId": "u", "details": {}}}}
    graphql(client, server, admin_key, "CreateSessionWith", **create)
    headers = {"authorization": f"Bearer {admin_key}"}

    subprocess.run([*control, "-m", "fast", "stop"], check=True, stdout=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        body = client.post(
            f"{server.url}/graphql",
            json={"query": operation("CreateSessionWith"), "variables": create},
            headers=headers,
        ).json()
        elapsed = time.monotonic() - started
        ready = client.get(f"{server.url}/readyz")
    finally:
        options = f"-p {os.environ['TESSERA_PG_PORT']} -k {cluster}/socket "
        options += "-c listen_addresses=127.0.0.1"
        subprocess.run([*control, "-o", options, "start"], check=True, stdout=subprocess.DEVNULL)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    assert "token" not in str(body)
    assert elapsed < 10  # the pool's connect timeout, not a hang
    assert ready.status_code == 503
    # Back without restarting Tessera (the first call may still meet a dead connection).
    deadline = time.monotonic() + 20
    while client.get(f"{server.url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "never became ready again"
        time.sleep(0.2)
    graphql(client, server, admin_key, "CreateSessionWith", **create)
