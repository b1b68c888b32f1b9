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
    moved to another row does not decrypt.

    During a master-key rotation it also holds the ``previous`` key: it wraps with the
    current key only, and unwraps with either, so what is still wrapped by the previous
    key stays readable until ``tessera rotate-master-key`` has re-wrapped it."""

    __slots__ = ("_aead", "_previous", "_raw")

    def __init__(self, raw: bytes, previous: bytes | None = None) -> None:
        if len(raw) != 32 or (previous is not None and len(previous) != 32):
            raise ValueError("master key must be 32 bytes")
        self._raw = raw
        self._aead = AESGCM(raw)
        self._previous = None if previous is None or previous == raw else MasterKey(previous)

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"

    @property
    def previous(self) -> MasterKey | None:
        """The previous master key, while a rotation is under way."""
        return self._previous

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def unwrap(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            if self._previous is not None:
                return self._previous.unwrap(blob, aad)
            raise UnwrapFailed("wrapped value does not match the master key") from None

    def rewrap(self, blob: bytes, aad: bytes) -> bytes | None:
        """``blob`` wrapped by the current key, or ``None`` if it already is."""
        try:
            self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except (InvalidTag, ValueError):
            return self.wrap(self.unwrap(blob, aad), aad)
        return None

    def derive(self, purpose: bytes) -> bytes:
        """A 32-byte subkey for one purpose (HKDF-SHA256) of this very key. Keys that
        must outlive a master-key rotation are derived once and then kept wrapped in
        the store (``service.datakeys``), never derived again."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(self._raw)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
