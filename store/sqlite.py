"""The embedded default: stdlib ``sqlite3`` in WAL mode.

Reads run directly on the event loop's thread: each is a few microseconds, far cheaper
than a thread hop, and in WAL mode a read never waits for a writer. Every write goes
through the group-committing writer (``store.groupcommit``) on its own connection and
thread: ``synchronous=FULL`` makes every commit durable before the call returns, so a
token is never sent for a session a crash could lose, at the cost of one fsync per
batch, off the event loop. What the writer commits, the next read sees.

The statements and the logic are ``SqlStore``'s; this module keeps the connections, the
writer and SQLite's multi-statement product insert."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from store import rows as records
from store.dialects import SQLITE
from store.errors import CONFLICT, Conflict, StoreUnavailable
from store.groupcommit import GroupCommitter
from store.migrations import steps
from store.records import EXPIRED_EVENT, SYSTEM_ACTOR, NewEvent
from store.rows import Args, Row
from store.sqlstore import CHANGE_VERSION_KEY, SqlStore, env_times
from store.statements import Statements

# SQLite has no data-modifying CTE: a product and its environments are a unit of work.
_INSERT_PRODUCT = "INSERT INTO products (tag, name, created_at) VALUES (?, ?, ?) RETURNING id"
_INSERT_PRODUCT_IF_ABSENT = (
    "INSERT INTO products (tag, name, created_at) VALUES (?, ?, ?) "
    "ON CONFLICT (tag) DO NOTHING RETURNING id"
)
_INSERT_ENV = "INSERT INTO environments (product_id, env, created_at) VALUES (?, ?, ?)"
# Nor one that inserts from another's RETURNING: a swept session's event names its
# product and config, looked up in the sweep's transaction.
_INSERT_EXPIRED_EVENT = (
    "INSERT INTO events (type, at, actor, product, env, tag, session_id, identifier) "
    f"SELECT '{EXPIRED_EVENT}', ?1, '{SYSTEM_ACTOR}', p.tag, ?2, c.tag, ?3, ?4 "
    "FROM products p, session_configs c WHERE p.id = ?5 AND c.id = ?6"
)


def _event_args(
    cursor: sqlite3.Cursor, found: list[Row], events: Sequence[NewEvent], per_row: bool
) -> list[Args]:
    """The arguments of ``INSERT_EVENT`` for each event and each row a change returned;
    with ``per_row`` the rows' ``id`` and ``identifier`` are the events' session's."""
    if not per_row:
        return [records.new_event_args(e) for _ in found for e in events]
    names = [d[0] for d in cursor.description]
    at_id, at_identifier = names.index("id"), names.index("identifier")
    return [
        records.event_args_for(e, row[at_id], row[at_identifier]) for row in found for e in events
    ]


def _create_private(path: Path) -> None:
    """Create the database file 0600 (and its directory 0700) unless it exists, whatever
    the umask: SQLite would create it 0644, and creates the -wal, -shm and journal
    files with the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _configure(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")


def _connect_writer(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _configure(db)
    return db


class SqliteStore(SqlStore):
    """``Store`` on one SQLite file (or ``:memory:`` for tests)."""

    sql = Statements(SQLITE)
    probe_failures = (sqlite3.Error,)

    def __init__(self, path: str, *, on_batch: Callable[[int], None] | None = None) -> None:
        try:
            if path != ":memory:":
                _create_private(Path(path))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            # The first statement is what finds out that the file cannot be opened.
            _configure(self._db)
        except FileExistsError as exc:
            raise StoreUnavailable(
                f"cannot open SQLite database {path}: {exc.filename} is not a directory"
            ) from None
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise StoreUnavailable(
                f"cannot open SQLite database {path}: cannot create {exc.filename}: {reason}"
            ) from None
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open SQLite database {path}: {exc}") from None
        # A second connection to ":memory:" would be another database: write on this one.
        self._writer = (
            GroupCommitter(lambda: self._db, threaded=False, on_batch=on_batch)
            if path == ":memory:"
            else GroupCommitter(lambda: _connect_writer(path), on_batch=on_batch)
        )

    # Primitives ----------------------------------------------------------------------
    async def _row(self, sql: str, args: Args = ()) -> Row | None:
        row: Row | None = self._db.execute(sql, args).fetchone()
        return row

    async def _rows(self, sql: str, args: Args = ()) -> list[Row]:
        return self._db.execute(sql, args).fetchall()

    async def _write(
        self, sql: str, args: Args, *, idempotent: bool = False, conflict: str = CONFLICT
    ) -> int:
        count: int = await self._committed(sql, args, conflict, fetch=False)
        return count

    async def _write_row(
        self, sql: str, args: Args, *, idempotent: bool = False, conflict: str = CONFLICT
    ) -> Row | None:
        found: list[Row] = await self._committed(sql, args, conflict, fetch=True)
        return found[0] if found else None

    async def _change(
        self,
        sql: str,
        args: Args,
        *,
        fetch: bool,
        idempotent: bool = False,
        conflict: str,
        event: NewEvent | None = None,
    ) -> tuple[Any, int | None]:
        def work(db: sqlite3.Connection) -> tuple[Any, int | None]:
            cursor = db.execute(sql, args)
            outcome: Any = cursor.fetchall() if fetch else cursor.rowcount
            changed = bool(outcome) if fetch else outcome > 0
            if changed and event is not None:
                db.execute(self.sql.INSERT_EVENT, records.new_event_args(event))
            return outcome, self._bump(db) if changed else None

        try:
            return await self._writer.transaction(work)
        except sqlite3.IntegrityError:
            raise Conflict(conflict) from None

    async def _change_all(
        self, statements: list[tuple[str, Args]], *, conflict: str
    ) -> tuple[list[int], int | None]:
        def work(db: sqlite3.Connection) -> tuple[list[int], int | None]:
            counts = [db.execute(sql, args).rowcount for sql, args in statements]
            return counts, self._bump(db) if any(counts) else None

        try:
            return await self._writer.transaction(work)
        except sqlite3.IntegrityError:
            raise Conflict(conflict) from None

    def _bump(self, db: sqlite3.Connection) -> int:
        return int(db.execute(self.sql.BUMP_CHANGE_VERSION, (CHANGE_VERSION_KEY,)).fetchone()[0])

    async def _committed(self, sql: str, args: Args, conflict: str, *, fetch: bool) -> Any:
        try:
            return await self._writer.execute(sql, args, fetch=fetch)
        except sqlite3.IntegrityError:
            raise Conflict(conflict) from None

    async def _write_many(self, sql: str, rows: list[Args], *, idempotent: bool = False) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.executemany(sql, rows)

        try:
            await self._writer.transaction(work)
        except sqlite3.IntegrityError:
            raise Conflict(CONFLICT) from None

    async def _write_logged(
        self,
        sql: str,
        args: Args,
        events: Sequence[NewEvent],
        *,
        per_row: bool,
        conflict: str = CONFLICT,
    ) -> list[Row]:
        insert_event = self.sql.INSERT_EVENT

        def work(db: sqlite3.Connection) -> list[Row]:
            cursor = db.execute(sql, args)
            found: list[Row] = cursor.fetchall()
            if found:
                db.executemany(insert_event, _event_args(cursor, found, events, per_row))
            return found

        try:
            return await self._writer.transaction(work)
        except sqlite3.IntegrityError:
            raise Conflict(conflict) from None

    async def _delete_expired(self, before: float, limit: int, at: float | None) -> int:
        if at is None:
            return await self._write(self.sql.DELETE_EXPIRED_SESSIONS, (before, limit))
        delete = self.sql.DELETE_EXPIRED_SESSIONS_RETURNING

        def work(db: sqlite3.Connection) -> int:
            deleted = db.execute(delete, (before, limit)).fetchall()
            db.executemany(
                _INSERT_EXPIRED_EVENT,
                [
                    (at, env, sid, identifier, pid, cid)
                    for sid, identifier, pid, env, cid in deleted
                ],
            )
            return len(deleted)

        return await self._writer.transaction(work)

    async def _write_together(
        self,
        names: tuple[str, ...],
        values: Mapping[str, object],
        *,
        fetch: bool,
        events: Sequence[NewEvent] = (),
    ) -> list[Row]:
        sql = self.sql
        returning = fetch or bool(events)

        def work(db: sqlite3.Connection) -> list[Row]:
            cursor = db.execute(*sql.bind(names[0], values))
            found: list[Row] = cursor.fetchall() if returning else []
            if found if returning else cursor.rowcount > 0:
                for name in names[1:]:
                    db.execute(*sql.bind(name, values))
                if events:
                    db.executemany(sql.INSERT_EVENT, _event_args(cursor, found, events, True))
            return found if fetch else []

        # A unit of work of the writer's next batch: in its transaction, one commit.
        try:
            return await self._writer.transaction(work)
        except sqlite3.IntegrityError:
            raise Conflict(CONFLICT) from None

    async def _insert_product(
        self,
        tag: str,
        name: str,
        envs: tuple[str, ...],
        now: float,
        *,
        if_absent: bool,
        event: NewEvent | None = None,
    ) -> None:
        def work(db: sqlite3.Connection) -> tuple[None, int | None]:
            insert = _INSERT_PRODUCT_IF_ABSENT if if_absent else _INSERT_PRODUCT
            inserted = db.execute(insert, (tag, name, now)).fetchall()
            if not inserted:
                return None, None
            db.executemany(
                _INSERT_ENV, [(inserted[0][0], env, t) for env, t in env_times(envs, now)]
            )
            if event is not None:
                db.execute(self.sql.INSERT_EVENT, records.new_event_args(event))
            return None, self._bump(db)

        try:
            await self._changing(self._writer.transaction(work))
        except sqlite3.IntegrityError:
            raise Conflict(CONFLICT) from None

    async def replace_session_details(self, changes: list[tuple[str, str, str]]) -> int:
        replace = self.sql.REPLACE_SESSION_DETAILS

        def work(db: sqlite3.Connection) -> int:
            # secure_delete zeroes what the old values occupied instead of leaving them
            # in free space.
            db.execute("PRAGMA secure_delete=ON")
            try:
                cur = db.executemany(replace, [(new, sid, old) for sid, old, new in changes])
                return int(cur.rowcount)
            finally:
                db.execute("PRAGMA secure_delete=OFF")

        replaced = await self._writer.transaction(work)
        # Committed: the TRUNCATE checkpoint leaves no old page in the WAL either.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return replaced

    async def seal_session_user_details(self, plain_prefix: str) -> int:
        seal = self.sql.SEAL_SESSION_USER_DETAILS

        def work(db: sqlite3.Connection) -> int:
            # As replace_session_details: no unsealed copy left in free space or the WAL.
            db.execute("PRAGMA secure_delete=ON")
            try:
                return int(db.execute(seal, (plain_prefix,)).rowcount)
            finally:
                db.execute("PRAGMA secure_delete=OFF")

        sealed = await self._writer.transaction(work)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return sealed

    # Lifecycle -----------------------------------------------------------------------
    async def migrate(self) -> int:
        """Apply pending migrations in one writer transaction: ``BEGIN IMMEDIATE`` holds
        the file's write lock, so processes starting together apply them once."""
        sql = self.sql

        def work(db: sqlite3.Connection) -> None:
            db.execute(sql.CREATE_SCHEMA_MIGRATIONS)
            applied = {v for (v,) in db.execute(sql.APPLIED_VERSIONS)}
            for statement, args in steps(sql, applied, time.time()):
                db.execute(statement, args)

        await self._writer.transaction(work)
        return await self.schema_version()

    async def schema_version(self) -> int:
        try:
            row = self._db.execute(self.sql.SCHEMA_VERSION).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0] or 0)

    async def close(self) -> None:
        await self._writer.close()
        self._db.close()
