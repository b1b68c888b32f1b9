"""The store contract, run against every adapter (``database_url`` is parametrized:
SQLite on a temporary file, PostgreSQL on ``TESSERA_TEST_DATABASE_URL``).

Tests that use only the ``store``/``open_migrated``/``database_url`` fixtures are adapter
neutral; the few that check SQLite pragmas run on SQLite only, and what only
PostgreSQL has is in test_postgres_specific.py."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from store import (
    ApiKeyRecord,
    ConfigValues,
    Conflict,
    KeyRecord,
    NewSession,
    ProductRecord,
    SessionConfigRecord,
    Store,
    open_store,
)
from store.migrations import HEAD, MIGRATIONS
from store.sqlite import SqliteStore
from tests.databases import race_instances
from tests.store.conftest import OpenStore

NOW = 1_800_000_000.25
ENVS = ("dev", "staging", "prd")


def config_values(tag: str = "user-session", **overrides: object) -> ConfigValues:
    values: dict[str, object] = {
        "tag": tag,
        "name": "User session",
        "description": "",
        "selector": "$Session{userId}",
        "expiry": 1,
        "period": "HOURS",
        "refresh_expiry": 30,
        "refresh_period": "DAYS",
        "idle_timeout": None,
        "refresh_grace_seconds": None,
        "json_schema": None,
        "token_format": "ENCRYPTED",
        "signed_details": False,
    }
    values.update(overrides)
    return ConfigValues(**values)  # type: ignore[arg-type]


def key_record(product_id: int, env: str = "prd", kid: str = "kid-1") -> KeyRecord:
    return KeyRecord(
        kid=kid,
        product_id=product_id,
        env=env,
        alg="dir+A256GCM",
        state="active",
        wrapped=os.urandom(60),
        created_at=NOW,
    )


def new_session(product_id: int, config_id: int, session_id: str = "sess-1") -> NewSession:
    return NewSession(
        id=session_id,
        product_id=product_id,
        env="prd",
        config_id=config_id,
        identifier="john@example.com",
        user_id="user_123",
        details='{"username":"johndoe","note":"ünïcødé ✓"}',
        started_at=NOW + 0.125,
        expires_at=NOW + 3600.0,
        refresh_expires_at=NOW + 30 * 86_400.0,
        refresh_hash=bytes(range(32)),
        refresh_salt=b"\x00salt\xff" * 2,
    )


def api_key_record(key_hash: bytes, **overrides: object) -> ApiKeyRecord:
    values: dict[str, object] = {
        "id": "key_" + key_hash.hex()[:8],
        "name": "backend",
        "key_hash": key_hash,
        "product_id": None,
        "envs": None,
        "is_admin": True,
        "created_at": NOW,
        "last_used_at": None,
        "revoked_at": None,
    }
    values.update(overrides)
    return ApiKeyRecord(**values)  # type: ignore[arg-type]


async def product_and_config(store: Store) -> tuple[ProductRecord, SessionConfigRecord]:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    config = await store.insert_config(product.id, config_values(), NOW)
    return product, config


# Pragmas and files are SQLite's own: these tests run on the SQLite adapter only.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def sqlite_path(database_url: str) -> Path:
    assert database_url.startswith("sqlite:///")
    return Path(database_url.removeprefix("sqlite:///"))


# Migrations -------------------------------------------------------------------------


async def test_migrate_fresh_database_reaches_head_and_is_idempotent(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert await store.schema_version() == 0
        assert await store.migrate() == HEAD
        product = await store.insert_product("my-app", "My App", ENVS, NOW)

        assert await store.migrate() == HEAD
        assert await store.schema_version() == HEAD
        # A second migrate neither fails on existing tables nor touches the data.
        assert await store.get_product("my-app") == product
    finally:
        await store.close()


async def test_migrate_second_instance_sees_head(store: Store, open_migrated: OpenStore) -> None:
    other = await open_migrated()

    assert await other.schema_version() == HEAD
    assert await store.schema_version() == HEAD


async def applied_versions(database_url: str) -> list[int]:
    """``schema_migrations`` as another client of the database sees it."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(database_url)) as db:
            return [v for (v,) in db.execute("SELECT version FROM schema_migrations")]
    conn = await asyncpg.connect(database_url)
    try:
        return [v for (v,) in await conn.fetch("SELECT version FROM schema_migrations")]
    finally:
        await conn.close()


async def test_migrate_records_each_version_once(store: Store, database_url: str) -> None:
    await store.migrate()

    assert sorted(await applied_versions(database_url)) == [m.version for m in MIGRATIONS]


async def test_ready_only_when_migrated(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert await store.ready() is False
        await store.migrate()
        assert await store.ready() is True
    finally:
        await store.close()
    # A closed store answers, it does not raise.
    assert await store.ready() is False


# SQLite durability settings -----------------------------------------------------------


@SQLITE_ONLY
async def test_sqlite_pragmas_wal_and_synchronous_full(store: Store, database_url: str) -> None:
    path = sqlite_path(database_url)
    assert isinstance(store, SqliteStore)
    db = store._db
    assert db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # WAL is a property of the file: any other connection sees it too.
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


@SQLITE_ONLY
async def test_sqlite_commit_visible_to_fresh_connection_immediately(
    store: Store, database_url: str
) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id))

    # No transaction left open: another connection sees the row at once.
    with sqlite3.connect(sqlite_path(database_url)) as other:
        assert other.execute("SELECT id FROM sessions").fetchall() == [("sess-1",)]


# Metadata ---------------------------------------------------------------------------


async def test_meta_put_if_absent_keeps_first_value(store: Store) -> None:
    assert await store.get_meta("check") is None
    assert await store.put_meta_if_absent("check", "first") == "first"
    assert await store.put_meta_if_absent("check", "second") == "first"
    assert await store.get_meta("check") == "first"


# Products -----------------------------------------------------------------------------


async def test_insert_product_round_trips(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)

    assert (product.tag, product.name, product.envs, product.created_at) == (
        "my-app",
        "My App",
        ENVS,
        NOW,
    )
    assert await store.get_product("my-app") == product
    assert await store.get_product("missing") is None
    assert await store.list_products() == [product]


async def test_insert_product_duplicate_tag_raises_conflict(store: Store) -> None:
    await store.insert_product("my-app", "My App", ENVS, NOW)

    with pytest.raises(Conflict):
        await store.insert_product("my-app", "Other", ("dev",), NOW + 1)
    # The failed insert left nothing half-written.
    products = await store.list_products()
    assert [(p.name, p.envs) for p in products] == [("My App", ENVS)]


async def test_ensure_product_existing_returns_existing_row(store: Store) -> None:
    first = await store.ensure_product("my-app", "My App", ENVS, NOW)

    again = await store.ensure_product("my-app", "Renamed", ("dev",), NOW + 5)

    assert again == first


async def test_ensure_product_from_second_instance_returns_same_row(
    store: Store, open_migrated: OpenStore
) -> None:
    other = await open_migrated()
    first = await store.ensure_product("my-app", "My App", ENVS, NOW)

    assert await other.ensure_product("my-app", "My App", ENVS, NOW + 1) == first


async def test_ensure_env_existing_is_noop(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ("dev",), NOW)

    await store.ensure_env(product.id, "qa", NOW + 1)
    await store.ensure_env(product.id, "qa", NOW + 2)
    await store.ensure_env(product.id, "dev", NOW + 3)

    reloaded = await store.get_product("my-app")
    assert reloaded is not None and reloaded.envs == ("dev", "qa")


# Session configs ----------------------------------------------------------------------


async def test_insert_config_round_trips_every_field(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    values = config_values(
        description="checkout flow",
        selector="$Session{details.email}",
        expiry=15,
        period="MINUTES",
        refresh_expiry=7,
        refresh_period="DAYS",
        idle_timeout=900,
        refresh_grace_seconds=20,
        json_schema='{"type":"object"}',
    )

    config = await store.insert_config(product.id, values, NOW)

    for field in dataclasses.fields(ConfigValues):
        assert getattr(config, field.name) == getattr(values, field.name), field.name
    assert (config.product_id, config.created_at, config.updated_at) == (product.id, NOW, NOW)
    assert await store.get_config(product.id, values.tag) == config
    assert await store.list_configs(product.id) == [config]


async def test_insert_config_duplicate_tag_raises_conflict(store: Store) -> None:
    product, _ = await product_and_config(store)

    with pytest.raises(Conflict):
        await store.insert_config(product.id, config_values(name="Other"), NOW + 1)


async def test_ensure_config_existing_returns_existing_row(store: Store) -> None:
    product, config = await product_and_config(store)

    again = await store.ensure_config(product.id, config_values(name="Other", expiry=9), NOW + 1)

    assert again == config


async def test_update_config_missing_returns_none(store: Store) -> None:
    assert await store.update_config(999_999, config_values(), NOW) is None


async def test_delete_config_cascades_to_its_sessions(store: Store) -> None:
    product, config = await product_and_config(store)
    other = await store.insert_config(product.id, config_values("support-chat"), NOW)
    await store.insert_session(new_session(product.id, config.id, "sess-a"))
    await store.insert_session(new_session(product.id, config.id, "sess-b"))
    await store.insert_session(new_session(product.id, other.id, "sess-other"))

    assert await store.delete_config(config.id) is True

    assert await store.get_config(product.id, config.tag) is None
    assert await store.get_session("sess-a") is None
    assert await store.get_session("sess-b") is None
    assert await store.get_session("sess-other") is not None
    assert await store.delete_config(config.id) is False


# Key rings ----------------------------------------------------------------------------


async def test_insert_active_key_empty_ring_inserts_it(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    key = key_record(product.id)

    assert await store.insert_active_key(key) == key
    assert await store.list_keys(product.id, "prd") == [key]
    assert await store.list_keys(product.id, "dev") == []


async def test_insert_active_key_when_other_instance_won_returns_winner(
    store: Store, open_migrated: OpenStore
) -> None:
    other = await open_migrated()
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    # Both instances found the ring empty and minted a candidate; `store` commits first.
    winner = key_record(product.id, kid="kid-winner")
    loser = key_record(product.id, kid="kid-loser")

    assert await store.insert_active_key(winner) == winner
    assert await other.insert_active_key(loser) == winner

    for instance in (store, other):
        ring = await instance.list_keys(product.id, "prd")
        assert [k.kid for k in ring if k.state == "active"] == ["kid-winner"]
        assert [k.kid for k in ring] == ["kid-winner"]


async def test_insert_active_key_concurrent_instances_one_active_key(
    store: Store, database_url: str
) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    racers = 4

    async def insert(instance: Store, i: int) -> KeyRecord:
        return await instance.insert_active_key(key_record(product.id, kid=f"kid-{i}"))

    results = race_instances(database_url, racers, insert)

    # Every racer was told the same key, and it is the ring's only active key.
    assert len({r.kid for r in results}) == 1
    ring = await store.list_keys(product.id, "prd")
    assert [k for k in ring if k.state == "active"] == [results[0]]


async def test_insert_active_key_rings_are_per_env(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    prd = key_record(product.id, "prd", kid="kid-prd")
    dev = key_record(product.id, "dev", kid="kid-dev")

    assert await store.insert_active_key(prd) == prd
    assert await store.insert_active_key(dev) == dev


# Sessions -----------------------------------------------------------------------------


async def test_insert_session_get_round_trips_every_field(store: Store) -> None:
    product, config = await product_and_config(store)
    new = new_session(product.id, config.id)

    await store.insert_session(new)
    got = await store.get_session(new.id)

    assert got is not None
    for field in dataclasses.fields(NewSession):
        value = getattr(got, field.name)
        assert value == getattr(new, field.name), field.name
        assert type(value) is type(getattr(new, field.name)), field.name
    # A new session: seen and refreshed at its start, not revoked, generation 0.
    assert got.last_seen_at == new.started_at
    assert got.last_refresh_at == new.started_at
    assert (got.revoked_at, got.revoked_reason, got.rotated_at) == (None, None, None)
    assert got.refresh_generation == 0


async def test_insert_session_visible_to_second_instance(
    store: Store, open_migrated: OpenStore
) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id))

    other = await open_migrated()
    assert await other.get_session("sess-1") == await store.get_session("sess-1")


async def test_get_session_missing_returns_none(store: Store) -> None:
    assert await store.get_session("nope") is None


# API keys -----------------------------------------------------------------------------


async def test_api_key_get_by_hash_round_trips(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    admin = api_key_record(b"\x01" * 32)
    scoped = api_key_record(
        b"\x02" * 32, is_admin=False, product_id=product.id, envs=("dev", "prd"), name="app"
    )
    await store.insert_api_key(admin)
    await store.insert_api_key(scoped)

    # Reads also carry the product's tag (joined), which the writer does not set.
    assert await store.get_api_key_by_hash(b"\x01" * 32) == admin
    assert await store.get_api_key_by_hash(b"\x02" * 32) == dataclasses.replace(
        scoped, product="my-app"
    )
    assert await store.get_api_key_by_hash(b"\x03" * 32) is None


async def test_api_key_duplicate_hash_raises_conflict(store: Store) -> None:
    await store.insert_api_key(api_key_record(b"\x01" * 32))

    with pytest.raises(Conflict):
        await store.insert_api_key(api_key_record(b"\x01" * 32, id="key_other"))


async def test_count_admin_keys_ignores_revoked_and_product_keys(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    assert await store.count_admin_keys() == 0

    await store.insert_api_key(api_key_record(b"\x01" * 32))
    await store.insert_api_key(api_key_record(b"\x02" * 32, revoked_at=NOW))
    await store.insert_api_key(api_key_record(b"\x03" * 32, is_admin=False, product_id=product.id))

    assert await store.count_admin_keys() == 1


# Values a database cannot take ------------------------------------------------------


async def test_write_of_unstorable_value_fails_alone(store: Store) -> None:
    product, config = await product_and_config(store)
    bad = dataclasses.replace(new_session(product.id, config.id, "sess-bad"), identifier="\ud800")

    # Issued together, so on SQLite they share one group-committed transaction.
    outcomes = await asyncio.gather(
        store.insert_session(bad),
        store.insert_session(new_session(product.id, config.id, "sess-good")),
        store.insert_product("\udfff", "Bad", ENVS, NOW),
        store.insert_config(product.id, config_values("other", name="\ud800"), NOW),
        return_exceptions=True,
    )

    assert isinstance(outcomes[0], ValueError)
    assert outcomes[1] is None
    assert isinstance(outcomes[2], ValueError)
    assert isinstance(outcomes[3], ValueError)
    assert await store.get_session("sess-good") is not None
    assert await store.get_session("sess-bad") is None
    assert [p.tag for p in await store.list_products()] == ["my-app"]
    assert [c.tag for c in await store.list_configs(product.id)] == [config.tag]
