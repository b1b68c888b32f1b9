"""Real ``tessera serve`` processes for tests that need a crash or two instances."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
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
                # One worker unless the test asks for more: production's default (one
                # per CPU) would make the tests' per-process state depend on the machine.
                env={
                    "TESSERA_WORKERS": "1",
                    **env,
                    "TESSERA_PORT": str(self.port),
                    "TESSERA_HOST": "127.0.0.1",
                },
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, client: httpx.Client, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if client.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        pytest.fail(f"server not ready after {timeout}s:\n{self.output()}")

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


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux's /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        found.extend(int(child) for child in text.split())
    return found


def connection_owners(pids: list[int], port: int) -> set[int]:
    """Which of ``pids`` hold an accepted, established TCP connection on local ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rpartition(":")[2], 16)
                if local_port == port and fields[3] == "01":  # ESTABLISHED
                    inodes.add(fields[9])
    owners: set[int] = set()
    for pid in pids:
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        owners.add(pid)
                        break
    return owners
