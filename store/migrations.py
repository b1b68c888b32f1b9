"""Versioned schema migrations, shared by every adapter.

Each migration is a tuple of statements, each written once with ``{word}`` markers for
what the dialects spell differently (``store.dialects``) and run as it is: SQL text is
never split on ``;``. An adapter applies the pending ones in one transaction together
with their rows in ``schema_migrations`` (``Statements.RECORD_MIGRATION``)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from store.dialects import Dialect

if TYPE_CHECKING:
    from store.statements import Statements


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    def render(self, dialect: Dialect) -> list[str]:
        """The migration's statements for ``dialect``, in order."""
        return [dialect.render(textwrap.dedent(s).strip()) for s in self.statements]


def steps(sql: Statements, applied: set[int], now: float) -> list[tuple[str, tuple[object, ...]]]:
    """What brings a database from the ``applied`` versions to ``HEAD``, as statements
    with their arguments in ``sql``'s dialect: each pending migration's statements, then
    its row in ``schema_migrations``. The caller runs them in one transaction."""
    found: list[tuple[str, tuple[object, ...]]] = []
    for migration in MIGRATIONS:
        if migration.version not in applied:
            found.extend((statement, ()) for statement in migration.render(sql.dialect))
            found.append((sql.RECORD_MIGRATION, (migration.version, migration.name, now)))
    return found


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial",
        (
            """
            CREATE TABLE meta (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE products (
                id {serial_pk},
                tag TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                created_at {float} NOT NULL
            )
            """,
            """
            CREATE TABLE environments (
                product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
                env TEXT NOT NULL,
                created_at {float} NOT NULL,
                PRIMARY KEY (product_id, env)
            )
            """,
            """
            CREATE TABLE session_configs (
                id {serial_pk},
                product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
                tag TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                selector TEXT NOT NULL,
                expiry INTEGER NOT NULL,
                period TEXT NOT NULL,
                refresh_expiry INTEGER NOT NULL,
                refresh_period TEXT NOT NULL,
                idle_timeout INTEGER,
                refresh_grace_seconds INTEGER,
                json_schema TEXT,
                token_format TEXT NOT NULL,
                created_at {float} NOT NULL,
                updated_at {float} NOT NULL,
                UNIQUE (product_id, tag)
            )
            """,
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
                env TEXT NOT NULL,
                alg TEXT NOT NULL,
                state TEXT NOT NULL,
                wrapped {blob} NOT NULL,
                created_at {float} NOT NULL
            )
            """,
            """
            CREATE UNIQUE INDEX signing_keys_one_active
                ON signing_keys (product_id, env) WHERE state = 'active'
            """,
            """
            CREATE INDEX signing_keys_by_ring ON signing_keys (product_id, env, created_at)
            """,
            """
            CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
                env TEXT NOT NULL,
                config_id BIGINT NOT NULL REFERENCES session_configs(id) ON DELETE CASCADE,
                identifier TEXT NOT NULL,
                user_id TEXT NOT NULL,
                details TEXT NOT NULL,
                started_at {float} NOT NULL,
                expires_at {float} NOT NULL,
                refresh_expires_at {float} NOT NULL,
                last_seen_at {float} NOT NULL,
                last_refresh_at {float} NOT NULL,
                revoked_at {float},
                revoked_reason TEXT,
                refresh_generation INTEGER NOT NULL,
                refresh_hash {blob} NOT NULL,
                refresh_salt {blob} NOT NULL,
                rotated_at {float}
            )
            """,
            """
            CREATE INDEX sessions_by_config
                ON sessions (config_id, env, started_at DESC, id DESC)
            """,
            """
            CREATE INDEX sessions_by_identifier
                ON sessions (config_id, env, identifier, started_at DESC, id DESC)
            """,
            """
            CREATE INDEX sessions_by_refresh_expiry ON sessions (refresh_expires_at)
            """,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                key_hash {blob} NOT NULL UNIQUE,
                product_id BIGINT REFERENCES products(id) ON DELETE CASCADE,
                envs TEXT,
                is_admin INTEGER NOT NULL,
                created_at {float} NOT NULL,
                last_used_at {float},
                revoked_at {float}
            )
            """,
            """
            CREATE INDEX api_keys_by_product ON api_keys (product_id)
            """,
        ),
    ),
    Migration(
        2,
        "persisted documents",
        (
            """
            CREATE TABLE persisted_documents (
                hash TEXT PRIMARY KEY,
                body TEXT NOT NULL,
                source TEXT NOT NULL,
                created_at {float} NOT NULL
            )
            """,
            """
            CREATE INDEX persisted_documents_by_age
                ON persisted_documents (source, created_at)
            """,
        ),
    ),
    # Key rotation and signed tokens: a verify-only key's end, one active key per ring
    # and algorithm (an encryption key and a signing key), and whether a SIGNED
    # config's tokens carry the details.
    Migration(
        3,
        "key rotation",
        (
            "ALTER TABLE signing_keys ADD COLUMN retire_at {float}",
            "DROP INDEX signing_keys_one_active",
            """
            CREATE UNIQUE INDEX signing_keys_one_active
                ON signing_keys (product_id, env, alg) WHERE state = 'active'
            """,
            "ALTER TABLE session_configs ADD COLUMN signed_details INTEGER NOT NULL DEFAULT 0",
        ),
    ),
    Migration(
        4,
        "session events and verification counters",
        (
            # product, env and tag are names, not references: the log outlives what
            # it tells of (a deleted config's events stay readable). An admin key's
            # events name no product.
            """
            CREATE TABLE events (
                id {serial_pk},
                tx {event_tx},
                type TEXT NOT NULL,
                at {float} NOT NULL,
                actor TEXT NOT NULL,
                product TEXT,
                env TEXT,
                tag TEXT,
                session_id TEXT,
                identifier TEXT,
                cause TEXT,
                client_address TEXT,
                user_agent TEXT,
                subject TEXT
            )
            """,
            """
            CREATE INDEX events_by_position ON events (tx, id)
            """,
            """
            CREATE INDEX events_by_scope ON events (product, env, tx, id)
            """,
            """
            CREATE INDEX events_by_identifier ON events (product, env, identifier, tx, id)
            """,
            """
            CREATE INDEX events_by_session ON events (session_id)
            """,
            """
            CREATE INDEX events_by_age ON events (at)
            """,
            """
            CREATE TABLE verification_counts (
                product TEXT NOT NULL,
                env TEXT NOT NULL,
                tag TEXT NOT NULL,
                minute BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                count BIGINT NOT NULL,
                PRIMARY KEY (product, env, tag, minute, outcome)
            )
            """,
            """
            CREATE INDEX verification_counts_by_minute ON verification_counts (minute)
            """,
        ),
    ),
    Migration(
        5,
        "session users",
        (
            # One row per person (product, env, identifier), kept by every session
            # create and refresh in their own transaction. Keyed bytewise, so prefix
            # searches are index ranges on both databases.
            """
            CREATE TABLE session_users (
                product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
                env TEXT NOT NULL,
                identifier TEXT NOT NULL,
                first_seen_at {float} NOT NULL,
                last_seen_at {float} NOT NULL,
                total_sessions BIGINT NOT NULL,
                user_id TEXT NOT NULL,
                details TEXT NOT NULL,
                latest_session_id TEXT NOT NULL,
                latest_started_at {float} NOT NULL
            )
            """,
            """
            CREATE UNIQUE INDEX session_users_key
                ON session_users (product_id, env, identifier{bytewise})
            """,
            """
            CREATE INDEX session_users_by_last_seen
                ON session_users (product_id, env, last_seen_at DESC, identifier{bytewise} DESC)
            """,
            # The session configs (tags) each person used; last_seen_at is their
            # person's, so a tag's users list in the same order.
            """
            CREATE TABLE session_user_tags (
                product_id BIGINT NOT NULL,
                env TEXT NOT NULL,
                identifier TEXT NOT NULL,
                config_id BIGINT NOT NULL REFERENCES session_configs(id) ON DELETE CASCADE,
                last_seen_at {float} NOT NULL,
                PRIMARY KEY (product_id, env, identifier, config_id)
            )
            """,
            """
            CREATE INDEX session_user_tags_by_last_seen
                ON session_user_tags (config_id, env, last_seen_at DESC, identifier{bytewise} DESC)
            """,
            # The people of the sessions stored so far, in the migration's transaction:
            # no session can be created meanwhile, so every one is counted once.
            """
            INSERT INTO session_users (product_id, env, identifier, first_seen_at,
                last_seen_at, total_sessions, user_id, details, latest_session_id,
                latest_started_at)
            SELECT product_id, env, identifier, first_seen_at, last_seen_at, total_sessions,
                user_id, details, id, started_at
            FROM (
                SELECT product_id, env, identifier, user_id, details, id, started_at,
                    MIN(started_at) OVER person AS first_seen_at,
                    MAX(last_refresh_at) OVER person AS last_seen_at,
                    COUNT(*) OVER person AS total_sessions,
                    ROW_NUMBER() OVER (PARTITION BY product_id, env, identifier
                        ORDER BY started_at DESC, id{bytewise} DESC) AS n
                FROM sessions
                WINDOW person AS (PARTITION BY product_id, env, identifier)
            ) latest
            WHERE n = 1
            """,
            """
            INSERT INTO session_user_tags (product_id, env, identifier, config_id, last_seen_at)
            SELECT s.product_id, s.env, s.identifier, s.config_id, MAX(u.last_seen_at)
            FROM sessions s JOIN session_users u ON u.product_id = s.product_id
                AND u.env = s.env AND u.identifier{bytewise} = s.identifier
            GROUP BY s.product_id, s.env, s.identifier, s.config_id
            """,
        ),
    ),
)

HEAD = MIGRATIONS[-1].version
