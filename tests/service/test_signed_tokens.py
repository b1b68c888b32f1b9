"""SIGNED tokens: ``<tag>:<JWS compact>``, ES256 with the ring's signing key. The config
decides the format and its algorithm, never the token: every class of algorithm
confusion is ``INVALID``; revocation is still checked; details stay out of the token
unless the config puts them in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey

from service import tokens
from service.catalog import ConfigSpec, TokenFormat
from service.keyring import ENCRYPTION, SIGNING
from service.tessera import Tessera
from service.tokens import Reason

SIGNED = ("shop", "prd", "signed")
ENCRYPTED = ("shop", "prd", "web")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parts(token: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    tag, compact = token.split(":", 1)
    header, payload, _ = compact.split(".")
    return tag, json.loads(unb64(header)), json.loads(unb64(payload))


def es256(signing_input: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def jws(tag: str, header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{tag}:{signing_input}.{sign(signing_input.encode())}"


@pytest.fixture
async def shop(tessera: Tessera) -> Tessera:
    await tessera.catalog.create_product("shop", "Shop", ["prd"])
    await tessera.catalog.create_product("other", "Other", ["prd"])
    await tessera.catalog.create_config("shop", ConfigSpec("web"))
    for product in ("shop", "other"):
        await tessera.catalog.create_config(
            product, ConfigSpec("signed", token_format=TokenFormat.SIGNED)
        )
    await tessera.catalog.create_config(
        "shop",
        ConfigSpec("open", token_format=TokenFormat.SIGNED, signed_details=True),
    )
    return tessera


async def signing_key(tessera: Tessera, product: str = "shop") -> tuple[str, ECKey]:
    record = await tessera.catalog.product(product)
    key = await tessera.keyrings.for_minting(record.id, "prd", SIGNING)
    assert isinstance(key.key, ECKey)
    return key.kid, key.key


async def test_signed_token_is_an_es256_jws_with_the_claims_and_no_details(shop: Tessera) -> None:
    issued = await shop.sessions.create(*SIGNED, "u1", {"email": "a@example.com"})

    tag, header, claims = parts(issued.token)
    assert tag == "signed"
    kid, _ = await signing_key(shop)
    assert header == {"alg": "ES256", "kid": kid, "typ": "JWT"}
    assert claims["iss"] == "http://127.0.0.1:8000/products/shop/prd"
    assert claims["aud"] == "shop:prd" and claims["sub"] == "u1"
    assert claims["sid"] == issued.session_id and claims["tag"] == "signed"
    assert claims["exp"] - claims["iat"] == 3600 and claims["typ"] == "session"
    assert "details" not in claims
    # verifySession still answers the details, from the session's sealed copy.
    verified = await shop.sessions.verify(*SIGNED, issued.token)
    assert verified.valid and verified.details == {"email": "a@example.com"}


async def test_signed_details_opt_in_puts_them_in_the_token(shop: Tessera) -> None:
    issued = await shop.sessions.create("shop", "prd", "open", "u1", {"email": "a@example.com"})

    assert parts(issued.token)[2]["details"] == {"email": "a@example.com"}
    verified = await shop.sessions.verify("shop", "prd", "open", issued.token)
    assert verified.details == {"email": "a@example.com"}


async def test_signed_token_of_a_revoked_session_is_revoked(shop: Tessera) -> None:
    issued = await shop.sessions.create(*SIGNED, "u1", {})
    assert await shop.sessions.revoke(*SIGNED, session_id=issued.session_id) == 1

    assert (await shop.sessions.verify(*SIGNED, issued.token)).reason == Reason.REVOKED


async def test_signed_refresh_mints_a_signed_token(shop: Tessera) -> None:
    issued = await shop.sessions.create(*SIGNED, "u1", {})
    refreshed = await shop.sessions.refresh(*SIGNED, issued.refresh_token)

    assert parts(refreshed.token)[1]["alg"] == "ES256"
    assert (await shop.sessions.verify(*SIGNED, refreshed.token)).valid


# Algorithm confusion ------------------------------------------------------------------
async def forgeries(shop: Tessera) -> dict[str, str]:
    """Tokens that must all be refused for the SIGNED config, each one class."""
    issued = await shop.sessions.create(*SIGNED, "u1", {})
    _, header, claims = parts(issued.token)
    kid, key = await signing_key(shop)
    public_pem = key.as_pem(private=False)
    public_jwk = json.dumps(key.as_dict(private=False)).encode()
    foreign = ec.generate_private_key(ec.SECP256R1())
    enc = await shop.keyrings.for_minting(
        (await shop.catalog.product("shop")).id, "prd", ENCRYPTION
    )

    def hs256(secret: bytes) -> Any:
        return lambda data: b64(hmac.new(secret, data, hashlib.sha256).digest())

    def signed_by(k: ECKey) -> Any:
        private = k.private_key
        assert isinstance(private, ec.EllipticCurvePrivateKey)
        return lambda data: es256(data, private)

    good = signed_by(key)
    longer = {**claims, "exp": claims["exp"] + 86_400}
    return {
        "alg none": jws("signed", {"alg": "none", "kid": kid}, claims, lambda data: ""),
        "alg None": jws("signed", {"alg": "None", "kid": kid}, claims, lambda data: ""),
        "HS256 with the public key (PEM) as secret": jws(
            "signed", {"alg": "HS256", "kid": kid}, claims, hs256(public_pem)
        ),
        "HS256 with the public JWK as secret": jws(
            "signed", {"alg": "HS256", "kid": kid}, claims, hs256(public_jwk)
        ),
        "ES384 header": jws("signed", {"alg": "ES384", "kid": kid}, claims, good),
        "signed by another key under the ring's kid": jws(
            "signed", {"alg": "ES256", "kid": kid}, claims, lambda d: es256(d, foreign)
        ),
        "unknown kid": jws("signed", {"alg": "ES256", "kid": "nope"}, claims, good),
        "no kid": jws("signed", {"alg": "ES256"}, claims, good),
        "the encryption key's kid": jws("signed", {"alg": "ES256", "kid": enc.kid}, claims, good),
        "embedded jwk header": jws(
            "signed",
            {"alg": "ES256", "kid": kid, "jwk": key.as_dict(private=False)},
            claims,
            good,
        ),
        "jku header": jws(
            "signed", {"alg": "ES256", "kid": kid, "jku": "https://evil.example/jwks"}, claims, good
        ),
        "crit header": jws(
            "signed", {"alg": "ES256", "kid": kid, "crit": ["exp"], "exp": 1}, claims, good
        ),
        "payload changed after signing": issued.token.rsplit(".", 2)[0]
        + "."
        + b64(json.dumps(longer).encode())
        + "."
        + issued.token.rsplit(".", 1)[1],
        "signature stripped": issued.token.rsplit(".", 1)[0] + ".",
        "a JWE (the ENCRYPTED format) for the SIGNED config": "signed:"
        + (await shop.sessions.create(*ENCRYPTED, "u1", {})).token.split(":", 1)[1],
        "header alg rewritten": jws("signed", {**header, "alg": "RS256"}, claims, good),
    }


async def test_every_algorithm_confusion_is_invalid(shop: Tessera) -> None:
    found = {
        name: (await shop.sessions.verify(*SIGNED, token)).reason
        for name, token in (await forgeries(shop)).items()
    }

    assert found == dict.fromkeys(found, Reason.INVALID)


async def test_a_jws_is_never_accepted_for_an_encrypted_config(shop: Tessera) -> None:
    signed = await shop.sessions.create(*SIGNED, "u1", {})
    as_web = "web:" + signed.token.split(":", 1)[1]

    assert (await shop.sessions.verify(*ENCRYPTED, as_web)).reason == Reason.INVALID


async def test_another_products_signed_token_is_refused(shop: Tessera) -> None:
    theirs = await shop.sessions.create("other", "prd", "signed", "u1", {})

    verification = await shop.sessions.verify(*SIGNED, theirs.token)
    assert verification.reason == Reason.WRONG_SESSION
    # Re-signed with our own kid in its header but their key: a forgery.
    kid, _ = await signing_key(shop)
    _, their_key = await signing_key(shop, "other")
    private = their_key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    _, _, claims = parts(theirs.token)
    claims = {**claims, "aud": "shop:prd", "iss": "http://127.0.0.1:8000/products/shop/prd"}
    forged = jws("signed", {"alg": "ES256", "kid": kid}, claims, lambda data: es256(data, private))
    assert (await shop.sessions.verify(*SIGNED, forged)).reason == Reason.INVALID


async def test_issuer_must_name_this_product_and_env(shop: Tessera) -> None:
    issued = await shop.sessions.create(*SIGNED, "u1", {})
    kid, key = await signing_key(shop)
    _, _, claims = parts(issued.token)

    def resigned(**changes: Any) -> str:
        return tokens.sign("signed", kid, key, {**claims, **changes})

    assert (await shop.sessions.verify(*SIGNED, resigned())).valid
    # Another base URL (an instance configured otherwise, an earlier setting) or the
    # constant issuer of tokens minted before issuers were URLs: still this issuer.
    assert (
        await shop.sessions.verify(*SIGNED, resigned(iss="https://a.example/products/shop/prd"))
    ).valid
    assert (await shop.sessions.verify(*SIGNED, resigned(iss="tessera"))).valid
    for iss in ("https://a.example/products/other/prd", "https://a.example", None, 7):
        assert (await shop.sessions.verify(*SIGNED, resigned(iss=iss))).reason == Reason.INVALID
