"""Security of session-token verification, through the HTTP GraphQL API.

Every rejection is data: ``verifySession`` answers ``valid: false`` with a coarse
``reason`` and never a top-level GraphQL error. Forged tokens are built with joserfc and,
where a case needs a correctly encrypted token, with the real key of the product's ring
(``tessera.keyrings``), so each case fails for exactly the rule it targets."""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe, jws
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey, RSAKey

from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import Api
from tests.operations import operation

PRODUCT, ENV, TAG = "my-app", "prd", "user-session"
USER_ID = "user_123"
DETAILS = {"username": "johndoe-7f3a", "email": "john.7f3a@example.com"}
HOUR = 3600

# The only registry our tokens may use; the others build deliberately bad tokens.
STRICT = JWERegistry(algorithms=["dir", "A256GCM"])


def permissive(*algorithms: str) -> JWERegistry:
    return JWERegistry(algorithms=list(algorithms))


@functools.cache
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def split(token: str) -> tuple[str, list[str]]:
    tag, sep, compact = token.partition(":")
    assert sep, token
    return tag, compact.split(".")


def join(tag: str, segments: list[str]) -> str:
    return f"{tag}:{'.'.join(segments)}"


def flip(segment: str) -> str:
    """Change one character in the middle of a base64url segment (all 6 bits count
    there, so the decoded bytes really change)."""
    i = len(segment) // 2
    return segment[:i] + ("B" if segment[i] == "A" else "A") + segment[i + 1 :]


def forge(
    header: dict[str, Any],
    payload: dict[str, Any] | bytes,
    key: Any,
    *,
    registry: JWERegistry = STRICT,
) -> str:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{TAG}:{jwe.encrypt_compact(header, data, key, registry=registry)}"


def seal(header: Any, payload: dict[str, Any], key: OctKey) -> str:
    """A correctly encrypted A256GCM compact JWE under *any* protected header, built by
    hand (joserfc refuses to build most of these): a rejection can only come from the
    header rules, not from a broken authentication tag."""
    protected = b64url_encode(json.dumps(header).encode())
    iv = bytes(range(12))
    sealed = AESGCM(key.raw_value).encrypt(iv, json.dumps(payload).encode(), protected.encode())
    compact = [protected, "", b64url_encode(iv), b64url_encode(sealed[:-16])]
    return join(TAG, [*compact, b64url_encode(sealed[-16:])])


@dataclass(frozen=True)
class Issued:
    token: str
    session_id: str
    kid: str
    key: OctKey
    claims: dict[str, Any]


async def ring_key(tessera: Tessera, product: str = PRODUCT, env: str = ENV) -> tuple[str, OctKey]:
    record = await tessera.catalog.find_product(product)
    assert record is not None
    key = await tessera.keyrings.for_minting(record.id, env)
    assert isinstance(key.key, OctKey)
    return key.kid, key.key


async def issue(
    api: Api,
    tessera: Tessera,
    *,
    product: str = PRODUCT,
    env: str = ENV,
    tag: str = TAG,
    user_id: str = USER_ID,
    details: Any = DETAILS,
) -> Issued:
    result = await api.create_session(
        product=product, env=env, tag=tag, data={"userId": user_id, "details": details}
    )
    assert result["__typename"] == "SessionTokens", result
    kid, key = await ring_key(tessera, product, env)
    _, compact = result["token"].split(":", 1)
    header = json.loads(b64url_decode(compact.split(".")[0]))
    assert header["kid"] == kid
    plaintext = jwe.decrypt_compact(compact, key, registry=STRICT).plaintext
    assert plaintext is not None
    return Issued(result["token"], result["sessionId"], kid, key, json.loads(plaintext))


async def verify(
    api: Api, token: str, *, product: str = PRODUCT, env: str = ENV, tag: str = TAG
) -> dict[str, Any]:
    """``verifySession``, asserting there is no top-level error (never a 500).

    The body is sent as ASCII JSON so that strings no UTF-8 encoder accepts (lone
    surrogates) still reach the server, as ``\\udXXX`` escapes."""
    document = {
        "query": operation("VerifySession"),
        "variables": {"input": {"product": product, "env": env, "tag": tag, "token": token}},
    }
    response = await api.client.post(
        "/graphql",
        content=json.dumps(document, ensure_ascii=True),
        headers={"authorization": f"Bearer {api.key}", "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["verifySession"]
    return result


async def assert_rejected(api: Api, token: str, reason: str, **where: str) -> None:
    result = await verify(api, token, **where)
    assert result == {
        "valid": False,
        "reason": reason,
        "sessionId": None,
        "expiresAt": None,
        "data": None,
    }


def header_of(issued: Issued, **changes: Any) -> dict[str, Any]:
    return {"alg": "dir", "enc": "A256GCM", "kid": issued.kid, **changes}


# --- control: the forging harness builds tokens the service accepts -----------------


async def test_forged_token_with_ring_key_and_exact_claims_is_accepted(
    api: Api, tessera: Tessera
) -> None:
    """Without this, every forged-claims rejection below could pass vacuously."""
    issued = await issue(api, tessera)
    token = forge(header_of(issued), issued.claims, issued.key)

    result = await verify(api, token)

    assert result["valid"] is True and result["reason"] is None
    assert result["sessionId"] == issued.session_id
    sealed = seal(header_of(issued), issued.claims, issued.key)
    assert (await verify(api, sealed))["valid"] is True


# --- algorithms ---------------------------------------------------------------------


async def test_alg_none_jws_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    header = b64url_encode(json.dumps({"alg": "none", "kid": issued.kid}).encode())
    payload = b64url_encode(json.dumps(issued.claims).encode())

    # A JWS is a shape Tessera issues (SIGNED configs), so it is read, and refused for
    # this ENCRYPTED config: a forgery (INVALID), counted as MALFORMED is.
    await assert_rejected(api, f"{TAG}:{header}.{payload}.", "INVALID")


async def test_alg_none_header_on_jwe_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    header = {"alg": "none", "enc": "A256GCM", "kid": issued.kid}

    await assert_rejected(api, seal(header, issued.claims, issued.key), "INVALID")


async def test_alg_none_with_plaintext_claims_in_five_segments_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)
    header = b64url_encode(json.dumps({"alg": "none", "enc": "none"}).encode())
    payload = b64url_encode(json.dumps(issued.claims).encode())

    await assert_rejected(api, join(TAG, [header, "", "", payload, ""]), "INVALID")


@pytest.mark.parametrize(
    ("alg", "enc"),
    [
        ("A256KW", "A256GCM"),
        ("A256GCMKW", "A256GCM"),
        ("RSA-OAEP", "A256GCM"),
        ("RSA-OAEP-256", "A256GCM"),
        ("dir", "A128GCM"),
        ("dir", "A256CBC-HS512"),
    ],
)
async def test_algorithm_swap_jwe_is_rejected(
    api: Api, tessera: Tessera, alg: str, enc: str
) -> None:
    """A well-formed JWE carrying the right kid and claims, under another algorithm."""
    issued = await issue(api, tessera)
    raw = issued.key.raw_value
    key: Any
    if alg.startswith("RSA"):
        key = rsa_key()
    elif enc == "A128GCM":
        key = OctKey.import_key(raw[:16])
    elif enc == "A256CBC-HS512":
        key = OctKey.import_key(raw + raw)
    else:
        key = issued.key  # the real key, only under a different key-management alg
    token = forge(
        {"alg": alg, "enc": enc, "kid": issued.kid},
        issued.claims,
        key,
        registry=permissive(alg, enc),
    )

    await assert_rejected(api, token, "INVALID")


async def test_algorithm_swap_jws_hs256_with_right_claims_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    """HMAC-signed with the ring's own key material, the classic confusion attack."""
    issued = await issue(api, tessera)
    payload = json.dumps(issued.claims).encode()
    compact = jws.serialize_compact({"alg": "HS256", "kid": issued.kid}, payload, issued.key)

    await assert_rejected(api, f"{TAG}:{compact}", "INVALID")


async def test_algorithm_swap_jws_padded_to_five_segments_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)
    payload = json.dumps(issued.claims).encode()
    compact = jws.serialize_compact({"alg": "HS256", "kid": issued.kid}, payload, issued.key)
    header, body, signature = compact.split(".")

    await assert_rejected(api, join(TAG, [header, "", body, signature, ""]), "INVALID")


async def test_algorithm_case_variant_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    header = {"alg": "DIR", "enc": "a256gcm", "kid": issued.kid}

    await assert_rejected(api, seal(header, issued.claims, issued.key), "INVALID")


# --- kid and key rings --------------------------------------------------------------


async def test_kid_from_other_product_ring_relabelled_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    await issue(api, tessera)
    other = await issue(api, tessera, product="ecommerce", tag="checkout-session")
    _, segments = split(other.token)

    await assert_rejected(api, join(TAG, segments), "WRONG_SESSION")


async def test_kid_from_other_product_ring_with_its_key_and_our_claims_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    ours = await issue(api, tessera)
    other = await issue(api, tessera, product="ecommerce", tag=TAG)
    assert other.kid != ours.kid
    token = forge(header_of(other), ours.claims, other.key)

    await assert_rejected(api, token, "WRONG_SESSION")


async def test_kid_ours_with_other_product_key_is_rejected(api: Api, tessera: Tessera) -> None:
    ours = await issue(api, tessera)
    other = await issue(api, tessera, product="ecommerce", tag=TAG)
    token = forge(header_of(ours), ours.claims, other.key)

    await assert_rejected(api, token, "INVALID")


async def test_kid_from_other_env_of_same_product_is_rejected(api: Api, tessera: Tessera) -> None:
    ours = await issue(api, tessera)
    dev = await issue(api, tessera, env="dev")
    assert dev.kid != ours.kid
    token = forge(header_of(dev), ours.claims, dev.key)

    await assert_rejected(api, token, "WRONG_SESSION")


@pytest.mark.parametrize("kid", [None, "", "no-such-kid", 7, ["k"], {"kid": "k"}])
async def test_kid_missing_or_unknown_is_rejected(api: Api, tessera: Tessera, kid: Any) -> None:
    issued = await issue(api, tessera)
    header = {"alg": "dir", "enc": "A256GCM"}
    if kid is not None:
        header["kid"] = kid

    await assert_rejected(api, seal(header, issued.claims, issued.key), "INVALID")


# --- zip ------------------------------------------------------------------------------


async def test_zip_def_header_on_correctly_encrypted_token_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)
    kid, key = await ring_key(tessera)
    token = forge(
        {"alg": "dir", "enc": "A256GCM", "zip": "DEF", "kid": kid},
        issued.claims,
        key,
        registry=permissive("dir", "A256GCM", "DEF"),
    )
    # The same claims without zip are accepted: only the header is at fault.
    assert (await verify(api, forge(header_of(issued), issued.claims, key)))["valid"] is True

    await assert_rejected(api, token, "INVALID")


# --- tampering --------------------------------------------------------------------------

SEGMENTS = ["header", "encrypted_key", "iv", "ciphertext", "tag"]


@pytest.mark.parametrize("index", range(5), ids=SEGMENTS)
async def test_segment_tampered_is_rejected(api: Api, tessera: Tessera, index: int) -> None:
    issued = await issue(api, tessera)
    tag, segments = split(issued.token)
    # ``dir`` has an empty encrypted key: tampering it means giving it content.
    segments[index] = flip(segments[index]) if segments[index] else "AAAAAAAAAAA"

    await assert_rejected(api, join(tag, segments), "INVALID")


async def test_header_reserialized_with_same_content_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    """The header is the AAD as sent; equal JSON in other bytes breaks authentication."""
    issued = await issue(api, tessera)
    tag, segments = split(issued.token)
    header = json.loads(b64url_decode(segments[0]))
    segments[0] = b64url_encode(json.dumps(header, indent=1, sort_keys=True).encode())

    await assert_rejected(api, join(tag, segments), "INVALID")


async def test_auth_tag_truncated_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    tag, segments = split(issued.token)
    segments[4] = b64url_encode(b64url_decode(segments[4])[:12])

    await assert_rejected(api, join(tag, segments), "INVALID")


async def test_segments_spliced_from_two_tokens_are_rejected(api: Api, tessera: Tessera) -> None:
    first = await issue(api, tessera)
    second = await issue(api, tessera, user_id="user_456")
    tag, a = split(first.token)
    _, b = split(second.token)

    await assert_rejected(api, join(tag, [*a[:3], b[3], a[4]]), "INVALID")
    await assert_rejected(api, join(tag, [*a[:4], b[4]]), "INVALID")
    await assert_rejected(api, join(tag, [*a[:2], b[2], *a[3:]]), "INVALID")


@pytest.mark.parametrize("count", [4, 6])
async def test_segment_count_wrong_is_rejected(api: Api, tessera: Tessera, count: int) -> None:
    issued = await issue(api, tessera)
    tag, segments = split(issued.token)
    segments = segments[:count] if count < 5 else [*segments, segments[-1]]

    await assert_rejected(api, join(tag, segments), "MALFORMED")


async def test_tag_prefix_tampered_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    _, segments = split(issued.token)

    await assert_rejected(api, join("user-sessioN", segments), "WRONG_SESSION")
    await assert_rejected(api, ".".join(segments), "MALFORMED")


async def test_tag_prefix_relabelled_to_sibling_config_is_rejected(
    api: Api, tessera: Tessera
) -> None:
    """Same product and env (so the same key ring); the claims still say the old tag."""
    issued = await issue(api, tessera)
    await issue(api, tessera, tag="checkout-session")
    _, segments = split(issued.token)

    await assert_rejected(
        api, join("checkout-session", segments), "WRONG_SESSION", tag="checkout-session"
    )


# --- shape and size -------------------------------------------------------------------


async def test_token_oversize_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    limit = tessera.settings.max_token_length
    tag, segments = split(issued.token)
    # Grow the ciphertext so the token is otherwise well-formed.
    segments[3] += "A" * (limit + 1 - len(issued.token))
    token = join(tag, segments)
    assert len(token) == limit + 1

    await assert_rejected(api, token, "MALFORMED")
    await assert_rejected(api, "x" * (limit + 1), "MALFORMED")


async def test_token_empty_is_rejected(api: Api, tessera: Tessera) -> None:
    await issue(api, tessera)

    await assert_rejected(api, "", "MALFORMED")


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        ("garbage", "MALFORMED"),
        (" ", "MALFORMED"),
        (":", "MALFORMED"),
        (f"{TAG}:", "MALFORMED"),
        (f"{TAG}:not-a-token", "MALFORMED"),
        (f"{TAG}:{{}}", "MALFORMED"),
        (f"{TAG}:....", "INVALID"),
        (f"{TAG}:a.b.c.d.e", "INVALID"),
        (f"{TAG}:!!!.@@@.###.$$$.%%%", "INVALID"),
        (f"{TAG}:Zoë.🍓.日本.\x00.ß", "INVALID"),
        (f"{TAG}:{b64url_encode(b'[1,2]')}.." + "A" * 16 + ".AAAA." + "A" * 22, "INVALID"),
        (f"{TAG}:{b64url_encode(b'null')}.." + "A" * 16 + ".AAAA." + "A" * 22, "INVALID"),
        ("Bearer tsk_not_a_session_token", "MALFORMED"),
        # Nested just inside joserfc's 1024-byte header cap, and well past it.
        (f"{TAG}:{b64url_encode(b'[' * 768)}..AAAA.AAAA.AAAA", "INVALID"),
        (f"{TAG}:{b64url_encode(b'[' * 3000)}..AAAA.AAAA.AAAA", "INVALID"),
    ],
)
async def test_token_garbage_is_rejected(
    api: Api, tessera: Tessera, garbage: str, reason: str
) -> None:
    await issue(api, tessera)

    await assert_rejected(api, garbage, reason)


async def test_token_lone_surrogate_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    tag, segments = split(issued.token)

    await assert_rejected(api, join(tag, [*segments[:3], "\ud800", segments[4]]), "INVALID")
    await assert_rejected(api, f"\udfff{issued.token}", "WRONG_SESSION")


@pytest.mark.parametrize("field", ["product", "env", "tag"])
async def test_target_that_is_no_slug_is_rejected(api: Api, tessera: Tessera, field: str) -> None:
    # (A target the edge refuses, such as a lone surrogate, is INVALID_INPUT before any
    # verification: tests/api/test_edge.py.)
    issued = await issue(api, tessera)
    token = join("Zoë App", split(issued.token)[1]) if field == "tag" else issued.token

    await assert_rejected(api, token, "WRONG_SESSION", **{field: "Zoë App"})


# --- the token belongs to one product, env and tag ---------------------------------------


async def test_token_wrong_tag_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    await issue(api, tessera, tag="checkout-session")

    await assert_rejected(api, issued.token, "WRONG_SESSION", tag="checkout-session")


async def test_token_wrong_env_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    await issue(api, tessera, env="dev")  # dev has its own ring and the same tag

    await assert_rejected(api, issued.token, "WRONG_SESSION", env="dev")


async def test_token_env_without_key_ring_is_rejected_and_creates_no_keys(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)
    product = await tessera.catalog.find_product(PRODUCT)
    assert product is not None and "staging" in product.envs

    await assert_rejected(api, issued.token, "WRONG_SESSION", env="staging")
    assert await tessera.store.list_keys(product.id, "staging") == []


async def test_token_unknown_env_is_rejected_and_provisions_nothing(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)

    await assert_rejected(api, issued.token, "WRONG_SESSION", env="qa")
    product = await tessera.catalog.find_product(PRODUCT)
    assert product is not None and "qa" not in product.envs
    assert await tessera.store.list_keys(product.id, "qa") == []


async def test_token_reason_does_not_depend_on_what_exists(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    await issue(api, tessera, product="dashboard")

    # A real token asked about another product: the same answer whether it exists.
    await assert_rejected(api, issued.token, "WRONG_SESSION", product="dashboard")
    await assert_rejected(api, issued.token, "WRONG_SESSION", product="no-such-product")
    # A forged token: the same answer whether the product exists.
    forged = join(
        TAG, ["eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoibm9wZSJ9", "", "a", "b", "c"]
    )
    await assert_rejected(api, forged, "INVALID")
    await assert_rejected(api, forged, "INVALID", product="no-such-product")


async def test_token_wrong_product_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    await issue(api, tessera, product="dashboard")  # same env and tag, another ring

    await assert_rejected(api, issued.token, "WRONG_SESSION", product="dashboard")


async def test_token_unknown_product_is_rejected_and_provisions_nothing(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)
    before = await api.op("Products")

    await assert_rejected(api, issued.token, "WRONG_SESSION", product="ghost-product")

    assert await api.op("Products") == before
    assert "ghost-product" not in {p["tag"] for p in before["products"]}
    assert await tessera.store.get_product("ghost-product") is None


async def test_token_unknown_tag_is_rejected_and_provisions_nothing(
    api: Api, tessera: Tessera
) -> None:
    issued = await issue(api, tessera)
    _, segments = split(issued.token)

    await assert_rejected(api, join("ghost-tag", segments), "WRONG_SESSION", tag="ghost-tag")
    configs = await api.op("SessionConfigs", product=PRODUCT)
    assert [c["tag"] for c in configs["sessionConfigs"]] == [TAG]


# --- correctly encrypted tokens with bad claims ---------------------------------------


_MISSING = object()


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("typ", "refresh", "INVALID"),
        ("typ", _MISSING, "INVALID"),
        ("iss", "someone-else", "INVALID"),
        ("aud", "ecommerce:prd", "WRONG_SESSION"),
        ("aud", f"{PRODUCT}:dev", "WRONG_SESSION"),
        ("aud", PRODUCT, "WRONG_SESSION"),
        ("aud", None, "WRONG_SESSION"),
        ("tag", "checkout-session", "WRONG_SESSION"),
        ("sid", _MISSING, "INVALID"),
        ("sid", "no-such-session", "REVOKED"),
    ],
    ids=[
        "wrong-typ", "missing-typ", "wrong-iss", "aud-other-product", "aud-other-env",
        "aud-product-only", "aud-null", "wrong-tag", "missing-sid", "unknown-sid",
    ],
)  # fmt: skip
async def test_claims_one_claim_wrong_is_rejected(
    api: Api, tessera: Tessera, name: str, value: Any, reason: str
) -> None:
    issued = await issue(api, tessera)
    claims = {k: v for k, v in issued.claims.items() if k != name}
    if value is not _MISSING:
        claims[name] = value

    await assert_rejected(api, forge(header_of(issued), claims, issued.key), reason)


async def test_claims_sid_of_sibling_config_session_is_rejected(api: Api, tessera: Tessera) -> None:
    """Same ring, valid claims for our tag, but the session belongs to another config."""
    issued = await issue(api, tessera)
    sibling = await issue(api, tessera, tag="checkout-session")
    claims = {**issued.claims, "sid": sibling.session_id}

    await assert_rejected(api, forge(header_of(issued), claims, issued.key), "WRONG_SESSION")


async def test_claims_iat_in_future_is_rejected(
    api: Api, tessera: Tessera, clock: FrozenClock
) -> None:
    issued = await issue(api, tessera)
    iat = int(clock.now()) + HOUR
    claims = {**issued.claims, "iat": iat, "exp": iat + HOUR}

    await assert_rejected(api, forge(header_of(issued), claims, issued.key), "INVALID")


async def test_claims_exp_in_past_is_rejected(
    api: Api, tessera: Tessera, clock: FrozenClock
) -> None:
    issued = await issue(api, tessera)
    now = int(clock.now())
    claims = {**issued.claims, "iat": now - 2 * HOUR, "exp": now - HOUR}

    await assert_rejected(api, forge(header_of(issued), claims, issued.key), "EXPIRED")


async def test_claims_exp_not_after_iat_is_rejected(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    claims = {**issued.claims, "exp": issued.claims["iat"]}

    await assert_rejected(api, forge(header_of(issued), claims, issued.key), "INVALID")


@pytest.mark.parametrize(
    ("name", "value"),
    [("iat", "1800000000"), ("exp", 1_800_003_600.5), ("exp", None), ("sid", 12345)],
)
async def test_claims_wrong_type_is_rejected(
    api: Api, tessera: Tessera, name: str, value: Any
) -> None:
    issued = await issue(api, tessera)
    claims = {**issued.claims, name: value}

    await assert_rejected(api, forge(header_of(issued), claims, issued.key), "INVALID")


@pytest.mark.parametrize(
    "payload", [b"[1, 2, 3]", b'"session"', b"null", b"not json", b"", b"\xff\xfe"]
)
async def test_claims_not_an_object_is_rejected(api: Api, tessera: Tessera, payload: bytes) -> None:
    issued = await issue(api, tessera)

    await assert_rejected(api, forge(header_of(issued), payload, issued.key), "INVALID")


# --- expiry through the injected clock ------------------------------------------------


async def test_token_after_one_hour_is_expired(
    api: Api, tessera: Tessera, clock: FrozenClock
) -> None:
    issued = await issue(api, tessera)
    assert issued.claims["exp"] - issued.claims["iat"] == HOUR

    clock.advance(HOUR - 1)
    assert (await verify(api, issued.token))["valid"] is True

    clock.advance(1)
    await assert_rejected(api, issued.token, "EXPIRED")


async def test_token_far_past_session_lifetime_is_expired(
    api: Api, tessera: Tessera, clock: FrozenClock
) -> None:
    issued = await issue(api, tessera)

    clock.advance(31 * 24 * HOUR)

    await assert_rejected(api, issued.token, "EXPIRED")


# --- confidentiality and fidelity of the payload -------------------------------------


async def test_token_details_not_readable_in_any_segment(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    tag, segments = split(issued.token)
    secrets = [DETAILS["email"], DETAILS["username"], USER_ID]

    assert tag == TAG
    assert json.loads(b64url_decode(segments[0])) == {
        "alg": "dir",
        "enc": "A256GCM",
        "kid": issued.kid,
    }
    for segment in segments:
        decoded = b64url_decode(segment)
        for secret in secrets:
            assert secret.encode() not in decoded
            assert secret not in segment
    for secret in secrets:
        assert secret not in issued.token
    # ...and yet they are all in there, for the key holder.
    assert issued.claims["details"] == DETAILS and issued.claims["sub"] == USER_ID


async def test_data_roundtrip_deep_equals_what_was_stored(api: Api, tessera: Tessera) -> None:
    user_id = "ユーザー_42 Zoë"
    details: dict[str, Any] = {
        "name": "Zoë 🍓",
        "greeting": "こんにちは、世界",
        "nested": {"a": {"b": {"c": [1, 2, {"d": None}]}}, "empty": {}, "none": []},
        "list": [1, -2, 3.5, 0, True, False, None, "x", [], {}, ["y", {"z": "ü"}]],
        "numbers": {"int": 42, "neg": -7, "float": 2.5, "zero": 0, "big": 2**53 + 1},
        "flags": {"yes": True, "no": False},
        "nothing": None,
        "empty": "",
        "escapes": 'quote " backslash \\ newline \n tab \t',
    }

    issued = await issue(api, tessera, user_id=user_id, details=details)
    result = await verify(api, issued.token)

    assert result["valid"] is True
    assert result["data"] == {"userId": user_id, "details": details}
    # ``True == 1`` in Python: compare the JSON too so types cannot drift.
    assert json.dumps(result["data"]["details"], sort_keys=True) == json.dumps(
        details, sort_keys=True
    )
    assert issued.claims["details"] == details


# --- the same token presented as an end user's bearer ---------------------------------


async def test_bearer_valid_token_is_accepted(api: Api, tessera: Tessera) -> None:
    """Control for the bearer cases below."""
    issued = await issue(api, tessera)

    body = await api.post(operation("CurrentSession"), key=issued.token)

    assert "errors" not in body, body
    assert body["data"]["currentSession"]["id"] == issued.session_id


@pytest.mark.parametrize(
    "header",
    [
        # Deeply nested JSON: recursed past Python's limit while reading the kid (was a 500).
        "[" * 3000,
        # A kid that is a lone surrogate: the store cannot encode it (was a 500).
        '{"alg":"dir","enc":"A256GCM","kid":"\\ud800"}',
        '{"alg":"dir","enc":"A256GCM","kid":["x"]}',
        "not json",
    ],
    ids=["deep-nesting", "surrogate-kid", "list-kid", "not-json"],
)
async def test_bearer_crafted_header_is_unauthenticated(
    api: Api, tessera: Tessera, header: str
) -> None:
    await issue(api, tessera)
    token = join(TAG, [b64url_encode(header.encode()), "", "AAAA", "AAAA", "AAAA"])
    assert len(token) <= tessera.settings.max_token_length

    body = await api.post(operation("CurrentSession"), key=token)

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


async def test_bearer_alg_none_with_real_kid_is_unauthenticated(api: Api, tessera: Tessera) -> None:
    issued = await issue(api, tessera)
    token = seal({"alg": "none", "enc": "A256GCM", "kid": issued.kid}, issued.claims, issued.key)

    body = await api.post(operation("CurrentSession"), key=token)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
