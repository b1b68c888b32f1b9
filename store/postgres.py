"""PostgreSQL through a pooled ``asyncpg``: for several Tessera instances on one database.

The statements and the logic are ``SqlStore``'s, shared with the SQLite adapter; what
this module adds is how they are made safe across processes:

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
``statement_cache_size`` (asyncpg's default; 0 behind a transaction-mode PgBouncer),
``listen`` (``true``; ``false`` where LISTEN cannot work, e.g. behind a transaction-mode
PgBouncer).

Changes to what instances cache are announced to the other instances with ``NOTIFY``
in the change's transaction (so on commit, and never for a change rolled back); a
subscribed store LISTENs for them on one connection of its own, outside the pool,
reconnecting whenever it is lost."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg
import asyncpg.exceptions as pgerr

from store import rows as records
from store.columns import NEW_EVENT_FIELDS
from store.dialects import POSTGRES
from store.errors import CONFLICT, Conflict, StoreUnavailable
from store.migrations import steps
from store.records import EXPIRED_EVENT, SYSTEM_ACTOR, NewEvent
from store.rows import Args, Row
from store.sqlstore import CHANGE_VERSION_KEY, SqlStore, env_times
from store.statements import Statements

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = PoolConnectionProxy[asyncpg.Record]
_T = TypeVar("_T")
log = logging.getLogger("tessera.store")

DEFAULT_MIN_SIZE = 1
DEFAULT_MAX_SIZE = 10
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_COMMAND_TIMEOUT = 5.0
# Migrations may wait for another instance's migration and may rewrite big tables.
MIGRATION_TIMEOUT = 300.0
CLOSE_TIMEOUT = 10.0
# pg_advisory_xact_lock key for migrations: b"tessera\x01" as a signed 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"tessera\x01", "big", signed=True)
# Where changes are announced; the payload is the change version they made.
CHANGES_CHANNEL = "tessera_changes"
# The listening connection says nothing for long stretches: ask it something this often,
# so a connection that died silently is found and replaced.
LISTEN_PING_SECONDS = 15.0
# Reconnecting a lost listener: the first wait, doubled per failure up to the last.
LISTEN_RETRY_SECONDS = (0.5, 30.0)

# One statement: a product and its environments commit together.
_INSERT_PRODUCT = (
    "WITH p AS (INSERT INTO products (tag, name, created_at) VALUES ($1, $2, $3) "
    "{on_conflict} RETURNING id), "
    "e AS (INSERT INTO environments (product_id, env, created_at) "
    "SELECT p.id, v.env, v.created_at FROM p, "
    "unnest($4::text[], $5::double precision[]) AS v(env, created_at)) "
    "SELECT id FROM p"
)
_INSERT_PRODUCTS = {
    False: _INSERT_PRODUCT.format(on_conflict=""),
    True: _INSERT_PRODUCT.format(on_conflict="ON CONFLICT (tag) DO NOTHING"),
}

# An event recorded with a change is inserted by the change's own statement, from its
# RETURNING rows (a data-modifying CTE): no extra round trip, one implicit transaction.
_PARAMETER = re.compile(r"\$(\d+)")
_EVENT_TYPES = {"at": "double precision"}
_PER_ROW = {"session_id": "c.id", "identifier": "c.identifier"}
_PER_ROW_FROM_W0 = {"session_id": "w0.id", "identifier": "w0.identifier"}


def _event_fields(per_row: bool) -> tuple[int, ...]:
    """Which of an event's fields are parameters (by index): with ``per_row`` the
    session's id and identifier come from the change's rows instead."""
    return tuple(i for i, name in enumerate(NEW_EVENT_FIELDS) if not (per_row and name in _PER_ROW))


def _logged(sql: str, count: int, per_row: bool) -> str:
    """``sql`` (a statement with ``RETURNING``) inserting ``count`` events per row it
    returns, their values (``_event_fields``) as parameters after its own; it returns
    ``sql``'s rows."""
    n = max((int(n) for n in _PARAMETER.findall(sql)), default=0)
    bound = _event_fields(per_row)
    selects = []
    for _ in range(count):
        values = []
        for j, name in enumerate(NEW_EVENT_FIELDS):
            if j in bound:
                n += 1
                values.append(f"${n}::{_EVENT_TYPES.get(name, 'text')}")
            else:
                values.append(_PER_ROW[name])
        selects.append(f"SELECT {', '.join(values)} FROM c")
    columns = ", ".join(NEW_EVENT_FIELDS)
    return (
        f"WITH c AS ({sql}), e AS (INSERT INTO events ({columns}) "
        f"{' UNION ALL '.join(selects)}) SELECT * FROM c"
    )


# A swept session's event names its product and config, joined in the same statement.
_DELETE_EXPIRED_LOGGED = (
    "WITH d AS ({delete}), e AS (INSERT INTO events "
    "(type, at, actor, product, env, tag, session_id, identifier) "
    f"SELECT '{EXPIRED_EVENT}', $3, '{SYSTEM_ACTOR}', p.tag, d.env, c.tag, d.id, d.identifier "
    "FROM d JOIN products p ON p.id = d.product_id "
    "JOIN session_configs c ON c.id = d.config_id) SELECT count(*) FROM d"
)

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


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``UPDATE 1`` or ``INSERT 0 3``."""
    return int(status.rsplit(" ", 1)[-1])


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


def _flag_param(params: dict[str, str], name: str, default: bool) -> bool:
    raw = params.pop(name, None)
    if raw is None:
        return default
    if raw.lower() not in ("true", "false"):
        raise ValueError(f"{name} in the database URL must be true or false")
    return raw.lower() == "true"


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


# Many rows in one statement: asyncpg binds arrays, which SQLite cannot.
_REPLACE_SESSION_DETAILS = (
    "UPDATE sessions s SET details = c.new "
    "FROM unnest($1::text[], $2::text[], $3::text[]) AS c(id, old, new) "
    "WHERE s.id = c.id AND s.details = c.old"
)


def _event_parameter(k: int, name: str) -> str:
    return f"event{k}_{name}"


@cache
def _together(names: tuple[str, ...], fetch: bool, events: int = 0) -> tuple[str, tuple[str, ...]]:
    """The statements ``names`` as one (data-modifying CTEs: one round trip, and
    atomic), with its parameter names in order. With ``fetch`` the others run only if
    the first returned a row (each ends in a ``WHERE`` clause), and it gives the first's
    rows. Every part sees the database as it was before the statement, so a later one
    never depends on an earlier one's changes. With ``events``, that many events are
    inserted per row the first returns (its ``id`` and ``identifier`` are theirs), their
    other fields parameters named by ``_event_parameter``."""
    neutral = vars(Statements)
    parts = [f"w0 AS ({neutral[names[0]]})"]
    condition = " AND EXISTS (SELECT 1 FROM w0)" if fetch else ""
    parts += [f"w{i} AS ({neutral[name]}{condition})" for i, name in enumerate(names) if i]
    if events:
        selects = []
        for k in range(events):
            fields = [
                _PER_ROW_FROM_W0[name]
                if name in _PER_ROW_FROM_W0
                else f"CAST(:{_event_parameter(k, name)} AS "
                f"{'{float}' if name == 'at' else 'TEXT'})"
                for name in NEW_EVENT_FIELDS
            ]
            selects.append(f"SELECT {', '.join(fields)} FROM w0")
        parts.append(
            f"e AS (INSERT INTO events ({{new_event_fields}}) {' UNION ALL '.join(selects)})"
        )
    text = f"WITH {', '.join(parts)} " + ("SELECT * FROM w0" if fetch else "SELECT NULL")
    return POSTGRES.render(text), POSTGRES.parameters(text)


class PostgresStore(SqlStore):
    """``Store`` on a PostgreSQL database through an asyncpg connection pool."""

    sql = Statements(POSTGRES)
    probe_failures = (StoreUnavailable, pgerr.PostgresError)

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
        self._listen = _flag_param(params, "listen", True)
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

    def pool_usage(self) -> tuple[int, int, int] | None:
        """(open, in use, max) connections of the pool; ``None`` before it exists."""
        pool = self._pool
        if pool is None:
            return None
        size = pool.get_size()
        return size, size - pool.get_idle_size(), pool.get_max_size()

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
                raise Conflict(conflict or CONFLICT) from None
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

    # Primitives ----------------------------------------------------------------------
    async def _row(self, sql: str, args: Args = ()) -> Row | None:
        async def op(conn: _Conn) -> asyncpg.Record | None:
            return await conn.fetchrow(sql, *args)

        return await self._run(op, idempotent=True)

    async def _rows(self, sql: str, args: Args = ()) -> list[Row]:
        async def op(conn: _Conn) -> list[asyncpg.Record]:
            return await conn.fetch(sql, *args)

        return list(await self._run(op, idempotent=True))

    async def _write(
        self, sql: str, args: Args, *, idempotent: bool = False, conflict: str = CONFLICT
    ) -> int:
        async def op(conn: _Conn) -> str:
            return await conn.execute(sql, *args)

        return _count(await self._run(op, idempotent=idempotent, conflict=conflict))

    async def _write_row(
        self, sql: str, args: Args, *, idempotent: bool = False, conflict: str = CONFLICT
    ) -> Row | None:
        async def op(conn: _Conn) -> asyncpg.Record | None:
            return await conn.fetchrow(sql, *args)

        return await self._run(op, idempotent=idempotent, conflict=conflict)

    async def _write_many(self, sql: str, rows: list[Args], *, idempotent: bool = False) -> None:
        async def op(conn: _Conn) -> None:
            async with conn.transaction():
                await conn.executemany(sql, rows)

        await self._run(op, idempotent=idempotent)

    async def _write_together(
        self,
        names: tuple[str, ...],
        values: Mapping[str, object],
        *,
        fetch: bool,
        events: Sequence[NewEvent] = (),
    ) -> list[Row]:
        sql, parameters = _together(names, fetch, len(events))
        if events:
            values = {
                **values,
                **{
                    _event_parameter(k, name): value
                    for k, e in enumerate(events)
                    for name, value in zip(NEW_EVENT_FIELDS, records.new_event_args(e), strict=True)
                },
            }
        args = tuple(values[p] for p in parameters)

        # Never replayed: a lost reply may hide a committed write.
        async def op(conn: _Conn) -> list[asyncpg.Record]:
            return await conn.fetch(sql, *args)

        found: list[Row] = list(await self._run(op))
        return found if fetch else []

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
        times = [t for _, t in env_times(envs, now)]
        await self._write_change_row(
            _INSERT_PRODUCTS[if_absent],
            (tag, name, now, list(envs), times),
            idempotent=if_absent,
            event=event,
        )

    _logged_statements: ClassVar[dict[tuple[str, int, bool], str]] = {}

    async def _write_logged(
        self,
        sql: str,
        args: Args,
        events: Sequence[NewEvent],
        *,
        per_row: bool,
        conflict: str = CONFLICT,
    ) -> list[Row]:
        key = (sql, len(events), per_row)
        logged = self._logged_statements.get(key)
        if logged is None:
            logged = self._logged_statements[key] = _logged(sql, len(events), per_row)
        bound = _event_fields(per_row)
        values = [v for e in events for i, v in enumerate(records.new_event_args(e)) if i in bound]

        async def op(conn: _Conn) -> list[asyncpg.Record]:
            return await conn.fetch(logged, *args, *values)

        return list(await self._run(op, conflict=conflict))

    async def _delete_expired(self, before: float, limit: int, at: float | None) -> int:
        if at is None:
            return await self._write(self.sql.DELETE_EXPIRED_SESSIONS, (before, limit))
        sql = _DELETE_EXPIRED_LOGGED.format(delete=self.sql.DELETE_EXPIRED_SESSIONS_RETURNING)

        async def op(conn: _Conn) -> int:
            return int(await conn.fetchval(sql, before, limit, at))

        return await self._run(op)

    def _storable(self, *texts: str | None) -> bool:
        """PostgreSQL text cannot hold NUL, so no row can match a value containing one."""
        return not any(t is not None and "\x00" in t for t in texts)

    def _after_id(self, after_id: str) -> str:
        # No stored id holds NUL; bytewise, "x\0..." sorts right after "x".
        return after_id if self._storable(after_id) else after_id.split("\x00", 1)[0] + "\x01"

    async def replace_session_details(self, changes: list[tuple[str, str, str]]) -> int:
        # One conditional statement for the batch, so re-running it after a lost
        # connection is safe.
        return await self._write(
            _REPLACE_SESSION_DETAILS,
            ([c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]),
            idempotent=True,
        )

    # Changes to what instances cache ---------------------------------------------------
    # The bump and its notification, delivered to every listener when the change commits.
    _bump = (
        f"WITH v AS ({sql.BUMP_CHANGE_VERSION}) "
        f"SELECT v.value, pg_notify('{CHANGES_CHANNEL}', v.value) FROM v"
    )
    _listener: asyncio.Task[None] | None = None

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
        async def op(conn: _Conn) -> tuple[Any, int | None]:
            async with conn.transaction():
                if fetch:
                    outcome: Any = await conn.fetch(sql, *args)
                    changed = bool(outcome)
                else:
                    outcome = _count(await conn.execute(sql, *args))
                    changed = outcome > 0
                if not changed:
                    return outcome, None
                if event is not None:
                    await conn.execute(self.sql.INSERT_EVENT, *records.new_event_args(event))
                return outcome, int(await conn.fetchval(self._bump, CHANGE_VERSION_KEY))

        return await self._run(op, idempotent=idempotent, conflict=conflict)

    async def _change_all(
        self, statements: list[tuple[str, Args]], *, conflict: str
    ) -> tuple[list[int], int | None]:
        async def op(conn: _Conn) -> tuple[list[int], int | None]:
            async with conn.transaction():
                counts = [_count(await conn.execute(sql, *args)) for sql, args in statements]
                if not any(counts):
                    return counts, None
                return counts, int(await conn.fetchval(self._bump, CHANGE_VERSION_KEY))

        return await self._run(op, conflict=conflict)

    async def subscribe(self, on_change: Callable[[int | None], None]) -> None:
        await super().subscribe(on_change)
        if self._listen and self._listener is None and not self._closed:
            self._listener = asyncio.get_running_loop().create_task(self._listen_for_changes())

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        try:
            version: int | None = int(str(payload))
        except ValueError:
            version = None
        self._announce(version)

    async def _listen_for_changes(self) -> None:
        """LISTEN on a connection of its own until closed, replacing it when it is lost:
        at once the first time, then after waits that double up to a limit."""
        first, last = LISTEN_RETRY_SECONDS
        # warned: a warning said listening stopped, and none yet that it resumed.
        wait, warned = 0.0, False
        while True:
            await asyncio.sleep(wait)
            try:
                await self._listen_until_lost(recovering=warned)
            except Exception as exc:  # whatever it was, listening must resume
                if not warned:
                    # Only the exception's class, as for every error of this store.
                    log.warning(
                        "not listening for other instances' changes (%s); retrying",
                        self._unavailable(exc),
                    )
                warned, wait = True, min(max(wait * 2, first), last)
            else:
                log.warning("lost the connection listening for other instances' changes")
                warned, wait = True, first

    async def _listen_until_lost(self, *, recovering: bool) -> None:
        """Listen on a new connection; return once it is lost, raise if it fails."""
        kwargs: dict[str, Any] = {}
        if self._statement_cache_size is not None:
            kwargs["statement_cache_size"] = self._statement_cache_size
        conn = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout,
            command_timeout=self._command_timeout,
            server_settings={"application_name": "tessera-listener"},
            **kwargs,
        )
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(CHANGES_CHANNEL, self._notified)
            if recovering:
                log.warning("listening for other instances' changes again")
            # Whatever was announced before this connection listened went unheard.
            self._announce(None)
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), LISTEN_PING_SECONDS)
                except TimeoutError:
                    await conn.execute("SELECT 1", timeout=self._connect_timeout)
        finally:
            conn.terminate()

    async def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.wait({listener})

    # Lifecycle -----------------------------------------------------------------------
    async def migrate(self) -> int:
        sql = self.sql

        async def op(conn: _Conn) -> None:
            async with conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    MIGRATION_LOCK_KEY,
                    timeout=MIGRATION_TIMEOUT,
                )
                await conn.execute(sql.CREATE_SCHEMA_MIGRATIONS)
                applied = {v for (v,) in await conn.fetch(sql.APPLIED_VERSIONS)}
                for statement, args in steps(sql, applied, time.time()):
                    await conn.execute(statement, *args, timeout=MIGRATION_TIMEOUT)

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
                version = await conn.fetchval(self.sql.SCHEMA_VERSION)
            except pgerr.UndefinedTableError:
                return 0
            return int(version or 0)

        return await self._run(op, idempotent=True)

    async def close(self) -> None:
        self._closed = True
        await self._stop_listening()
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT)
        except _UNAVAILABLE:
            pool.terminate()
