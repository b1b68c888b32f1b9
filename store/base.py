"""The ``Store`` protocol every database adapter implements.

Adapters return plain records (``store.records``) and raise ``store.errors`` only. Every
state change that must be atomic is one conditional statement or one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

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


class Store(Protocol):
    # Lifecycle -----------------------------------------------------------------------
    async def migrate(self) -> int:
        """Apply pending migrations; return the schema version now in force."""
        ...

    async def schema_version(self) -> int:
        """The highest applied migration (0 for an empty database)."""
        ...

    async def ready(self) -> bool:
        """True when the database answers and its schema is at least at ``HEAD``; never
        raises for an unreachable database (a readiness probe asks this)."""
        ...

    async def close(self) -> None: ...

    # Metadata ------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None: ...

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless ``key`` has one already; return the value in force."""
        ...

    async def replace_meta(self, key: str, old: str, new: str) -> bool:
        """Set ``key`` to ``new`` if its value still is ``old``; whether it was."""
        ...

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
        """Create a product with its environments; ``Conflict`` if the tag is taken.
        ``event`` (here and on every other change) is recorded in the change's own
        transaction, and only if it changed something."""
        ...

    async def ensure_product(
        self,
        tag: str,
        name: str,
        envs: tuple[str, ...],
        now: float,
        *,
        event: NewEvent | None = None,
    ) -> ProductRecord:
        """Return the product, creating it (race-safely) if it does not exist."""
        ...

    async def get_product(self, tag: str) -> ProductRecord | None: ...

    async def get_product_by_id(self, product_id: int) -> ProductRecord | None: ...

    async def list_products(self) -> list[ProductRecord]: ...

    async def ensure_env(self, product_id: int, env: str, now: float) -> None:
        """Add an environment to a product unless it already has it."""
        ...

    # Session configs -----------------------------------------------------------------
    async def insert_config(
        self, product_id: int, values: ConfigValues, now: float, *, event: NewEvent | None = None
    ) -> SessionConfigRecord:
        """Create a config; ``Conflict`` if the product already has its tag."""
        ...

    async def ensure_config(
        self, product_id: int, values: ConfigValues, now: float, *, event: NewEvent | None = None
    ) -> SessionConfigRecord:
        """Return the product's config with ``values.tag``, creating it if absent."""
        ...

    async def get_config(self, product_id: int, tag: str) -> SessionConfigRecord | None: ...

    async def list_configs(self, product_id: int) -> list[SessionConfigRecord]: ...

    async def update_config(
        self, config_id: int, values: ConfigValues, now: float, *, event: NewEvent | None = None
    ) -> SessionConfigRecord | None:
        """Replace a config's fields; ``None`` if it no longer exists."""
        ...

    async def delete_config(self, config_id: int, *, event: NewEvent | None = None) -> bool:
        """Delete a config and, by cascade, its sessions. ``False`` if already gone."""
        ...

    # Key rings -----------------------------------------------------------------------
    async def list_keys(self, product_id: int, env: str) -> list[KeyRecord]:
        """Every key of a (product, env) ring, retired ones included, newest first."""
        ...

    async def find_key(self, kid: str) -> KeyRecord | None:
        """A key by its id, whatever its ring (to route an end user's token)."""
        ...

    async def insert_active_key(
        self, key: KeyRecord, *, event: NewEvent | None = None
    ) -> KeyRecord:
        """Insert ``key`` as the ring's active key of its ``alg`` unless another instance
        won the race; return the active key in force either way. ``event`` is recorded
        only if ``key`` was inserted."""
        ...

    async def rotate_keys(
        self,
        product_id: int,
        env: str,
        keys: list[KeyRecord],
        retire_at: float | None,
        now: float,
        *,
        active_before: float = ...,
        events: Sequence[NewEvent] = (),
    ) -> None:
        """Rotate a ring in one transaction: its active keys (those created before
        ``active_before``, by default all) become verify-only until ``retire_at`` (with
        ``None``, every key not yet retired is retired ``now``), and ``keys`` become its
        active keys. ``Conflict`` if an active key of the same algorithm remains — a
        concurrent rotation committed first, or the active key is newer than
        ``active_before`` — and then nothing is changed. ``events`` are recorded in the
        same transaction."""
        ...

    async def retire_expired_keys(self, now: float) -> int:
        """Retire every verify-only key whose ``retire_at`` has come, erasing its
        material; the number retired."""
        ...

    async def live_keys(self) -> list[KeyRecord]:
        """Every key of every ring that is not retired (to re-wrap them)."""
        ...

    async def rewrap_keys(self, changes: list[tuple[str, bytes, bytes]]) -> None:
        """For each ``(kid, old, new)``, replace the key's wrapped material ``old`` with
        ``new`` if it still is ``old``, in one transaction."""
        ...

    async def rings_active_since_before(self, before: float) -> list[tuple[int, str]]:
        """The ``(product id, env)`` of rings with an active key created before ``before``."""
        ...

    # Sessions ------------------------------------------------------------------------
    async def insert_session(self, session: NewSession, *, events: Sequence[NewEvent] = ()) -> None:
        """Durably commit a new session before any token for it leaves the process,
        with its person's ``session_users`` rows. ``events`` (here and on the other
        session changes) are recorded for each session the change touched, in its
        transaction, with that session's id and identifier."""
        ...

    async def get_session(self, session_id: str) -> SessionRecord | None: ...

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
        """Advance the refresh token from ``generation`` to ``generation + 1`` in one
        conditional statement, and its person's ``session_users`` rows with it. ``None``
        if the session is no longer at ``generation`` or is revoked (another redemption
        won, or it was revoked meanwhile); then nothing, events included, is written."""
        ...

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
        """Revoke one session of a config and env; the number newly revoked (0 or 1)."""
        ...

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
        """Revoke every live session of one identifier; the number newly revoked."""
        ...

    async def touch_session(self, session_id: str, now: float, min_interval: float) -> None:
        """Set ``last_seen_at`` unless it was set less than ``min_interval`` ago."""
        ...

    async def list_sessions(
        self,
        config_id: int,
        env: str,
        identifier: str | None,
        now: float,
        after: tuple[float, str] | None,
        limit: int,
    ) -> list[SessionRecord]:
        """Active sessions, newest first, strictly after the ``(started_at, id)`` key."""
        ...

    async def count_sessions(
        self, config_id: int, env: str, identifier: str | None, now: float
    ) -> int:
        """How many sessions ``list_sessions`` would page through."""
        ...

    async def delete_expired_sessions(
        self, before: float, limit: int, *, at: float | None = None
    ) -> int:
        """Delete up to ``limit`` sessions whose absolute lifetime ended before
        ``before``; the number deleted. With ``at``, a ``session_expired`` event at that
        time is recorded for each, in the same transaction."""
        ...

    async def session_details_with_prefix(self, prefix: str, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(session id, details)`` whose details start with ``prefix``."""
        ...

    async def replace_session_details(self, changes: list[tuple[str, str, str]]) -> int:
        """For each ``(session id, old, new)``, set the details to ``new`` if they still
        are ``old``; the number replaced. The old values are not left readable in the
        database's free space where the database allows (SQLite: secure_delete)."""
        ...

    # Session users -------------------------------------------------------------------
    # Kept by insert_session and rotate_refresh, in their own transactions.
    async def get_session_user(
        self, product_id: int, env: str, identifier: str, now: float
    ) -> SessionUserRecord | None:
        """The person ``identifier`` names in a product's env, with their sessions live
        at ``now``; ``None`` if no session of theirs was ever stored."""
        ...

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
        """People of a product's env (of the config ``config_id`` only, if given), last
        seen latest first, strictly after the ``(last_seen_at, identifier)`` key; with
        ``prefix = (p, below)``, those whose identifier is at least ``p`` and below
        ``below``."""
        ...

    async def seal_session_user_details(self, plain_prefix: str) -> int:
        """Give every person whose details are stored unsealed (starting with the
        one-character ``plain_prefix``) their latest session's sealed copy, once that
        session's are sealed; the number changed."""
        ...

    # API keys ------------------------------------------------------------------------
    async def insert_api_key(self, key: ApiKeyRecord, *, event: NewEvent | None = None) -> None: ...

    async def get_api_key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None: ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_api_keys(self, product_id: int | None) -> list[ApiKeyRecord]:
        """Keys of one product, or every key when ``product_id`` is ``None``."""
        ...

    async def revoke_api_key(
        self, key_id: str, now: float, *, event: NewEvent | None = None
    ) -> bool:
        """``False`` if the key does not exist or was already revoked."""
        ...

    async def touch_api_key(self, key_id: str, now: float, min_interval: float) -> None:
        """Set ``last_used_at`` unless it was set less than ``min_interval`` ago."""
        ...

    async def count_admin_keys(self) -> int:
        """Unrevoked admin keys."""
        ...

    # Persisted documents -------------------------------------------------------------
    async def get_persisted_document(self, hash: str) -> PersistedDocumentRecord | None:
        """The document stored under ``hash`` (the SHA-256 of its text), whatever its
        source."""
        ...

    async def register_apq_document(self, document: PersistedDocumentRecord, keep: int) -> bool:
        """Store a client-registered (``apq``) document unless its hash is stored already,
        then evict the oldest client-registered ones beyond the newest ``keep``. ``True``
        if it was stored by this call."""
        ...

    async def put_trusted_documents(self, documents: list[PersistedDocumentRecord]) -> None:
        """Store every document with its source (``trusted`` or ``builtin``), all or none:
        one registered by a client before becomes trusted, a trusted or built-in one
        stays as it is."""
        ...

    # Changes to what instances cache ---------------------------------------------------
    async def change_version(self) -> int:
        """The version of what instances cache: products, environments, session configs,
        API keys and key rings. Each committed change to them (not ``touch_api_key``) advances it
        in the change's own transaction; 0 before the first."""
        ...

    async def subscribe(self, on_change: Callable[[int | None], None]) -> None:
        """Call ``on_change(version)`` after each change ``change_version`` counts: as
        soon as it commits for a change made through this store, and, on PostgreSQL
        (unless the URL says ``listen=false``), soon after another instance commits
        one. ``on_change(None)`` says a change may have been missed: a changing call
        failed (it may have committed all the same), or the connection that listens for
        other instances' changes was (re)established. Called on the event loop; it must
        not block."""
        ...

    # Session events and verification counters ------------------------------------------
    async def events_after(self, position: tuple[int, int], limit: int) -> list[EventRecord]:
        """Up to ``limit`` events of the whole log after ``position`` (``(tx, id)``), in
        log order, up to the horizon: an event not returned yet is always after the
        last one returned, so a reader that moves its position along misses none."""
        ...

    async def event_head(self) -> tuple[int, int]:
        """The position of the last event ``events_after`` would return now; ``(0, 0)``
        for an empty log."""
        ...

    async def list_events(
        self, scope: EventScope, *, before: tuple[int, int] | None, limit: int
    ) -> list[EventRecord]:
        """Up to ``limit`` events of ``scope``, newest first, before ``before``."""
        ...

    async def events_between(
        self, scope: EventScope, after: tuple[int, int], upto: tuple[int, int], limit: int
    ) -> list[EventRecord]:
        """Up to ``limit`` events of ``scope`` after ``after`` and up to ``upto``, in log
        order (a replay, up to a position a live reader reached)."""
        ...

    async def prune_events(self, before: float, limit: int) -> int:
        """Delete up to ``limit`` events older than ``before``; the number deleted."""
        ...

    async def add_verification_counts(self, counts: list[VerificationCount]) -> None:
        """Add each count to its (product, env, tag, minute, outcome) total, all in one
        transaction."""
        ...

    async def verification_counts(
        self, product: str, env: str, since: int, until: int
    ) -> list[VerificationCount]:
        """The counted minutes of (product, env) from ``since`` to before ``until``
        (minutes since the epoch)."""
        ...

    async def prune_verification_counts(self, before_minute: int) -> int:
        """Delete the counts of minutes before ``before_minute``; the number deleted."""
        ...
