"""The event log in the store: each change writes its events in its own transaction,
one per session it touched and none when it changed nothing; readers page the log in
one order, and on PostgreSQL never past a transaction still running."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store import Conflict, EventScope, NewEvent, Store, VerificationCount
from tests.store.test_sqlite import (
    NOW,
    api_key_record,
    config_values,
    key_record,
    new_session,
    product_and_config,
)


def event(type: str, **fields: object) -> NewEvent:
    values: dict[str, object] = {
        "at": NOW,
        "actor": "key:key_1",
        "product": "my-app",
        "env": "prd",
        "tag": "user-session",
        "client_address": "198.51.100.7",
        "user_agent": "test/1",
    }
    values.update(fields)
    return NewEvent(type, **values)  # type: ignore[arg-type]


async def all_events(store: Store) -> list[tuple[str, str | None, str | None]]:
    found = await store.events_after((0, 0), 1000)
    return [(e.type, e.session_id, e.identifier) for e in found]


async def test_session_changes_record_their_events_per_session(store: Store) -> None:
    product, config = await product_and_config(store)
    for sid in ("s1", "s2", "s3"):
        await store.insert_session(new_session(product.id, config.id, sid), events=(event("c"),))
    rotated = await store.rotate_refresh("s1", 0, b"h" * 32, NOW + 9, NOW, events=(event("r"),))
    assert rotated is not None
    revoked = await store.revoke_session(
        "s1", config.id, "prd", NOW, "x", events=(event("reuse"), event("rev"))
    )
    assert revoked == 1
    count = await store.revoke_identifier(
        config.id, "prd", "john@example.com", NOW, "x", except_session="s3", events=(event("all"),)
    )

    assert count == 1
    assert await all_events(store) == [
        ("c", "s1", "john@example.com"),
        ("c", "s2", "john@example.com"),
        ("c", "s3", "john@example.com"),
        ("r", "s1", "john@example.com"),
        ("reuse", "s1", "john@example.com"),
        ("rev", "s1", "john@example.com"),
        ("all", "s2", "john@example.com"),
    ]
    stored = (await store.events_after((0, 0), 1))[0]
    assert (stored.actor, stored.client_address, stored.user_agent, stored.at) == (
        "key:key_1",
        "198.51.100.7",
        "test/1",
        NOW,
    )


async def test_changes_that_change_nothing_record_no_event(store: Store) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id), events=(event("c"),))
    await store.insert_api_key(api_key_record(b"\x01" * 32), event=event("k"))

    assert (
        await store.rotate_refresh("sess-1", 7, b"h" * 32, NOW, NOW, events=(event("x"),)) is None
    )
    assert await store.revoke_session("nope", config.id, "prd", NOW, "x", events=(event("x"),)) == 0
    assert (
        await store.revoke_identifier(config.id, "prd", "nobody", NOW, "x", events=(event("x"),))
        == 0
    )
    assert not await store.revoke_api_key("key_missing", NOW, event=event("x"))
    assert await store.update_config(config.id + 99, config_values(), NOW, event=event("x")) is None
    assert not await store.delete_config(config.id + 99, event=event("x"))
    await store.ensure_config(product.id, config_values(), NOW, event=event("x"))
    await store.ensure_product(product.tag, "x", ("prd",), NOW, event=event("x"))
    await store.insert_active_key(key_record(product.id), event=event("key"))
    await store.insert_active_key(key_record(product.id, kid="kid-2"), event=event("x"))

    assert [t for t, _, _ in await all_events(store)] == ["c", "k", "key"]


async def test_catalog_changes_record_their_events(store: Store) -> None:
    product = await store.insert_product("shop", "Shop", ("prd",), NOW, event=event("p"))
    config = await store.insert_config(product.id, config_values(), NOW, event=event("cc"))
    await store.update_config(config.id, config_values(name="New"), NOW, event=event("cu"))
    await store.insert_api_key(api_key_record(b"\x01" * 32), event=event("kc"))
    await store.revoke_api_key("key_01010101", NOW, event=event("kr"))
    await store.delete_config(config.id, event=event("cd"))

    assert [t for t, _, _ in await all_events(store)] == ["p", "cc", "cu", "kc", "kr", "cd"]


async def test_failed_change_records_no_event(store: Store) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id), events=(event("c"),))
    with pytest.raises(Exception):  # noqa: B017 - a duplicate id, whatever the driver says
        await store.insert_session(new_session(product.id, config.id), events=(event("dup"),))

    assert [t for t, _, _ in await all_events(store)] == ["c"]


async def test_sweep_records_an_expired_event_per_deleted_session(store: Store) -> None:
    product, config = await product_and_config(store)
    for sid in ("s1", "s2"):
        await store.insert_session(new_session(product.id, config.id, sid))

    assert await store.delete_expired_sessions(NOW + 10**9, 10, at=NOW + 5) == 2

    found = await store.events_after((0, 0), 10)
    assert [(e.type, e.session_id, e.product, e.env, e.tag, e.actor, e.at) for e in found] == [
        ("session_expired", sid, product.tag, "prd", config.tag, "system", NOW + 5)
        for sid in ("s1", "s2")
    ]


async def test_list_events_filters_and_pages_newest_first(store: Store) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id, "s1"), events=(event("a"),))
    await store.insert_session(
        new_session(product.id, config.id, "s2"), events=(event("b", at=NOW + 1),)
    )
    await store.insert_session(
        new_session(product.id, config.id, "s3"), events=(event("a", tag="other", at=NOW + 2),)
    )
    scope = EventScope("my-app", "prd")

    newest = await store.list_events(scope, before=None, limit=2)
    assert [e.session_id for e in newest] == ["s3", "s2"]
    rest = await store.list_events(scope, before=(newest[-1].tx, newest[-1].id), limit=2)
    assert [e.session_id for e in rest] == ["s1"]

    async def ids(**narrow: object) -> list[str | None]:
        found = await store.list_events(EventScope("my-app", "prd", **narrow), before=None, limit=9)  # type: ignore[arg-type]
        return [e.session_id for e in found]

    assert await ids(tag="user-session") == ["s2", "s1"]
    assert await ids(session_id="s2") == ["s2"]
    assert await ids(types=("a",)) == ["s3", "s1"]
    assert await ids(types=("a", "b")) == ["s3", "s2", "s1"]
    assert await ids(since=NOW + 1) == ["s3", "s2"]
    assert await ids(until=NOW + 1) == ["s1"]
    assert await ids(identifier="john@example.com") == ["s3", "s2", "s1"]
    assert await ids(identifier="nobody") == []
    assert await store.list_events(EventScope("my-app", "dev"), before=None, limit=9) == []


async def test_events_between_replays_up_to_a_position(store: Store) -> None:
    product, config = await product_and_config(store)
    for sid in ("s1", "s2", "s3", "s4"):
        await store.insert_session(new_session(product.id, config.id, sid), events=(event("c"),))
    log = await store.events_after((0, 0), 10)
    scope = EventScope("my-app", "prd")

    found = await store.events_between(scope, (log[0].tx, log[0].id), (log[2].tx, log[2].id), 10)

    assert [e.session_id for e in found] == ["s2", "s3"]
    assert await store.event_head() == (log[3].tx, log[3].id)


async def test_prune_events_deletes_only_older_ones(store: Store) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(
        new_session(product.id, config.id, "s1"), events=(event("a", at=10.0),)
    )
    await store.insert_session(
        new_session(product.id, config.id, "s2"), events=(event("b", at=20.0),)
    )

    assert await store.prune_events(15.0, 100) == 1
    assert [t for t, _, _ in await all_events(store)] == ["b"]


async def test_verification_counts_add_up_per_minute_and_outcome(store: Store) -> None:
    count = VerificationCount("my-app", "prd", "web", 100, "valid", 3)
    await store.add_verification_counts(
        [count, VerificationCount("my-app", "prd", "web", 100, "EXPIRED", 1)]
    )
    await store.add_verification_counts(
        [count, VerificationCount("my-app", "prd", "web", 101, "valid", 2)]
    )

    assert await store.verification_counts("my-app", "prd", 100, 102) == [
        VerificationCount("my-app", "prd", "web", 100, "EXPIRED", 1),
        VerificationCount("my-app", "prd", "web", 100, "valid", 6),
        VerificationCount("my-app", "prd", "web", 101, "valid", 2),
    ]
    assert await store.prune_verification_counts(101) == 2
    assert len(await store.verification_counts("my-app", "prd", 0, 10**9)) == 1


POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@POSTGRES_ONLY
async def test_postgres_reader_never_passes_an_event_still_being_committed(
    store: Store, database_url: str
) -> None:
    """An event whose id was allocated first but whose transaction commits last is not
    skipped: until it commits, the readers stop before every later transaction's."""
    product, config = await product_and_config(store)
    slow = await asyncpg.connect(database_url)
    try:
        transaction = slow.transaction()
        await transaction.start()
        # Allocates its id (and transaction id) first, then stays open.
        await slow.execute(
            "INSERT INTO events (type, at, actor, product, env) "
            "VALUES ('slow', 1, 'system', 'my-app', 'prd')"
        )
        await store.insert_session(
            new_session(product.id, config.id, "fast"), events=(event("fast"),)
        )

        assert await store.events_after((0, 0), 10) == []
        assert await store.list_events(EventScope("my-app", "prd"), before=None, limit=10) == []
        await transaction.commit()
    finally:
        await slow.close()
    await asyncio.sleep(0)

    assert [t for t, _, _ in await all_events(store)] == ["slow", "fast"]


async def test_session_writes_record_event_and_user_all_or_nothing(store: Store) -> None:
    # Create and refresh also keep session_users: their event, the session and the
    # person's row are written together, or (a failed or stale write) none of them.
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id, "s1"), events=(event("c"),))
    with pytest.raises(Exception):  # noqa: B017 - a duplicate id, whatever the driver says
        await store.insert_session(new_session(product.id, config.id, "s1"), events=(event("x"),))
    user = await store.get_session_user(product.id, "prd", "john@example.com", NOW)
    assert user is not None and user.total_sessions == 1
    first_seen = user.last_seen_at

    assert (
        await store.rotate_refresh("s1", 5, b"h" * 32, NOW + 9, NOW + 50, events=(event("x"),))
        is None
    )
    user = await store.get_session_user(product.id, "prd", "john@example.com", NOW)
    assert user is not None and user.last_seen_at == first_seen

    rotated = await store.rotate_refresh(
        "s1", 0, b"h" * 32, NOW + 9, NOW + 60, events=(event("r"),)
    )
    assert rotated is not None
    user = await store.get_session_user(product.id, "prd", "john@example.com", NOW)
    assert user is not None and user.last_seen_at == NOW + 60

    await store.insert_session(new_session(product.id, config.id, "s2"), events=(event("c2"),))
    user = await store.get_session_user(product.id, "prd", "john@example.com", NOW)
    assert user is not None and (user.total_sessions, user.latest_session_id) == (2, "s2")
    assert await all_events(store) == [
        ("c", "s1", "john@example.com"),
        ("r", "s1", "john@example.com"),
        ("c2", "s2", "john@example.com"),
    ]


async def test_key_rotation_records_its_events_only_when_it_wins(store: Store) -> None:
    product, _ = await product_and_config(store)
    await store.insert_active_key(key_record(product.id))
    rotated = (event("key_rotated", subject="kid-2"),)
    await store.rotate_keys(
        product.id, "prd", [key_record(product.id, kid="kid-2")], NOW + 60, NOW, events=rotated
    )
    # Its active key is newer than active_before: the rotation loses, and records nothing.
    with pytest.raises(Conflict):
        await store.rotate_keys(
            product.id,
            "prd",
            [key_record(product.id, kid="kid-3")],
            NOW + 60,
            NOW,
            active_before=NOW - 1,
            events=(event("lost", subject="kid-3"),),
        )

    found = await store.events_after((0, 0), 10)
    assert [(e.type, e.subject) for e in found] == [("key_rotated", "kid-2")]
