"""The SQLite writer: every write of the SQLite store goes through it, off the event loop,
and a write that fails, fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from store import NewEvent, PersistedDocumentRecord, Store, VerificationCount
from store.groupcommit import GroupCommitter
from tests.store.test_sqlite import (
    NOW,
    SQLITE_ONLY,
    api_key_record,
    config_values,
    key_record,
    new_session,
    product_and_config,
    sqlite_path,
)

Write = Callable[[Store, int, int], Coroutine[Any, Any, object]]
# Changes write with their events, as the service makes them.
EVENT = NewEvent("session_revoked", NOW, "system", "my-app", "prd", "user-session")

# Every Store method that writes, with arguments that make it write something.
WRITES: dict[str, Write] = {
    "migrate": lambda s, p, c: s.migrate(),
    "put_meta_if_absent": lambda s, p, c: s.put_meta_if_absent("k", "v"),
    "insert_product": lambda s, p, c: s.insert_product("other", "Other", ("dev",), NOW),
    "ensure_product": lambda s, p, c: s.ensure_product("other", "Other", ("dev",), NOW),
    "ensure_env": lambda s, p, c: s.ensure_env(p, "qa", NOW),
    "insert_config": lambda s, p, c: s.insert_config(p, config_values("other"), NOW),
    "ensure_config": lambda s, p, c: s.ensure_config(p, config_values("other"), NOW),
    "update_config": lambda s, p, c: s.update_config(c, config_values(name="Renamed"), NOW),
    "delete_config": lambda s, p, c: s.delete_config(c),
    "insert_active_key": lambda s, p, c: s.insert_active_key(key_record(p)),
    "insert_session": lambda s, p, c: s.insert_session(
        new_session(p, c, "sess-2"), events=(EVENT,)
    ),
    "rotate_refresh": lambda s, p, c: s.rotate_refresh(
        "sess-1", 0, b"h" * 32, NOW + 9, NOW, events=(EVENT,)
    ),
    "revoke_session": lambda s, p, c: s.revoke_session(
        "sess-1", c, "prd", NOW, "test", events=(EVENT, EVENT)
    ),
    "revoke_identifier": lambda s, p, c: s.revoke_identifier(
        c, "prd", "john@example.com", NOW, "test", events=(EVENT,)
    ),
    "touch_session": lambda s, p, c: s.touch_session("sess-1", NOW + 120, 60),
    "delete_expired_sessions": lambda s, p, c: s.delete_expired_sessions(NOW + 10**9, 10, at=NOW),
    "replace_session_details": lambda s, p, c: s.replace_session_details(
        [("sess-1", '{"username":"johndoe","note":"ünïcødé ✓"}', "sealed")]
    ),
    "insert_api_key": lambda s, p, c: s.insert_api_key(api_key_record(b"\x09" * 32)),
    "revoke_api_key": lambda s, p, c: s.revoke_api_key("key_01010101", NOW),
    "touch_api_key": lambda s, p, c: s.touch_api_key("key_01010101", NOW + 120, 60),
    "register_apq_document": lambda s, p, c: s.register_apq_document(
        PersistedDocumentRecord("a" * 64, "{ a }", "apq", NOW), 10
    ),
    "put_trusted_documents": lambda s, p, c: s.put_trusted_documents(
        [PersistedDocumentRecord("b" * 64, "{ b }", "trusted", NOW)]
    ),
    "prune_events": lambda s, p, c: s.prune_events(NOW + 10**9, 10),
    "add_verification_counts": lambda s, p, c: s.add_verification_counts(
        [VerificationCount("my-app", "prd", "user-session", 1, "valid", 3)]
    ),
    "prune_verification_counts": lambda s, p, c: s.prune_verification_counts(10**9),
    "replace_meta": lambda s, p, c: s.replace_meta("change_version", "1", "1"),
    "rotate_keys": lambda s, p, c: s.rotate_keys(p, "prd", [key_record(p)], NOW + 60, NOW),
    "retire_expired_keys": lambda s, p, c: s.retire_expired_keys(NOW),
    "rewrap_keys": lambda s, p, c: s.rewrap_keys([("kid-1", b"old", b"new")]),
    "seal_session_user_details": lambda s, p, c: s.seal_session_user_details("{"),
}
READS = {
    "schema_version",
    "ready",
    "get_meta",
    "get_product",
    "get_product_by_id",
    "list_products",
    "get_config",
    "list_configs",
    "list_keys",
    "find_key",
    "get_session",
    "list_sessions",
    "count_sessions",
    "session_details_with_prefix",
    "get_api_key_by_hash",
    "get_api_key",
    "list_api_keys",
    "count_admin_keys",
    "get_persisted_document",
    "change_version",
    "events_after",
    "event_head",
    "list_events",
    "events_between",
    "verification_counts",
    "live_keys",
    "rings_active_since_before",
    "get_session_user",
    "list_session_users",
}


def test_every_store_method_is_a_listed_read_or_write() -> None:
    # subscribe reads and writes nothing: it registers a callback (and, on PostgreSQL,
    # starts listening on a connection of its own).
    methods = {name for name in vars(Store) if not name.startswith("_")} - {"close", "subscribe"}

    assert methods == READS | set(WRITES)


@SQLITE_ONLY
@pytest.mark.parametrize("method", sorted(WRITES))
async def test_sqlite_write_waiting_for_the_lock_leaves_the_loop_free(
    store: Store, database_url: str, method: str
) -> None:
    product, config = await product_and_config(store)
    await store.insert_session(new_session(product.id, config.id))
    await store.insert_api_key(api_key_record(b"\x01" * 32))
    # Another process holds the database's write lock for a while.
    blocker = sqlite3.connect(sqlite_path(database_url), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        write = asyncio.create_task(WRITES[method](store, product.id, config.id))
        started = time.monotonic()
        for _ in range(5):
            await asyncio.sleep(0.02)
        stalled = time.monotonic() - started
        assert not write.done()  # it waits for the lock...
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    await write  # ...and completes once the lock is free...
    assert stalled < 1.0  # ...while the event loop went on serving meanwhile


def committer(path: Path) -> GroupCommitter:
    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("CREATE TABLE IF NOT EXISTS t (v TEXT PRIMARY KEY)")
        return db

    return GroupCommitter(connect)


def stored(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [v for (v,) in db.execute("SELECT v FROM t ORDER BY v")]


async def test_failed_unit_of_work_rolls_back_alone(tmp_path: Path) -> None:
    writer = committer(tmp_path / "w.db")

    def half_done(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES ('half')")
        raise RuntimeError("second step failed")

    try:
        outcomes = await asyncio.gather(
            writer.execute("INSERT INTO t VALUES (?)", ("before",)),
            writer.transaction(half_done),
            writer.transaction(lambda db: db.execute("INSERT INTO t VALUES ('unit')").rowcount),
            writer.execute("INSERT INTO t VALUES (?)", ("after",)),
            return_exceptions=True,
        )
    finally:
        await writer.close()

    assert outcomes[0] == 1 and outcomes[2] == 1 and outcomes[3] == 1
    assert isinstance(outcomes[1], RuntimeError)
    assert stored(tmp_path / "w.db") == ["after", "before", "unit"]


@pytest.mark.parametrize(
    "bad",
    [
        ("INSERT INTO t VALUES (?)", ("\ud800",)),  # not valid Unicode
        ("INSERT INTO t VALUES (?)", (2**64,)),  # too large for an SQLite integer
        ("INSERT INTO t VALUES (?)", ("before",)),  # a constraint violation
    ],
    ids=["unencodable", "overflow", "conflict"],
)
async def test_statement_that_cannot_run_fails_alone(
    tmp_path: Path, bad: tuple[str, tuple[object, ...]]
) -> None:
    writer = committer(tmp_path / "w.db")
    try:
        await writer.execute("INSERT INTO t VALUES (?)", ("before",))
        outcomes = await asyncio.gather(
            writer.execute(*bad),
            writer.execute("INSERT INTO t VALUES (?)", ("after",)),
            return_exceptions=True,
        )
    finally:
        await writer.close()

    assert isinstance(outcomes[0], ValueError | OverflowError | sqlite3.IntegrityError)
    assert outcomes[1] == 1
    assert stored(tmp_path / "w.db") == ["after", "before"]


async def test_on_batch_is_told_the_size_of_every_committed_batch(tmp_path: Path) -> None:
    sizes: list[int] = []

    def connect() -> sqlite3.Connection:
        db = sqlite3.connect(tmp_path / "batches.db", isolation_level=None, check_same_thread=False)
        db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER PRIMARY KEY)")
        return db

    writer = GroupCommitter(connect, on_batch=sizes.append)
    try:
        await writer.execute("INSERT INTO t VALUES (?)", (0,))
        # Submitted together: they share batches; the duplicate fails alone.
        await asyncio.gather(
            *(writer.execute("INSERT INTO t VALUES (?)", (i,)) for i in range(1, 40)),
            writer.execute("INSERT INTO t VALUES (?)", (0,)),
            return_exceptions=True,
        )
    finally:
        await writer.close()

    assert sizes[0] == 1
    assert sum(sizes) == 41
    assert len(sizes) < 41
