"""The embedded default: stdlib ``sqlite3`` in WAL mode.

Reads run directly on the event loop's thread: each is a few microseconds, far cheaper
than a thread hop. ``synchronous=FULL`` makes every commit durable before the call
returns, so a token is never sent for a session a crash could lose; the hot path's
single-statement writes are group-committed (``store.groupcommit``) so that durability
costs one fsync per batch, off the event loop."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store.columns import (
    API_KEY_COLUMNS,
    API_KEY_SELECT,
    CONFIG_COLUMNS,
    KEY_COLUMNS,
    SESSION_COLUMNS,
)
from store.errors import Conflict, StoreUnavailable
from store.groupcommit import GroupCommitter
from store.migrations import HEAD, MIGRATIONS
from store.records import (
    ApiKeyRecord,
    ConfigValues,
    KeyRecord,
    NewSession,
    ProductRecord,
    SessionConfigRecord,
    SessionRecord,
)


def _config(row: tuple[Any, ...]) -> SessionConfigRecord:
    return SessionConfigRecord(*row)


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(*row)


def _key(row: tuple[Any, ...]) -> KeyRecord:
    return KeyRecord(*row)


def _api_key(row: tuple[Any, ...]) -> ApiKeyRecord:
    envs = tuple(json.loads(row[4])) if row[4] is not None else None
    return ApiKeyRecord(
        row[0], row[1], row[2], row[3], envs, bool(row[5]), row[6], row[7], row[8], row[9]
    )


def _configure(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=5000")


def _connect_writer(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    _configure(db)
    return db


class SqliteStore:
    """``Store`` on one SQLite file (or ``:memory:`` for tests)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
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
        # A second connection to ":memory:" would be another database: write directly.
        self._writer = None if path == ":memory:" else GroupCommitter(lambda: _connect_writer(path))

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front so concurrent writers queue on
        # busy_timeout instead of failing a read-to-write upgrade halfway through.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # Lifecycle -----------------------------------------------------------------------
    async def migrate(self) -> int:
        with self._tx() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)"
            )
            applied = {v for (v,) in db.execute("SELECT version FROM schema_migrations")}
            for migration in MIGRATIONS:
                if migration.version in applied:
                    continue
                for stmt in migration.render(self.dialect):
                    db.execute(stmt)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
        return await self.schema_version()

    async def schema_version(self) -> int:
        try:
            row = self._db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0] or 0)

    async def ready(self) -> bool:
        """True when the database answers and its schema is at least at ``HEAD``."""
        try:
            return await self.schema_version() >= HEAD
        except sqlite3.Error:
            return False

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
        self._db.close()

    async def _write(self, sql: str, params: tuple[Any, ...], *, fetch: bool = False) -> Any:
        """A single-statement write on the hot path, group-committed."""
        if self._writer is not None:
            return await self._writer.execute(sql, params, fetch=fetch)
        cursor = self._db.execute(sql, params)
        return cursor.fetchall() if fetch else cursor.rowcount

    # Metadata ------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    # Products and environments -------------------------------------------------------
    def _product_by(self, where: str, arg: object) -> ProductRecord | None:
        # One statement: products are looked up on every request. Env slugs cannot
        # contain ",", so the aggregate splits back exactly.
        row = self._db.execute(
            "SELECT p.id, p.tag, p.name, p.created_at, (SELECT group_concat(env, ',') FROM "
            "(SELECT env FROM environments WHERE product_id = p.id ORDER BY created_at, env)) "
            f"FROM products p WHERE p.{where} = ?",
            (arg,),
        ).fetchone()
        if row is None:
            return None
        envs = tuple(row[4].split(",")) if row[4] else ()
        return ProductRecord(row[0], row[1], row[2], envs, row[3])

    def _insert_product(
        self, db: sqlite3.Connection, tag: str, name: str, envs: tuple[str, ...], now: float
    ) -> None:
        cur = db.execute(
            "INSERT INTO products (tag, name, created_at) VALUES (?, ?, ?)", (tag, name, now)
        )
        db.executemany(
            "INSERT INTO environments (product_id, env, created_at) VALUES (?, ?, ?)",
            [(cur.lastrowid, env, now + i * 1e-6) for i, env in enumerate(envs)],
        )

    async def insert_product(
        self, tag: str, name: str, envs: tuple[str, ...], now: float
    ) -> ProductRecord:
        try:
            with self._tx() as db:
                self._insert_product(db, tag, name, envs, now)
        except sqlite3.IntegrityError:
            raise Conflict(f"product {tag!r} exists") from None
        product = self._product_by("tag", tag)
        assert product is not None
        return product

    async def ensure_product(
        self, tag: str, name: str, envs: tuple[str, ...], now: float
    ) -> ProductRecord:
        existing = self._product_by("tag", tag)
        if existing is not None:
            return existing
        try:
            return await self.insert_product(tag, name, envs, now)
        except Conflict:
            product = self._product_by("tag", tag)
            assert product is not None
            return product

    async def get_product(self, tag: str) -> ProductRecord | None:
        return self._product_by("tag", tag)

    async def get_product_by_id(self, product_id: int) -> ProductRecord | None:
        return self._product_by("id", product_id)

    async def list_products(self) -> list[ProductRecord]:
        tags = [t for (t,) in self._db.execute("SELECT tag FROM products ORDER BY tag")]
        return [p for t in tags if (p := self._product_by("tag", t)) is not None]

    async def ensure_env(self, product_id: int, env: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO environments (product_id, env, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (product_id, env) DO NOTHING",
            (product_id, env, now),
        )

    # Session configs -----------------------------------------------------------------
    async def insert_config(
        self, product_id: int, values: ConfigValues, now: float
    ) -> SessionConfigRecord:
        try:
            row = self._db.execute(
                "INSERT INTO session_configs (product_id, tag, name, description, selector, "
                "expiry, period, refresh_expiry, refresh_period, idle_timeout, "
                "refresh_grace_seconds, json_schema, token_format, created_at, updated_at) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {CONFIG_COLUMNS}",
                (
                    product_id,
                    values.tag,
                    values.name,
                    values.description,
                    values.selector,
                    values.expiry,
                    values.period,
                    values.refresh_expiry,
                    values.refresh_period,
                    values.idle_timeout,
                    values.refresh_grace_seconds,
                    values.json_schema,
                    values.token_format,
                    now,
                    now,
                ),
            ).fetchone()
        except sqlite3.IntegrityError:
            raise Conflict(f"session config {values.tag!r} exists") from None
        return _config(row)

    async def ensure_config(
        self, product_id: int, values: ConfigValues, now: float
    ) -> SessionConfigRecord:
        existing = await self.get_config(product_id, values.tag)
        if existing is not None:
            return existing
        try:
            return await self.insert_config(product_id, values, now)
        except Conflict:
            config = await self.get_config(product_id, values.tag)
            assert config is not None
            return config

    async def get_config(self, product_id: int, tag: str) -> SessionConfigRecord | None:
        row = self._db.execute(
            f"SELECT {CONFIG_COLUMNS} FROM session_configs WHERE product_id = ? AND tag = ?",
            (product_id, tag),
        ).fetchone()
        return None if row is None else _config(row)

    async def list_configs(self, product_id: int) -> list[SessionConfigRecord]:
        rows = self._db.execute(
            f"SELECT {CONFIG_COLUMNS} FROM session_configs WHERE product_id = ? ORDER BY tag",
            (product_id,),
        ).fetchall()
        return [_config(r) for r in rows]

    async def update_config(
        self, config_id: int, values: ConfigValues, now: float
    ) -> SessionConfigRecord | None:
        try:
            row = self._db.execute(
                "UPDATE session_configs SET tag = ?, name = ?, description = ?, selector = ?, "
                "expiry = ?, period = ?, refresh_expiry = ?, refresh_period = ?, "
                "idle_timeout = ?, refresh_grace_seconds = ?, json_schema = ?, "
                f"token_format = ?, updated_at = ? WHERE id = ? RETURNING {CONFIG_COLUMNS}",
                (
                    values.tag,
                    values.name,
                    values.description,
                    values.selector,
                    values.expiry,
                    values.period,
                    values.refresh_expiry,
                    values.refresh_period,
                    values.idle_timeout,
                    values.refresh_grace_seconds,
                    values.json_schema,
                    values.token_format,
                    now,
                    config_id,
                ),
            ).fetchone()
        except sqlite3.IntegrityError:
            raise Conflict(f"session config {values.tag!r} exists") from None
        return None if row is None else _config(row)

    async def delete_config(self, config_id: int) -> bool:
        cur = self._db.execute("DELETE FROM session_configs WHERE id = ?", (config_id,))
        return cur.rowcount > 0

    # Key rings -----------------------------------------------------------------------
    async def list_keys(self, product_id: int, env: str) -> list[KeyRecord]:
        rows = self._db.execute(
            f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE product_id = ? AND env = ? "
            "AND state != 'retired' ORDER BY created_at DESC",
            (product_id, env),
        ).fetchall()
        return [_key(r) for r in rows]

    async def find_key(self, kid: str) -> KeyRecord | None:
        row = self._db.execute(
            f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid = ?", (kid,)
        ).fetchone()
        return None if row is None else _key(row)

    async def insert_active_key(self, key: KeyRecord) -> KeyRecord:
        with self._tx() as db:
            db.execute(
                f"INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, 'active', ?, ?) "
                "ON CONFLICT DO NOTHING",
                (key.kid, key.product_id, key.env, key.alg, key.wrapped, key.created_at),
            )
            row = db.execute(
                f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE product_id = ? AND env = ? "
                "AND state = 'active'",
                (key.product_id, key.env),
            ).fetchone()
        return _key(row)

    # Sessions ------------------------------------------------------------------------
    async def insert_session(self, session: NewSession) -> None:
        s = session
        await self._write(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?, ?, NULL)",
            (
                s.id,
                s.product_id,
                s.env,
                s.config_id,
                s.identifier,
                s.user_id,
                s.details,
                s.started_at,
                s.expires_at,
                s.refresh_expires_at,
                s.started_at,
                s.started_at,
                s.refresh_hash,
                s.refresh_salt,
            ),
        )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        row = self._db.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        return None if row is None else _session(row)

    async def rotate_refresh(
        self,
        session_id: str,
        generation: int,
        new_hash: bytes,
        expires_at: float,
        now: float,
    ) -> SessionRecord | None:
        rows = await self._write(
            "UPDATE sessions SET refresh_generation = refresh_generation + 1, "
            "refresh_hash = ?, rotated_at = ?, last_refresh_at = ?, last_seen_at = ?, "
            "expires_at = ? WHERE id = ? AND refresh_generation = ? AND revoked_at IS NULL "
            f"RETURNING {SESSION_COLUMNS}",
            (new_hash, now, now, now, expires_at, session_id, generation),
            fetch=True,
        )
        return _session(rows[0]) if rows else None

    async def revoke_session(
        self, session_id: str, config_id: int, env: str, now: float, reason: str
    ) -> int:
        count: int = await self._write(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? "
            "WHERE id = ? AND config_id = ? AND env = ? AND revoked_at IS NULL",
            (now, reason, session_id, config_id, env),
        )
        return count

    async def revoke_identifier(
        self,
        config_id: int,
        env: str,
        identifier: str,
        now: float,
        reason: str,
        *,
        except_session: str | None = None,
    ) -> int:
        count: int = await self._write(
            "UPDATE sessions SET revoked_at = ?, revoked_reason = ? "
            "WHERE config_id = ? AND env = ? AND identifier = ? AND revoked_at IS NULL "
            "AND refresh_expires_at > ? AND id IS NOT ?",
            (now, reason, config_id, env, identifier, now, except_session),
        )
        return count

    async def touch_session(self, session_id: str, now: float, min_interval: float) -> None:
        await self._write(
            "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at <= ?",
            (now, session_id, now - min_interval),
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
        where, args = self._live(config_id, env, identifier, now)
        if after is not None:
            where += " AND (started_at, id) < (?, ?)"
            args += after
        rows = self._db.execute(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {where} "
            "ORDER BY started_at DESC, id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [_session(r) for r in rows]

    async def count_sessions(
        self, config_id: int, env: str, identifier: str | None, now: float
    ) -> int:
        where, args = self._live(config_id, env, identifier, now)
        row = self._db.execute(f"SELECT COUNT(*) FROM sessions WHERE {where}", args).fetchone()
        return int(row[0])

    @staticmethod
    def _live(
        config_id: int, env: str, identifier: str | None, now: float
    ) -> tuple[str, tuple[object, ...]]:
        where = "config_id = ? AND env = ? AND revoked_at IS NULL AND refresh_expires_at > ?"
        args: tuple[object, ...] = (config_id, env, now)
        if identifier is not None:
            where += " AND identifier = ?"
            args += (identifier,)
        return where, args

    async def delete_expired_sessions(self, before: float, limit: int) -> int:
        count: int = await self._write(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
            "WHERE refresh_expires_at < ? ORDER BY refresh_expires_at LIMIT ?)",
            (before, limit),
        )
        return count

    # API keys ------------------------------------------------------------------------
    async def insert_api_key(self, key: ApiKeyRecord) -> None:
        try:
            self._db.execute(
                f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.id,
                    key.name,
                    key.key_hash,
                    key.product_id,
                    None if key.envs is None else json.dumps(list(key.envs)),
                    int(key.is_admin),
                    key.created_at,
                    key.last_used_at,
                    key.revoked_at,
                ),
            )
        except sqlite3.IntegrityError:
            raise Conflict("api key exists") from None

    async def get_api_key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None:
        row = self._db.execute(f"{API_KEY_SELECT} WHERE k.key_hash = ?", (key_hash,)).fetchone()
        return None if row is None else _api_key(row)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = self._db.execute(f"{API_KEY_SELECT} WHERE k.id = ?", (key_id,)).fetchone()
        return None if row is None else _api_key(row)

    async def list_api_keys(self, product_id: int | None) -> list[ApiKeyRecord]:
        if product_id is None:
            rows = self._db.execute(f"{API_KEY_SELECT} ORDER BY k.created_at, k.id").fetchall()
        else:
            rows = self._db.execute(
                f"{API_KEY_SELECT} WHERE k.product_id = ? ORDER BY k.created_at, k.id",
                (product_id,),
            ).fetchall()
        return [_api_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, now: float) -> bool:
        cur = self._db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now, key_id),
        )
        return cur.rowcount > 0

    async def touch_api_key(self, key_id: str, now: float, min_interval: float) -> None:
        await self._write(
            "UPDATE api_keys SET last_used_at = ? WHERE id = ? "
            "AND (last_used_at IS NULL OR last_used_at <= ?)",
            (now, key_id, now - min_interval),
        )

    async def count_admin_keys(self) -> int:
        row = self._db.execute(
            "SELECT COUNT(*) FROM api_keys WHERE is_admin = 1 AND revoked_at IS NULL"
        ).fetchone()
        return int(row[0])
