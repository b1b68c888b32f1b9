"""The benchmark's baseline: the same service calls as the GraphQL resolvers, behind bare
Starlette routes.

``POST /create``, ``/verify`` and ``/refresh`` take exactly the ``input`` object of the
``createSession``, ``verifySession`` and ``refreshSession`` operations as their JSON body
and answer with the fields the documents in ``graphql/operations/`` select (camelCase,
RFC 3339 UTC datetimes with milliseconds). Each request authenticates its bearer with
``tessera.access.authenticate`` (as Tessera's permission classes do) and then makes the
one service call the resolver makes: ``tessera.sessions.create``, ``.verify`` or
``.refresh`` on a ``Tessera`` built by ``Tessera.start`` from the same settings. Expected
service errors are data (``{"code", "message"}``), as in GraphQL.

What is deliberately absent: GraphQL parsing, validation and execution, rate limiting,
the audit log line. ``python -m bench.baseline`` serves it with uvicorn (one worker) on
``TESSERA_HOST``/``TESSERA_PORT``, configured like ``tessera serve``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from service import logs
from service.errors import AccessError, TesseraError
from service.sessions import IssuedTokens, Verification
from service.settings import Settings
from service.tessera import Tessera

Handler = Callable[[Tessera, dict[str, Any]], Awaitable[dict[str, Any]]]


class BadRequest(Exception):
    pass


def _iso(timestamp: float) -> str:
    # The DateTime scalar's format (schema/scalars.py), without importing the schema.
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def _tokens(issued: IssuedTokens) -> dict[str, Any]:
    return {
        "__typename": "SessionTokens",
        "token": issued.token,
        "refreshToken": issued.refresh_token,
        "sessionId": issued.session_id,
        "expiresAt": _iso(issued.expires_at),
        "refreshExpiresAt": _iso(issued.refresh_expires_at),
    }


def _verification(v: Verification) -> dict[str, Any]:
    if not v.valid or v.session is None or v.expires_at is None:
        return {
            "valid": False,
            "reason": v.reason,
            "sessionId": None,
            "expiresAt": None,
            "data": None,
        }
    s = v.session
    data = {"userId": s.user_id, "details": v.details}
    return {
        "valid": True,
        "reason": None,
        "sessionId": s.id,
        "expiresAt": _iso(v.expires_at),
        "data": data,
    }


async def _create(tessera: Tessera, body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise BadRequest("data must be an object")
    issued = await tessera.sessions.create(
        _str(body, "product"),
        _str(body, "env"),
        _str(body, "tag"),
        _str(data, "userId"),
        data.get("details"),
    )
    return _tokens(issued)


async def _verify(tessera: Tessera, body: dict[str, Any]) -> dict[str, Any]:
    verification = await tessera.sessions.verify(
        _str(body, "product"), _str(body, "env"), _str(body, "tag"), _str(body, "token")
    )
    return _verification(verification)


async def _refresh(tessera: Tessera, body: dict[str, Any]) -> dict[str, Any]:
    issued = await tessera.sessions.refresh(
        _str(body, "product"), _str(body, "env"), _str(body, "tag"), _str(body, "refreshToken")
    )
    return _tokens(issued)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def _route(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        tessera: Tessera = request.app.state.tessera
        try:
            await tessera.access.authenticate(_bearer(request))
            body = await request.json()
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            return JSONResponse(await handler(tessera, body))
        except AccessError as exc:
            return JSONResponse({"code": exc.code, "message": exc.message}, status_code=401)
        except TesseraError as exc:
            return JSONResponse({"code": exc.code, "message": exc.message})
        except (BadRequest, ValueError) as exc:
            return JSONResponse({"code": "BAD_REQUEST", "message": str(exc)}, status_code=400)

    return endpoint


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.tessera = await Tessera.start(settings)
        try:
            yield
        finally:
            await app.state.tessera.close()

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
    """Serve the baseline the way ``server.serve`` serves Tessera."""
    settings = Settings()
    logs.configure(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        server_header=False,
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
