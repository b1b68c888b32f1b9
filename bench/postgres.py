"""PostgreSQL for the benchmark: which server to use, a throwaway cluster when none is
given, and one fresh database per scenario.

- ``TESSERA_BENCH_DATABASE_URL`` set: that server. Its role must be allowed to
  ``CREATE DATABASE``; the bench creates ``tessera_bench_*`` databases next to the one
  in the URL (which it never touches) and drops them at the end.
- unset, ``.ci/postgres.sh`` present and ``initdb`` on the PATH: a throwaway cluster
  started by that script (127.0.0.1 only, fsync on), stopped and deleted at the end.
- otherwise, or while the store has no PostgreSQL adapter (``store/postgres.py``), the
  PostgreSQL runs are skipped with a printed note."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "postgres.sh"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def unavailable_reason() -> str | None:
    """Why the PostgreSQL runs cannot happen here, or ``None`` if they can."""
    if importlib.util.find_spec("store.postgres") is None:
        return (
            "store/postgres.py does not exist yet, so Tessera cannot open a postgresql:// "
            "URL; PostgreSQL runs skipped"
        )
    if importlib.util.find_spec("asyncpg") is None:
        return "asyncpg is not installed; PostgreSQL runs skipped"
    if os.environ.get("TESSERA_BENCH_DATABASE_URL"):
        return None
    if not SCRIPT.exists():
        return (
            "TESSERA_BENCH_DATABASE_URL is not set and there is no .ci/postgres.sh to start "
            "a cluster; PostgreSQL runs skipped"
        )
    if shutil.which("initdb") is None:
        return (
            "TESSERA_BENCH_DATABASE_URL is not set and initdb is not on the PATH; "
            "PostgreSQL runs skipped"
        )
    return None


class Cluster:
    """A throwaway cluster from ``.ci/postgres.sh`` (127.0.0.1, trust, fsync on)."""

    def __init__(self) -> None:
        self._dir: str | None = None
        # The script remembers "the last cluster" in $TMPDIR; a private TMPDIR keeps the
        # bench's cluster from replacing a developer's in that pointer. (The cluster
        # itself goes to /tmp when the postgres user cannot reach this directory.)
        self._tmp = tempfile.mkdtemp(prefix="tessera-bench-pgtmp-")
        os.chmod(self._tmp, 0o755)
        self._env = {**os.environ, "TMPDIR": self._tmp}

    def start(self) -> str:
        """Start it; the server's URL (its ``tessera_test`` database, unused here)."""
        done = subprocess.run(
            ["bash", str(SCRIPT), "start"],
            cwd=ROOT,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in done.stdout.splitlines()
            if line.startswith("export ") and "=" in line
        )
        self._dir = exports.get("TESSERA_PG_DIR")
        url = exports.get("TESSERA_TEST_DATABASE_URL")
        if done.returncode != 0 or url is None:
            self.stop()
            raise OSError(
                f".ci/postgres.sh start failed ({done.returncode}): {done.stderr.strip()[-500:]}"
            )
        return url

    def stop(self) -> None:
        try:
            if self._dir is not None:
                subprocess.run(
                    ["bash", str(SCRIPT), "stop"],
                    cwd=ROOT,
                    env={**self._env, "TESSERA_PG_DIR": self._dir},
                    capture_output=True,
                    timeout=120,
                    check=False,
                )
                self._dir = None
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


class Databases:
    """Fresh databases on one server, one per scenario, dropped by ``close``."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._created: list[str] = []

    def _url(self, name: str) -> str:
        return urlsplit(self.server_url)._replace(path="/" + name).geturl()

    def create(self, label: str) -> str:
        name = f"tessera_bench_{label}_{secrets.token_hex(3)}"
        asyncio.run(self._execute(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        return self._url(name)

    def version(self) -> str:
        async def go() -> str:
            import asyncpg

            conn = await asyncpg.connect(self.server_url)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        return asyncio.run(go())

    def close(self) -> None:
        for name in self._created:
            try:
                asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:
                print(f"bench: could not drop database {name}: {exc}")
        self._created.clear()

    async def _execute(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


async def count_sessions(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM sessions"))
    finally:
        await conn.close()
