"""Refresh tokens: ``<session id>.<generation>:<secret>``.

The part before ``:`` is a lookup id; the secret is 256 bits derived as
HMAC-SHA256(refresh key, session id | generation | per-session salt). Only a hash of the
current generation's secret is stored. Deriving (rather than drawing) the secret makes
the successor of a given refresh token a pure function of it, which is what lets
concurrent redemptions inside the grace window all receive the same successor without
the store ever holding a plaintext token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

SALT_BYTES = 16
_FORMAT = re.compile(r"([A-Za-z0-9_-]{8,64})\.(\d{1,9}):([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class RefreshToken:
    session_id: str
    generation: int
    secret: str

    def __repr__(self) -> str:
        return f"RefreshToken(session_id={self.session_id!r}, generation={self.generation})"

    def __str__(self) -> str:
        return f"{self.session_id}.{self.generation}:{self.secret}"


def derive(key: bytes, session_id: str, generation: int, salt: bytes) -> RefreshToken:
    mac = hmac.new(key, f"{session_id}|{generation}|".encode() + salt, hashlib.sha256)
    secret = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    return RefreshToken(session_id, generation, secret)


def parse(value: str) -> RefreshToken | None:
    match = _FORMAT.fullmatch(value)
    if match is None:
        return None
    return RefreshToken(match[1], int(match[2]), match[3])


def secret_hash(token: RefreshToken) -> bytes:
    return hashlib.sha256(token.secret.encode()).digest()
