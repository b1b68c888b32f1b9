"""The benchmark's floor: the least work each operation can do, behind bare Starlette
routes, to measure how close Tessera comes to it.

- ``POST /verify``: split the token at ``:``, decrypt the JWE (joserfc, the same key
  and registry as Tessera), read the session row by primary key, answer ``valid``,
  ``sessionId``, ``expiresAt`` and ``data`` from the claims.
- ``POST /create``: seal the details (AES-GCM, as Tessera stores them), insert the
  session row durably (SQLite: committed on the request's own connection with
  ``synchronous=FULL``, one fsync per request; PostgreSQL: an autocommitted insert,
  the server's ``synchronous_commit``), encrypt the JWE.
- ``POST /refresh``: read the row by primary key, check the refresh token's secret
  (derived and compared in constant time, as Tessera does), rotate it with Tessera's one
  conditional ``UPDATE ... RETURNING`` (durable as above), open the details and encrypt
  a new JWE.

No authentication, no product/config lookup (the bench's one product and config are
read once at start), no schema validation, grace window, rate limit, audit line or
GraphQL. The request bodies are the ``input`` objects the baseline takes; the answers
pass the load's success check. ``python -m bench.floor`` serves it with uvicorn (one
worker) on ``TESSERA_HOST``/``TESSERA_PORT``, with the same settings as Tessera."""

from __future__ import annotations

import hmac
import json
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from joserfc import jwe
from joserfc.jwk import OctKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench import fixtures
from service import logs, refresh, tokens
from service.catalog import access_seconds, refresh_seconds
from service.crypto import MasterKey
from service.details import DetailsCipher
from service.settings import Settings, decode_master_key
from service.tessera import Tessera
from store.dialects import POSTGRES, SQLITE
from store.records import NewSession
from store.rows import new_session_args, session
from store.statements import Statements

_REGISTRY = jwe.JWERegistry(algorithms=[tokens.ALG, tokens.ENC])


@dataclass(frozen=True, slots=True)
class Scope:
    """What the floor reads once at start instead of on every request."""

    product_id: int
    config_id: int
    kid: str
    key: OctKey
    refresh_key: bytes
    details: DetailsCipher
    access_seconds: int
    refresh_seconds: int


async def load_scope(settings: Settings) -> Scope:
    """The bench product's ids, its active key and the master key's subkeys."""
    tessera = await Tessera.start(settings, bootstrap_admin=False)
    try:
        config = await tessera.catalog.config(fixtures.PRODUCT, fixtures.TAG)
        minting = await tessera.keyrings.for_minting(config.product_id, fixtures.ENV)
        assert isinstance(minting.key, OctKey)  # the bench's config is ENCRYPTED
    finally:
        await tessera.close()
    assert settings.master_key is not None  # the bench runs in production mode
    master = MasterKey(decode_master_key(settings.master_key.get_secret_value()))
    return Scope(
        config.product_id,
        config.id,
        minting.kid,
        minting.key,
        master.derive(b"tessera refresh tokens v1"),
        DetailsCipher.for_master(master),
        access_seconds(config),
        refresh_seconds(config),
    )


class Database:
    """One SQLite connection or an asyncpg pool, running Tessera's own statements."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._sqlite: sqlite3.Connection | None = None
        self._pool: Any = None
        self.sql = Statements(POSTGRES if url.startswith("postgres") else SQLITE)

    async def open(self) -> None:
        if self._url.startswith("sqlite:///"):
            db = sqlite3.connect(self._url.removeprefix("sqlite:///"), isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000"):
                db.execute(f"PRAGMA {pragma}")
            self._sqlite = db
        else:
            import asyncpg

            # Tessera's default pool (store/postgres.py), without its URL parameters.
            self._pool = await asyncpg.create_pool(self._url.split("?")[0], min_size=1, max_size=10)

    async def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pool is not None:
            await self._pool.close()

    async def row(self, sql: str, *args: Any) -> Any:
        """One row; on SQLite a write is autocommitted, durably, before this returns."""
        if self._sqlite is not None:
            # fetchall: an autocommitted UPDATE ... RETURNING commits when its statement
            # has run to the end, not at its first row.
            found = self._sqlite.execute(sql, args).fetchall()
            return found[0] if found else None
        return await self._pool.fetchrow(sql, *args)

    async def execute(self, sql: str, *args: Any) -> None:
        if self._sqlite is not None:
            self._sqlite.execute(sql, args)
        else:
            await self._pool.execute(sql, *args)


# Any base URL names the same issuer to verifySession (the key is the proof of origin).
ISSUER_BASE = "http://bench.invalid"


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(timestamp))


def _token(scope: Scope, sid: str, user_id: str, details: Any, now: float, exp: int) -> str:
    claims = {
        "iss": tokens.issuer(ISSUER_BASE, fixtures.PRODUCT, fixtures.ENV),
        "aud": f"{fixtures.PRODUCT}:{fixtures.ENV}",
        "sub": user_id,
        "sid": sid,
        "tag": fixtures.TAG,
        "typ": tokens.TOKEN_TYPE,
        "iat": int(now),
        "exp": exp,
        "details": details,
    }
    return tokens.encode(fixtures.TAG, scope.kid, scope.key, claims)


def _tokens(token: str, refresh_token: str, sid: str, exp: float, end: float) -> dict[str, Any]:
    return {
        "token": token,
        "refreshToken": refresh_token,
        "sessionId": sid,
        "expiresAt": _iso(exp),
        "refreshExpiresAt": _iso(end),
    }


async def _verify(scope: Scope, db: Database, body: dict[str, Any]) -> dict[str, Any]:
    compact = str(body["token"]).partition(":")[2]
    plaintext = jwe.decrypt_compact(compact, scope.key, registry=_REGISTRY).plaintext
    claims = json.loads(plaintext or b"{}")
    row = await db.row(db.sql.GET_SESSION, claims["sid"])
    valid = row is not None and session(row).revoked_at is None and time.time() < claims["exp"]
    return {
        "valid": valid,
        "sessionId": claims["sid"],
        "expiresAt": _iso(claims["exp"]),
        "data": {"userId": claims["sub"], "details": claims["details"]},
    }


async def _create(scope: Scope, db: Database, body: dict[str, Any]) -> dict[str, Any]:
    data = body["data"]
    user_id, details = data["userId"], data.get("details") or {}
    now = time.time()
    end = float(int(now) + scope.refresh_seconds)
    exp = min(int(now) + scope.access_seconds, int(end))
    sid = secrets.token_urlsafe(16)
    salt = os.urandom(refresh.SALT_BYTES)
    refresh_token = refresh.derive(scope.refresh_key, sid, 0, salt)
    sealed = scope.details.seal(sid, json.dumps(details, separators=(",", ":")))
    session = NewSession(
        sid, scope.product_id, fixtures.ENV, scope.config_id, user_id, user_id, sealed,
        now, float(exp), end, refresh.secret_hash(refresh_token), salt,
    )  # fmt: skip
    await db.execute(db.sql.INSERT_SESSION, *new_session_args(session))
    token = _token(scope, sid, user_id, details, now, exp)
    return _tokens(token, str(refresh_token), sid, exp, end)


async def _refresh(scope: Scope, db: Database, body: dict[str, Any]) -> dict[str, Any]:
    presented = refresh.parse(str(body["refreshToken"]))
    if presented is None:
        return {"code": "REFRESH_TOKEN_INVALID"}
    row = await db.row(db.sql.GET_SESSION, presented.session_id)
    if row is None:
        return {"code": "REFRESH_TOKEN_INVALID"}
    stored = session(row)
    salt = stored.refresh_salt
    expected = refresh.derive(scope.refresh_key, presented.session_id, presented.generation, salt)
    if not hmac.compare_digest(expected.secret.encode(), presented.secret.encode()):
        return {"code": "REFRESH_TOKEN_INVALID"}
    now = time.time()
    end = stored.refresh_expires_at
    exp = min(int(now) + scope.access_seconds, int(end))
    successor = refresh.derive(
        scope.refresh_key, presented.session_id, presented.generation + 1, salt
    )
    rotated = await db.row(
        db.sql.ROTATE_REFRESH,
        refresh.secret_hash(successor), now, float(exp), presented.session_id,
        presented.generation,
    )  # fmt: skip
    if rotated is None:
        return {"code": "REFRESH_TOKEN_REUSED"}
    details = scope.details.open(presented.session_id, stored.details)
    token = _token(scope, presented.session_id, stored.user_id, details, now, exp)
    return _tokens(token, str(successor), presented.session_id, exp, end)


Handler = Callable[[Scope, Database, dict[str, Any]], Awaitable[dict[str, Any]]]


def _route(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        state = request.app.state
        return JSONResponse(await handler(state.scope, state.db, await request.json()))

    return endpoint


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.scope = await load_scope(settings)
        app.state.db = Database(settings.resolved_database_url)
        await app.state.db.open()
        try:
            yield
        finally:
            await app.state.db.close()

    return Starlette(
        routes=[
            Route("/create", _route(_create), methods=["POST"]),
            Route("/verify", _route(_verify), methods=["POST"]),
            Route("/refresh", _route(_refresh), methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main() -> int:
    """Serve the floor the way ``server.serve`` serves Tessera (one worker)."""
    settings = Settings()
    logs.configure(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
