"""The test databases: a temporary SQLite file, or the PostgreSQL database named by
``TESSERA_TEST_DATABASE_URL`` (``make test`` and ``.ci/run`` start a throwaway cluster).
Without that variable the PostgreSQL runs are skipped, except under ``CI=true``, where
they fail: CI must not pass by silently testing one adapter."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest

from store import Store, open_store
from store.migrations import HEAD

T = TypeVar("T")

POSTGRES_URL_VARIABLE = "TESSERA_TEST_DATABASE_URL"


def postgres_test_url() -> str:
    """The PostgreSQL test database's URL; skips the test (fails it on CI) if unset."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    if url:
        return url
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(
            f"CI=true but {POSTGRES_URL_VARIABLE} is not set: the PostgreSQL store tests "
            "must run on CI (start a database with `source .ci/postgres.sh`)",
            pytrace=False,
        )
    pytest.skip(
        f"PostgreSQL store tests need {POSTGRES_URL_VARIABLE} "
        "(start a throwaway cluster with `source .ci/postgres.sh`)"
    )


async def fresh_postgres_database() -> str:
    """Empty the PostgreSQL test database (a new ``public`` schema) and return its URL."""
    url = postgres_test_url()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    return url


# Every table but schema_migrations, children first.
_TABLES = (
    "sessions, signing_keys, api_keys, session_configs, environments, products, meta, "
    "persisted_documents, events, verification_counts, session_users, session_user_tags"
)


async def clean_postgres_database() -> str:
    """The PostgreSQL test database emptied of rows (migrated tables are kept, which is
    much faster than a new schema per test); a new schema if it is not at HEAD."""
    url = postgres_test_url()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        version = await conn.fetchval("SELECT max(version) FROM schema_migrations") if exists else 0
        if version == HEAD:
            await conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
        else:
            await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    return url


def cluster_control() -> tuple[list[str], str]:
    """How to run pg_ctl on the .ci/postgres.sh cluster, or skip."""
    data = os.environ.get("TESSERA_PG_DIR")
    bindir = os.environ.get("TESSERA_PG_BIN")
    if not data or not bindir:
        pytest.skip("needs the cluster of .ci/postgres.sh (TESSERA_PG_DIR, TESSERA_PG_BIN)")
    pg_ctl = os.path.join(bindir, "pg_ctl")
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("root without runuser cannot run pg_ctl as postgres")
        prefix = [runuser, "-u", "postgres", "--"]
    return [*prefix, pg_ctl], data


def race_instances(
    url: str,
    racers: int,
    action: Callable[[Store, int], Awaitable[T]],
    *,
    ready: Callable[[Store], Awaitable[object]] = lambda store: store.migrate(),
) -> list[T]:
    """``action(store, i)`` on ``racers`` store instances at the same moment, each on its
    own thread, event loop and connection: a race between connections (or processes),
    not between tasks sharing one. Each instance is made ``ready`` (migrated) before a
    barrier releases them all. Returns the results; a racer's exception is raised."""
    barrier = threading.Barrier(racers, timeout=30)
    results: list[T] = []
    errors: list[BaseException] = []

    async def race(i: int) -> T:
        instance = open_store(url)
        try:
            await ready(instance)
            await asyncio.to_thread(barrier.wait)
            return await action(instance, i)
        finally:
            await instance.close()

    def run(i: int) -> None:
        try:
            results.append(asyncio.run(race(i)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    assert len(results) == racers, "a racer did not finish"
    return results
