"""``POST /oauth/introspect`` (RFC 7662) and ``POST /oauth/revoke`` (RFC 7009).

Requests are form-encoded (``token``, optionally ``token_type_hint``); the client
authenticates with an API key, as ``Authorization: Bearer <key>`` or as HTTP Basic with
the key's id as ``client_id`` and the key as ``client_secret`` (RFC 6749 §2.3.1). Errors
are RFC 6749 §5.2 JSON (``invalid_request``, ``invalid_client``) and never quote the
request. Every response says ``Cache-Control: no-store``: it is about a credential.

These are endpoints for backends and gateways, which hold API keys; no browser should,
so they answer no CORS request (server.py keeps them out of the CORS middleware)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Final
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from schema.audit import audit_log
from schema.context import client_ip
from service.errors import RateLimited
from service.events import Origin
from service.introspection import ClientCredentials, InvalidClient
from service.introspection import Scope as TokenScope
from service.tessera import Tessera
from store.errors import StoreUnavailable
from web.refusals import refusal

log = logging.getLogger("tessera")

INTROSPECT_PATH: Final = "/oauth/introspect"
REVOKE_PATH: Final = "/oauth/revoke"
PATHS: Final = frozenset({INTROSPECT_PATH, REVOKE_PATH})
METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
FORM: Final = "application/x-www-form-urlencoded"
REALM: Final = "tessera"
# token and token_type_hint, and room for what a client adds and we ignore (RFC 6749 §3.2).
MAX_FIELDS = 16
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
_CHALLENGES = {
    "basic": f'Basic realm="{REALM}", charset="UTF-8"',
    "bearer": f'Bearer realm="{REALM}", error="invalid_token"',
}
_ANY_CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8", Bearer realm="{REALM}"'
_INVALID_CLIENT = (
    "client authentication failed: send an API key as a Bearer credential, or its id "
    "and the key as HTTP Basic client_id and client_secret"
)


class _Malformed(Exception):
    """An ``invalid_request``; its message is fixed text, never request content."""


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    """An RFC 6749 §5.2 error response."""
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status, headers={**_NO_STORE, **(headers or {})})


def too_large(scope: Scope) -> Response:
    """The body limit's answer on these paths: an ``invalid_request``, which OAuth
    clients read, rather than the plain 413 of other paths. Refused before anything
    parsed the body, with its audit line."""
    reason = "request body too large"
    return refusal(scope, 400, reason, response=oauth_error(400, "invalid_request", reason))


async def introspect(request: Request) -> Response:
    return await _handle(request, revoking=False)


async def revoke(request: Request) -> Response:
    return await _handle(request, revoking=True)


async def _handle(request: Request, *, revoking: bool) -> Response:
    started = time.perf_counter()
    if request.method != "POST":
        return refusal(request.scope, 405, f"use POST {FORM}", headers={"allow": "POST"})
    try:
        scheme, credentials = _credentials(request)
        token = _token(request, await request.body())
    except _Malformed as exc:
        reason = str(exc)
        return refusal(
            request.scope, 400, reason, response=oauth_error(400, "invalid_request", reason)
        )
    tessera: Tessera = request.app.state.tessera
    client = client_ip(request, tessera.settings.trusted_proxies)
    line = _AuditLine(request.url.path, client, started)
    oauth = tessera.introspection
    try:
        principal = await oauth.authenticate(credentials, client)
        line.caller = principal.label
        if revoking:
            origin = Origin.of_request(principal.label, client, request.headers.get("user-agent"))
            revoked = await oauth.revoke(principal, token, origin=origin)
            line.done("revoked" if revoked.count else "not_revoked", 200, revoked.scope)
            return Response(status_code=200, headers=_NO_STORE)
        introspected = await oauth.introspect(principal, token)
        line.done("active" if introspected.active else "inactive", 200, introspected.scope)
        return JSONResponse(introspected.members, headers=_NO_STORE)
    except InvalidClient:
        line.done("invalid_client", 401)
        challenge = _CHALLENGES.get(scheme or "", _ANY_CHALLENGE)
        return oauth_error(401, "invalid_client", _INVALID_CLIENT, {"www-authenticate": challenge})
    except RateLimited as exc:
        line.done("rate_limited", 429)
        return oauth_error(429, "rate_limited", exc.message, {"retry-after": str(exc.retry_after)})
    except StoreUnavailable as exc:
        log.warning("database unavailable: %s", exc)
        line.done("temporarily_unavailable", 503)
        return oauth_error(
            503, "temporarily_unavailable", "the database is unavailable; retry later"
        )


def _credentials(request: Request) -> tuple[str | None, ClientCredentials | None]:
    """The authentication scheme the client used (lowercase) and what it sent. A
    credential that cannot be read is sent on as an empty secret: it was sent, and fails
    to authenticate (and counts) like any other bad one."""
    headers = request.headers.getlist("authorization")
    if not headers:
        return None, None
    if len(headers) > 1:
        raise _Malformed("more than one Authorization header")
    scheme, _, value = headers[0].strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return scheme, ClientCredentials(secret=value)
    if scheme != "basic":
        return scheme, ClientCredentials(secret="")
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return scheme, ClientCredentials(secret="", client_id="")
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return scheme, ClientCredentials(secret="", client_id="")
    # RFC 6749 §2.3.1: both are form-encoded before they are joined.
    return scheme, ClientCredentials(secret=unquote_plus(secret), client_id=unquote_plus(client_id))


def _token(request: Request, body: bytes) -> str:
    """The ``token`` of a well-formed form body (RFC 6749 §3.2: no parameter twice;
    unknown ones, ``token_type_hint`` among them, are ignored: Tessera's two kinds of
    token are told apart by their format, so the hint is never needed)."""
    content_types = request.headers.getlist("content-type")
    if len(content_types) != 1:
        raise _Malformed(f"the body must be {FORM}")
    media, *params = (part.strip().lower() for part in content_types[0].split(";"))
    charsets = [p.partition("=")[2].strip('"') for p in params if p.startswith("charset=")]
    if media != FORM or any(charset != "utf-8" for charset in charsets):
        raise _Malformed(f"the body must be {FORM}")
    try:
        fields = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError included
        raise _Malformed(f"the body is not a {FORM} form") from None
    names = [name for name, _ in fields]
    if len(set(names)) != len(names):
        raise _Malformed("a parameter is repeated")
    token = dict(fields).get("token", "")
    if not token:
        raise _Malformed("the token parameter is required")
    return token


class _AuditLine:
    """The one audit line of a request that reached authentication. Names the caller
    by key id, and the product, env and tag only of a genuine token in its scope;
    never the token."""

    def __init__(self, path: str, client: str, started: float) -> None:
        self.path = path
        self.client = client
        self.started = started
        self.caller: str | None = None

    def done(self, outcome: str, status: int, scope: TokenScope | None = None) -> None:
        if not audit_log.isEnabledFor(logging.INFO):
            return
        scope = scope or TokenScope()
        audit_log.info(
            json.dumps(
                {
                    "event": "oauth",
                    "path": self.path,
                    "product": scope.product,
                    "env": scope.env,
                    "tag": scope.tag,
                    "outcome": outcome,
                    "status": status,
                    "caller": self.caller,
                    "client": self.client,
                    "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
                },
                separators=(",", ":"),
            )
        )
