"""``/graphql``: the endpoint that runs the schema."""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema import schema
from schema.context import Context
from schema.engine import REQUEST_ERRORS, http_refusal, response_payload
from schema.persisted import query_text
from service.errors import DocumentRefused, RequestErrorCode
from web.envelope import BadRequest, operation
from web.graphiql import PAGE_HEADERS, graphiql_html
from web.media import NOT_ACCEPTABLE, Media, negotiate, request_error_status
from web.refusals import bad_request, refusal

log = logging.getLogger("tessera")

# Subscriptions are not run over POST (Strawberry's view would).
_OPERATION_TYPES = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Apollo's clients send the query on these answers, which Apollo Server gives with a 200.
_STATUS = {
    RequestErrorCode.PERSISTED_QUERY_NOT_FOUND: 200,
    RequestErrorCode.PERSISTED_QUERY_NOT_SUPPORTED: 200,
    RequestErrorCode.BAD_REQUEST: 400,
    RequestErrorCode.TRUSTED_DOCUMENT_REQUIRED: 400,
    RequestErrorCode.SERVICE_UNAVAILABLE: 503,
}


class GraphQLEndpoint:
    """``POST /graphql``: one operation as JSON in, its result as JSON out. ``GET`` serves
    GraphiQL in development and nothing else.

    It stands in for Strawberry's HTTP view, with the same answers (schema/engine.py
    says what that replaces and gains): a request the view would refuse with a plain-text
    400 gets the same text here, as one ``BAD_REQUEST`` error in a JSON body."""

    def __init__(self, *, development: bool) -> None:
        self._ide_html = graphiql_html() if development else None

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            if self._ide_html is not None and "text/html" in request.headers.get("accept", ""):
                return HTMLResponse(self._ide_html, headers=PAGE_HEADERS)
            reason = "Send GraphQL operations as POST application/json"
            return refusal(request.scope, 405, reason, headers={"allow": "POST"})
        media = negotiate(", ".join(request.headers.getlist("accept")) or None)
        if media is None:
            return refusal(request.scope, 406, NOT_ACCEPTABLE)
        try:
            requested = operation(await request.body())
            context = Context(request.app.state.tessera, request)
            query = await query_text(
                context, requested.query, requested.document_id, requested.extensions
            )
            result = await schema.execute(
                query,
                requested.variables,
                context,
                operation_name=requested.operation_name,
                allowed_operation_types=_OPERATION_TYPES,
                operation_extensions=requested.extensions,
            )
        except BadRequest as exc:
            return bad_request(request.scope, str(exc), media=media)
        except DocumentRefused as exc:
            return bad_request(
                request.scope,
                exc.message,
                code=exc.code,
                status=_STATUS[exc.code],
                media=media,
            )
        except REQUEST_ERRORS as exc:
            # The answer may quote the operation name; the log line never does.
            reason, text = http_refusal(exc, "POST")
            return bad_request(request.scope, reason, text=text, media=media)
        return _response(result, media)


def _response(result: ExecutionResult, media: Media) -> Response:
    """The result in ``media``, with the status that goes with it there
    (web/media.py)."""
    payload = response_payload(result)
    status = 200
    if media is Media.GRAPHQL_RESPONSE:
        refused = request_error_status(result.data, result.errors)
        if refused is not None:
            status = refused
            del payload["data"]  # nothing was executed
    return Response(_response_body(payload), status, media_type=media.content_type)


def _response_body(payload: Any) -> str:
    """The payload as JSON, which it always is: a non-finite number (only a row stored
    before the edge refused them can hold one) is answered as null rather than as the
    ``NaN`` no JSON parser reads, so one such row cannot break a whole listing."""
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
