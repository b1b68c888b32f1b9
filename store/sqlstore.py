"""The ``Store`` on SQL, written once for both adapters.

``SqlStore`` implements every ``Store`` method with the statements of ``store.statements``
and the mappers of ``store.rows``, over a few primitives each adapter provides: run a
read (``_row``, ``_rows``), run a single-statement write (``_write``, ``_write_row``),
run one that changes what instances cache together with the change version
(``_change``), insert a product with its environments, migrate. The adapters keep only
what differs: connections, pooling, group commit, transactions, retries and dialect-only
SQL, and PostgreSQL's notifications of other instances' changes.

Every change to what instances cache (products, environments, configs, API keys)
advances the change version in its own transaction and is announced to this store's
subscribers before the call returns, so a process's cache can be exact; other instances
learn of it from PostgreSQL's notifications or by reading the version.

The ``ensure_*`` helpers insert with ``ON CONFLICT DO NOTHING`` and, when another writer
won, read the winner back in a later statement: that statement starts after the
conflicting row was committed, so it sees it (PostgreSQL under READ COMMITTED; SQLite
because the write returns only after its batch committed)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, TypeVar

from store import rows
from store.errors import CONFLICT, Conflict
from store.migrations import HEAD
from store.records import (
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
from store.rows import Args, Row
from store.statements import Statements

_T = TypeVar("_T")
# The meta row holding ``Store.change_version``.
CHANGE_VERSION_KEY = "change_version"
# What a session's create and refresh write, each in one transaction: the session's
# statement, then its person's (Statements, "Session users").
CREATE_WRITES = (
    "INSERT_SESSION",
    "USER_OF_NEW_SESSION",
    "TAG_OF_NEW_SESSION",
    "TAGS_SEEN_AT_START",
)
ROTATE_WRITES = ("ROTATE_REFRESH", "USER_SEEN_AT_REFRESH", "TAGS_SEEN_AT_REFRESH")
# A create that records events: its session's statement returns what they name
# (ROTATE_REFRESH returns the whole row already).
CREATE_WRITES_LOGGED = ("INSERT_SESSION_LOGGED", *CREATE_WRITES[1:])


def env_times(envs: tuple[str, ...], now: float) -> list[tuple[str, float]]:
    """Each new environment with its creation time, a microsecond apart: a product's
    environments are listed by creation, so they keep the order they were given in."""
    return [(env, now + i * 1e-6) for i, env in enumerate(envs)]


class SqlStore(ABC):
    """``Store`` over the primitives below; subclasses set ``sql`` to their rendering."""

    sql: ClassVar[Statements]
    # What a readiness probe may meet on an unusable database, rather than raise.
    probe_failures: ClassVar[tuple[type[BaseException], ...]]

    # What each adapter provides --------------------------------------------------------
    @abstractmethod
    async def _row(self, sql: str, args: Args = ()) -> Row | None:
        """The first row of a read, or ``None``."""

    @abstractmethod
    async def _rows(self, sql: str, args: Args = ()) -> list[Row]:
        """Every row of a read."""

    @abstractmethod
    async def _write(
        self, sql: str, args: Args, *, idempotent: bool = False, conflict: str = CONFLICT
    ) -> int:
        """Run one writing statement, committed when this returns; the rows it changed.
        A constraint violation raises ``Conflict(conflict)``. Only an ``idempotent``
        statement may be run again after a lost reply."""

    @abstractmethod
    async def _write_row(
        self, sql: str, args: Args, *, idempotent: bool = False, conflict: str = CONFLICT
    ) -> Row | None:
        """``_write`` for a statement with ``RETURNING``: its first row, or ``None``."""

    @abstractmethod
    async def _write_many(self, sql: str, rows: list[Args], *, idempotent: bool = False) -> None:
        """Run one writing statement once per row of ``rows``, in one transaction
        committed when this returns: all of them or, failing, none."""

    @abstractmethod
    async def _write_logged(
        self,
        sql: str,
        args: Args,
        events: Sequence[NewEvent],
        *,
        per_row: bool,
        conflict: str = CONFLICT,
    ) -> list[Row]:
        """Run one writing statement with ``RETURNING`` and insert ``events`` for each
        row it returns, in one transaction committed when this returns; its rows. With
        ``per_row`` the statement returns columns ``id`` and ``identifier``, each
        event's ``session_id`` and ``identifier``. Never run again after a lost reply."""

    @abstractmethod
    async def _delete_expired(self, before: float, limit: int, at: float | None) -> int:
        """``DELETE_EXPIRED_SESSIONS`` and, unless ``at`` is ``None``, a
        ``session_expired`` event per deleted session, in one transaction."""

    @abstractmethod
    async def _write_together(
        self,
        names: tuple[str, ...],
        values: Mapping[str, object],
        *,
        fetch: bool,
        events: Sequence[NewEvent] = (),
    ) -> list[Row]:
        """Run the statements ``names`` (of ``sql``, bound by ``Statements.bind``) in one
        transaction, committed when this returns; those after the first only if the
        first changed a row. With ``fetch``, the first's rows (it has ``RETURNING``).
        With ``events``, the first returns columns ``id`` and ``identifier`` and each
        event is inserted for each of its rows, with that row's session id and
        identifier, in the same transaction."""

    @abstractmethod
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
        """Insert a product with its environments atomically, and the change version
        with them, through ``_changing`` (as ``_change`` does); with ``if_absent`` an
        existing tag is no error and leaves everything as it was."""

    @abstractmethod
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
        """Run one writing statement as ``_write`` does (as ``_write_row`` with
        ``fetch``, giving all its rows) and, if it changed a row, ``BUMP_CHANGE_VERSION``
        and insert ``event`` in the same transaction, telling other instances where the
        database can. Its outcome, and the version it made or ``None`` if it changed
        nothing."""

    @abstractmethod
    async def _change_all(
        self, statements: list[tuple[str, Args]], *, conflict: str
    ) -> tuple[list[int], int | None]:
        """Run writing statements in order in one transaction and, if any changed a row,
        ``BUMP_CHANGE_VERSION`` in it too: the rows each changed, and the version made
        or ``None``. A constraint violation rolls everything back, ``Conflict(conflict)``."""

    def _storable(self, *texts: str | None) -> bool:
        """False if a text cannot be stored, so no row can match it (none by default)."""
        return True

    def _after_id(self, after_id: str) -> str:
        """A page cursor's id as the database can compare it (unchanged by default)."""
        return after_id

    @abstractmethod
    async def schema_version(self) -> int: ...

    # Changes to what instances cache ---------------------------------------------------
    _subscribers: tuple[Callable[[int | None], None], ...] = ()

    def _announce(self, version: int | None) -> None:
        for on_change in self._subscribers:
            on_change(version)

    async def _changing(self, change: Awaitable[tuple[_T, int | None]]) -> _T:
        """``change``'s outcome, once the subscribers know the version it made, or, if
        it failed, that a change may have been missed (a lost reply can hide a commit)."""
        try:
            outcome, version = await change
        except BaseException:
            self._announce(None)
            raise
        if version is not None:
            self._announce(version)
        return outcome

    async def _write_change(
        self,
        sql: str,
        args: Args,
        *,
        idempotent: bool = False,
        conflict: str = CONFLICT,
        event: NewEvent | None = None,
    ) -> int:
        """``_write`` for a change to what instances cache."""
        change = self._change(
            sql, args, fetch=False, idempotent=idempotent, conflict=conflict, event=event
        )
        count: int = await self._changing(change)
        return count

    async def _write_change_row(
        self,
        sql: str,
        args: Args,
        *,
        idempotent: bool = False,
        conflict: str = CONFLICT,
        event: NewEvent | None = None,
    ) -> Row | None:
        """``_write_row`` for a change to what instances cache."""
        change = self._change(
            sql, args, fetch=True, idempotent=idempotent, conflict=conflict, event=event
        )
        found: list[Row] = await self._changing(change)
        return found[0] if found else None

    async def change_version(self) -> int:
        row = await self._row(self.sql.GET_META, (CHANGE_VERSION_KEY,))
        return 0 if row is None else int(row[0])

    async def subscribe(self, on_change: Callable[[int | None], None]) -> None:
        self._subscribers = (*self._subscribers, on_change)

    # The Store methods (each documented on store.base.Store) --------------------------
    # Lifecycle -----------------------------------------------------------------------
    async def ready(self) -> bool:
        # At least HEAD: an instance of a newer release may have migrated further
        # during a rolling deploy.
        try:
            return await self.schema_version() >= HEAD
        except self.probe_failures:
            return False

    # Metadata ------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        if not self._storable(key):
            return None
        row = await self._row(self.sql.GET_META, (key,))
        return None if row is None else str(row[0])

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        row = await self._write_row(self.sql.INSERT_META_IF_ABSENT, (key, value), idempotent=True)
        if row is None:
            # Lost to an existing (or concurrently committed) value: read it.
            row = await self._row(self.sql.GET_META, (key,))
        assert row is not None
        return str(row[0])

    async def replace_meta(self, key: str, old: str, new: str) -> bool:
        return await self._write(self.sql.REPLACE_META, (new, key, old), idempotent=True) > 0

    # Products and environments -------------------------------------------------------
    async def insert_product(
        self,
        tag: str,
        name: str,
        envs: tuple[str, ...],
        now: float,
        *,
        event: NewEvent | None = None,
    ) -> ProductRecord:
        try:
            await self._insert_product(tag, name, envs, now, if_absent=False, event=event)
        except Conflict:
            raise Conflict(f"product {tag!r} exists") from None
        return await self._written_product(tag)

    async def ensure_product(
        self,
        tag: str,
        name: str,
        envs: tuple[str, ...],
        now: float,
        *,
        event: NewEvent | None = None,
    ) -> ProductRecord:
        existing = await self.get_product(tag)
        if existing is not None:
            return existing
        try:
            await self._insert_product(tag, name, envs, now, if_absent=True, event=event)
        except Conflict:
            raise Conflict(f"product {tag!r} exists") from None
        return await self._written_product(tag)

    async def _written_product(self, tag: str) -> ProductRecord:
        product = await self.get_product(tag)
        assert product is not None
        return product

    async def get_product(self, tag: str) -> ProductRecord | None:
        if not self._storable(tag):
            return None
        row = await self._row(self.sql.PRODUCT_BY_TAG, (tag,))
        return None if row is None else rows.product(row)

    async def get_product_by_id(self, product_id: int) -> ProductRecord | None:
        row = await self._row(self.sql.PRODUCT_BY_ID, (product_id,))
        return None if row is None else rows.product(row)

    async def list_products(self) -> list[ProductRecord]:
        return [rows.product(r) for r in await self._rows(self.sql.LIST_PRODUCTS)]

    async def ensure_env(self, product_id: int, env: str, now: float) -> None:
        await self._write_change(
            self.sql.INSERT_ENV_IF_ABSENT, (product_id, env, now), idempotent=True
        )

    # Session configs -----------------------------------------------------------------
    async def insert_config(
        self, product_id: int, values: ConfigValues, now: float, *, event: NewEvent | None = None
    ) -> SessionConfigRecord:
        row = await self._write_change_row(
            self.sql.INSERT_CONFIG,
            (product_id, *rows.config_args(values), now),
            conflict=f"session config {values.tag!r} exists",
            event=event,
        )
        assert row is not None
        return rows.config(row)

    async def ensure_config(
        self, product_id: int, values: ConfigValues, now: float, *, event: NewEvent | None = None
    ) -> SessionConfigRecord:
        existing = await self.get_config(product_id, values.tag)
        if existing is not None:
            return existing
        row = await self._write_change_row(
            self.sql.INSERT_CONFIG_IF_ABSENT,
            (product_id, *rows.config_args(values), now),
            idempotent=True,
            conflict=f"session config {values.tag!r} exists",
            event=event,
        )
        if row is None:
            row = await self._row(self.sql.CONFIG_BY_TAG, (product_id, values.tag))
        assert row is not None
        return rows.config(row)

    async def get_config(self, product_id: int, tag: str) -> SessionConfigRecord | None:
        if not self._storable(tag):
            return None
        row = await self._row(self.sql.CONFIG_BY_TAG, (product_id, tag))
        return None if row is None else rows.config(row)

    async def list_configs(self, product_id: int) -> list[SessionConfigRecord]:
        return [rows.config(r) for r in await self._rows(self.sql.LIST_CONFIGS, (product_id,))]

    async def update_config(
        self, config_id: int, values: ConfigValues, now: float, *, event: NewEvent | None = None
    ) -> SessionConfigRecord | None:
        row = await self._write_change_row(
            self.sql.UPDATE_CONFIG,
            (*rows.config_args(values), now, config_id),
            conflict=f"session config {values.tag!r} exists",
            event=event,
        )
        return None if row is None else rows.config(row)

    async def delete_config(self, config_id: int, *, event: NewEvent | None = None) -> bool:
        return await self._write_change(self.sql.DELETE_CONFIG, (config_id,), event=event) > 0

    # Key rings -----------------------------------------------------------------------
    async def list_keys(self, product_id: int, env: str) -> list[KeyRecord]:
        return [rows.key(r) for r in await self._rows(self.sql.LIST_KEYS, (product_id, env))]

    async def find_key(self, kid: str) -> KeyRecord | None:
        if not self._storable(kid):
            return None
        row = await self._row(self.sql.FIND_KEY, (kid,))
        return None if row is None else rows.key(row)

    async def insert_active_key(
        self, key: KeyRecord, *, event: NewEvent | None = None
    ) -> KeyRecord:
        # Not a change instances must hear of: a kid an instance has not seen is loaded
        # on the first token that names it.
        args = rows.key_args(replace(key, state="active", retire_at=None))
        conflict = f"key {key.kid!r} exists"
        row: Row | None
        if event is None:
            row = await self._write_row(
                self.sql.INSERT_ACTIVE_KEY, args, idempotent=True, conflict=conflict
            )
        else:
            found = await self._write_logged(
                self.sql.INSERT_ACTIVE_KEY, args, (event,), per_row=False, conflict=conflict
            )
            row = found[0] if found else None
        if row is None:
            row = await self._row(self.sql.ACTIVE_KEY, (key.product_id, key.env, key.alg))
        if row is None:
            raise Conflict("the ring's active key changed while inserting one")
        return rows.key(row)

    async def rotate_keys(
        self,
        product_id: int,
        env: str,
        keys: list[KeyRecord],
        retire_at: float | None,
        now: float,
        *,
        active_before: float = math.inf,
        events: Sequence[NewEvent] = (),
    ) -> None:
        first: tuple[str, Args] = (
            (self.sql.RETIRE_RING_KEYS, (b"", now, product_id, env))
            if retire_at is None
            else (self.sql.DEMOTE_ACTIVE_KEYS, (retire_at, product_id, env, active_before))
        )
        inserts = [
            (self.sql.INSERT_KEY, rows.key_args(replace(k, state="active", retire_at=None)))
            for k in keys
        ]
        # After the inserts: a rotation that loses the race records nothing.
        logged = [(self.sql.INSERT_EVENT, rows.new_event_args(e)) for e in events]
        await self._changing(
            self._change_all(
                [first, *inserts, *logged], conflict="another rotation of the ring won"
            )
        )

    async def retire_expired_keys(self, now: float) -> int:
        return await self._write_change(self.sql.RETIRE_EXPIRED_KEYS, (b"", now), idempotent=True)

    async def live_keys(self) -> list[KeyRecord]:
        return [rows.key(r) for r in await self._rows(self.sql.LIVE_KEYS)]

    async def rewrap_keys(self, changes: list[tuple[str, bytes, bytes]]) -> None:
        if changes:
            await self._write_many(
                self.sql.REWRAP_KEY, [(new, kid, old) for kid, old, new in changes], idempotent=True
            )

    async def rings_active_since_before(self, before: float) -> list[tuple[int, str]]:
        found = await self._rows(self.sql.RINGS_ACTIVE_SINCE_BEFORE, (before,))
        return [(int(r[0]), str(r[1])) for r in found]

    # Sessions ------------------------------------------------------------------------
    async def insert_session(self, session: NewSession, *, events: Sequence[NewEvent] = ()) -> None:
        names = CREATE_WRITES_LOGGED if events else CREATE_WRITES
        await self._write_together(
            names, rows.new_session_values(session), fetch=False, events=events
        )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        if not self._storable(session_id):
            return None
        row = await self._row(self.sql.GET_SESSION, (session_id,))
        return None if row is None else rows.session(row)

    async def rotate_refresh(
        self,
        session_id: str,
        generation: int,
        new_hash: bytes,
        expires_at: float,
        now: float,
        *,
        events: Sequence[NewEvent] = (),
    ) -> SessionRecord | None:
        if not self._storable(session_id):
            return None
        # Never replayed: a lost reply may hide a committed rotation.
        values = {
            "refresh_hash": new_hash,
            "now": now,
            "expires_at": expires_at,
            "id": session_id,
            "generation": generation,
        }
        found = await self._write_together(ROTATE_WRITES, values, fetch=True, events=events)
        return rows.session(found[0]) if found else None

    async def revoke_session(
        self,
        session_id: str,
        config_id: int,
        env: str,
        now: float,
        reason: str,
        *,
        events: Sequence[NewEvent] = (),
    ) -> int:
        if not self._storable(session_id, env):
            return 0
        args = (now, reason, session_id, config_id, env)
        if events:
            sql = self.sql.REVOKE_SESSION_LOGGED
            return len(await self._write_logged(sql, args, events, per_row=True))
        return await self._write(self.sql.REVOKE_SESSION, args)

    async def revoke_identifier(
        self,
        config_id: int,
        env: str,
        identifier: str,
        now: float,
        reason: str,
        *,
        except_session: str | None = None,
        events: Sequence[NewEvent] = (),
    ) -> int:
        if not self._storable(env, identifier):
            return 0
        if not self._storable(except_session):
            except_session = None  # names no stored session, so excludes nothing
        args = (now, reason, config_id, env, identifier, except_session)
        if events:
            sql = self.sql.REVOKE_IDENTIFIER_LOGGED
            return len(await self._write_logged(sql, args, events, per_row=True))
        return await self._write(self.sql.REVOKE_IDENTIFIER, args)

    async def touch_session(self, session_id: str, now: float, min_interval: float) -> None:
        if not self._storable(session_id):
            return
        await self._write(
            self.sql.TOUCH_SESSION, (now, session_id, now - min_interval), idempotent=True
        )

    async def list_sessions(
        self,
        config_id: int,
        env: str,
        identifier: str | None,
        now: float,
        after: tuple[float, str] | None,
        limit: int,
    ) -> list[SessionRecord]:
        if not self._storable(env, identifier):
            return []
        sql = self.sql
        if identifier is None and after is None:
            found = await self._rows(sql.LIVE_SESSIONS, (config_id, env, now, limit))
        elif identifier is None and after is not None:
            found = await self._rows(
                sql.LIVE_SESSIONS_AFTER,
                (config_id, env, now, after[0], self._after_id(after[1]), limit),
            )
        elif after is None:
            found = await self._rows(
                sql.LIVE_SESSIONS_OF_IDENTIFIER, (config_id, env, now, identifier, limit)
            )
        else:
            found = await self._rows(
                sql.LIVE_SESSIONS_OF_IDENTIFIER_AFTER,
                (config_id, env, now, identifier, after[0], self._after_id(after[1]), limit),
            )
        return [rows.session(r) for r in found]

    async def count_sessions(
        self, config_id: int, env: str, identifier: str | None, now: float
    ) -> int:
        if not self._storable(env, identifier):
            return 0
        if identifier is None:
            row = await self._row(self.sql.COUNT_LIVE_SESSIONS, (config_id, env, now))
        else:
            row = await self._row(
                self.sql.COUNT_LIVE_SESSIONS_OF_IDENTIFIER, (config_id, env, now, identifier)
            )
        assert row is not None
        return int(row[0])

    async def delete_expired_sessions(
        self, before: float, limit: int, *, at: float | None = None
    ) -> int:
        return await self._delete_expired(before, limit, at)

    async def session_details_with_prefix(self, prefix: str, limit: int) -> list[tuple[str, str]]:
        found = await self._rows(self.sql.SESSION_DETAILS_WITH_PREFIX, (len(prefix), prefix, limit))
        return [(str(r[0]), str(r[1])) for r in found]

    # Session users -------------------------------------------------------------------
    async def get_session_user(
        self, product_id: int, env: str, identifier: str, now: float
    ) -> SessionUserRecord | None:
        if not self._storable(env, identifier):
            return None
        row = await self._row(self.sql.SESSION_USER, (now, product_id, env, identifier))
        return None if row is None else rows.session_user(row)

    async def list_session_users(
        self,
        product_id: int,
        env: str,
        config_id: int | None,
        prefix: tuple[str, str] | None,
        now: float,
        after: tuple[float, str] | None,
        limit: int,
    ) -> list[SessionUserRecord]:
        if not self._storable(env, *(prefix or ())):
            return []
        name = "SESSION_USERS"
        values: dict[str, object] = {"now": now, "env": env, "limit": limit}
        if config_id is None:
            values["product_id"] = product_id
        else:
            name += "_OF_TAG"
            values["config_id"] = config_id
        if prefix is not None:
            name += "_WITH_PREFIX"
            values["prefix"], values["below"] = prefix
        if after is not None:
            name += "_AFTER"
            values["after_seen_at"], values["after_identifier"] = after[0], self._after_id(after[1])
        return [rows.session_user(r) for r in await self._rows(*self.sql.bind(name, values))]

    async def seal_session_user_details(self, plain_prefix: str) -> int:
        return await self._write(
            self.sql.SEAL_SESSION_USER_DETAILS, (plain_prefix,), idempotent=True
        )

    # API keys ------------------------------------------------------------------------
    async def insert_api_key(self, key: ApiKeyRecord, *, event: NewEvent | None = None) -> None:
        await self._write_change(
            self.sql.INSERT_API_KEY, rows.api_key_args(key), conflict="api key exists", event=event
        )

    async def get_api_key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None:
        row = await self._row(self.sql.API_KEY_BY_HASH, (key_hash,))
        return None if row is None else rows.api_key(row)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        if not self._storable(key_id):
            return None
        row = await self._row(self.sql.API_KEY_BY_ID, (key_id,))
        return None if row is None else rows.api_key(row)

    async def list_api_keys(self, product_id: int | None) -> list[ApiKeyRecord]:
        if product_id is None:
            found = await self._rows(self.sql.LIST_API_KEYS)
        else:
            found = await self._rows(self.sql.LIST_PRODUCT_API_KEYS, (product_id,))
        return [rows.api_key(r) for r in found]

    async def revoke_api_key(
        self, key_id: str, now: float, *, event: NewEvent | None = None
    ) -> bool:
        if not self._storable(key_id):
            return False
        return await self._write_change(self.sql.REVOKE_API_KEY, (now, key_id), event=event) > 0

    async def touch_api_key(self, key_id: str, now: float, min_interval: float) -> None:
        if not self._storable(key_id):
            return
        await self._write(
            self.sql.TOUCH_API_KEY, (now, key_id, now - min_interval), idempotent=True
        )

    async def count_admin_keys(self) -> int:
        row = await self._row(self.sql.COUNT_ADMIN_KEYS)
        assert row is not None
        return int(row[0])

    # Persisted documents -------------------------------------------------------------
    async def get_persisted_document(self, hash: str) -> PersistedDocumentRecord | None:
        if not self._storable(hash):
            return None
        row = await self._row(self.sql.PERSISTED_DOCUMENT, (hash,))
        return None if row is None else rows.persisted_document(row)

    async def register_apq_document(self, document: PersistedDocumentRecord, keep: int) -> bool:
        stored = await self._write(
            self.sql.INSERT_PERSISTED_DOCUMENT_IF_ABSENT,
            rows.persisted_document_args(replace(document, source="apq")),
            idempotent=True,
        )
        if not stored:
            return False
        # Evicted in its own statement, after the insert committed: the bound holds
        # once every registration has returned, and an instance that races this one
        # evicts by the same order.
        await self._write(self.sql.EVICT_APQ_DOCUMENTS, (keep,), idempotent=True)
        return True

    async def put_trusted_documents(self, documents: list[PersistedDocumentRecord]) -> None:
        if documents:
            await self._write_many(
                self.sql.PUT_TRUSTED_DOCUMENT,
                [rows.persisted_document_args(d) for d in documents],
                idempotent=True,
            )

    # Session events and verification counters ------------------------------------------
    async def events_after(self, position: tuple[int, int], limit: int) -> list[EventRecord]:
        found = await self._rows(self.sql.EVENTS_AFTER, (*position, limit))
        return [rows.event(r) for r in found]

    async def event_head(self) -> tuple[int, int]:
        row = await self._row(self.sql.EVENTS_HEAD)
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    async def list_events(
        self,
        scope: EventScope,
        *,
        before: tuple[int, int] | None,
        limit: int,
    ) -> list[EventRecord]:
        if not self._storable(*scope.texts()):
            return []
        before_tx, before_id = (None, None) if before is None else before
        found = await self._rows(
            self.sql.EVENTS_NEWEST, (*scope.args(), before_tx, before_id, limit)
        )
        return [rows.event(r) for r in found]

    async def events_between(
        self,
        scope: EventScope,
        after: tuple[int, int],
        upto: tuple[int, int],
        limit: int,
    ) -> list[EventRecord]:
        if not self._storable(*scope.texts()):
            return []
        found = await self._rows(self.sql.EVENTS_BETWEEN, (*scope.args(), *after, *upto, limit))
        return [rows.event(r) for r in found]

    async def prune_events(self, before: float, limit: int) -> int:
        return await self._write(self.sql.PRUNE_EVENTS, (before, limit), idempotent=True)

    async def add_verification_counts(self, counts: list[VerificationCount]) -> None:
        if counts:
            # Not idempotent: adding a batch twice would count it twice.
            await self._write_many(
                self.sql.ADD_VERIFICATION_COUNT,
                [(c.product, c.env, c.tag, c.minute, c.outcome, c.count) for c in counts],
            )

    async def verification_counts(
        self, product: str, env: str, since: int, until: int
    ) -> list[VerificationCount]:
        if not self._storable(product, env):
            return []
        found = await self._rows(self.sql.VERIFICATION_COUNTS, (product, env, since, until))
        return [VerificationCount(*r) for r in found]

    async def prune_verification_counts(self, before_minute: int) -> int:
        return await self._write(
            self.sql.PRUNE_VERIFICATION_COUNTS, (before_minute,), idempotent=True
        )
