"""Plain rows as the store returns them. Times are Unix seconds (float).

These dataclasses are the one declaration of each table's columns (``store.columns``
derives the column lists and the statements' parameter lists from them): adding a
column is a field here plus the migration that adds it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProductRecord:
    id: int
    tag: str
    name: str
    envs: tuple[str, ...]
    created_at: float


@dataclass(frozen=True, slots=True)
class ConfigValues:
    """The writable fields of a session config, declared once: the store's columns,
    insert and update statements and the service's copying of fields between its specs
    and records are derived from them (``dataclasses.fields``)."""

    tag: str
    name: str
    description: str
    selector: str
    expiry: int
    period: str
    refresh_expiry: int
    refresh_period: str
    idle_timeout: int | None
    refresh_grace_seconds: int | None
    json_schema: str | None
    token_format: str
    # Whether a SIGNED token carries the details (readable by whoever holds it).
    signed_details: bool


@dataclass(frozen=True, slots=True)
class SessionConfigRecord(ConfigValues):
    """A stored session config: its values plus identity and timestamps."""

    id: int
    product_id: int
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key of a (product, env) ring. ``state`` is ``active`` (mints), ``verify_only``
    (verifies until ``retire_at``) or ``retired`` (its material erased: ``wrapped`` is
    empty). ``alg`` names its use: ``dir+A256GCM`` (encrypted tokens) or ``ES256``
    (signed tokens; ``wrapped`` holds the private key)."""

    kid: str
    product_id: int
    env: str
    alg: str
    state: str
    wrapped: bytes
    created_at: float
    retire_at: float | None = None

    def __repr__(self) -> str:
        return f"KeyRecord(kid={self.kid!r}, alg={self.alg!r}, state={self.state!r})"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session as it is created: the columns an insert sets."""

    id: str
    product_id: int
    env: str
    config_id: int
    identifier: str
    user_id: str
    details: str
    started_at: float
    expires_at: float
    refresh_expires_at: float
    refresh_hash: bytes
    refresh_salt: bytes


@dataclass(frozen=True, slots=True)
class SessionRecord(NewSession):
    """A stored session: what it was created with plus the state it has gained since."""

    last_seen_at: float
    last_refresh_at: float
    revoked_at: float | None
    revoked_reason: str | None
    refresh_generation: int
    rotated_at: float | None


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    name: str
    key_hash: bytes
    product_id: int | None
    envs: tuple[str, ...] | None
    is_admin: bool
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    # Filled on reads (joined from products) so scope checks need no second query.
    product: str | None = None


@dataclass(frozen=True, slots=True)
class PersistedDocumentRecord:
    """A GraphQL document stored under the SHA-256 of its text (lower-case hex). ``source``
    is ``apq`` (registered by a client through automatic persisted queries; bounded in
    number, the oldest evicted), ``trusted`` (from a manifest) or ``builtin`` (shipped in
    graphql/operations/); trusted and built-in ones are never evicted."""

    hash: str
    body: str
    source: str
    created_at: float


# The one event the store writes by itself (the sweeper's), and its actor.
EXPIRED_EVENT = "session_expired"
SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as a change records it, in the change's own transaction. On a change
    to sessions, ``session_id`` and ``identifier`` left ``None`` are those of each
    session row the change touched (one event per row)."""

    type: str
    at: float
    actor: str
    product: str | None
    env: str | None = None
    tag: str | None = None
    session_id: str | None = None
    identifier: str | None = None
    cause: str | None = None
    client_address: str | None = None
    user_agent: str | None = None
    # What a change that is not to a session is about: an API key's id, a signing key's
    # kid (never a secret).
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class EventRecord(NewEvent):
    """A stored event. Its position in the log is ``(tx, id)``: ``id`` is allocated by
    the insert, ``tx`` is the inserting transaction's id on PostgreSQL (0 on SQLite,
    whose single writer commits in ``id`` order)."""

    tx: int = 0
    id: int = 0


@dataclass(frozen=True, slots=True)
class VerificationCount:
    """How many verifications of one config ended one way within one minute."""

    product: str
    env: str
    tag: str
    minute: int
    outcome: str
    count: int


@dataclass(frozen=True, slots=True)
class EventScope:
    """Which events of one (product, env) a reading asks for; ``None`` leaves a filter
    out. ``since`` is inclusive, ``until`` exclusive (Unix seconds)."""

    product: str
    env: str
    tag: str | None = None
    identifier: str | None = None
    session_id: str | None = None
    types: tuple[str, ...] | None = None
    since: float | None = None
    until: float | None = None

    def texts(self) -> tuple[str | None, ...]:
        return (self.product, self.env, self.tag, self.identifier, self.session_id)

    def args(self) -> tuple[object, ...]:
        """The arguments of the event filters, in the order of their parameters."""
        types = None if self.types is None else "," + ",".join(self.types) + ","
        return (*self.texts(), types, self.since, self.until)


@dataclass(frozen=True, slots=True)
class SessionUserRecord:
    """A person's row of ``session_users``: the identifier a session config's selector
    picked, in one product's env, kept up to date by every session create and refresh.
    ``details`` are the latest session's details, sealed as that session's
    (``latest_session_id`` is what they open with). The last two fields are worked out
    when the row is read: ``live_sessions`` from the sessions themselves (so expiry needs
    no write), ``tags`` from ``session_user_tags``."""

    product_id: int
    env: str
    identifier: str
    first_seen_at: float
    last_seen_at: float
    total_sessions: int
    user_id: str
    details: str
    latest_session_id: str
    latest_started_at: float
    live_sessions: int
    tags: tuple[str, ...]
