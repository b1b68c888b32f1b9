"""The SQLite store's files are private whatever the umask: the database and its
-wal/-shm 0600, a directory it creates 0700. An existing database keeps the mode its
operator gave it (and SQLite gives the -wal/-shm that mode too)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.sqlite import SqliteStore
from tests.store.test_sessions_store import seed_session


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def database_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


@pytest.fixture(params=[0o022, 0o002, 0o000], ids=["umask-022", "umask-002", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


async def test_new_database_files_are_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "data" / "nested" / "tessera.db"
    store = SqliteStore(str(path))
    try:
        await store.migrate()
        await seed_session(store, "sess-1")  # through the writer: the WAL is in use
        files = database_files(path)
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(path.parent) == 0o700
    finally:
        await store.close()


async def test_existing_database_keeps_its_mode(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "tessera.db"
    path.touch()
    path.chmod(0o640)

    store = SqliteStore(str(path))
    try:
        await store.migrate()
        await seed_session(store, "sess-1")
        assert {f.name: mode(f) for f in database_files(path)} == {
            f.name: 0o640 for f in database_files(path)
        }
    finally:
        await store.close()
