"""Discovery over HTTP: every (product, env) is an issuer with RFC 8414 metadata and a
JWKS of public signing keys only (active and verify-only, never private, symmetric or
retired), public, cacheable, readable cross-origin; rotateKeys through the API; no key
material in any answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from server import create_app
from service.catalog import ConfigSpec, TokenFormat
from service.settings import Settings
from service.tessera import Tessera
from tests.conftest import Api, make_settings

SIGNED = {"product": "shop", "env": "prd", "tag": "signed"}
ISSUER = "http://127.0.0.1:8000/products/shop/prd"
PRIVATE_MEMBERS = {"d", "k", "p", "q", "dp", "dq", "qi"}


async def shop(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop", "envs": ["prd", "dev"]})
    await api.op(
        "CreateSessionConfig",
        input={"product": "shop", "tag": "signed", "name": "Signed", "tokenFormat": "SIGNED"},
    )
    await api.op("CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"})


async def signed_session(api: Api) -> dict[str, Any]:
    return await api.create_session(**SIGNED, data={"userId": "u1", "details": {"a": 1}})


async def get_jwks(api: Api, product: str = "shop", env: str = "prd") -> Any:
    response = await api.client.get(f"/products/{product}/{env}/jwks.json")
    assert response.status_code == 200, response.text
    return response.json()


async def test_metadata_names_the_issuer_its_jwks_and_the_oauth_endpoints(api: Api) -> None:
    await shop(api)

    response = await api.client.get("/.well-known/oauth-authorization-server/products/shop/prd")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {
        "issuer": ISSUER,
        "jwks_uri": f"{ISSUER}/jwks.json",
        "introspection_endpoint": "http://127.0.0.1:8000/oauth/introspect",
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "Bearer"],
        "revocation_endpoint": "http://127.0.0.1:8000/oauth/revoke",
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "Bearer"],
        "response_types_supported": [],
        "grant_types_supported": [],
    }


async def test_jwks_lists_the_public_signing_key_that_signed_the_token(api: Api) -> None:
    await shop(api)
    issued = await signed_session(api)
    header = json.loads(_b64(issued["token"].split(":", 1)[1].split(".")[0]))

    jwks = await get_jwks(api)

    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    (key,) = jwks["keys"]
    assert key == {
        "kty": "EC",
        "crv": "P-256",
        "x": key["x"],
        "y": key["y"],
        "kid": header["kid"],
        "use": "sig",
        "alg": "ES256",
    }


async def test_jwks_after_rotations_lists_active_and_verify_only_never_retired(api: Api) -> None:
    await shop(api)
    await signed_session(api)
    first = {k["kid"] for k in (await get_jwks(api))["keys"]}

    rotated = (await api.op("RotateKeys", input={"product": "shop", "env": "prd"}))["rotateKeys"]
    assert rotated["__typename"] == "KeyRing"
    states = {(k["use"], k["state"]) for k in rotated["keys"]}
    assert states == {("SIGNING", "ACTIVE"), ("ENCRYPTION", "ACTIVE"), ("SIGNING", "VERIFY_ONLY")}
    signing = {k["kid"]: k for k in rotated["keys"] if k["use"] == "SIGNING"}
    after = {k["kid"] for k in (await get_jwks(api))["keys"]}
    assert after == set(signing) and first < after
    assert all(k["retireAt"] for k in signing.values() if k["state"] == "VERIFY_ONLY")

    retired = await api.op(
        "RotateKeys", input={"product": "shop", "env": "prd", "retirePrevious": True}
    )
    active = [k["kid"] for k in retired["rotateKeys"]["keys"] if k["state"] == "ACTIVE"]
    published = [k["kid"] for k in (await get_jwks(api))["keys"]]
    assert len(published) == 1 and published[0] in active
    # Encryption keys are never published, active or not.
    encryption = {k["kid"] for k in retired["rotateKeys"]["keys"] if k["use"] == "ENCRYPTION"}
    assert not encryption & set(published)


async def test_jwks_of_an_env_without_signing_keys_is_empty(api: Api) -> None:
    await shop(api)
    await api.create_session(
        product="shop", env="prd", tag="web", data={"userId": "u1", "details": {}}
    )

    assert await get_jwks(api) == {"keys": []}
    assert await get_jwks(api, env="dev") == {"keys": []}


async def test_jwks_is_cacheable_with_an_etag(api: Api) -> None:
    await shop(api)
    await signed_session(api)

    first = await api.client.get("/products/shop/prd/jwks.json")
    assert first.headers["cache-control"] == "public, max-age=300"
    etag = first.headers["etag"]
    again = await api.client.get("/products/shop/prd/jwks.json", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag

    await api.op("RotateKeys", input={"product": "shop", "env": "prd"})
    changed = await api.client.get("/products/shop/prd/jwks.json", headers={"if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_unknown_issuer_is_404_with_a_json_error(api: Api) -> None:
    await shop(api)
    paths = [
        "/products/nope/prd/jwks.json",
        "/products/shop/qa/jwks.json",
        "/products/SHOP/prd/jwks.json",
        "/.well-known/oauth-authorization-server/products/nope/prd",
        "/.well-known/oauth-authorization-server/products/shop/qa",
        "/.well-known/oauth-authorization-server/products/" + "x" * 300 + "/prd",
    ]
    for path in paths:
        response = await api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"


async def test_discovery_needs_no_credential_and_answers_any_origin(api: Api) -> None:
    await shop(api)
    await signed_session(api)

    response = await api.client.get(
        "/products/shop/prd/jwks.json", headers={"origin": "https://verifier.example"}
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://verifier.example")


async def test_no_answer_carries_key_material(api: Api) -> None:
    await shop(api)
    await signed_session(api)
    await api.op("RotateKeys", input={"product": "shop", "env": "prd"})

    jwks = await get_jwks(api)
    ring = await api.op("KeyRing", product="shop", env="prd")

    for key in jwks["keys"]:
        assert not PRIVATE_MEMBERS & set(key)
    assert set(ring["keyRing"]["keys"][0]) == {"kid", "use", "state", "createdAt", "retireAt"}


async def test_rotate_keys_unknown_product_or_env_is_not_found(api: Api) -> None:
    await shop(api)
    for product, env, code in (
        ("nope", "prd", "PRODUCT_NOT_FOUND"),
        ("shop", "qa", "ENV_NOT_FOUND"),
    ):
        result = (await api.op("RotateKeys", input={"product": product, "env": env}))["rotateKeys"]
        assert result["__typename"] == "NotFoundError" and result["code"] == code


def _b64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_public_url_is_the_base_of_issuers_tokens_and_endpoints(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path, database_url=database_url, public_url="https://sessions.example.com/"
    )
    tessera = await Tessera.start(settings, announce=lambda key: None)
    try:
        await tessera.catalog.create_product("shop", "Shop", ["prd"])
        await tessera.catalog.create_config(
            "shop", ConfigSpec("signed", token_format=TokenFormat.SIGNED)
        )
        issued = await tessera.sessions.create("shop", "prd", "signed", "u1", {})
        app = create_app(settings, tessera=tessera)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            path = "/.well-known/oauth-authorization-server/products/shop/prd"
            body = (await client.get(path)).json()
    finally:
        await tessera.close()

    issuer = "https://sessions.example.com/products/shop/prd"
    payload = issued.token.split(":", 1)[1].split(".")[1]
    assert json.loads(_b64(payload))["iss"] == issuer
    assert body["issuer"] == issuer and body["jwks_uri"] == f"{issuer}/jwks.json"
    assert body["introspection_endpoint"] == "https://sessions.example.com/oauth/introspect"


def test_public_url_must_be_an_http_url() -> None:
    for bad in ("sessions.example.com", "ftp://x.example", "https://x.example/?a=1"):
        with pytest.raises(ValidationError):
            Settings(public_url=bad)
    assert Settings(host="::1", port=9000).public_base_url == "http://[::1]:9000"
