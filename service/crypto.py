"""The master key: wraps key material at rest and derives purpose-bound subkeys."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


class UnwrapFailed(Exception):
    """Ciphertext or its associated data was not produced by this master key."""


class MasterKey:
    """AES-256-GCM with the wrapped object's identity as associated data, so a blob
    moved to another row does not decrypt."""

    __slots__ = ("_aead", "_raw")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValueError("master key must be 32 bytes")
        self._raw = raw
        self._aead = AESGCM(raw)

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            raise UnwrapFailed("wrapped value does not match the master key") from None

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte subkey for one purpose (HKDF-SHA256), stable across restarts."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(self._raw)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
