"""Session tokens: ``<tag>:<compact JWE>`` with ``alg=dir``, ``enc=A256GCM`` and a ``kid``.

Decoding pins the algorithms, resolves the ``kid`` only inside the ring it is given,
refuses ``zip`` and caps the length before any parsing. Claims are checked by the caller
(joserfc checks none by itself). Every JOSE failure becomes ``BadToken`` here."""

from __future__ import annotations

import base64
import binascii
import json
from enum import StrEnum
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import GuestProtocol, OctKey

from service.keyring import KeyRing

ALG = "dir"
ENC = "A256GCM"
TOKEN_TYPE = "session"  # noqa: S105 - a claim value, not a secret
ISSUER = "tessera"
_REGISTRY = JWERegistry(algorithms=[ALG, ENC])


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


def split(token: str, max_length: int) -> tuple[str, str]:
    """``(tag, compact)``; ``BadToken(Reason.MALFORMED)`` for anything not shaped like ours."""
    if not token or len(token) > max_length:
        raise BadToken(Reason.MALFORMED)
    tag, sep, compact = token.partition(":")
    if not sep or compact.count(".") != 4:
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


def decrypt(compact: str, ring: KeyRing) -> dict[str, Any]:
    """Decrypt with a key from ``ring`` only and return the claims."""

    def resolve(obj: GuestProtocol) -> OctKey:
        headers = obj.headers()
        # The registry already pins alg/enc; these checks keep the rules explicit and
        # independent of the library's defaults.
        if headers.get("alg") != ALG or headers.get("enc") != ENC or "zip" in headers:
            raise BadToken(Reason.INVALID)
        kid = headers.get("kid")
        key = ring.keys.get(kid) if isinstance(kid, str) else None
        if key is None:
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
