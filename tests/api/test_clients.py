"""Real GraphQL clients, in Node, against a real ``tessera serve``: Apollo Client with its
persisted queries link (tests/clients/). ``npm ci --prefix tests/clients`` installs them
(.ci/run does); without Node or them the test is skipped, loudly, except under
``CI=true``, where it fails."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access import generate_api_key
from tests.processes import Server

CLIENTS = Path(__file__).resolve().parents[1] / "clients"


def node() -> str:
    """The ``node`` binary with tests/clients' packages installed; skips (fails on CI)
    without them."""
    binary = shutil.which("node")
    problem = None
    if binary is None:
        problem = "Node.js is not installed"
    elif not (CLIENTS / "node_modules" / "@apollo" / "client").is_dir():
        problem = "tests/clients has no node_modules (run `npm ci --prefix tests/clients`)"
    if problem is None:
        assert binary is not None
        return binary
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true but {problem}: the client tests must run on CI", pytrace=False)
    pytest.skip(f"client tests SKIPPED: {problem}")


@pytest.fixture
def server(
    tmp_path: Path, database_url: str, servers: list[Server], client: httpx.Client
) -> tuple[Server, str]:
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "development",
            "TESSERA_DATA_DIR": str(tmp_path),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    started = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(started)
    started.wait_ready(client)
    return started, admin_key


def run_client(script: str, server: Server, key: str) -> dict[str, Any]:
    env = {**os.environ, "TESSERA_URL": f"{server.url}/graphql", "TESSERA_KEY": key}
    done = subprocess.run(
        [node(), str(CLIENTS / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{done.stderr}\n{server.output()}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_apollo_persisted_query_link_works_and_sends_hashes_only_once_known(
    server: tuple[Server, str],
) -> None:
    tessera, key = server

    run = run_client("apollo-persisted-queries.mjs", tessera, key)

    operations = ["CreateSessionWith", "VerifySession", "RefreshSession", "ActiveSessions"]
    exchanges = run["exchanges"]
    # Round 1: each operation's hash alone, answered "not found" with a 200, then the
    # query with its hash, which runs. Round 2: the hash alone, which runs.
    first = [e for e in exchanges[: 2 * len(operations)]]
    second = exchanges[2 * len(operations) :]
    assert [e["operationName"] for e in first] == [n for n in operations for _ in (1, 2)]
    for unknown, sent in zip(first[::2], first[1::2], strict=True):
        assert unknown["query"] is False and unknown["sha256Hash"]
        assert (unknown["status"], unknown["codes"]) == (200, ["PERSISTED_QUERY_NOT_FOUND"])
        assert sent["query"] is True and sent["sha256Hash"] == unknown["sha256Hash"]
        assert (sent["status"], sent["codes"]) == (200, [])
    assert [e["operationName"] for e in second] == operations
    assert all(e["query"] is False and e["sha256Hash"] for e in second), second
    assert all((e["status"], e["codes"]) == (200, []) for e in second), second
    assert [e["sha256Hash"] for e in second] == [e["sha256Hash"] for e in first[::2]]
    expected = {"created": "SessionTokens", "valid": True, "refreshed": "SessionTokens"}
    assert run["results"] == {"1": {**expected, "listed": 1}, "2": {**expected, "listed": 1}}
