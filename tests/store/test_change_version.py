"""The change version of what instances cache (``Store.change_version``): every change
to products, environments, configs and API keys advances it in its own transaction and
is announced to the store's subscribers before the call returns; nothing else advances
it; on PostgreSQL every other store listening on the database hears of it as it
commits, and of nothing rolled back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from store import Conflict, Store, open_store
from store.postgres import PostgresStore
from tests.store.test_sqlite import (
    NOW,
    api_key_record,
    config_values,
    key_record,
    new_session,
    product_and_config,
)

Write = Callable[[Store, int, int], Coroutine[Any, Any, object]]
POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
KEY_ID = api_key_record(b"\x01" * 32).id

CHANGES: dict[str, Write] = {
    "insert_product": lambda s, p, c: s.insert_product("other", "Other", ("dev",), NOW),
    "ensure_product": lambda s, p, c: s.ensure_product("other", "Other", ("dev",), NOW),
    "ensure_env": lambda s, p, c: s.ensure_env(p, "qa", NOW),
    "insert_config": lambda s, p, c: s.insert_config(p, config_values("other"), NOW),
    "ensure_config": lambda s, p, c: s.ensure_config(p, config_values("other"), NOW),
    "update_config": lambda s, p, c: s.update_config(c, config_values(name="Renamed"), NOW),
    "delete_config": lambda s, p, c: s.delete_config(c),
    "insert_api_key": lambda s, p, c: s.insert_api_key(api_key_record(b"\x02" * 32)),
    "revoke_api_key": lambda s, p, c: s.revoke_api_key(KEY_ID, NOW),
    # Key rings: every instance reads a rotated ring again, retired keys gone.
    "rotate_keys": lambda s, p, c: s.rotate_keys(p, "prd", [key_record(p)], NOW + 60, NOW),
}
# Writes that change nothing instances cache, or change nothing at all.
NOT_CHANGES: dict[str, Write] = {
    "ensure_product of an existing one": lambda s, p, c: s.ensure_product(
        "my-app", "My App", ("dev",), NOW
    ),
    "ensure_env of an existing one": lambda s, p, c: s.ensure_env(p, "prd", NOW),
    "ensure_config of an existing one": lambda s, p, c: s.ensure_config(p, config_values(), NOW),
    "update_config of a missing one": lambda s, p, c: s.update_config(c + 99, config_values(), NOW),
    "delete_config of a missing one": lambda s, p, c: s.delete_config(c + 99),
    "revoke_api_key of a missing one": lambda s, p, c: s.revoke_api_key("key_missing", NOW),
    "touch_api_key": lambda s, p, c: s.touch_api_key(KEY_ID, NOW + 120, 60),
    "put_meta_if_absent": lambda s, p, c: s.put_meta_if_absent("k", "v"),
    "insert_active_key": lambda s, p, c: s.insert_active_key(key_record(p)),
    "retire_expired_keys with none due": lambda s, p, c: s.retire_expired_keys(NOW),
    "rewrap_keys": lambda s, p, c: s.rewrap_keys([("kid-1", b"old", b"new")]),
    "replace_meta": lambda s, p, c: s.replace_meta("k", "v", "w"),
    "insert_session": lambda s, p, c: s.insert_session(new_session(p, c, "sess-2")),
    "touch_session": lambda s, p, c: s.touch_session("sess-1", NOW + 120, 60),
    "revoke_session": lambda s, p, c: s.revoke_session("sess-1", c, "prd", NOW, "test"),
}


def quiet(url: str) -> str:
    """``url`` without listening on PostgreSQL: what a store hears is its own."""
    if not url.startswith("postgresql"):
        return url
    return url + ("&" if "?" in url else "?") + "listen=false"


@pytest.fixture
async def opened(database_url: str) -> AsyncIterator[Callable[[str], Awaitable[Store]]]:
    """Open (and migrate) more stores on the test's database, by URL."""
    stores: list[Store] = []

    async def open_one(url: str) -> Store:
        store = open_store(url)
        stores.append(store)
        await store.migrate()
        return store

    yield open_one
    for store in reversed(stores):
        await store.close()


async def populated(store: Store) -> tuple[int, int]:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id))
    await store.insert_api_key(api_key_record(b"\x01" * 32))
    return product.id, config.id


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, f"not within {within} s"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("name", sorted(CHANGES))
async def test_each_change_advances_the_version_and_is_announced_before_returning(
    opened: Callable[[str], Awaitable[Store]], database_url: str, name: str
) -> None:
    store = await opened(quiet(database_url))
    product_id, config_id = await populated(store)
    before = await store.change_version()
    heard: list[int | None] = []
    await store.subscribe(heard.append)

    await CHANGES[name](store, product_id, config_id)
    announced = list(heard)

    assert await store.change_version() == before + 1
    assert announced == [before + 1]


@pytest.mark.parametrize("name", sorted(NOT_CHANGES))
async def test_other_writes_leave_the_version_alone(
    opened: Callable[[str], Awaitable[Store]], database_url: str, name: str
) -> None:
    store = await opened(quiet(database_url))
    product_id, config_id = await populated(store)
    before = await store.change_version()
    heard: list[int | None] = []
    await store.subscribe(heard.append)

    await NOT_CHANGES[name](store, product_id, config_id)

    assert await store.change_version() == before
    assert heard == []


async def test_version_is_zero_before_any_change(
    opened: Callable[[str], Awaitable[Store]], database_url: str
) -> None:
    store = await opened(quiet(database_url))

    assert await store.change_version() == 0


async def test_failed_change_is_announced_as_unknown_and_advances_nothing(
    opened: Callable[[str], Awaitable[Store]], database_url: str
) -> None:
    store = await opened(quiet(database_url))
    await populated(store)
    before = await store.change_version()
    heard: list[int | None] = []
    await store.subscribe(heard.append)

    with pytest.raises(Conflict):
        await store.insert_product("my-app", "Again", ("dev",), NOW)

    assert heard == [None]
    assert await store.change_version() == before


async def test_another_store_reads_the_version_a_change_made(
    opened: Callable[[str], Awaitable[Store]], database_url: str
) -> None:
    store, other = await opened(database_url), await opened(quiet(database_url))
    product_id, _ = await populated(store)

    await store.ensure_env(product_id, "qa", NOW)

    assert await other.change_version() == await store.change_version() > 0


async def listening(store: Store) -> list[int | None]:
    """What ``store`` announces, once it listens (it announces ``None`` then)."""
    heard: list[int | None] = []
    await store.subscribe(heard.append)
    await eventually(lambda: None in heard)
    heard.clear()
    return heard


@POSTGRES_ONLY
async def test_listening_store_hears_every_committed_change_and_nothing_else(
    opened: Callable[[str], Awaitable[Store]], database_url: str
) -> None:
    writer = await opened(quiet(database_url))
    product_id, config_id = await populated(writer)
    heard = await listening(await opened(database_url))

    with pytest.raises(Conflict):  # rolled back: no notification
        await writer.insert_product("my-app", "Again", ("dev",), NOW)
    await writer.touch_api_key(KEY_ID, NOW + 120, 60)  # no change to what is cached
    await writer.ensure_env(product_id, "qa", NOW)
    first = await writer.change_version()
    await writer.delete_config(config_id)
    second = await writer.change_version()

    # Notifications arrive in commit order: had the others sent one, it came first.
    await eventually(lambda: second in heard)
    assert heard == [first, second]


@POSTGRES_ONLY
async def test_store_told_not_to_listen_hears_only_its_own(
    opened: Callable[[str], Awaitable[Store]], database_url: str
) -> None:
    writer = await opened(quiet(database_url))
    product_id, _ = await populated(writer)
    deaf = await opened(quiet(database_url))
    deaf_heard: list[int | None] = []
    await deaf.subscribe(deaf_heard.append)
    control = await listening(await opened(database_url))

    await writer.ensure_env(product_id, "qa", NOW)

    await eventually(lambda: bool(control))
    assert deaf_heard == []


@POSTGRES_ONLY
async def test_listener_is_replaced_when_its_connection_is_lost(
    opened: Callable[[str], Awaitable[Store]], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer = await opened(quiet(database_url))
    product_id, _ = await populated(writer)
    heard = await listening(await opened(database_url))

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'tessera-listener'"
        )
    finally:
        await conn.close()
    # Back, it says that it may have missed something, then hears again.
    await eventually(lambda: None in heard)
    await writer.ensure_env(product_id, "qa", NOW)
    version = await writer.change_version()

    await eventually(lambda: version in heard)
    assert [r.getMessage() for r in caplog.records if r.name == "tessera.store"] == [
        "lost the connection listening for other instances' changes",
        "listening for other instances' changes again",
    ]


@POSTGRES_ONLY
async def test_listening_store_stops_listening_when_closed(database_url: str) -> None:
    store = open_store(database_url)
    await store.migrate()
    await listening(store)

    await store.close()

    conn = await asyncpg.connect(database_url)
    try:
        listeners = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tessera-listener'"
        )
    finally:
        await conn.close()
    assert listeners == 0


@pytest.mark.parametrize("value", ["maybe", "", "1"])
def test_listen_in_the_url_is_true_or_false(value: str) -> None:
    with pytest.raises(ValueError, match="listen"):
        PostgresStore(f"postgresql://tessera@localhost/tessera?listen={value}")
