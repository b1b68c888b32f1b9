"""The OAuth endpoints while PostgreSQL is down: a fast ``503 temporarily_unavailable``,
never an inactive answer a gateway would take for a verdict, and back by themselves."""

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
from tests.processes import Server, graphql

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def test_outage_answers_503_and_recovers(
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
    token = graphql(client, server, admin_key, "CreateSessionWith", **create)["createSession"][
        "token"
    ]
    headers = {"authorization": f"Bearer {admin_key}"}

    def introspect() -> httpx.Response:
        url = f"{server.url}/oauth/introspect"
        return client.post(url, data={"token": token}, headers=headers)

    assert introspect().json()["active"] is True
    subprocess.run([*control, "-m", "fast", "stop"], check=True, stdout=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        down = introspect()
        elapsed = time.monotonic() - started
    finally:
        options = f"-p {os.environ['TESSERA_PG_PORT']} -k {cluster}/socket "
        options += "-c listen_addresses=127.0.0.1"
        subprocess.run([*control, "-o", options, "start"], check=True, stdout=subprocess.DEVNULL)

    assert down.status_code == 503, down.text
    assert down.json()["error"] == "temporarily_unavailable"
    assert token not in down.text
    assert elapsed < 10  # the pool's connect timeout, not a hang
    deadline = time.monotonic() + 20
    while (answer := introspect()).status_code != 200:
        assert time.monotonic() < deadline, "never answered again"
        time.sleep(0.2)
    assert answer.json()["active"] is True
