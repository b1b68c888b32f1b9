"""Persistence: the ``Store`` protocol and one adapter per database."""

from __future__ import annotations

from collections.abc import Callable

from store.base import Store
from store.errors import Conflict, StoreUnavailable
from store.records import (
    EXPIRED_EVENT,
    SYSTEM_ACTOR,
    ApiKeyRecord,
    ConfigValues,
    EventRecord,
    EventScope,
    KeyRecord,
    NewEvent,
    NewSession,
    PersistedDocumentRecord,
    ProductRecord,
    SessionConfigRecord,
    SessionRecord,
    SessionUserRecord,
    VerificationCount,
)


def open_store(url: str, *, on_batch: Callable[[int], None] | None = None) -> Store:
    """Open (but do not migrate) the store named by ``url``. ``on_batch`` is told the
    size of each group commit (SQLite's)."""
    if url.startswith("sqlite:///"):
        from store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///") or ":memory:", on_batch=on_batch)
    if url == "sqlite://":
        from store.sqlite import SqliteStore

        return SqliteStore(":memory:", on_batch=on_batch)
    if url.startswith(("postgresql://", "postgres://")):
        from store.postgres import PostgresStore

        # Connects lazily: the first awaited call (normally ``migrate``) opens the pool.
        return PostgresStore(url)
    raise ValueError(
        "unsupported database URL scheme (expected sqlite:///path or postgresql://...)"
    )


__all__ = [
    "EXPIRED_EVENT",
    "SYSTEM_ACTOR",
    "ApiKeyRecord",
    "ConfigValues",
    "Conflict",
    "EventRecord",
    "EventScope",
    "KeyRecord",
    "NewEvent",
    "NewSession",
    "PersistedDocumentRecord",
    "ProductRecord",
    "SessionConfigRecord",
    "SessionRecord",
    "SessionUserRecord",
    "Store",
    "StoreUnavailable",
    "VerificationCount",
    "open_store",
]
