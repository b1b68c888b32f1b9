"""PostgreSQL through a pooled ``asyncpg``: for several Tessera instances on one database.

Semantics are the SQLite adapter's, statement for statement; what differs is how they are
made safe across processes:

- every atomic change is one conditional statement (``UPDATE ... WHERE
  refresh_generation = $n RETURNING``, ``INSERT ... ON CONFLICT DO NOTHING``, a
  data-modifying CTE) or one transaction; the ``ensure_*`` helpers insert with
  ``ON CONFLICT DO NOTHING`` and read the winner back in a later statement, which under
  READ COMMITTED sees the row the conflicting transaction committed;
- migrations run in one transaction holding ``pg_advisory_xact_lock``, so instances
  starting together apply them once, in order;
- a write has committed when its call returns; its durability is the server's
  ``synchronous_commit`` (``on`` by default: flushed to disk, or to replicas if configured).

The pool is created lazily by the first call (``open_store`` stays synchronous) and is
bound to that call's event loop. Connection-level failures raise ``StoreUnavailable``
naming only host, port and database, never the URL's credentials; idempotent calls
(reads and ``ON CONFLICT DO NOTHING`` upserts) are retried once on a fresh connection,
so the first call after a PostgreSQL restart works. Text is compared and ordered with the
``"C"`` collation, i.e. bytewise like SQLite.

URL query parameters read here (and not passed to the server): ``min_size`` (default 1),
``max_size`` (10), ``connect_timeout`` (seconds, 3), ``command_timeout`` (seconds, 5),
``statement_cache_size`` (asyncpg's default; 0 behind a transaction-mode PgBouncer)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg
import asyncpg.exceptions as pgerr

from store.columns import (
    API_KEY_COLUMNS,
    API_KEY_SELECT,
    CONFIG_COLUMNS,
    KEY_COLUMNS,
    SESSION_COLUMNS,
)
from store.errors import Conflict, StoreUnavailable
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

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]
_T = TypeVar("_T")

DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 10
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_COMMAND_TIMEOUT = 5.0
# Migrations may wait for another instance's migration and may rewrite big tables.
MIGRATION_TIMEOUT = 300.0
CLOSE_TIMEOUT = 10.0
# pg_advisory_xact_lock key for migrations: b"tessera\x01" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"tessera\x01", "big", signed=True)

_PRODUCT_SELECT = (
    "SELECT p.id, p.tag, p.name, p.created_at, ARRAY(SELECT e.env FROM environments e "
    'WHERE e.product_id = p.id ORDER BY e.created_at, e.env COLLATE "C") FROM products p'
)
_INSERT_PRODUCT = (
    "WITH p AS (INSERT INTO products (tag, name, created_at) VALUES ($1, $2, $3) "
    "{on_conflict} RETURNING id), "
    "e AS (INSERT INTO environments (product_id, env, created_at) "
    "SELECT p.id, v.env, v.created_at FROM p, "
    "unnest($4::text[], $5::double precision[]) AS v(env, created_at)) "
    "SELECT id FROM p"
)
_CONFIG_VALUES = (
    "INSERT INTO session_configs (product_id, tag, name, description, selector, expiry, "
    "period, refresh_expiry, refresh_period, idle_timeout, refresh_grace_seconds, "
    "json_schema, token_format, created_at, updated_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)"
)
_LIVE = "config_id = $1 AND env = $2 AND revoked_at IS NULL AND refresh_expires_at > $3"

# The database cannot be reached or used right now (as opposed to a bug in a statement).
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    pgerr.PostgresConnectionError,  # class 08, and a connection lost mid-operation
    pgerr.OperatorInterventionError,  # admin/crash shutdown, cannot connect now, canceled
    pgerr.InsufficientResourcesError,  # too many connections, disk full, out of memory
    pgerr.InvalidAuthorizationSpecificationError,  # e.g. a wrong password
    pgerr.InvalidCatalogNameError,  # the database does not exist
    pgerr.TransactionRollbackError,  # deadlock or serialization failure: try again
    pgerr.ReadOnlySQLTransactionError,  # connected to a standby (mid failover)
    pgerr.PostgresSystemError,  # class 58: I/O errors
)
# Opening the pool: any server error (e.g. an unknown role) or a bad connection parameter.
_CONNECT_FAILURES: tuple[type[BaseException], ...] = (
    *_UNAVAILABLE,
    pgerr.PostgresError,
    pgerr.InterfaceError,
    ValueError,
)
# Of the _UNAVAILABLE errors, these mean "this connection is gone (or, read-only, points
# at a demoted primary)": the pool's connections are replaced and a fresh one may work.
_RECONNECTABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    pgerr.PostgresConnectionError,
    pgerr.AdminShutdownError,
    pgerr.CrashShutdownError,
    pgerr.ReadOnlySQLTransactionError,
)


def _config(row: asyncpg.Record) -> SessionConfigRecord:
    return SessionConfigRecord(*row)


def _session(row: asyncpg.Record) -> SessionRecord:
    return SessionRecord(*row)


def _key(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(*row)


def _api_key(row: asyncpg.Record) -> ApiKeyRecord:
    envs = tuple(json.loads(row[4])) if row[4] is not None else None
    return ApiKeyRecord(
        row[0], row[1], row[2], row[3], envs, bool(row[5]), row[6], row[7], row[8], row[9]
    )


def _product(row: asyncpg.Record) -> ProductRecord:
    return ProductRecord(row[0], row[1], row[2], tuple(row[4]), row[3])


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``UPDATE 1`` or ``INSERT 0 3``."""
    return int(status.rsplit(" ", 1)[-1])


def _storable(*texts: str | None) -> bool:
    """PostgreSQL text cannot hold NUL, so no row can match a value containing one."""
    return not any(t is not None and "\x00" in t for t in texts)


def _config_args(values: ConfigValues) -> tuple[object, ...]:
    return (
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
    )


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Pool release hook. asyncpg's default reset costs a round trip per release
    (``RESET ALL``, ``UNLISTEN *``, ...) to undo session state this store never sets;
    an open transaction is still rolled back by asyncpg before this runs."""


def _positive_number(params: dict[str, str], name: str, default: float) -> float:
    raw = params.pop(name, None)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{name} in the database URL must be a positive number")
    return value


def _count_param(params: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = params.pop(name, None)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise ValueError(f"{name} in the database URL must be an integer >= {minimum}")
    return int(raw)


def _check_ports(netloc: str) -> None:
    """Every ``host[:port]`` of the URL (one, or several separated by commas) has a port
    from 1 to 65535 if it has one. Checked here because asyncpg's message would quote the
    text where it expected a port, and in a URL missing its ``@`` that is the password."""
    for host in netloc.rpartition("@")[2].split(","):
        if host.startswith("["):
            end = host.find("]")
            rest = host[end + 1 :] if end != -1 else "?"
            if rest and not rest.startswith(":"):
                raise ValueError("a host in the database URL is not a valid [IPv6] address")
            has_port, port = bool(rest), rest[1:]
        else:
            _, colon, port = host.partition(":")
            has_port = bool(colon)
        if has_port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError("a port in the database URL is not a number from 1 to 65535")


class PostgresStore:
    """``Store`` on a PostgreSQL database through an asyncpg connection pool."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("a PostgreSQL URL starts with postgresql://")
        _check_ports(parts.netloc)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        # Never to appear in a message, whatever asyncpg or the server put in theirs.
        secrets = (parts.password, params.get("password"), params.get("sslpassword"))
        self._secrets = tuple({v for s in secrets if s for v in (s, unquote(s))})
        self._min_size = _count_param(params, "min_size", DEFAULT_MIN_SIZE, 0)
        self._max_size = _count_param(params, "max_size", DEFAULT_MAX_SIZE, 1)
        if self._min_size > self._max_size:
            raise ValueError("min_size in the database URL exceeds max_size")
        self._connect_timeout = _positive_number(params, "connect_timeout", DEFAULT_CONNECT_TIMEOUT)
        self._command_timeout = _positive_number(params, "command_timeout", DEFAULT_COMMAND_TIMEOUT)
        self._statement_cache_size = (
            _count_param(params, "statement_cache_size", 0, 0)
            if "statement_cache_size" in params
            else None
        )
        # Whatever asyncpg does not know becomes a server setting; ours are gone by now.
        self._dsn = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(params)))
        host = parts.netloc.rpartition("@")[2] or "localhost"
        self._target = f"{host}/{parts.path.lstrip('/')}"
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._failures = 0
        self._last_failure = ""
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self._target!r})"

    # Pool and error handling ---------------------------------------------------------
    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        # Only the exception's class: messages may quote values (asyncpg's DataError
        # quotes the parameter) and the URL's credentials must never reach a log.
        what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        return StoreUnavailable(f"PostgreSQL at {self._target} is unavailable ({what})")

    def _cannot_connect(self, exc: BaseException) -> StoreUnavailable:
        """Opening the pool failed: why, in words an operator can act on. PostgreSQL's
        own messages here (wrong password, unknown role or database) quote no secret;
        a message that contains one anyway is reduced to its class, and so is asyncpg's
        ValueError about the URL, which quotes parts of it."""
        why: str
        if isinstance(exc, TimeoutError):
            why = f"no answer within {self._connect_timeout:g} s (connect_timeout)"
        elif isinstance(exc, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(exc, socket.gaierror):
            why = f"cannot resolve the host name: {(exc.strerror or str(exc)).lower()}"
        elif isinstance(exc, OSError):
            why = exc.strerror or str(exc) or type(exc).__name__
        elif isinstance(exc, pgerr.PostgresError | pgerr.InterfaceError):
            why = str(exc) or type(exc).__name__
        else:
            why = f"the URL is not a valid PostgreSQL URL ({type(exc).__name__})"
        if any(secret in why for secret in self._secrets):
            why = type(exc).__name__
        return StoreUnavailable(f"cannot connect to PostgreSQL at {self._target} ({why})")

    async def _get_pool(self) -> asyncpg.Pool[asyncpg.Record]:
        pool = self._pool
        if pool is not None:
            if self._loop is not asyncio.get_running_loop():
                raise RuntimeError("a PostgresStore is bound to the event loop that opened it")
            return pool
        if self._closed:
            raise StoreUnavailable("the PostgreSQL store is closed")
        failures = self._failures
        async with self._lock:
            if self._pool is not None:
                return self._pool
            if self._failures != failures:
                # An attempt failed while this call waited for it: share its outcome
                # rather than queueing one more connect timeout per waiting request.
                raise StoreUnavailable(self._last_failure)
            if self._closed:
                raise StoreUnavailable("the PostgreSQL store is closed")
            kwargs: dict[str, Any] = {}
            if self._statement_cache_size is not None:
                kwargs["statement_cache_size"] = self._statement_cache_size
            try:
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    max_inactive_connection_lifetime=300.0,
                    reset=_keep_session,
                    server_settings={"application_name": "tessera"},
                    **kwargs,
                )
            except _CONNECT_FAILURES as exc:
                failure = self._cannot_connect(exc)
                self._last_failure = str(failure)
                self._failures += 1
                raise failure from None
            self._pool = pool
            self._loop = asyncio.get_running_loop()
            return pool

    async def _run(
        self,
        op: Callable[[_Conn], Awaitable[_T]],
        *,
        idempotent: bool = False,
        conflict: str | None = None,
    ) -> _T:
        """Run ``op`` on a pooled connection, translating driver errors into
        ``store.errors``. ``idempotent`` ops are retried once on a fresh connection
        when theirs turns out to be dead (e.g. after a PostgreSQL restart)."""
        for attempt in (1, 2):
            pool = await self._get_pool()
            try:
                async with pool.acquire(timeout=self._connect_timeout) as conn:
                    return await op(conn)
            except pgerr.IntegrityConstraintViolationError:
                # Not the driver's message: its detail quotes the conflicting key.
                raise Conflict(conflict or "a uniqueness constraint refused the write") from None
            except pgerr.DataError:
                # NUL in text, invalid Unicode (for which sqlite3 raises UnicodeEncodeError,
                # a ValueError too) or a number out of its column's range. Not the driver's
                # message: it quotes the value.
                raise ValueError("a value does not fit its PostgreSQL column") from None
            except _UNAVAILABLE as exc:
                if isinstance(exc, _RECONNECTABLE):
                    # Its siblings are probably dead too: replace them all on next use.
                    await pool.expire_connections()
                    if idempotent and attempt == 1:
                        continue
                raise self._unavailable(exc) from None
        raise AssertionError("unreachable")

    async def _fetchrow(
        self, sql: str, *args: object, idempotent: bool = False, conflict: str | None = None
    ) -> asyncpg.Record | None:
        async def op(conn: _Conn) -> asyncpg.Record | None:
            return await conn.fetchrow(sql, *args)

        return await self._run(op, idempotent=idempotent, conflict=conflict)

    async def _fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async def op(conn: _Conn) -> list[asyncpg.Record]:
            return await conn.fetch(sql, *args)

        return await self._run(op, idempotent=True)

    async def _execute(self, sql: str, *args: object, idempotent: bool = False) -> int:
        async def op(conn: _Conn) -> str:
            return await conn.execute(sql, *args)

        return _count(await self._run(op, idempotent=idempotent))

    # Lifecycle -----------------------------------------------------------------------
    async def migrate(self) -> int:
        async def op(conn: _Conn) -> None:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    MIGRATION_LOCK_KEY,
                    timeout=MIGRATION_TIMEOUT,
                )
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
                )
                applied = {v for (v,) in await conn.fetch("SELECT version FROM schema_migrations")}
                for migration in MIGRATIONS:
                    if migration.version in applied:
                        continue
                    for stmt in migration.render(self.dialect):
                        await conn.execute(stmt, timeout=MIGRATION_TIMEOUT)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        time.time(),
                    )

        try:
            await self._run(op, idempotent=True)
        except (pgerr.InsufficientPrivilegeError, pgerr.InvalidSchemaNameError) as exc:
            # The role may connect but not use the schema or its tables: a setup problem,
            # in PostgreSQL's words (they name the object, never a value).
            raise StoreUnavailable(f"cannot migrate PostgreSQL at {self._target} ({exc})") from None
        return await self.schema_version()

    async def schema_version(self) -> int:
        async def op(conn: _Conn) -> int:
            try:
                version = await conn.fetchval("SELECT MAX(version) FROM schema_migrations")
            except pgerr.UndefinedTableError:
                return 0
            return int(version or 0)

        return await self._run(op, idempotent=True)

    async def ready(self) -> bool:
        """True when the database answers and its schema is at least at ``HEAD`` (an
        instance of a newer release may have migrated further during a rolling deploy)."""
        try:
            return await self.schema_version() >= HEAD
        except (StoreUnavailable, pgerr.PostgresError):
            return False

    async def close(self) -> None:
        self._closed = True
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except _UNAVAILABLE:
            pool.terminate()

    # Metadata ------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        if not _storable(key):
            return None
        row = await self._fetchrow("SELECT value FROM meta WHERE key = $1", key, idempotent=True)
        return None if row is None else str(row[0])

    async def put_meta_if_absent(self, key: str, value: str) -> str:
        async def op(conn: _Conn) -> str:
            stored = await conn.fetchval(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING "
                "RETURNING value",
                key,
                value,
            )
            if stored is None:
                # Lost to an existing (or concurrently committed) value: read it.
                stored = await conn.fetchval("SELECT value FROM meta WHERE key = $1", key)
            return str(stored)

        return await self._run(op, idempotent=True)

    # Products and environments -------------------------------------------------------
    async def _product_by(self, conn: _Conn, where: str, arg: object) -> ProductRecord | None:
        row = await conn.fetchrow(f"{_PRODUCT_SELECT} WHERE p.{where} = $1", arg)
        return None if row is None else _product(row)

    @staticmethod
    def _env_args(envs: tuple[str, ...], now: float) -> tuple[list[str], list[float]]:
        return list(envs), [now + i * 1e-6 for i in range(len(envs))]

    async def insert_product(
        self, tag: str, name: str, envs: tuple[str, ...], now: float
    ) -> ProductRecord:
        async def op(conn: _Conn) -> ProductRecord:
            # One statement: the product and its environments commit together.
            await conn.fetchval(
                _INSERT_PRODUCT.format(on_conflict=""), tag, name, now, *self._env_args(envs, now)
            )
            product = await self._product_by(conn, "tag", tag)
            assert product is not None
            return product

        return await self._run(op, conflict=f"product {tag!r} exists")

    async def ensure_product(
        self, tag: str, name: str, envs: tuple[str, ...], now: float
    ) -> ProductRecord:
        existing = await self.get_product(tag)
        if existing is not None:
            return existing

        async def op(conn: _Conn) -> ProductRecord:
            await conn.fetchval(
                _INSERT_PRODUCT.format(on_conflict="ON CONFLICT (tag) DO NOTHING"),
                tag,
                name,
                now,
                *self._env_args(envs, now),
            )
            product = await self._product_by(conn, "tag", tag)
            assert product is not None
            return product

        return await self._run(op, idempotent=True, conflict=f"product {tag!r} exists")

    async def get_product(self, tag: str) -> ProductRecord | None:
        if not _storable(tag):
            return None
        row = await self._fetchrow(f"{_PRODUCT_SELECT} WHERE p.tag = $1", tag, idempotent=True)
        return None if row is None else _product(row)

    async def get_product_by_id(self, product_id: int) -> ProductRecord | None:
        row = await self._fetchrow(
            f"{_PRODUCT_SELECT} WHERE p.id = $1", product_id, idempotent=True
        )
        return None if row is None else _product(row)

    async def list_products(self) -> list[ProductRecord]:
        rows = await self._fetch(f'{_PRODUCT_SELECT} ORDER BY p.tag COLLATE "C"')
        return [_product(r) for r in rows]

    async def ensure_env(self, product_id: int, env: str, now: float) -> None:
        await self._execute(
            "INSERT INTO environments (product_id, env, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (product_id, env) DO NOTHING",
            product_id,
            env,
            now,
            idempotent=True,
        )

    # Session configs -----------------------------------------------------------------
    async def insert_config(
        self, product_id: int, values: ConfigValues, now: float
    ) -> SessionConfigRecord:
        row = await self._fetchrow(
            f"{_CONFIG_VALUES} RETURNING {CONFIG_COLUMNS}",
            product_id,
            *_config_args(values),
            now,
            conflict=f"session config {values.tag!r} exists",
        )
        assert row is not None
        return _config(row)

    async def ensure_config(
        self, product_id: int, values: ConfigValues, now: float
    ) -> SessionConfigRecord:
        existing = await self.get_config(product_id, values.tag)
        if existing is not None:
            return existing

        async def op(conn: _Conn) -> SessionConfigRecord:
            row = await conn.fetchrow(
                f"{_CONFIG_VALUES} ON CONFLICT (product_id, tag) DO NOTHING "
                f"RETURNING {CONFIG_COLUMNS}",
                product_id,
                *_config_args(values),
                now,
            )
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT {CONFIG_COLUMNS} FROM session_configs "
                    "WHERE product_id = $1 AND tag = $2",
                    product_id,
                    values.tag,
                )
            assert row is not None
            return _config(row)

        return await self._run(
            op, idempotent=True, conflict=f"session config {values.tag!r} exists"
        )

    async def get_config(self, product_id: int, tag: str) -> SessionConfigRecord | None:
        if not _storable(tag):
            return None
        row = await self._fetchrow(
            f"SELECT {CONFIG_COLUMNS} FROM session_configs WHERE product_id = $1 AND tag = $2",
            product_id,
            tag,
            idempotent=True,
        )
        return None if row is None else _config(row)

    async def list_configs(self, product_id: int) -> list[SessionConfigRecord]:
        rows = await self._fetch(
            f"SELECT {CONFIG_COLUMNS} FROM session_configs WHERE product_id = $1 "
            'ORDER BY tag COLLATE "C"',
            product_id,
        )
        return [_config(r) for r in rows]

    async def update_config(
        self, config_id: int, values: ConfigValues, now: float
    ) -> SessionConfigRecord | None:
        row = await self._fetchrow(
            "UPDATE session_configs SET tag = $1, name = $2, description = $3, selector = $4, "
            "expiry = $5, period = $6, refresh_expiry = $7, refresh_period = $8, "
            "idle_timeout = $9, refresh_grace_seconds = $10, json_schema = $11, "
            f"token_format = $12, updated_at = $13 WHERE id = $14 RETURNING {CONFIG_COLUMNS}",
            *_config_args(values),
            now,
            config_id,
            conflict=f"session config {values.tag!r} exists",
        )
        return None if row is None else _config(row)

    async def delete_config(self, config_id: int) -> bool:
        return await self._execute("DELETE FROM session_configs WHERE id = $1", config_id) > 0

    # Key rings -----------------------------------------------------------------------
    async def list_keys(self, product_id: int, env: str) -> list[KeyRecord]:
        rows = await self._fetch(
            f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE product_id = $1 AND env = $2 "
            "AND state != 'retired' ORDER BY created_at DESC",
            product_id,
            env,
        )
        return [_key(r) for r in rows]

    async def find_key(self, kid: str) -> KeyRecord | None:
        if not _storable(kid):
            return None
        row = await self._fetchrow(
            f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE kid = $1", kid, idempotent=True
        )
        return None if row is None else _key(row)

    async def insert_active_key(self, key: KeyRecord) -> KeyRecord:
        async def op(conn: _Conn) -> KeyRecord:
            # Arbitrated by the partial unique index signing_keys_one_active: of racing
            # instances exactly one inserts, the others read its key back.
            row = await conn.fetchrow(
                f"INSERT INTO signing_keys ({KEY_COLUMNS}) "
                "VALUES ($1, $2, $3, $4, 'active', $5, $6) "
                "ON CONFLICT (product_id, env) WHERE state = 'active' DO NOTHING "
                f"RETURNING {KEY_COLUMNS}",
                key.kid,
                key.product_id,
                key.env,
                key.alg,
                key.wrapped,
                key.created_at,
            )
            if row is None:
                row = await conn.fetchrow(
                    f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE product_id = $1 "
                    "AND env = $2 AND state = 'active'",
                    key.product_id,
                    key.env,
                )
            if row is None:
                raise Conflict("the ring's active key changed while inserting one")
            return _key(row)

        return await self._run(op, idempotent=True, conflict=f"key {key.kid!r} exists")

    # Sessions ------------------------------------------------------------------------
    async def insert_session(self, session: NewSession) -> None:
        s = session
        await self._execute(
            f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $8, $8, NULL, NULL, 0, $11, $12, NULL)",
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
            s.refresh_hash,
            s.refresh_salt,
        )

    async def get_session(self, session_id: str) -> SessionRecord | None:
        if not _storable(session_id):
            return None
        row = await self._fetchrow(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1", session_id, idempotent=True
        )
        return None if row is None else _session(row)

    async def rotate_refresh(
        self,
        session_id: str,
        generation: int,
        new_hash: bytes,
        expires_at: float,
        now: float,
    ) -> SessionRecord | None:
        if not _storable(session_id):
            return None
        # Never retried: a lost reply may hide a committed rotation.
        row = await self._fetchrow(
            "UPDATE sessions SET refresh_generation = refresh_generation + 1, "
            "refresh_hash = $1, rotated_at = $2, last_refresh_at = $2, last_seen_at = $2, "
            "expires_at = $3 WHERE id = $4 AND refresh_generation = $5 AND revoked_at IS NULL "
            f"RETURNING {SESSION_COLUMNS}",
            new_hash,
            now,
            expires_at,
            session_id,
            generation,
        )
        return None if row is None else _session(row)

    async def revoke_session(
        self, session_id: str, config_id: int, env: str, now: float, reason: str
    ) -> int:
        if not _storable(session_id, env):
            return 0
        return await self._execute(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 "
            "WHERE id = $3 AND config_id = $4 AND env = $5 AND revoked_at IS NULL",
            now,
            reason,
            session_id,
            config_id,
            env,
        )

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
        if not _storable(env, identifier):
            return 0
        if not _storable(except_session):
            except_session = None  # names no stored session, so excludes nothing
        return await self._execute(
            "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 "
            "WHERE config_id = $3 AND env = $4 AND identifier = $5 AND revoked_at IS NULL "
            "AND refresh_expires_at > $1 AND id IS DISTINCT FROM $6",
            now,
            reason,
            config_id,
            env,
            identifier,
            except_session,
        )

    async def touch_session(self, session_id: str, now: float, min_interval: float) -> None:
        if not _storable(session_id):
            return
        await self._execute(
            "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at <= $3",
            now,
            session_id,
            now - min_interval,
            idempotent=True,
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
        if not _storable(env, identifier):
            return []
        where = _LIVE
        args: list[object] = [config_id, env, now]
        if identifier is not None:
            args.append(identifier)
            where += f" AND identifier = ${len(args)}"
        if after is not None:
            if not _storable(after[1]):
                # No stored id holds NUL; bytewise, "x\0..." sorts right after "x".
                after = (after[0], after[1].split("\x00", 1)[0] + "\x01")
            args.extend(after)
            t, i = f"${len(args) - 1}", f"${len(args)}"
            # (started_at, id) < (t, i), with a bound the index on started_at can use.
            where += f' AND started_at <= {t} AND (started_at < {t} OR id COLLATE "C" < {i})'
        args.append(limit)
        rows = await self._fetch(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE {where} "
            f'ORDER BY started_at DESC, id COLLATE "C" DESC LIMIT ${len(args)}',
            *args,
        )
        return [_session(r) for r in rows]

    async def count_sessions(
        self, config_id: int, env: str, identifier: str | None, now: float
    ) -> int:
        if not _storable(env, identifier):
            return 0
        if identifier is None:
            row = await self._fetchrow(
                f"SELECT COUNT(*) FROM sessions WHERE {_LIVE}",
                config_id,
                env,
                now,
                idempotent=True,
            )
        else:
            row = await self._fetchrow(
                f"SELECT COUNT(*) FROM sessions WHERE {_LIVE} AND identifier = $4",
                config_id,
                env,
                now,
                identifier,
                idempotent=True,
            )
        assert row is not None
        return int(row[0])

    async def delete_expired_sessions(self, before: float, limit: int) -> int:
        # SKIP LOCKED: sweepers of several instances delete disjoint batches.
        return await self._execute(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
            "WHERE refresh_expires_at < $1 ORDER BY refresh_expires_at LIMIT $2 "
            "FOR UPDATE SKIP LOCKED)",
            before,
            limit,
        )

    # API keys ------------------------------------------------------------------------
    async def insert_api_key(self, key: ApiKeyRecord) -> None:
        await self._fetchrow(
            f"INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            key.id,
            key.name,
            key.key_hash,
            key.product_id,
            None if key.envs is None else json.dumps(list(key.envs)),
            int(key.is_admin),
            key.created_at,
            key.last_used_at,
            key.revoked_at,
            conflict="api key exists",
        )

    async def get_api_key_by_hash(self, key_hash: bytes) -> ApiKeyRecord | None:
        row = await self._fetchrow(
            f"{API_KEY_SELECT} WHERE k.key_hash = $1", key_hash, idempotent=True
        )
        return None if row is None else _api_key(row)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        if not _storable(key_id):
            return None
        row = await self._fetchrow(f"{API_KEY_SELECT} WHERE k.id = $1", key_id, idempotent=True)
        return None if row is None else _api_key(row)

    async def list_api_keys(self, product_id: int | None) -> list[ApiKeyRecord]:
        order = 'ORDER BY k.created_at, k.id COLLATE "C"'
        if product_id is None:
            rows = await self._fetch(f"{API_KEY_SELECT} {order}")
        else:
            rows = await self._fetch(
                f"{API_KEY_SELECT} WHERE k.product_id = $1 {order}", product_id
            )
        return [_api_key(r) for r in rows]

    async def revoke_api_key(self, key_id: str, now: float) -> bool:
        if not _storable(key_id):
            return False
        return (
            await self._execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                now,
                key_id,
            )
            > 0
        )

    async def touch_api_key(self, key_id: str, now: float, min_interval: float) -> None:
        if not _storable(key_id):
            return
        await self._execute(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 "
            "AND (last_used_at IS NULL OR last_used_at <= $3)",
            now,
            key_id,
            now - min_interval,
            idempotent=True,
        )

    async def count_admin_keys(self) -> int:
        row = await self._fetchrow(
            "SELECT COUNT(*) FROM api_keys WHERE is_admin = 1 AND revoked_at IS NULL",
            idempotent=True,
        )
        assert row is not None
        return int(row[0])
