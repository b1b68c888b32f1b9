"""Crash durability over real HTTP: a token that left the server belongs to a session
that survives ``kill -9``."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access import generate_api_key
from tests.api.test_seed import SEED_EXAMPLES
from tests.operations import operation

BIN = Path(sys.executable).parent
READY_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One ``tessera serve`` subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(BIN / "tessera"), "serve"],
                cwd=cwd,
                env={**env, "TESSERA_PORT": str(self.port), "TESSERA_HOST": "127.0.0.1"},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, client: httpx.Client) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if client.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"server not ready after {READY_TIMEOUT}s:\n{self.output()}")

    def kill(self) -> None:
        """``kill -9``: no shutdown hooks, no flushing, no closing of the database."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers started by the test; every one is killed at teardown, whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    # trust_env=False: loopback only, never through a proxy from the environment.
    with httpx.Client(trust_env=False, timeout=10.0) as http:
        yield http


def graphql(
    client: httpx.Client, server: Server, key: str, name: str, **variables: Any
) -> dict[str, Any]:
    response = client.post(
        f"{server.url}/graphql",
        json={"query": operation(name), "variables": variables},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def test_sessions_after_kill_9_still_verify(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    admin_key = generate_api_key()
    master_key = base64.b64encode(os.urandom(32)).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "development",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'tessera.db'}",
            "TESSERA_MASTER_KEY": master_key,
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    log = tmp_path / "server.log"

    first = Server(env, tmp_path, log)
    servers.append(first)
    first.wait_ready(client)
    created: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for example in [*SEED_EXAMPLES, SEED_EXAMPLES[0]]:
        result = graphql(client, first, admin_key, "CreateSessionWith", input=example)
        tokens = result["createSession"]
        assert tokens["__typename"] == "SessionTokens", tokens
        created.append((example, tokens))
    first.kill()  # right after the last response

    assert first.process.returncode == -signal.SIGKILL
    second = Server(env, tmp_path, log)
    servers.append(second)
    second.wait_ready(client)

    assert len({tokens["sessionId"] for _, tokens in created}) == len(created)
    for example, tokens in created:
        scope = {k: example[k] for k in ("product", "env", "tag")}
        verified = graphql(
            client, second, admin_key, "VerifySession", input={**scope, "token": tokens["token"]}
        )["verifySession"]
        assert verified["valid"] is True, (example, verified)
        assert verified["sessionId"] == tokens["sessionId"]
        assert verified["data"] == example["data"]
    second.kill()

    # Neither run (they share one log) wrote a secret or a token into its output.
    output = first.output()
    tokens_out = [t[field] for _, t in created for field in ("token", "refreshToken")]
    for secret in (admin_key, master_key, *tokens_out):
        assert secret not in output
