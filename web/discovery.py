"""Discovery: each (product, env) is an OAuth issuer,
``<public base URL>/products/<product>/<env>``, with its RFC 8414 metadata and the JWKS
that verifies its SIGNED tokens.

Both are public ``GET``s answered to any origin (a browser may verify a token itself);
they carry no credential and say nothing a token does not already say. The JWKS holds
the public halves of the active and verify-only signing keys, never a private,
symmetric or retired key. It may be cached for ``JWKS_MAX_AGE`` seconds; a rotation's
new key signs at once, so a verifier meeting a kid it has not seen fetches the JWKS
again (what PyJWT's ``PyJWKClient`` and jose's ``createRemoteJWKSet`` do), and a retired
key is gone from it within that time (it verifies nothing in Tessera from its
``retire_at`` on)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from service import tokens

JWKS_MAX_AGE = 300
METADATA_MAX_AGE = 3600
JWKS_PATH = "/products/{product}/{env}/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server/products/{product}/{env}"
# Client authentication at the introspection and revocation endpoints: a product key
# as HTTP Basic's password (RFC 6749's client_secret_basic) or as a bearer credential
# ("Bearer", from the access token types registry RFC 8414 allows here).
AUTH_METHODS = ["client_secret_basic", "Bearer"]


def metadata(base_url: str, product: str, env: str) -> dict[str, Any]:
    """The authorization server metadata (RFC 8414) of one issuer."""
    issuer = tokens.issuer(base_url, product, env)
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks.json",
        "introspection_endpoint": f"{base_url}/oauth/introspect",
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint": f"{base_url}/oauth/revoke",
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        # Tessera authorizes nobody: it has no authorization or token endpoint.
        "response_types_supported": [],
        "grant_types_supported": [],
    }


def _json(request: Request, body: Any, max_age: int) -> Response:
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
    headers = {
        "cache-control": f"public, max-age={max_age}",
        "etag": etag,
        "access-control-allow-origin": "*",
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(text, media_type="application/json", headers=headers)


def _not_found() -> Response:
    return Response(
        json.dumps({"error": "not_found", "error_description": "no such product or environment"}),
        status_code=404,
        media_type="application/json",
        headers={"access-control-allow-origin": "*"},
    )


async def jwks(request: Request) -> Response:
    """``GET <issuer>/jwks.json``: the issuer's public signing keys (RFC 7517)."""
    tessera = request.app.state.tessera
    keys = await tessera.rotation.public_keys(
        request.path_params["product"], request.path_params["env"]
    )
    if keys is None:
        return _not_found()
    return _json(request, {"keys": keys}, JWKS_MAX_AGE)


async def authorization_server(request: Request) -> Response:
    """``GET /.well-known/oauth-authorization-server/products/<product>/<env>``."""
    tessera = request.app.state.tessera
    product, env = request.path_params["product"], request.path_params["env"]
    if not await tessera.rotation.exists(product, env):
        return _not_found()
    body = metadata(tessera.settings.public_base_url, product, env)
    return _json(request, body, METADATA_MAX_AGE)
