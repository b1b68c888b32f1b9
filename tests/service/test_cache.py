"""Products, configs and API keys are read from memory (service/cache.py): the hot paths
read only session rows once warm, every change is seen at once by the instance making
it, and by another instance within the recheck interval, sooner on PostgreSQL through
its notifications. Two instances here are two ``Tessera``s, each with its own store
(its own connections) and clock, on one database."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, fields
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from service.access import LAST_USED_INTERVAL_SECONDS
from service.catalog import ConfigPatch, ConfigSpec, Period, access_seconds
from service.clock import FrozenClock
from service.errors import ProductNotFound, SessionConfigNotFound, Unauthenticated
from service.settings import Settings
from service.tessera import Tessera
from store import ConfigValues, Store
from store.postgres import PostgresStore

SCOPE = ("shop", "prd", "web")
HOUR, FIVE_MINUTES = 3600, 300


def count_calls(store: Store, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every call of a ``Store`` method on ``store`` from now on, by name."""
    calls: Counter[str] = Counter()
    for name in [n for n in vars(Store) if not n.startswith("_")]:
        original = getattr(store, name)

        async def counting(
            *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
        ) -> Any:
            calls[_name] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(store, name, counting)
    return calls


async def shop(tessera: Tessera) -> str:
    """The product and config of ``SCOPE``, and a key of the product."""
    await tessera.catalog.create_product("shop", "Shop", ["prd"])
    await tessera.catalog.create_config("shop", ConfigSpec("web"))
    key, _ = await tessera.access.create_api_key("shop", None, "backend")
    return key


async def expiry(tessera: Tessera) -> int:
    """The access-token lifetime the instance would mint ``SCOPE``'s sessions with."""
    _, config = await tessera.catalog.scope(*SCOPE)
    return access_seconds(config)


def with_url(settings: Settings, url: str) -> Settings:
    return settings.model_copy(update={"database_url": SecretStr(url)})


def without_notifications(settings: Settings) -> Settings:
    """The same database, without LISTEN on PostgreSQL (SQLite has none anyway)."""
    url = settings.resolved_database_url
    if not url.startswith("postgresql"):
        return settings
    return with_url(settings, url + ("&" if "?" in url else "?") + "listen=false")


@pytest.fixture
def production(settings: Settings) -> Settings:
    return settings.model_copy(update={"mode": "production"})


@dataclass
class Instances:
    a: Tessera
    b: Tessera
    b_clock: FrozenClock


@pytest.fixture
async def instances(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[Instances]]]:
    """Start two instances on the test's database; ``b`` takes the settings given."""
    started: list[Tessera] = []

    async def start(b_settings: Settings = settings) -> Instances:
        a = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
        started.append(a)
        b_clock = FrozenClock()
        b = await Tessera.start(b_settings, clock=b_clock, announce=lambda key: None)
        started.append(b)
        return Instances(a, b, b_clock)

    yield start
    for tessera in reversed(started):
        await tessera.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float) -> float:
    """How long until ``check()`` held, polling; fails if it did not within ``within``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        if loop.time() - start > within:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(0.01)
    return loop.time() - start


# The hot paths ------------------------------------------------------------------------
async def test_warm_hot_paths_read_only_session_rows(
    tessera: Tessera, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await shop(tessera)
    await listening(tessera.store)

    async def one_of_each() -> None:
        principal = await tessera.access.authenticate(key)
        assert principal is not None and principal.product == "shop"
        issued = await tessera.sessions.create(*SCOPE, "u1", {"a": 1})
        assert (await tessera.sessions.verify(*SCOPE, issued.token)).valid
        assert not isinstance(await tessera.sessions.verify_bearer(issued.token), str)
        await tessera.sessions.refresh(*SCOPE, issued.refresh_token)

    await one_of_each()  # warms the cache, the key ring and the documents
    calls = count_calls(tessera.store, monkeypatch)
    for _ in range(3):
        await one_of_each()

    # Per round: verify and verify_bearer read the session row, refresh reads it once
    # and rotates it, create inserts one. Nothing reads a product, config or key.
    assert calls == Counter(get_session=9, insert_session=3, rotate_refresh=3)


async def test_unknown_names_are_read_once(
    tessera: Tessera, monkeypatch: pytest.MonkeyPatch
) -> None:
    await shop(tessera)
    await listening(tessera.store)
    await tessera.catalog.resolve_existing("ghost", "prd", "web")
    await tessera.catalog.resolve_existing("shop", "prd", "ghost")
    with pytest.raises(Unauthenticated):
        await tessera.access.authenticate("tsk_" + "x" * 43)
    calls = count_calls(tessera.store, monkeypatch)

    for _ in range(5):
        assert await tessera.catalog.resolve_existing("ghost", "prd", "web") is None
        assert await tessera.catalog.resolve_existing("shop", "prd", "ghost") is None
        with pytest.raises(Unauthenticated):
            await tessera.access.authenticate("tsk_" + "x" * 43)

    assert calls == Counter()


async def test_missing_names_cannot_push_out_existing_ones(
    tessera: Tessera, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await shop(tessera)
    await listening(tessera.store)
    await tessera.access.authenticate(key)
    await tessera.catalog.scope(*SCOPE)
    calls = count_calls(tessera.store, monkeypatch)

    for i in range(3000):  # more than the cache keeps of missing names
        await tessera.catalog.resolve_existing(f"ghost-{i}", "prd", "web")
    await tessera.access.authenticate(key)
    await tessera.catalog.scope(*SCOPE)

    assert calls == Counter(get_product=3000)


async def test_last_used_at_is_written_once_per_interval_with_the_key_cached(
    tessera: Tessera, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await shop(tessera)
    await listening(tessera.store)
    await tessera.catalog.scope(*SCOPE)  # the cache's first lookup reads the version
    calls = count_calls(tessera.store, monkeypatch)

    await asyncio.gather(*(tessera.access.authenticate(key) for _ in range(10)))
    first = (await tessera.access.api_keys("shop"))[0].last_used_at
    clock.advance(LAST_USED_INTERVAL_SECONDS / 2)
    await tessera.access.authenticate(key)
    unchanged = (await tessera.access.api_keys("shop"))[0].last_used_at
    clock.advance(LAST_USED_INTERVAL_SECONDS / 2)
    await asyncio.gather(*(tessera.access.authenticate(key) for _ in range(10)))
    later = (await tessera.access.api_keys("shop"))[0].last_used_at

    assert first == unchanged == clock.now() - LAST_USED_INTERVAL_SECONDS
    assert later == clock.now()
    assert calls["touch_api_key"] == 2
    assert calls["get_api_key_by_hash"] == 1


# Within one instance: at once ---------------------------------------------------------
async def test_revoked_key_fails_on_the_next_request(tessera: Tessera) -> None:
    key = await shop(tessera)
    principal = await tessera.access.authenticate(key)
    assert principal is not None and principal.key_id is not None

    await tessera.access.revoke_api_key(principal.key_id)

    with pytest.raises(Unauthenticated):
        await tessera.access.authenticate(key)


async def test_updated_config_mints_the_next_session(tessera: Tessera) -> None:
    await shop(tessera)
    before = await tessera.sessions.create(*SCOPE, "u1", {})

    await tessera.catalog.update_config("shop", "web", ConfigPatch(expiry=5, period=Period.MINUTES))
    after = await tessera.sessions.create(*SCOPE, "u1", {})

    now = tessera.clock.now()
    assert (before.expires_at - now, after.expires_at - now) == (HOUR, FIVE_MINUTES)


async def test_deleted_config_mints_no_more_sessions(production: Settings) -> None:
    tessera = await Tessera.start(production, clock=FrozenClock())
    try:
        await shop(tessera)
        issued = await tessera.sessions.create(*SCOPE, "u1", {})

        await tessera.catalog.delete_config("shop", "web")

        with pytest.raises(SessionConfigNotFound):
            await tessera.sessions.create(*SCOPE, "u1", {})
        assert (await tessera.sessions.verify(*SCOPE, issued.token)).valid is False
    finally:
        await tessera.close()


async def test_product_created_after_it_was_missed_is_found(production: Settings) -> None:
    tessera = await Tessera.start(production, clock=FrozenClock())
    try:
        with pytest.raises(ProductNotFound):
            await tessera.sessions.create(*SCOPE, "u1", {})

        await shop(tessera)

        assert (await tessera.sessions.create(*SCOPE, "u1", {})).session_id
    finally:
        await tessera.close()


async def test_provisioned_env_is_found_after_it_was_missed(tessera: Tessera) -> None:
    await shop(tessera)
    assert await tessera.catalog.resolve_existing("shop", "qa", "web") is None

    issued = await tessera.sessions.create("shop", "qa", "web", "u1", {})  # development

    assert (await tessera.sessions.verify("shop", "qa", "web", issued.token)).valid


async def test_change_made_on_the_store_itself_is_seen_at_once(tessera: Tessera) -> None:
    await shop(tessera)
    _, config = await tessera.catalog.scope(*SCOPE)
    values = {f.name: getattr(config, f.name) for f in fields(ConfigValues)}
    shorter = ConfigValues(**{**values, "expiry": 5, "period": "MINUTES"})

    # As a command-line tool or a migration would: not through the catalog.
    assert await tessera.store.update_config(config.id, shorter, tessera.clock.now())

    assert await expiry(tessera) == FIVE_MINUTES


async def test_read_under_way_during_a_change_is_not_kept(
    tessera: Tessera, monkeypatch: pytest.MonkeyPatch
) -> None:
    await shop(tessera)
    read, release = asyncio.Event(), asyncio.Event()
    get_config = tessera.store.get_config

    async def slow(product_id: int, tag: str) -> Any:
        found = await get_config(product_id, tag)
        read.set()
        await release.wait()  # the reply is late: the change commits meanwhile
        return found

    monkeypatch.setattr(tessera.store, "get_config", slow)
    lookup = asyncio.create_task(expiry(tessera))
    await read.wait()
    monkeypatch.setattr(tessera.store, "get_config", get_config)
    await tessera.catalog.update_config("shop", "web", ConfigPatch(expiry=5, period=Period.MINUTES))
    release.set()

    assert await lookup == HOUR  # what it read, for the request it read it for
    assert await expiry(tessera) == FIVE_MINUTES  # but it was not kept


async def test_missing_product_read_under_way_during_its_creation_is_not_kept(
    production: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    tessera = await Tessera.start(production, clock=FrozenClock())
    try:
        read, release = asyncio.Event(), asyncio.Event()
        get_product = tessera.store.get_product

        async def slow(tag: str) -> Any:
            found = await get_product(tag)
            read.set()
            await release.wait()
            return found

        monkeypatch.setattr(tessera.store, "get_product", slow)
        lookup = asyncio.create_task(tessera.catalog.resolve_existing(*SCOPE))
        await read.wait()
        monkeypatch.setattr(tessera.store, "get_product", get_product)
        await shop(tessera)
        release.set()

        assert await lookup is None
        assert await tessera.catalog.resolve_existing(*SCOPE) is not None
    finally:
        await tessera.close()


# Across instances ---------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """A change made on one instance, and how another sees whether it happened."""

    name: str
    make: Callable[[Tessera, str], Awaitable[object]]
    seen: Callable[[Tessera, str], Awaitable[bool]]


async def _revoke(tessera: Tessera, key: str) -> None:
    (record,) = await tessera.access.api_keys("shop")
    await tessera.access.revoke_api_key(record.id)


async def _revoked(tessera: Tessera, key: str) -> bool:
    try:
        await tessera.access.authenticate(key)
    except Unauthenticated:
        return True
    return False


async def _shorten(tessera: Tessera, key: str) -> None:
    await tessera.catalog.update_config("shop", "web", ConfigPatch(expiry=5, period=Period.MINUTES))


async def _shortened(tessera: Tessera, key: str) -> bool:
    issued = await tessera.sessions.create(*SCOPE, "u1", {})
    return issued.expires_at - tessera.clock.now() == FIVE_MINUTES


async def _delete(tessera: Tessera, key: str) -> None:
    await tessera.catalog.delete_config("shop", "web")


async def _deleted(tessera: Tessera, key: str) -> bool:
    return await tessera.catalog.resolve_existing(*SCOPE) is None


async def _add_product(tessera: Tessera, key: str) -> None:
    await tessera.catalog.create_product("later", "Later", ["prd"])


async def _product_added(tessera: Tessera, key: str) -> bool:
    try:
        await tessera.catalog.scope("later", "prd", "web")
    except ProductNotFound:
        return False
    except SessionConfigNotFound:
        return True
    return True


CHANGES = [
    Change("revoked key", _revoke, _revoked),
    Change("updated config", _shorten, _shortened),
    Change("deleted config", _delete, _deleted),
    Change("created product", _add_product, _product_added),
]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.name)
async def test_change_on_another_instance_is_seen_after_the_recheck_interval(
    instances: Callable[..., Awaitable[Instances]], settings: Settings, change: Change
) -> None:
    # Without notifications (SQLite has none; on PostgreSQL they are switched off here)
    # the change version, read at most once per interval, is what tells.
    pair = await instances(without_notifications(settings))
    key = await shop(pair.a)
    assert not await change.seen(pair.b, key)  # warm, from before the change

    await change.make(pair.a, key)
    pair.b_clock.advance(settings.cache_recheck_seconds - 0.001)
    still = await change.seen(pair.b, key)
    pair.b_clock.advance(0.001)

    assert not still  # cached, and not yet rechecked...
    assert await change.seen(pair.b, key)  # ...and seen at the first lookup after


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.name)
async def test_change_on_another_instance_is_notified_within_a_second(
    instances: Callable[..., Awaitable[Instances]], change: Change
) -> None:
    pair = await instances()
    heard = await listening(pair.b.store)
    key = await shop(pair.a)
    assert not await change.seen(pair.b, key)

    await change.make(pair.a, key)
    version = await pair.a.store.change_version()

    # b's clock stands still, so it never rechecks: only a notification can tell it.
    await eventually(lambda: change.seen(pair.b, key), within=1.0)
    assert version in heard


async def listening(store: Store) -> list[int | None]:
    """What ``store`` announces from now on, once its listener is connected (it
    announces ``None`` then, and the cache drops what it had): at once on SQLite."""
    heard: list[int | None] = []
    await store.subscribe(heard.append)
    if not isinstance(store, PostgresStore):
        return heard

    async def connected() -> bool:
        return None in heard

    await eventually(connected, within=5.0)
    return heard


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_lost_listener_reconnects_and_hears_again(
    instances: Callable[..., Awaitable[Instances]], database_url: str
) -> None:
    pair = await instances()
    heard = await listening(pair.b.store)
    key = await shop(pair.a)
    assert not await _revoked(pair.b, key)
    heard.clear()

    conn = await asyncpg.connect(database_url)
    try:
        terminated = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'tessera-listener'"
        )
    finally:
        await conn.close()
    assert terminated >= 1

    async def reconnected() -> bool:
        return None in heard

    await eventually(reconnected, within=5.0)
    await _revoke(pair.a, key)
    await eventually(lambda: _revoked(pair.b, key), within=1.0)


async def test_config_deleted_on_another_instance_is_never_minted_with(
    instances: Callable[..., Awaitable[Instances]], production: Settings
) -> None:
    # b has not heard of the deletion yet (no notifications, its clock stands still):
    # its insert finds the config gone, and it answers as if it had known.
    pair = await instances(without_notifications(production))
    await shop(pair.a)
    assert (await pair.b.sessions.create(*SCOPE, "u1", {})).session_id

    await pair.a.catalog.delete_config("shop", "web")

    with pytest.raises(SessionConfigNotFound):
        await pair.b.sessions.create(*SCOPE, "u1", {})
