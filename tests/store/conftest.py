"""Fixtures for the store contract tests.

Every test in tests/store talks to a ``Store`` through these fixtures only, and runs once
per adapter: ``sqlite`` on a temporary file, ``postgresql`` on the database named by
``TESSERA_TEST_DATABASE_URL`` (start a throwaway cluster with ``source .ci/postgres.sh``).
Without that variable the PostgreSQL runs are skipped, except under ``CI=true``, where
they fail: CI must not pass by silently testing one adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from store import Store, open_store
from tests.databases import fresh_postgres_database

OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database for one test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'tessera.db'}"
    if request.param == "postgresql":
        return await fresh_postgres_database()
    raise NotImplementedError(request.param)


@pytest.fixture
async def open_migrated(database_url: str) -> AsyncIterator[OpenStore]:
    """Open another migrated connection to the test's database (a second instance)."""
    opened: list[Store] = []

    async def open_one() -> Store:
        store = open_store(database_url)
        opened.append(store)
        await store.migrate()
        return store

    yield open_one
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(open_migrated: OpenStore) -> Store:
    """A migrated store on a fresh database."""
    return await open_migrated()
