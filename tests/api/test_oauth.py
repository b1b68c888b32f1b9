"""``POST /oauth/introspect`` (RFC 7662) and ``POST /oauth/revoke`` (RFC 7009) over the
real ASGI app: client authentication, the shape of every answer, what leaks (nothing),
what revocation revokes, and the request rules."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from joserfc import jwe

from service.clock import FrozenClock
from service.introspection import ClientCredentials
from service.tessera import Tessera
from tests.api.oauth import (
    FORM,
    INACTIVE,
    INTROSPECT,
    OTHER,
    REVOKE,
    SHOP,
    SHOP_DEV,
    World,
    world,
)
from tests.api.test_logging import fragments
from tests.conftest import Api

PATHS = [INTROSPECT, REVOKE]


@pytest.fixture
async def w(api: Api, tessera: Tessera, clock: FrozenClock) -> World:
    return await world(api, tessera, clock)


async def claims(w: World, token: str) -> dict[str, Any]:
    """The claims inside one of shop/prd's session tokens, opened with its ring's key."""
    product = await w.tessera.catalog.find_product("shop")
    assert product is not None
    minting = await w.tessera.keyrings.for_minting(product.id, "prd")
    opened = jwe.decrypt_compact(token.partition(":")[2], minting.key).plaintext
    assert opened is not None
    decoded: dict[str, Any] = json.loads(opened)
    return decoded


def assert_invalid_client(response: httpx.Response, challenge: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith(challenge)
    assert response.headers["cache-control"] == "no-store"


def assert_invalid_request(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.headers["content-type"] == "application/json"


# Introspection of a live token ----------------------------------------------------------


@pytest.mark.parametrize("auth", ["bearer", "basic"])
async def test_introspect_live_token_answers_its_claims(w: World, auth: str) -> None:
    created = await w.create()
    headers = w.shop.bearer() if auth == "bearer" else w.shop.basic()

    response = await w.post(INTROSPECT, created["token"], headers)

    body = response.json()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert body == {
        "active": True,
        "token_type": "Bearer",
        "sub": "u1",
        "sid": created["sessionId"],
        "iss": (await claims(w, created["token"]))["iss"],
        "aud": "shop:prd",
        "iat": int(w.clock.now()),
        "exp": int(w.clock.now()) + 3600,
        "tag": "web",
    }


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else"])
async def test_introspect_ignores_the_hint(w: World, hint: str) -> None:
    created = await w.create()

    assert (await w.introspect(created["token"], token_type_hint=hint))["active"] is True


async def test_introspect_with_admin_key_sees_every_product(w: World) -> None:
    shop, other = await w.create(SHOP), await w.create(OTHER)

    for created in (shop, other):
        assert (await w.introspect(created["token"], w.admin))["sid"] == created["sessionId"]


async def test_introspect_with_env_scoped_key_sees_its_env_only(w: World) -> None:
    prd, dev = await w.create(SHOP), await w.create(SHOP_DEV)

    assert (await w.introspect(prd["token"], w.shop_prd))["active"] is True
    assert (await w.introspect(dev["token"], w.shop_prd)) == {"active": False}
    assert (await w.introspect(dev["token"], w.shop))["active"] is True


# Every inactive answer is the same ------------------------------------------------------


async def test_introspect_every_inactive_token_gets_the_same_bytes(w: World) -> None:
    """Expired, revoked, forged, malformed, another product's, another env's, a refresh
    token: one status, one body, one set of headers."""
    expired = await w.create(user="expired")
    w.clock.advance(3601)
    live = await w.create(user="live")
    revoked = await w.create(user="revoked")
    await w.api.op("RevokeSession", input={**SHOP, "sessionId": revoked["sessionId"]})
    other = await w.create(OTHER)
    dev = await w.create(SHOP_DEV)
    tag, _, compact = live["token"].partition(":")
    segments = compact.split(".")
    segments[3] = segments[3][:-2] + ("AA" if segments[3][-2:] != "AA" else "BB")
    candidates = {
        "expired": expired["token"],
        "revoked": revoked["token"],
        "forged": f"{tag}:{'.'.join(segments)}",
        "malformed": "web:not-a-token",
        "garbage": "x" * 50,
        "another tag": "mobile:" + compact,
        "another product": other["token"],
        "another env": (dev["token"], w.shop_prd),
        "refresh token": live["refreshToken"],
        "oversized": "web:" + "a" * 9000,
        "control characters": "web:\x00.\x01.\x02.\x03.\x04",
    }

    answers = set()
    for name, candidate in candidates.items():
        token, client = candidate if isinstance(candidate, tuple) else (candidate, w.shop)
        response = await w.post(INTROSPECT, token, client.bearer())
        assert response.content == INACTIVE, name
        # Every response has its own request id; nothing else may differ.
        headers = tuple((k, v) for k, v in response.headers.items() if k != "x-request-id")
        answers.add((response.status_code, response.content, headers))

    assert len(answers) == 1
    assert next(iter(answers))[0] == 200
    # Every one of them but for what makes it inactive is live.
    for token, client in (
        (live["token"], w.shop),
        (other["token"], w.other),
        (dev["token"], w.shop),
    ):
        assert (await w.introspect(token, client))["active"] is True


# Client authentication ------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
async def test_missing_credentials_are_invalid_client_with_both_challenges(
    w: World, path: str
) -> None:
    response = await w.post(path, "web:x.y.z.a.b", {})

    assert_invalid_client(response, "Basic")
    assert 'Bearer realm="tessera"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("path", PATHS)
async def test_basic_with_another_keys_id_is_refused(w: World, path: str) -> None:
    created = await w.create()
    for client_id in (w.other.key_id, w.admin.key_id, "", "shop", w.shop.key_id + "x"):
        response = await w.post(path, created["token"], w.shop.basic(client_id))
        assert_invalid_client(response, "Basic")

    assert (await w.verify(created["token"]))["valid"] is True  # nothing was revoked


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer tsk_" + "x" * 43,  # not a key
        "Bearer ",
        "Basic !!!not-base64!!!",
        "Basic " + "bm8tY29sb24=",  # "no-colon"
        "Digest username=x",
    ],
)
async def test_bad_credential_is_invalid_client(w: World, authorization: str) -> None:
    response = await w.post(INTROSPECT, "web:x.y.z.a.b", {"authorization": authorization})

    scheme = authorization.split()[0]
    assert_invalid_client(response, scheme if scheme in ("Basic", "Bearer") else "Basic")
    assert "tsk_" not in response.text


async def test_session_token_is_no_client_credential(w: World) -> None:
    created = await w.create()

    response = await w.post(
        INTROSPECT, created["token"], {"authorization": f"Bearer {created['token']}"}
    )

    assert_invalid_client(response, "Bearer")


async def test_revoked_key_is_invalid_client(w: World) -> None:
    created = await w.create()
    await w.api.op("RevokeApiKey", id=w.shop.key_id)

    for headers in (w.shop.bearer(), w.shop.basic()):
        assert_invalid_client(await w.post(INTROSPECT, created["token"], headers), "")


def test_client_credentials_never_show_the_secret() -> None:
    credentials = ClientCredentials(secret="tsk_secret-value", client_id="key_1")

    assert "tsk_secret-value" not in repr(credentials)
    assert "key_1" in repr(credentials)


# Malformed requests ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", FORM),  # no token
        (b"token=", FORM),  # an empty one
        (b"token_type_hint=access_token", FORM),
        (b"token=a&token=b", FORM),  # RFC 6749 section 3.2: no parameter twice
        (b"token=a&token_type_hint=x&token_type_hint=y", FORM),
        (b'{"token": "a"}', "application/json"),
        (b"token=a", "text/plain"),
        (b"token=a", "multipart/form-data; boundary=x"),
        (b"token=a", f"{FORM}; charset=latin-1"),
        (b"token=a", None),
        ("token=é".encode(), FORM),  # not percent-encoded
        (b"token=%ff", FORM),  # not UTF-8
        (b"token=a&&b", FORM),
        (b"&".join(b"f%d=1" % i for i in range(20)) + b"&token=a", FORM),
    ],
)
async def test_malformed_request_is_invalid_request(
    w: World, path: str, content: bytes, content_type: str | None
) -> None:
    headers = {**w.shop.bearer(), **({"content-type": content_type} if content_type else {})}

    response = await w.api.client.post(path, content=content, headers=headers)

    assert_invalid_request(response)


@pytest.mark.parametrize("path", PATHS)
async def test_form_with_charset_and_unknown_parameters_is_accepted(w: World, path: str) -> None:
    created = await w.create()
    headers = {**w.shop.bearer(), "content-type": f"{FORM}; charset=UTF-8"}
    body = f"token={created['token']}&client_id=ignored&scope=ignored".encode()

    response = await w.api.client.post(path, content=body, headers=headers)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", PATHS)
async def test_oversized_body_is_invalid_request(w: World, path: str) -> None:
    body = b"token=" + b"a" * 70_000

    declared = await w.api.client.post(
        path, content=body, headers={**w.shop.bearer(), "content-type": FORM}
    )

    async def chunks() -> Any:
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    chunked = await w.api.client.post(
        path, content=chunks(), headers={**w.shop.bearer(), "content-type": FORM}
    )
    assert_invalid_request(declared)
    assert_invalid_request(chunked)


@pytest.mark.parametrize("path", PATHS)
async def test_two_authorization_headers_are_invalid_request(w: World, path: str) -> None:
    headers = [
        ("authorization", f"Bearer {w.shop.key}"),
        ("authorization", w.shop.basic()["authorization"]),
    ]

    response = await w.api.client.post(
        path, content=b"token=a", headers=[*headers, ("content-type", FORM)]
    )

    assert_invalid_request(response)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
async def test_other_methods_are_refused(w: World, path: str, method: str) -> None:
    response = await w.api.client.request(method, path, headers=w.shop.bearer())

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_no_answer_echoes_the_token_or_the_key(w: World) -> None:
    created = await w.create()
    token = created["token"]
    requests = [
        (INTROSPECT, {"token": token}, w.shop.bearer()),
        (INTROSPECT, {"token": token}, {"authorization": "Bearer tsk_" + "q" * 43}),
        (INTROSPECT, {"token": token}, w.shop.basic("wrong")),
        (REVOKE, {"token": token + "x"}, w.shop.bearer()),
        (INTROSPECT, {"token": token, "x": "1"}, {"authorization": f"Bearer {token}"}),
    ]
    texts = []
    for path, data, headers in requests:
        response = await w.api.client.post(path, data=data, headers=headers)
        texts.append(response.text + json.dumps(dict(response.headers)))
    repeated = await w.api.client.post(
        INTROSPECT,
        content=f"token={token}&token={token}".encode(),
        headers={**w.shop.bearer(), "content-type": FORM},
    )
    texts.append(repeated.text)

    leaked = [p for p in fragments(token) + fragments(w.shop.key) if any(p in t for t in texts)]
    assert leaked == []


# The two content types and CORS ---------------------------------------------------------


async def test_graphql_still_refuses_form_bodies(w: World) -> None:
    response = await w.api.client.post(
        "/graphql",
        content=b"query=%7B__typename%7D",
        headers={**w.admin.bearer(), "content-type": FORM},
    )

    assert response.status_code == 415


@pytest.mark.parametrize("path", PATHS)
async def test_oauth_endpoints_answer_no_cors_request(w: World, path: str) -> None:
    """Development allows every origin on /graphql; the OAuth endpoints take API keys,
    which no browser should hold, and allow none."""
    origin = {"origin": "https://app.example.com"}
    preflight = {**origin, "access-control-request-method": "POST",
                 "access-control-request-headers": "authorization"}  # fmt: skip
    created = await w.create()

    graphql_preflight = await w.api.client.options("/graphql", headers=preflight)
    oauth_preflight = await w.api.client.options(path, headers=preflight)
    simple = await w.post(path, created["token"], {**w.shop.bearer(), **origin})

    assert graphql_preflight.headers["access-control-allow-origin"] == "*"
    assert oauth_preflight.status_code == 405
    assert not [h for h in oauth_preflight.headers if h.startswith("access-control-")]
    assert simple.status_code == 200
    assert not [h for h in simple.headers if h.startswith("access-control-")]


# Revocation -----------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["token", "refreshToken"])
@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
@pytest.mark.parametrize("auth", ["bearer", "basic"])
async def test_revoke_either_token_revokes_the_whole_session(
    w: World, which: str, hint: str | None, auth: str
) -> None:
    created = await w.create()
    bystander = await w.create(user="u2")
    fields = {} if hint is None else {"token_type_hint": hint}
    headers = w.shop.bearer() if auth == "bearer" else w.shop.basic()

    response = await w.post(REVOKE, created[which], headers, **fields)
    again = await w.post(REVOKE, created[which], headers, **fields)

    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["cache-control"] == "no-store"
    assert (again.status_code, again.content) == (200, b"")
    verification = await w.verify(created["token"])
    assert (verification["valid"], verification["reason"]) == (False, "REVOKED")
    refreshed = await w.api.op(
        "RefreshSession", key=None, input={**SHOP, "refreshToken": created["refreshToken"]}
    )
    assert refreshed["refreshSession"]["code"] == "SESSION_REVOKED"
    assert (await w.verify(bystander["token"]))["valid"] is True


async def test_revoke_spent_refresh_token_revokes_the_session(w: World) -> None:
    created = await w.create()
    rotated = (
        await w.api.op(
            "RefreshSession", key=None, input={**SHOP, "refreshToken": created["refreshToken"]}
        )
    )["refreshSession"]

    response = await w.post(REVOKE, created["refreshToken"])

    assert response.status_code == 200
    assert (await w.verify(rotated["token"]))["reason"] == "REVOKED"


@pytest.mark.parametrize("which", ["token", "refreshToken"])
async def test_revoke_another_products_token_revokes_nothing(w: World, which: str) -> None:
    theirs = await w.create(OTHER)
    dev = await w.create(SHOP_DEV)

    foreign = await w.post(REVOKE, theirs[which], w.shop.bearer())
    other_env = await w.post(REVOKE, dev[which], w.shop_prd.bearer())

    assert (foreign.status_code, foreign.content) == (200, b"")
    assert (other_env.status_code, other_env.content) == (200, b"")
    assert (await w.verify(theirs["token"], OTHER))["valid"] is True
    assert (await w.verify(dev["token"], SHOP_DEV))["valid"] is True


async def test_revoke_with_admin_key_revokes_any_products_session(w: World) -> None:
    theirs = await w.create(OTHER)

    for headers in (w.admin.bearer(), w.admin.basic()):
        assert (await w.post(REVOKE, theirs["token"], headers)).status_code == 200

    assert (await w.verify(theirs["token"], OTHER))["reason"] == "REVOKED"


@pytest.mark.parametrize(
    "token",
    [
        "web:not.a.real.token.at-all",
        "garbage",
        "AAAAAAAAAAAAAAAAAAAAAA.0:" + "A" * 43,  # shaped like a refresh token
        "x" * 9000,
    ],
)
async def test_revoke_unknown_token_answers_200(w: World, token: str) -> None:
    created = await w.create()

    response = await w.post(REVOKE, token)

    assert (response.status_code, response.content) == (200, b"")
    assert (await w.verify(created["token"]))["valid"] is True


async def test_revoke_tampered_refresh_token_revokes_nothing(w: World) -> None:
    created = await w.create()
    lookup, _, secret = created["refreshToken"].partition(":")
    tampered = f"{lookup}:{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"

    assert (await w.post(REVOKE, tampered)).status_code == 200

    assert (await w.verify(created["token"]))["valid"] is True


async def test_revoke_expired_session_token_revokes_nothing(w: World) -> None:
    """Only a token that verifies revokes its session; the refresh token ends it
    whatever the session token's state (see the README)."""
    created = await w.create()
    w.clock.advance(3601)

    assert (await w.post(REVOKE, created["token"])).status_code == 200
    refreshed = await w.api.op(
        "RefreshSession", key=None, input={**SHOP, "refreshToken": created["refreshToken"]}
    )
    assert refreshed["refreshSession"]["__typename"] == "SessionTokens"

    assert (await w.post(REVOKE, created["refreshToken"])).status_code == 200
    assert (await w.verify(refreshed["refreshSession"]["token"]))["reason"] == "REVOKED"


# Audit and logs -------------------------------------------------------------------------


async def test_each_request_writes_one_audit_line_without_the_token(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    created = await w.create()
    theirs = await w.create(OTHER)
    caplog.set_level(logging.INFO, logger="tessera.audit")

    await w.post(INTROSPECT, created["token"])
    await w.post(INTROSPECT, theirs["token"])
    await w.post(INTROSPECT, created["token"], w.shop.basic("wrong"))
    await w.post(REVOKE, created["refreshToken"])
    await w.post(REVOKE, "garbage")
    await w.post(REVOKE, None, token_type_hint="refresh_token")

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    summary = [
        (line.get("path"), line.get("outcome", line.get("reason")), line["status"])
        for line in lines
    ]
    assert summary == [
        (INTROSPECT, "active", 200),
        (INTROSPECT, "inactive", 200),
        (INTROSPECT, "invalid_client", 401),
        (REVOKE, "revoked", 200),
        (REVOKE, "not_revoked", 200),
        (REVOKE, "the token parameter is required", 400),
    ]
    assert (lines[0]["product"], lines[0]["env"], lines[0]["tag"]) == ("shop", "prd", "web")
    assert lines[0]["caller"] == f"key:{w.shop.key_id}"
    assert (lines[1]["product"], lines[1]["caller"]) == (None, f"key:{w.shop.key_id}")
    assert lines[2]["caller"] is None
    assert lines[5]["event"] == "refused"
    text = caplog.text
    assert created["token"] not in text and created["refreshToken"] not in text


async def test_no_secret_appears_in_any_oauth_log_line(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await w.create()
    secrets = [created["token"], created["refreshToken"], w.shop.key, w.other.key, w.admin.key]
    for client in (w.shop, w.other, w.admin):
        for headers in (client.bearer(), client.basic(), client.basic("wrong")):
            await w.post(INTROSPECT, created["token"], headers)
            await w.post(INTROSPECT, created["token"] + "x", headers)
            await w.post(INTROSPECT, created["refreshToken"], headers)
    await w.post(INTROSPECT, created["token"], {"authorization": f"Bearer {created['token']}"})
    await w.post(REVOKE, created["refreshToken"][:-1] + "x")
    await w.post(REVOKE, created["token"])

    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert "failed authentication" in text
    leaked = [piece for secret in secrets for piece in fragments(secret) if piece in text]
    assert leaked == []
