"""Answers to requests no operation ran for, each with its audit line."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Scope

from schema import audit
from schema.context import client_ip
from service.errors import RequestErrorCode
from service.settings import Settings
from web.media import Media


def refusal(
    scope: Scope,
    status: int,
    reason: str,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    response: Response | None = None,
) -> Response:
    """A plain-text refusal of a request no operation ran for, with its audit line.
    ``reason`` is fixed text (the answer, unless ``text`` says otherwise, or ``response``
    is the answer in another form)."""
    _audit_refused(scope, status, reason)
    return response or PlainTextResponse(text or reason, status, headers)


def bad_request(
    scope: Scope,
    reason: str,
    *,
    text: str | None = None,
    code: RequestErrorCode = RequestErrorCode.BAD_REQUEST,
    status: int = 400,
    media: Media = Media.JSON,
) -> Response:
    """A 400 for a POST to /graphql that no operation ran for, as a GraphQL response in
    ``media``: one error, coded ``BAD_REQUEST`` (or ``code``), which GraphQL clients and
    gateways read as such. With its audit line, as ``refusal``."""
    _audit_refused(scope, status, reason)
    error = {"message": text or reason, "extensions": {"code": code}}
    return JSONResponse({"errors": [error]}, status, media_type=media.content_type)


def _audit_refused(scope: Scope, status: int, reason: str) -> None:
    settings: Settings = scope["app"].state.tessera.settings
    client = client_ip(Request(scope), settings.trusted_proxies)
    audit.refused(client, scope["method"], scope["path"], status, reason)
