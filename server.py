"""The HTTP application: Starlette routes around the Strawberry GraphQL view.

``create_app(settings)`` builds the app; the module-level ``app`` serves the settings
from the environment; ``python server.py`` runs it with uvicorn."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLRequestData, process_result
from strawberry.http.ides import get_graphql_ide_html
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema import audit, schema
from schema.context import Context, client_ip
from schema.persisted import query_text
from service import logs
from service.errors import DocumentRefused, FieldError, RequestErrorCode, StartupError
from service.settings import Settings, load_settings
from service.tessera import Tessera
from service.validation import Kind, json_problems, string_problem

OPERATIONS = Path(__file__).resolve().parent / "graphql" / "operations"
log = logging.getLogger("tessera")


def graphiql_html() -> str:
    """Strawberry's GraphiQL page with the seed's createSession example preloaded and a
    header template for the admin key."""
    html = get_graphql_ide_html("graphiql")
    document = (OPERATIONS / "CreateSession.graphql").read_text()
    start = html.index("const EXAMPLE_QUERY = `")
    end = html.index("`;", start) + 2
    html = html[:start] + f"const EXAMPLE_QUERY = {json.dumps(document)};" + html[end:]
    headers = json.dumps(json.dumps({"Authorization": "Bearer <paste your admin key>"}))
    return html.replace(
        "React.useState(parameters.headers)",
        f"React.useState(parameters.headers || {headers})",
    )


def refusal(
    scope: Scope,
    status: int,
    reason: str,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A plain-text refusal of a request no operation ran for, with its audit line.
    ``reason`` is fixed text (the answer, unless ``text`` says otherwise)."""
    _audit_refused(scope, status, reason)
    return PlainTextResponse(text or reason, status, headers)


def bad_request(
    scope: Scope,
    reason: str,
    *,
    text: str | None = None,
    code: RequestErrorCode = RequestErrorCode.BAD_REQUEST,
    status: int = 400,
) -> Response:
    """A 400 for a POST to /graphql that no operation ran for, as a GraphQL response:
    one error, coded ``BAD_REQUEST`` (or ``code``), which GraphQL clients and gateways
    read as such. With its audit line, as ``refusal``."""
    _audit_refused(scope, status, reason)
    error = {"message": text or reason, "extensions": {"code": code}}
    return JSONResponse({"errors": [error]}, status)


def _audit_refused(scope: Scope, status: int, reason: str) -> None:
    settings: Settings = scope["app"].state.tessera.settings
    client = client_ip(Request(scope), settings.trusted_proxies)
    audit.refused(client, scope["method"], scope["path"], status, reason)


class BadRequest(Exception):
    """The request is not one GraphQL operation as JSON; answered with a 400 (`bad_request`)."""


def _operation(body: bytes) -> tuple[GraphQLRequestData, Any]:
    """The operation a POST body carries, shaped as GraphQL over HTTP says, and its
    ``documentId`` (schema/persisted.py reads that and ``extensions.persistedQuery``)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise BadRequest("Unable to parse request body as JSON") from None
    if isinstance(data, list):
        raise BadRequest("Batched operations are not supported; send one per request")
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object")
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    document_id = data.get("documentId")
    named = document_id is not None or (
        isinstance(extensions, dict) and "persistedQuery" in extensions
    )
    if not isinstance(query, str) and not (query is None and named):
        raise BadRequest("The request's `query` must be a string")
    if not isinstance(variables, dict | None):
        raise BadRequest("The request's `variables` must be an object or null")
    if not isinstance(name, str | None):
        raise BadRequest("The request's `operationName` must be a string or null")
    if not isinstance(extensions, dict | None):
        raise BadRequest("The request's `extensions` must be an object or null")
    problems = _envelope_problems(query, name, variables, extensions)
    if problems:
        # Fixed text and the path only: the value may be anything, a secret included.
        raise BadRequest(f"The request is refused: {problems[0].message}")
    return GraphQLRequestData(query, variables, name, extensions), document_id


def _envelope_problems(
    query: str | None, name: str | None, variables: dict[str, Any] | None, extensions: Any
) -> list[FieldError]:
    """What the edge rule refuses in the request's own fields. The variables' values are
    the fields' arguments, checked as such (schema/edge.py) so that errors name them."""
    problems = json_problems(query, "query")
    if name is not None and (problem := string_problem(name, Kind.NAME)) is not None:
        problems.append(FieldError("operationName", f"operationName {problem}"))
    for variable in variables or ():
        if (problem := string_problem(variable, Kind.NAME)) is not None:
            problems.append(FieldError("variables", f"a name in variables {problem}"))
    return problems + json_problems(extensions, "extensions")


def _response_body(result: ExecutionResult) -> str:
    """The result as JSON, which it always is: a non-finite number (only a row stored
    before the edge refused them can hold one) is answered as null rather than as the
    ``NaN`` no JSON parser reads, so one such row cannot break a whole listing."""
    payload = process_result(result)
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except ValueError:
        log.warning("a stored value held a non-finite number; it is answered as null")
        return json.dumps(_finite(payload), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite number in it replaced by ``None``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class GraphQLEndpoint:
    """``POST /graphql``: one operation as JSON in, its result as JSON out. ``GET`` serves
    GraphiQL in development and nothing else.

    Strawberry's HTTP view also serves what Tessera does not (subscriptions, multipart
    uploads, batches, incremental delivery, queries over GET), and that generality was
    7 % of the instructions of a verifySession request (callgrind, 300 requests); this
    endpoint runs the schema directly, with the same 400s for malformed requests."""

    def __init__(self, *, development: bool) -> None:
        self._ide_html = graphiql_html() if development else None

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            if self._ide_html is not None and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(self._ide_html)
            reason = "Send GraphQL operations as POST application/json"
            return refusal(request.scope, 405, reason, headers={"allow": "POST"})
        try:
            operation, document_id = _operation(await request.body())
            context = Context(request.app.state.tessera, request)
            query = await query_text(context, operation.query, document_id, operation.extensions)
            result = await schema.execute(
                query,
                operation.variables,
                context,
                operation_name=operation.operation_name,
                allowed_operation_types=_OPERATION_TYPES,
                operation_extensions=operation.extensions,
            )
        except BadRequest as exc:
            return bad_request(request.scope, str(exc))
        except DocumentRefused as exc:
            return bad_request(request.scope, exc.message, code=exc.code, status=_STATUS[exc.code])
        except MissingQueryError:
            return bad_request(request.scope, "No GraphQL query found in the request")
        except CannotGetOperationTypeError as exc:
            # Unknown, or several and none named (schema/documents.py). The answer may
            # quote the operation name; the log line never does.
            text = exc.as_http_error_reason()
            return bad_request(request.scope, "Unknown or ambiguous operation", text=text)
        except InvalidOperationTypeError as exc:
            return bad_request(request.scope, exc.as_http_error_reason("POST"))
        return Response(_response_body(result), media_type="application/json")


_OPERATION_TYPES = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Apollo's clients send the query on these answers, which Apollo Server gives with a 200.
_STATUS = {
    RequestErrorCode.PERSISTED_QUERY_NOT_FOUND: 200,
    RequestErrorCode.PERSISTED_QUERY_NOT_SUPPORTED: 200,
    RequestErrorCode.BAD_REQUEST: 400,
    RequestErrorCode.TRUSTED_DOCUMENT_REQUIRED: 400,
    RequestErrorCode.SERVICE_UNAVAILABLE: 503,
}


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before anything parses them:
    by ``Content-Length`` up front, and by counting for chunked bodies."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.limit):
                await self._refuse(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = refusal(scope, 413, "request body too large")
        await response(scope, receive, send)


class JsonOnly:
    """POST bodies must be exactly ``application/json``. Strawberry would accept any
    content type merely containing it (``text/plain, application/json``); anything a
    browser can send cross-site without a CORS preflight must never run an operation."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            content_type = next(
                (v for k, v in scope["headers"] if k == b"content-type"), b""
            ).decode("latin-1")
            if content_type.split(";")[0].strip().lower() != "application/json":
                response = refusal(scope, 415, "POST bodies must be application/json")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _TooLarge(Exception):
    pass


async def healthz(request: Request) -> Response:
    """The process is alive (for a load balancer's liveness check)."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers and its migrations are at head (readiness check)."""
    if await request.app.state.tessera.store.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready"}, status_code=503)


def create_app(settings: Settings, *, tessera: Tessera | None = None) -> Starlette:
    """The ASGI app. Pass a started ``tessera`` to share one (tests); otherwise the app
    starts its own on lifespan startup and closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if tessera is not None:
            app.state.tessera = tessera
            yield
            return
        app.state.tessera = await Tessera.start(settings)
        # The schema, the caches and the modules are alive until exit: moving them out
        # of the collector's generations stops every full collection from re-walking
        # them (measured: p99 under load down by about a third, bench/RESULTS.md).
        gc.collect()
        gc.freeze()
        sweeper = asyncio.create_task(
            app.state.tessera.sweeper.run(settings.sweep_interval_seconds)
        )
        try:
            yield
        finally:
            sweeper.cancel()
            await app.state.tessera.close()

    cors = settings.cors_origins
    if cors is None:
        cors = [] if settings.production else ["*"]
    middleware = [Middleware(BodyLimit, limit=settings.max_body_bytes), Middleware(JsonOnly)]
    if cors:
        # Without an allowed origin there is nothing to add to any response, and
        # Starlette's CORS middleware would still wrap every one.
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors,
                allow_methods=["GET", "POST"],
                allow_headers=settings.cors_headers,
                max_age=600,
            )
        )
    app = Starlette(
        middleware=middleware,
        routes=[
            Route(
                "/graphql",
                GraphQLEndpoint(development=not settings.production).handle,
                methods=["GET", "POST"],
            ),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        lifespan=lifespan,
    )
    if tessera is not None:
        app.state.tessera = tessera
    return app


def serve(settings: Settings) -> int:
    """Check that the service can start (one clear line if not), then serve it."""
    logs.configure(settings.log_level)
    try:
        asyncio.run(_preflight(settings))
    except StartupError as exc:
        print(f"tessera: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        server_header=False,
    )
    return 0


async def _preflight(settings: Settings) -> None:
    tessera = await Tessera.start(settings)
    await tessera.close()


app = create_app(load_settings())


if __name__ == "__main__":
    raise SystemExit(serve(load_settings()))
