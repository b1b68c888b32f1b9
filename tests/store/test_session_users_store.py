"""The session users table (migration 5): kept by every session create and refresh in
their own transaction, listed by an index, filled from the sessions of an upgraded
database. Run on both adapters."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import asyncpg
import pytest

from store import Conflict, NewSession, SessionUserRecord, Store, open_store
from tests.databases import race_instances
from tests.store.test_sqlite import NOW, config_values, new_session, product_and_config

ENV = "prd"


def started(
    product_id: int,
    config_id: int,
    session_id: str,
    identifier: str,
    at: float,
    **overrides: object,
) -> NewSession:
    base = replace(
        new_session(product_id, config_id, session_id),
        identifier=identifier,
        started_at=at,
        refresh_expires_at=at + 3600,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


async def users(store: Store, product_id: int, now: float = NOW, **kwargs: object) -> list[str]:
    """Identifiers of one page, in order."""
    args: dict[str, object] = {"config_id": None, "prefix": None, "after": None, "limit": 100}
    args.update(kwargs)
    found = await store.list_session_users(product_id, ENV, now=now, **args)  # type: ignore[arg-type]
    return [u.identifier for u in found]


async def user(store: Store, product_id: int, identifier: str, now: float) -> SessionUserRecord:
    found = await store.get_session_user(product_id, ENV, identifier, now)
    assert found is not None
    return found


async def test_session_user_follows_creates_refreshes_revocations_and_expiry(
    store: Store,
) -> None:
    product, config = await product_and_config(store)
    other = await store.insert_config(product.id, config_values("mobile"), NOW)
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW, user_id="u1"))
    await store.insert_session(
        started(product.id, other.id, "s2", "ann", NOW + 10, user_id="u2", details="sealed-2")
    )

    ann = await user(store, product.id, "ann", NOW + 20)
    assert (ann.first_seen_at, ann.last_seen_at) == (NOW, NOW + 10)
    assert (ann.total_sessions, ann.live_sessions) == (2, 2)
    assert (ann.user_id, ann.details, ann.latest_session_id) == ("u2", "sealed-2", "s2")
    assert ann.tags == ("mobile", "user-session")

    # A refresh is seen; the latest session stays the latest created.
    rotated = await store.rotate_refresh("s1", 0, b"n" * 32, NOW + 500, NOW + 30)
    assert rotated is not None
    ann = await user(store, product.id, "ann", NOW + 40)
    assert (ann.last_seen_at, ann.user_id, ann.total_sessions) == (NOW + 30, "u2", 2)

    # A rotation that lost (stale generation) writes nothing.
    assert await store.rotate_refresh("s1", 0, b"m" * 32, NOW + 500, NOW + 50) is None
    assert (await user(store, product.id, "ann", NOW + 60)).last_seen_at == NOW + 30

    # Revoked and expired sessions are no longer live; nothing else changes.
    assert await store.revoke_session("s2", other.id, ENV, NOW + 70, "revoked") == 1
    ann = await user(store, product.id, "ann", NOW + 80)
    assert (ann.live_sessions, ann.total_sessions, ann.last_seen_at) == (1, 2, NOW + 30)
    assert (await user(store, product.id, "ann", NOW + 3600)).live_sessions == 0

    # Swept sessions stay counted in total.
    assert await store.delete_expired_sessions(NOW + 10**6, 100) == 2
    ann = await user(store, product.id, "ann", NOW + 10**6)
    assert (ann.live_sessions, ann.total_sessions, ann.tags) == (0, 2, ("mobile", "user-session"))


async def test_session_user_of_an_older_session_keeps_the_latest_details(store: Store) -> None:
    # Instances' clocks differ: a create stamped earlier may commit later.
    product, config = await product_and_config(store)
    await store.insert_session(started(product.id, config.id, "s2", "ann", NOW + 5, user_id="new"))
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW, user_id="old"))

    ann = await user(store, product.id, "ann", NOW)
    assert (ann.user_id, ann.latest_session_id, ann.first_seen_at) == ("new", "s2", NOW)
    assert (ann.last_seen_at, ann.total_sessions) == (NOW + 5, 2)


async def test_session_user_is_one_per_product_env_and_identifier(store: Store) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW))
    await store.insert_session(started(product.id, config.id, "s2", "ann", NOW, env="dev"))

    assert await users(store, product.id) == ["ann"]
    assert (await user(store, product.id, "ann", NOW)).total_sessions == 1
    assert await store.get_session_user(product.id, ENV, "Ann", NOW) is None


async def test_session_users_list_last_seen_first_and_page_without_gap_or_repeat(
    store: Store,
) -> None:
    product, config = await product_and_config(store)
    # Several on the same instant: ties go by identifier, bytewise, descending.
    names = ["a", "b", "B", "é", "ab", "z", "\U0010ffff", "c"]
    for i, name in enumerate(names):
        at = NOW + (i // 3)
        await store.insert_session(started(product.id, config.id, f"s{i}", name, at))
    everyone = await users(store, product.id)

    expected = sorted(names, key=lambda n: (NOW + names.index(n) // 3, n), reverse=True)
    assert everyone == expected
    paged: list[str] = []
    after = None
    while True:
        page = await store.list_session_users(product.id, ENV, None, None, NOW, after, 3)
        paged += [u.identifier for u in page]
        if len(page) < 3:
            break
        after = (page[-1].last_seen_at, page[-1].identifier)
    assert paged == everyone


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("a", ["a", "ab", "a_b", "a%b", "axb"]),
        ("a%", ["a%b"]),
        ("a_", ["a_b"]),
        ("%", ["%"]),
        ("A", ["A"]),
        ("\U0010ffff", ["\U0010ffff\U0010ffffx", "\U0010ffff"]),
        ("ab", ["ab"]),
        ("abc", []),
    ],
)
async def test_session_users_prefix_is_literal_and_case_sensitive(
    store: Store, prefix: str, expected: list[str]
) -> None:
    product, config = await product_and_config(store)
    names = ["a", "ab", "a_b", "a%b", "axb", "A", "%", "b", "\U0010ffff", "\U0010ffff\U0010ffffx"]
    for i, name in enumerate(names):
        await store.insert_session(started(product.id, config.id, f"s{i}", name, NOW + i))
    below = prefix + "\U0010ffff" * (257 - len(prefix))

    found = await users(store, product.id, prefix=(prefix, below))

    assert found == sorted(expected, key=names.index, reverse=True)


async def test_session_users_of_a_tag_are_those_who_used_it_in_last_seen_order(
    store: Store,
) -> None:
    product, config = await product_and_config(store)
    mobile = await store.insert_config(product.id, config_values("mobile"), NOW)
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW))
    await store.insert_session(started(product.id, mobile.id, "s2", "bob", NOW + 1))
    await store.insert_session(started(product.id, config.id, "s3", "bob", NOW + 2))
    # ann's latest activity is on mobile: she moves up in the web listing too.
    await store.insert_session(started(product.id, mobile.id, "s4", "ann", NOW + 3))

    assert await users(store, product.id, config_id=config.id) == ["ann", "bob"]
    assert await users(store, product.id, config_id=mobile.id) == ["ann", "bob"]
    await store.rotate_refresh("s3", 0, b"n" * 32, NOW + 600, NOW + 4)
    assert await users(store, product.id, config_id=mobile.id) == ["bob", "ann"]
    assert await users(store, product.id, config_id=config.id, prefix=("b", "c")) == ["bob"]
    page = await store.list_session_users(
        product.id, ENV, config.id, None, NOW, (NOW + 4, "bob"), 10
    )
    assert [u.identifier for u in page] == ["ann"]

    # A deleted config takes its tag away.
    assert await store.delete_config(mobile.id)
    assert (await user(store, product.id, "ann", NOW)).tags == ("user-session",)


async def test_session_user_total_is_exact_under_concurrent_creates(
    database_url: str, store: Store
) -> None:
    product, config = await product_and_config(store)
    racers, each = 4, 10

    async def create(instance: Store, i: int) -> None:
        for j in range(each):
            await instance.insert_session(
                started(product.id, config.id, f"s{i}-{j}", "ann", NOW + j, user_id=f"u{i}")
            )

    race_instances(database_url, racers, create)

    ann = await user(store, product.id, "ann", NOW)
    assert ann.total_sessions == racers * each
    assert ann.live_sessions == racers * each
    assert (ann.first_seen_at, ann.last_seen_at) == (NOW, NOW + each - 1)


async def _downgrade_to_0_1_0(database_url: str) -> None:
    """Remove migration 5, as a database of 0.1.0 (which had no session users) is."""
    statements = [
        "DROP TABLE session_user_tags",
        "DROP TABLE session_users",
        "DELETE FROM schema_migrations WHERE version = 5",
    ]
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            for statement in statements:
                db.execute(statement)
        return
    conn = await asyncpg.connect(database_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_upgraded_database_shows_the_users_of_its_sessions(database_url: str) -> None:
    store = open_store(database_url)
    await store.migrate()
    product, config = await product_and_config(store)
    mobile = await store.insert_config(product.id, config_values("mobile"), NOW)
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW, user_id="a1"))
    await store.insert_session(
        started(product.id, mobile.id, "s2", "ann", NOW + 5, user_id="a2", details="d2")
    )
    await store.insert_session(started(product.id, config.id, "s3", "bob", NOW + 1))
    await store.rotate_refresh("s1", 0, b"n" * 32, NOW + 600, NOW + 9)
    await store.revoke_session("s3", config.id, ENV, NOW + 2, "revoked")
    before = [await user(store, product.id, name, NOW + 10) for name in ("ann", "bob")]
    await store.close()
    await _downgrade_to_0_1_0(database_url)

    store = open_store(database_url)
    try:
        await store.migrate()
        after = [await user(store, product.id, name, NOW + 10) for name in ("ann", "bob")]
        assert after == before
        assert after[0].total_sessions == 2 and after[0].user_id == "a2"
        assert await users(store, product.id) == ["ann", "bob"]
        assert await users(store, product.id, config_id=mobile.id) == ["ann"]
        # Kept up from there on.
        await store.insert_session(started(product.id, config.id, "s4", "bob", NOW + 20))
        assert (await user(store, product.id, "bob", NOW + 20)).total_sessions == 2
        assert await users(store, product.id, NOW + 20) == ["bob", "ann"]
    finally:
        await store.close()


async def test_unsealed_user_details_take_their_sessions_sealed_copy(store: Store) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW, details='{"a":1}'))
    await store.insert_session(started(product.id, config.id, "s2", "bob", NOW, details='{"b":2}'))
    assert await store.replace_session_details([("s1", '{"a":1}', "sealed-a")]) == 1

    assert await store.seal_session_user_details("{") == 1

    assert (await user(store, product.id, "ann", NOW)).details == "sealed-a"
    # Not sealed yet: left for its session's turn.
    assert (await user(store, product.id, "bob", NOW)).details == '{"b":2}'


async def test_failed_create_leaves_its_user_untouched(store: Store) -> None:
    # One transaction (SQLite: one unit of work of the writer's batch; PostgreSQL: one
    # statement): a create that fails leaves nothing of itself behind.
    product, config = await product_and_config(store)
    await store.insert_session(started(product.id, config.id, "s1", "ann", NOW))
    with pytest.raises(Conflict):
        await store.insert_session(started(product.id, config.id, "s1", "ann", NOW + 1))

    ann = await user(store, product.id, "ann", NOW)
    assert (ann.total_sessions, ann.last_seen_at) == (1, NOW)
