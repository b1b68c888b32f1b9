"""Group commit for SQLite: writes from concurrent requests share one transaction, and so
one fsync, on a dedicated writer connection in a worker thread. Every write of the
SQLite store goes through it, so none waits for the database's write lock or for the
disk on the event loop.

With ``synchronous=FULL`` every commit waits for the disk. Doing that once per request
on the event loop would both cap throughput at the disk's fsync rate and stall every
other request meanwhile; batching keeps full durability (each caller's result is
released only after the batch's COMMIT returned) while the loop keeps serving.

A write is one statement or a unit of work (several statements, e.g. a migration) run
inside a savepoint: either fails alone, rolled back to where it began, and the rest of
its batch commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]

# Enough to amortise an fsync, small enough that one batch never holds the write lock
# for long.
MAX_BATCH = 256
# What one statement can fail with and leave the transaction intact: SQLite rolls back
# the failed statement only, and a value that cannot be bound (ValueError for text
# that is not valid Unicode, OverflowError for a too large int, DataError for a too
# big value) fails before anything ran.
STATEMENT_FAILURES = (sqlite3.IntegrityError, sqlite3.DataError, ValueError, OverflowError)


@dataclass(slots=True)
class _Write:
    sql: str
    params: tuple[Any, ...]
    fetch: bool
    work: Work | None
    future: asyncio.Future[Any] = field(repr=False)


class GroupCommitter:
    """The writer. ``threaded=False`` runs batches on the calling thread instead, for a
    ``:memory:`` database, where a second connection would be another database."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        threaded: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._db: sqlite3.Connection = connect()
        self._threaded = threaded
        # Told the size of every batch committed (for the metrics).
        self._on_batch = on_batch
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None

    async def execute(self, sql: str, params: tuple[Any, ...], *, fetch: bool = False) -> Any:
        """Run one statement in the next batch; return its rows (``fetch``) or its
        rowcount once the batch is durably committed. A constraint violation fails only
        its own statement (SQLite rolls back the statement, not the transaction)."""
        return await self._submit(_Write(sql, params, fetch, None, self._future()))

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in the next batch, inside a savepoint, on the writer
        thread; return its result once the batch is durably committed. If it raises,
        its statements are rolled back and the exception is raised here."""
        result: T = await self._submit(_Write("", (), False, work, self._future()))
        return result

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, write: _Write) -> Any:
        self._pending.append(write)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await write.future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                if self._threaded:
                    outcomes = await asyncio.to_thread(self._run, batch)
                else:
                    outcomes = self._run(batch)
            except BaseException as exc:  # the whole batch failed (e.g. disk full)
                outcomes = [exc] * len(batch)
            else:
                if self._on_batch is not None:
                    self._on_batch(len(batch))
            for write, outcome in zip(batch, outcomes, strict=True):
                if write.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    write.future.set_exception(outcome)
                else:
                    write.future.set_result(outcome)

    def _run(self, batch: list[_Write]) -> list[Any]:
        outcomes: list[Any] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                if write.work is not None:
                    outcomes.append(self._in_savepoint(write.work))
                    continue
                try:
                    cursor = self._db.execute(write.sql, write.params)
                    outcomes.append(cursor.fetchall() if write.fetch else cursor.rowcount)
                except STATEMENT_FAILURES as exc:
                    outcomes.append(exc)
        except BaseException:
            if self._db.in_transaction:  # a failed statement may have ended it already
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return outcomes

    def _in_savepoint(self, work: Work) -> Any:
        self._db.execute("SAVEPOINT work")
        try:
            result = work(self._db)
        except Exception as exc:
            # If the failure ended the transaction itself, this raises and the batch
            # fails as a whole.
            self._db.execute("ROLLBACK TO work")
            self._db.execute("RELEASE work")
            return exc
        self._db.execute("RELEASE work")
        return result

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        self._db.close()
