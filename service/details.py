"""Session details at rest: sealed with AES-256-GCM under a key derived from the master
key, so a copied database reveals none of them.

A sealed value is the text ``base64url(key id || nonce || ciphertext || tag)``: one
byte naming the details key (a master-key rotation adds the next id and keeps the old
one for reading), a random 96-bit nonce per value, and the session id with the key id
as associated data, so a value moved to another row does not open. Details stored
before they were sealed are JSON objects (they start with ``{``, which base64url never
does) and are still read until ``Sessions.seal_stored_details`` has sealed them."""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from service.crypto import MasterKey

NONCE_BYTES = 12
# The id of the key derived with ``KEY_INFO``; HKDF's info keeps it apart from every
# other key derived from the master key.
KEY_ID = 1
KEY_INFO = b"tessera session details v1"
# Plain details as stored before sealing: a JSON object.
PLAIN_PREFIX = "{"


class UnreadableDetails(Exception):
    """Stored details that do not open: altered, moved from another row, or sealed with
    a key this instance does not hold."""


class DetailsCipher:
    """Seals and opens the ``details`` of session rows."""

    __slots__ = ("_active", "_keys")

    def __init__(self, keys: dict[int, bytes], active: int) -> None:
        if active not in keys or not all(0 < kid < 256 for kid in keys):
            raise ValueError("the active key id must be one of the keys, each in 1-255")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active

    @classmethod
    def for_master(cls, master: MasterKey) -> DetailsCipher:
        return cls({KEY_ID: master.derive(KEY_INFO)}, KEY_ID)

    def __repr__(self) -> str:
        return f"DetailsCipher(active={self._active}, keys=<hidden>)"

    @staticmethod
    def _aad(kid: int, session_id: str) -> bytes:
        return b"tessera-details:%d:" % kid + session_id.encode()

    def seal(self, session_id: str, details_json: str) -> str:
        """The stored form of ``details_json`` for the row ``session_id``."""
        nonce = os.urandom(NONCE_BYTES)
        aead = self._keys[self._active]
        sealed = aead.encrypt(nonce, details_json.encode(), self._aad(self._active, session_id))
        blob = bytes((self._active,)) + nonce + sealed
        return base64.urlsafe_b64encode(blob).rstrip(b"=").decode()

    def open(self, session_id: str, stored: str) -> Any:
        """The details of the row ``session_id``, decoded from JSON."""
        if stored.startswith(PLAIN_PREFIX):
            return json.loads(stored)
        try:
            blob = base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
        except (binascii.Error, ValueError):
            raise UnreadableDetails("stored details are not a sealed value") from None
        aead = self._keys.get(blob[0]) if blob else None
        if aead is None:
            raise UnreadableDetails("stored details are sealed with an unknown key")
        try:
            plain = aead.decrypt(
                blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], self._aad(blob[0], session_id)
            )
        except (InvalidTag, ValueError):
            raise UnreadableDetails("stored details do not open for this session") from None
        return json.loads(plain)

    @staticmethod
    def is_plain(stored: str) -> bool:
        return stored.startswith(PLAIN_PREFIX)
