"""Several processes, one ``/metrics``: two real servers sharing one multiprocess
directory (as the workers of one ``tessera serve`` do) report the sums of both, from
either, and a process that stops leaves its counts but not its gauges."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path

import httpx

from service.access import generate_api_key
from tests.api.metrics import Sample, parse, value
from tests.processes import Server, graphql

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def scrape(client: httpx.Client, server: Server) -> dict[Sample, float]:
    response = client.get(f"{server.url}/metrics")
    assert response.status_code == 200, response.text
    return parse(response.text)


def test_two_processes_sharing_a_multiprocess_dir_report_their_sums(
    tmp_path: Path, database_url: str, servers: list[Server], client: httpx.Client
) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
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
            "PROMETHEUS_MULTIPROC_DIR": str(shared),
        }
    )
    first = Server(env, tmp_path, tmp_path / "first.log")
    servers.append(first)
    first.wait_ready(client)
    second = Server(env, tmp_path, tmp_path / "second.log")
    servers.append(second)
    second.wait_ready(client)

    for server, count in ((first, 3), (second, 2)):
        for i in range(count):
            data = {"userId": f"u{i}", "details": {}}
            graphql(client, server, admin_key, "CreateSessionWith", input={**SCOPE, "data": data})
    from_first, from_second = scrape(client, first), scrape(client, second)

    created = "tessera_sessions_created_total"
    ops = "tessera_graphql_operations_total"
    for samples in (from_first, from_second):
        assert value(samples, created) == 5
        assert value(samples, ops, operation="createSession", outcome="ok") == 5
        latency = "tessera_graphql_operation_duration_seconds_count"
        assert value(samples, latency, operation="createSession", outcome="ok") == 5
    pooled = database_url.startswith("postgresql")
    if pooled:
        # A gauge of each live process, summed.
        assert value(from_first, "tessera_db_pool_max_connections") == 20
    live = {p.name for p in shared.glob("gauge_livesum_*.db")}
    assert f"gauge_livesum_{second.process.pid}.db" in live

    second.process.send_signal(signal.SIGTERM)
    second.process.wait(timeout=30)
    after = scrape(client, first)

    assert value(after, created) == 5  # the stopped process's counts stay
    assert not (shared / f"gauge_livesum_{second.process.pid}.db").exists()
    if pooled:
        assert value(after, "tessera_db_pool_max_connections") == 10
