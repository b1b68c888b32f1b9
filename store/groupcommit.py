"""Group commit for SQLite: single-statement writes from concurrent requests share one
transaction, and so one fsync, on a dedicated writer connection in a worker thread.

With ``synchronous=FULL`` every commit waits for the disk. Doing that once per request
on the event loop would both cap throughput at the disk's fsync rate and stall every
other request meanwhile; batching keeps full durability (each caller's result is
released only after the batch's COMMIT returned) while the loop keeps serving."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from typing import Any

# Enough to amortise an fsync, small enough that one batch never holds the write lock
# for long.
MAX_BATCH = 256


@dataclass(slots=True)
class _Write:
    sql: str
    params: tuple[Any, ...]
    fetch: bool
    future: asyncio.Future[Any] = field(repr=False)


class GroupCommitter:
    def __init__(self, connect: Any) -> None:
        self._db: sqlite3.Connection = connect()
        self._pending: list[_Write] = []
        self._flusher: asyncio.Task[None] | None = None

    async def execute(self, sql: str, params: tuple[Any, ...], *, fetch: bool = False) -> Any:
        """Run one statement in the next batch; return its rows (``fetch``) or its
        rowcount once the batch is durably committed. A constraint violation fails only
        its own statement (SQLite rolls back the statement, not the transaction)."""
        loop = asyncio.get_running_loop()
        write = _Write(sql, params, fetch, loop.create_future())
        self._pending.append(write)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return await write.future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                outcomes = await asyncio.to_thread(self._run, batch)
            except BaseException as exc:  # the whole batch failed (e.g. disk full)
                outcomes = [exc] * len(batch)
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
                try:
                    cursor = self._db.execute(write.sql, write.params)
                    outcomes.append(cursor.fetchall() if write.fetch else cursor.rowcount)
                except sqlite3.IntegrityError as exc:
                    outcomes.append(exc)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return outcomes

    async def close(self) -> None:
        if self._flusher is not None and not self._flusher.done():
            await self._flusher
        self._db.close()
