"""What only the PostgreSQL adapter has: several instances on one database (concurrent
migrations, races between pools), failing fast when the database is unreachable, and
reconnecting after the server dropped its connections.

The unreachable-database tests need no PostgreSQL; the others use
``TESSERA_TEST_DATABASE_URL`` like the contract tests (see conftest.py)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

from store import (
    ConfigValues,
    KeyRecord,
    NewSession,
    Store,
    StoreUnavailable,
    open_store,
)
from store.migrations import HEAD, MIGRATIONS
from store.postgres import PostgresStore
from tests.databases import cluster_control, fresh_postgres_database, race_instances

NOW = 1_800_000_000.25
SECRET = "pa55-w0rd-not-for-logs"


def with_params(url: str, **params: object) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
async def pg_url() -> str:
    return await fresh_postgres_database()


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[list[PostgresStore]]:
    """Several instances (one pool each) on the fresh database; close them after."""
    opened: list[PostgresStore] = []
    yield opened
    for store in opened:
        await store.close()


def instance(stores: list[PostgresStore], url: str) -> PostgresStore:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    stores.append(store)
    return store


async def product_config(store: Store) -> tuple[int, int]:
    product = await store.ensure_product("shop", "Shop", ("prd",), NOW)
    config = await store.ensure_config(
        product.id,
        ConfigValues(
            "web",
            "Web",
            "",
            "$Session{userId}",
            1,
            "HOURS",
            30,
            "DAYS",
            None,
            None,
            None,
            "ENCRYPTED",
            False,
        ),
        NOW,
    )
    return product.id, config.id


def new_session(product_id: int, config_id: int, session_id: str) -> NewSession:
    return NewSession(
        id=session_id,
        product_id=product_id,
        env="prd",
        config_id=config_id,
        identifier="u1",
        user_id="u1",
        details="{}",
        started_at=NOW,
        expires_at=NOW + 3600,
        refresh_expires_at=NOW + 86_400,
        refresh_hash=b"h0" * 16,
        refresh_salt=b"s" * 16,
    )


# Opening ------------------------------------------------------------------------------


def test_open_store_is_synchronous_and_lazy() -> None:
    # No event loop, no server: opening only parses the URL.
    store = open_store(f"postgresql://tessera:{SECRET}@db.invalid:5432/tessera")
    assert isinstance(store, PostgresStore)
    assert SECRET not in repr(store)


def test_pool_settings_from_url_are_validated() -> None:
    with pytest.raises(ValueError, match="max_size"):
        open_store("postgresql://localhost/tessera?max_size=0")
    with pytest.raises(ValueError, match="min_size"):
        open_store("postgresql://localhost/tessera?min_size=5&max_size=2")
    with pytest.raises(ValueError, match="command_timeout"):
        open_store("postgresql://localhost/tessera?command_timeout=soon")


async def test_pool_size_from_url(pg_url: str, stores: list[PostgresStore]) -> None:
    store = instance(stores, with_params(pg_url, min_size=2, max_size=3))
    await store.migrate()

    pool = store._pool
    assert pool is not None
    assert (pool.get_min_size(), pool.get_max_size()) == (2, 3)


# Migrations -----------------------------------------------------------------------------


async def test_migrate_concurrent_starts_all_reach_head_once(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    racers = [instance(stores, pg_url) for _ in range(6)]

    versions = await asyncio.gather(*(s.migrate() for s in racers))

    assert versions == [HEAD] * len(racers)
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    assert all([await s.ready() for s in racers])


async def test_migrate_concurrent_starts_in_separate_threads(pg_url: str) -> None:
    racers = 4

    async def migrate(store: Store, i: int) -> int:
        return await store.migrate()

    # Connected, not migrated, before the race starts.
    results = race_instances(pg_url, racers, migrate, ready=lambda store: store.schema_version())

    assert results == [HEAD] * racers


# Races between instances ----------------------------------------------------------------


async def test_insert_active_key_raced_from_two_pools_one_active_key(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    a, b = instance(stores, pg_url), instance(stores, pg_url)
    await a.migrate()
    await b.migrate()
    product = await a.insert_product("shop", "Shop", ("prd",), NOW)
    envs = [f"env-{i}" for i in range(25)]

    for env in envs:
        ka, kb = (
            KeyRecord(f"{env}-{side}", product.id, env, "dir+A256GCM", "active", b"w" * 60, NOW)
            for side in "ab"
        )
        won_a, won_b = await asyncio.gather(a.insert_active_key(ka), b.insert_active_key(kb))

        assert won_a == won_b
        assert won_a in (ka, kb)
        ring = await a.list_keys(product.id, env)
        assert [k.kid for k in ring if k.state == "active"] == [won_a.kid]
        assert len(ring) == 1


async def test_rotate_refresh_raced_from_many_connections_one_winner(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    racers = 16
    # Two instances, each with a pool big enough to give every racer its own connection.
    a = instance(stores, with_params(pg_url, min_size=racers // 2, max_size=racers // 2))
    b = instance(stores, with_params(pg_url, min_size=racers // 2, max_size=racers // 2))
    await a.migrate()
    await b.migrate()
    product_id, config_id = await product_config(a)

    for round_ in range(10):
        session_id = f"sess-{round_}"
        await a.insert_session(new_session(product_id, config_id, session_id))

        rows = await asyncio.gather(
            *(
                (a if i % 2 else b).rotate_refresh(
                    session_id, 0, f"h1-{i}".encode(), NOW + 7200, NOW + 10 + i
                )
                for i in range(racers)
            )
        )

        winners = [r for r in rows if r is not None]
        assert len(winners) == 1
        session = await b.get_session(session_id)
        assert session is not None
        assert session.refresh_generation == 1
        assert session == winners[0]


async def test_ensure_helpers_raced_from_many_pools_agree(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    racers = [instance(stores, pg_url) for _ in range(6)]
    for s in racers:
        await s.migrate()

    metas = await asyncio.gather(
        *(s.put_meta_if_absent("k", f"v{i}") for i, s in enumerate(racers))
    )
    products = await asyncio.gather(
        *(
            s.ensure_product("shop", f"Shop {i}", ("dev", "prd"), NOW + i)
            for i, s in enumerate(racers)
        )
    )
    configs = await asyncio.gather(*(product_config(s) for s in racers))
    await asyncio.gather(*(s.ensure_env(products[0].id, "qa", NOW + 9) for s in racers))

    assert len(set(metas)) == 1
    assert len(set(products)) == 1 and products[0].envs == ("dev", "prd")
    assert len(set(configs)) == 1
    product = await racers[0].get_product("shop")
    assert product is not None and product.envs == ("dev", "prd", "qa")


async def test_delete_expired_sessions_concurrent_sweepers_delete_each_once(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    a, b = instance(stores, pg_url), instance(stores, pg_url)
    await a.migrate()
    await b.migrate()
    product_id, config_id = await product_config(a)
    for i in range(40):
        session = new_session(product_id, config_id, f"old-{i}")
        await a.insert_session(session)

    counts = await asyncio.gather(
        *(s.delete_expired_sessions(before=NOW + 10**6, limit=7) for s in (a, b) * 5)
    )
    assert sum(counts) == 40


# Values PostgreSQL text cannot hold --------------------------------------------------------


async def test_lookups_with_nul_find_nothing_instead_of_failing(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    store = instance(stores, pg_url)
    await store.migrate()
    product_id, config_id = await product_config(store)
    await store.insert_session(new_session(product_id, config_id, "sess-1"))

    # Attacker-controlled identifiers (a token's kid, a refresh token's session id).
    assert await store.find_key("kid\x00") is None
    assert await store.get_session("sess-1\x00") is None
    assert await store.get_api_key("key\x00") is None
    assert await store.rotate_refresh("sess-1\x00", 0, b"x", NOW, NOW) is None
    assert await store.list_sessions(config_id, "prd", "u1\x00", NOW, None, 10) == []
    assert await store.count_sessions(config_id, "prd", "u1\x00", NOW) == 0
    page = await store.list_sessions(config_id, "prd", None, NOW, (NOW + 1, "sess-2\x00"), 10)
    assert [s.id for s in page] == ["sess-1"]
    with pytest.raises(ValueError):
        await store.insert_session(new_session(product_id, config_id, "sess\x00"))


# Unreachable database ---------------------------------------------------------------------


async def test_unreachable_port_fails_fast_with_store_unavailable() -> None:
    store = open_store(f"postgresql://tessera:{SECRET}@127.0.0.1:{closed_port()}/tessera")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await store.migrate()
        with pytest.raises(StoreUnavailable):
            await store.get_session("sess-1")
        assert time.monotonic() - started < 5
        assert SECRET not in str(caught.value)
        assert "tessera:" not in str(caught.value)  # no user either
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    finally:
        await store.close()


async def test_silent_server_fails_fast_with_store_unavailable() -> None:
    # Accepts TCP connections and never answers: a hung or firewalled database.
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = open_store(f"postgresql://tessera:{SECRET}@127.0.0.1:{port}/tessera")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            await store.get_meta("k")
        assert time.monotonic() - started < 5
        assert SECRET not in str(caught.value)

        # Requests arriving together share one connection attempt's outcome instead of
        # queueing one connect timeout each (here 1 s, from the URL).
        burst = open_store(f"postgresql://tessera@127.0.0.1:{port}/tessera?connect_timeout=1")
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(burst.get_meta("k") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, StoreUnavailable) for o in outcomes)
        assert time.monotonic() - started < 2
        await burst.close()
    finally:
        await store.close()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_ready_false_when_unreachable() -> None:
    store = open_store(f"postgresql://postgres@127.0.0.1:{closed_port()}/tessera")
    try:
        started = time.monotonic()
        assert await store.ready() is False
        assert time.monotonic() - started < 5
    finally:
        await store.close()


async def test_wrong_database_is_unavailable_without_secrets(pg_url: str) -> None:
    parts = urlsplit(pg_url)
    url = urlunsplit(parts._replace(path="/no_such_database_here"))
    store = open_store(url)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.schema_version()
        assert await store.ready() is False
    finally:
        await store.close()
    assert "no_such_database_here" in str(caught.value)


async def test_closed_store_is_unavailable(pg_url: str) -> None:
    store = open_store(pg_url)
    await store.migrate()
    await store.close()

    with pytest.raises(StoreUnavailable):
        await store.get_meta("k")
    assert await store.ready() is False


# Server restarts --------------------------------------------------------------------------


def drop_connections_behind_the_loops_back(url: str) -> None:
    """Terminate every other backend of the test database, the way a PostgreSQL restart
    does, while this thread's event loop is blocked: the store's idle connections look
    alive until they are used."""

    async def terminate() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()

    worker = threading.Thread(target=asyncio.run, args=(terminate(),))
    worker.start()
    worker.join()
    time.sleep(0.2)  # let the server's goodbyes reach our sockets


async def test_read_after_connections_dropped_reconnects(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    store = instance(stores, with_params(pg_url, min_size=3, max_size=3))
    await store.migrate()
    product_id, config_id = await product_config(store)
    await store.insert_session(new_session(product_id, config_id, "sess-1"))

    drop_connections_behind_the_loops_back(pg_url)

    # Reads retry once on a fresh connection; the dead siblings are replaced too.
    assert await store.get_session("sess-1") is not None
    await store.insert_session(new_session(product_id, config_id, "sess-2"))
    assert await store.ready() is True


async def test_write_after_connections_dropped_is_unavailable_then_recovers(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    store = instance(stores, with_params(pg_url, min_size=3, max_size=3))
    await store.migrate()
    product_id, config_id = await product_config(store)
    await store.insert_session(new_session(product_id, config_id, "sess-1"))

    drop_connections_behind_the_loops_back(pg_url)

    # A write is never replayed (its commit may have happened), so the first one on a
    # dead connection reports the outage; the next call gets a fresh connection.
    try:
        rotated = await store.rotate_refresh("sess-1", 0, b"h1" * 16, NOW + 7200, NOW + 1)
    except StoreUnavailable:
        rotated = await store.rotate_refresh("sess-1", 0, b"h1" * 16, NOW + 7200, NOW + 1)
    assert rotated is not None and rotated.refresh_generation == 1


async def test_reconnects_after_a_real_postgresql_restart(
    pg_url: str, stores: list[PostgresStore]
) -> None:
    pg_ctl, cluster = cluster_control()
    store = instance(stores, pg_url)
    await store.migrate()
    assert await store.put_meta_if_absent("k", "v") == "v"

    restart = [*pg_ctl, "-D", f"{cluster}/data", "-l", f"{cluster}/server.log", "-m", "fast"]
    await asyncio.to_thread(
        subprocess.run, [*restart, "-w", "restart"], check=True, stdout=subprocess.DEVNULL
    )

    assert await store.get_meta("k") == "v"
    assert await store.ready() is True
    assert await store.put_meta_if_absent("k2", "v2") == "v2"
