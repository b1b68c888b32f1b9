"""``tessera serve --workers N``: several real worker processes on one port, on SQLite
and PostgreSQL, and two real processes sharing one SQLite file.

Which worker answered is read from the kernel (which process holds the accepted
connection), so the service exposes nothing about its processes."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from service.access import generate_api_key
from tests.api.test_multi_instance import (
    WITHIN,
    Pair,
    eventually,
    lifetime,
    new_key,
    refused,
    setup_product,
)
from tests.conftest import make_settings
from tests.databases import fresh_postgres_database
from tests.operations import operation
from tests.processes import BIN, Server, children, connection_owners, graphql

# Each worker is a fresh interpreter importing the whole app: on a loaded machine a
# server with several takes a while to be ready.
STARTUP = 90.0
CLIENTS = 12
WRITES_PER_CLIENT = 20
SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'tessera.db'}"
    return asyncio.run(fresh_postgres_database())


def production_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": generate_api_key(),
            "TESSERA_LOG_LEVEL": "warning",
            **extra,
        }
    )
    return env


def workers_of(server: Server, count: int, *, besides: frozenset[int] = frozenset()) -> list[int]:
    """The server's ``count`` worker pids once it has them (and none of ``besides``)."""
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        pids = [pid for pid in children(server.process.pid) if _is_worker(pid)]
        if len(pids) == count and not besides & set(pids):
            return pids
        time.sleep(0.05)
    pytest.fail(f"not {count} workers: {children(server.process.pid)}\n{server.output()}")


def _is_worker(pid: int) -> bool:
    # multiprocessing also starts its resource tracker as a child.
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def serving(client: httpx.Client, server: Server, admin_key: str) -> None:
    graphql(
        client,
        server,
        admin_key,
        "CreateProduct",
        input={"tag": "shop", "name": "Shop", "envs": ["prd"]},
    )
    graphql(
        client,
        server,
        admin_key,
        "CreateSessionConfig",
        input={"product": "shop", "tag": "web", "name": "Web"},
    )


def create_many(server: Server, admin_key: str, client_no: int) -> list[dict[str, Any]]:
    """Sessions created one request per connection (so each is accepted anew)."""
    results: list[dict[str, Any]] = []
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        for n in range(WRITES_PER_CLIENT):
            body = http.post(
                f"{server.url}/graphql",
                json={
                    "query": operation("CreateSessionWith"),
                    "variables": {
                        "input": {**SCOPE, "data": {"userId": f"u{client_no}-{n}", "details": {}}}
                    },
                },
                headers={"authorization": f"Bearer {admin_key}", "connection": "close"},
            ).json()
            results.append(body)
    return results


def stored_sessions(database_url: str) -> int:
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            return int(db.execute("SELECT count(*) FROM sessions").fetchone()[0])

    async def count() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM sessions"))
        finally:
            await conn.close()

    return asyncio.run(count())


def test_workers_two_serve_concurrent_writes_without_errors(
    tmp_path: Path, database_url: str, servers: list[Server], client: httpx.Client
) -> None:
    env = production_env(tmp_path, database_url, TESSERA_WORKERS="2")
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client, STARTUP)
    workers = workers_of(server, 2)
    serving(client, server, env["TESSERA_ADMIN_KEY"])

    owners: set[int] = set()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            owners.update(connection_owners(workers, server.port))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [
                body
                for batch in pool.map(
                    lambda n: create_many(server, env["TESSERA_ADMIN_KEY"], n), range(CLIENTS)
                )
                for body in batch
            ]
    finally:
        done.set()
        sampler.join()

    failures = [
        a for a in answers if a.get("data", {}).get("createSession", {}).get("token") is None
    ]
    assert failures == [], (failures[:3], server.output()[-3000:])
    assert stored_sessions(database_url) == CLIENTS * WRITES_PER_CLIENT
    assert owners == set(workers)
    assert "database is locked" not in server.output()


def test_workers_a_killed_worker_is_replaced(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    env = production_env(tmp_path, f"sqlite:///{tmp_path / 'tessera.db'}", TESSERA_WORKERS="2")
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client, STARTUP)
    first = workers_of(server, 2)

    os.kill(first[0], signal.SIGKILL)

    now = workers_of(server, 2, besides=frozenset({first[0]}))
    assert first[1] in now
    server.wait_ready(client, STARTUP)
    serving(client, server, env["TESSERA_ADMIN_KEY"])
    assert server.process.poll() is None


def test_workers_sigterm_stops_every_worker_and_the_parent(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    env = production_env(tmp_path, f"sqlite:///{tmp_path / 'tessera.db'}", TESSERA_WORKERS="2")
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client, STARTUP)
    workers = workers_of(server, 2)

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=60) == 0, server.output()
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_workers_outlive_no_killed_parent(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    env = production_env(tmp_path, f"sqlite:///{tmp_path / 'tessera.db'}", TESSERA_WORKERS="2")
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client, STARTUP)
    workers = workers_of(server, 2)

    server.kill()  # SIGKILL: the parent forwards nothing

    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "workers still alive without their parent"
        time.sleep(0.1)
    with pytest.raises(httpx.TransportError):
        client.get(f"{server.url}/healthz", timeout=1.0)


def test_workers_development_bootstrap_happens_once(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update({"TESSERA_DATA_DIR": str(tmp_path / "data"), "TESSERA_WORKERS": "3"})
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client, STARTUP)
    workers_of(server, 3)

    output = server.output()
    assert output.count("Tessera development admin key") == 1, output
    key = next(line.strip() for line in output.splitlines() if line.strip().startswith("tsk_"))
    with sqlite3.connect(tmp_path / "data" / "tessera.db") as db:
        assert db.execute("SELECT count(*) FROM api_keys WHERE is_admin = 1").fetchone() == (1,)
    # Every worker took the one master key and admin key: each request, on a new
    # connection, may land on any of them.
    for n in range(12):
        answer = client.post(
            f"{server.url}/graphql",
            json={"query": operation("Products")},
            headers={"authorization": f"Bearer {key}", "connection": "close"},
        ).json()
        assert "errors" not in answer, (n, answer)


@pytest.fixture
def sqlite_pair(tmp_path: Path, client: httpx.Client) -> Iterator[Pair]:
    """Two single-worker processes on one SQLite file, as two workers of one server
    are: caches kept per process, the file's change version as the only signal."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    env = production_env(tmp_path, url)
    a = Server(env, tmp_path, tmp_path / "a.log")
    a.wait_ready(client)
    b = Server(env, tmp_path, tmp_path / "b.log")
    try:
        b.wait_ready(client)
        yield Pair(a, b, env["TESSERA_ADMIN_KEY"], url, client, env)
    finally:
        a.kill()
        b.kill()


def test_processes_on_one_sqlite_file_see_a_revoked_key_within_a_second(
    sqlite_pair: Pair,
) -> None:
    setup_product(sqlite_pair, "keys")
    created = new_key(sqlite_pair, "keys")
    assert not refused(sqlite_pair, sqlite_pair.b, "keys", created["key"])

    graphql(
        sqlite_pair.client,
        sqlite_pair.a,
        sqlite_pair.admin_key,
        "RevokeApiKey",
        id=created["apiKey"]["id"],
    )

    # The change version is read at most once a second, by the first request after.
    eventually(lambda: refused(sqlite_pair, sqlite_pair.b, "keys", created["key"]), WITHIN + 0.5)


def test_processes_on_one_sqlite_file_see_a_changed_config_within_a_second(
    sqlite_pair: Pair,
) -> None:
    setup_product(sqlite_pair, "expiry")
    assert lifetime(sqlite_pair, sqlite_pair.b, "expiry") > 3000

    graphql(
        sqlite_pair.client,
        sqlite_pair.a,
        sqlite_pair.admin_key,
        "UpdateSessionConfig",
        input={"product": "expiry", "tag": "web", "expiry": 5, "period": "MINUTES"},
    )

    eventually(lambda: lifetime(sqlite_pair, sqlite_pair.b, "expiry") <= 300, WITHIN + 0.5)


def test_workers_default_one_per_cpu_in_production_one_in_development(tmp_path: Path) -> None:
    cpus = len(os.sched_getaffinity(0))

    assert make_settings(tmp_path, mode="production").resolved_workers == cpus
    assert make_settings(tmp_path).resolved_workers == 1
    assert make_settings(tmp_path, mode="production", workers=3).resolved_workers == 3


def test_workers_serve_refuses_fewer_than_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    done = subprocess.run(
        [str(BIN / "tessera"), "serve", "--workers", "0"],
        env={**env, "TESSERA_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert done.returncode == 2
    assert "--workers: must be at least 1" in done.stderr
