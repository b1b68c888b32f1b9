"""Session tokens: ``<tag>:<compact JWE>`` with ``alg=dir``, ``enc=A256GCM`` and a ``kid``
(``ENCRYPTED``), or ``<tag>:<compact JWS>`` with ``alg=ES256`` and a ``kid``
(``SIGNED``: readable by whoever holds it, verifiable by anyone from the JWKS).

Decoding pins the algorithms of the format the session config chose (never the one a
header asks for), resolves the ``kid`` only among the keys of that algorithm of the
ring it is given, refuses ``zip``, ``crit``, ``jku``/``jwk``/``x5u`` and caps the length
before any parsing. Claims are checked by the caller (joserfc checks none by itself).
Every JOSE failure becomes ``BadToken`` here."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from joserfc import jwe, jws
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey, GuestProtocol, OctKey
from joserfc.jws import JWSRegistry

ALG = "dir"
ENC = "A256GCM"
SIGNING_ALG = "ES256"
TOKEN_TYPE = "session"  # noqa: S105 - a claim value, not a secret
# The issuer of tokens minted before issuers were URLs; still accepted from them.
LEGACY_ISSUER = "tessera"
_REGISTRY = JWERegistry(algorithms=[ALG, ENC])
_SIGNING_REGISTRY = JWSRegistry(algorithms=[SIGNING_ALG])
# The JWS header a signed token may have: anything else (crit, jku, jwk, x5u, b64...) is
# refused rather than interpreted.
_SIGNED_HEADER = frozenset({"alg", "kid", "typ"})
SIGNED_TYP = "JWT"
# Dots in a compact serialization: a JWS has three segments, a JWE five.
SIGNED_DOTS, ENCRYPTED_DOTS = 2, 4


def issuer(base_url: str, product: str, env: str) -> str:
    """The issuer of a (product, env): ``<public base URL>/products/<product>/<env>``."""
    return f"{base_url}/products/{product}/{env}"


def issued_here(iss: object, product: str, env: str) -> bool:
    """Whether ``iss`` names this (product, env): its issuer under any base URL (the key
    that verified the token is the proof of origin; the base is deployment
    configuration, which instances may spell differently and may change), or the
    constant issuer of tokens minted before."""
    return isinstance(iss, str) and (
        iss == LEGACY_ISSUER or iss.endswith(f"/products/{product}/{env}")
    )


class Reason(StrEnum):
    """Why a token is not valid (GraphQL ``VerificationReason``): deliberately coarse,
    so an answer never tells which check failed beyond these."""

    MALFORMED = "MALFORMED"
    INVALID = "INVALID"
    WRONG_SESSION = "WRONG_SESSION"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


FORGERY_REASONS = frozenset({Reason.MALFORMED, Reason.INVALID})
"""Reasons only a made-up or tampered token earns: the failures rate limits count.
``EXPIRED``, ``REVOKED`` and ``WRONG_SESSION`` are everyday outcomes for a busy backend
(a user's old token, a logout elsewhere, a backend serving several tags)."""


class BadToken(Exception):
    """The token is not one of ours for this ring. ``reason`` is the public reason."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(tag: str, kid: str, key: OctKey, claims: dict[str, Any]) -> str:
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    compact = jwe.encrypt_compact(
        {"alg": ALG, "enc": ENC, "kid": kid}, payload, key, registry=_REGISTRY
    )
    return f"{tag}:{compact}"


def sign(tag: str, kid: str, key: ECKey, claims: dict[str, Any]) -> str:
    payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
    compact = jws.serialize_compact(
        {"alg": SIGNING_ALG, "kid": kid, "typ": SIGNED_TYP},
        payload,
        key,
        registry=_SIGNING_REGISTRY,
    )
    return f"{tag}:{compact}"


def split(token: str, max_length: int) -> tuple[str, str]:
    """``(tag, compact)``; ``BadToken(Reason.MALFORMED)`` for anything not shaped like ours
    (a JWS or a JWE; which one a config accepts is checked by ``verify_signed`` and
    ``decrypt``)."""
    if not token or len(token) > max_length:
        raise BadToken(Reason.MALFORMED)
    tag, sep, compact = token.partition(":")
    if not sep or compact.count(".") not in (SIGNED_DOTS, ENCRYPTED_DOTS):
        raise BadToken(Reason.MALFORMED)
    return tag, compact


def unverified_kid(compact: str) -> str | None:
    """The ``kid`` a token claims, read without trusting it: it only selects which
    ring to try, and ``decrypt`` then applies every check."""
    header = compact.partition(".")[0]
    try:
        value = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # deeply nested JSON recurses
        return None
    kid = value.get("kid") if isinstance(value, dict) else None
    # Our kids are URL-safe ASCII; anything else names no key, and a lone surrogate
    # would not even encode for the store's lookup.
    return kid if isinstance(kid, str) and kid.isascii() else None


def decrypt(compact: str, ring: Mapping[str, OctKey]) -> dict[str, Any]:
    """Decrypt with a key from ``ring`` (kid to key) only and return the claims."""
    if compact.count(".") != ENCRYPTED_DOTS:
        raise BadToken(Reason.INVALID)  # a JWS is never accepted where a JWE is due

    def resolve(obj: GuestProtocol) -> OctKey:
        headers = obj.headers()
        # The registry already pins alg/enc; these checks keep the rules explicit and
        # independent of the library's defaults.
        if headers.get("alg") != ALG or headers.get("enc") != ENC or "zip" in headers:
            raise BadToken(Reason.INVALID)
        kid = headers.get("kid")
        key = ring.get(kid) if isinstance(kid, str) else None
        if not isinstance(key, OctKey):
            raise BadToken(Reason.INVALID)
        return key

    try:
        plaintext = jwe.decrypt_compact(compact, resolve, registry=_REGISTRY).plaintext
        claims = json.loads(plaintext) if plaintext is not None else None
    except BadToken:
        raise
    except (JoseError, ValueError, TypeError, KeyError):
        raise BadToken(Reason.INVALID) from None
    if not isinstance(claims, dict):
        raise BadToken(Reason.INVALID)
    return claims


def verify_signed(compact: str, ring: Mapping[str, ECKey]) -> dict[str, Any]:
    """Verify an ES256 signature by a key from ``ring`` (kid to public key) only and
    return the claims. A JWE, ``alg: none``, an HMAC signed with a public key as its
    secret, a kid of another ring or of an encryption key: all ``INVALID``."""
    if compact.count(".") != SIGNED_DOTS:
        raise BadToken(Reason.INVALID)  # a JWE is never accepted where a JWS is due

    def resolve(obj: GuestProtocol) -> ECKey:
        headers = obj.headers()
        if headers.get("alg") != SIGNING_ALG or not set(headers) <= _SIGNED_HEADER:
            raise BadToken(Reason.INVALID)
        kid = headers.get("kid")
        key = ring.get(kid) if isinstance(kid, str) else None
        if not isinstance(key, ECKey):
            raise BadToken(Reason.INVALID)
        return key

    try:
        payload = jws.deserialize_compact(compact, resolve, registry=_SIGNING_REGISTRY).payload
        claims = json.loads(payload)
    except BadToken:
        raise
    except (JoseError, ValueError, TypeError, KeyError):
        raise BadToken(Reason.INVALID) from None
    if not isinstance(claims, dict):
        raise BadToken(Reason.INVALID)
    return claims
