"""Real ``tessera serve`` processes for tests that need a crash or two instances."""

from __future__ import annotations

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

from tests.operations import operation

BIN = Path(sys.executable).parent
READY_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One ``tessera serve`` (or other ``command``) subprocess on a free loopback port."""

    def __init__(
        self, env: dict[str, str], cwd: Path, log: Path, command: list[str] | None = None
    ) -> None:
        self.port = free_port()
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                command or [str(BIN / "tessera"), "serve"],
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


def servers_fixture() -> Iterator[list[Server]]:
    """Servers started by the test; every one is killed at teardown, whatever happened."""
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def client_fixture() -> Iterator[httpx.Client]:
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
