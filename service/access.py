"""API keys and who a request is.

Keys look like ``tsk_<43 url-safe chars>`` (256 random bits). Only SHA-256 of a key is
stored; a fast hash is right for a 256-bit random secret, and the lookup is by that hash
followed by a constant-time comparison."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from service.clock import Clock
from service.crypto import constant_time_equal, sha256
from service.errors import Forbidden, Unauthenticated
from service.settings import API_KEY_PREFIX
from store import ApiKeyRecord, Store

ENV_ADMIN_KEY_ID = "env-admin"


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> bytes:
    return sha256(key.encode())


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    kind: Literal["admin", "product"]
    key_id: str
    product_id: int | None = None
    envs: tuple[str, ...] | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


class Access:
    def __init__(self, store: Store, clock: Clock, admin_key: str | None) -> None:
        self._store = store
        self._clock = clock
        self._admin_hash = None if admin_key is None else key_hash(admin_key)

    def __repr__(self) -> str:
        return "Access(<hidden>)"

    async def authenticate(self, credential: str | None) -> Principal | None:
        """``None`` for an anonymous request; ``Unauthenticated`` for a bad credential."""
        if credential is None:
            return None
        if not credential.startswith(API_KEY_PREFIX) or len(credential) > 256:
            raise Unauthenticated("the credential is not a valid API key")
        digest = key_hash(credential)
        if self._admin_hash is not None and constant_time_equal(digest, self._admin_hash):
            return Principal(kind="admin", key_id=ENV_ADMIN_KEY_ID)
        record = await self._store.get_api_key_by_hash(digest)
        if (
            record is None
            or not constant_time_equal(record.key_hash, digest)
            or record.revoked_at is not None
        ):
            raise Unauthenticated("the credential is not a valid API key")
        if record.is_admin:
            return Principal(kind="admin", key_id=record.id)
        return Principal(
            kind="product", key_id=record.id, product_id=record.product_id, envs=record.envs
        )

    @staticmethod
    def require_admin(principal: Principal | None) -> Principal:
        if principal is None:
            raise Unauthenticated("an API key is required")
        if not principal.is_admin:
            raise Forbidden("this operation needs an admin key")
        return principal

    async def create_admin_key(self, name: str) -> str:
        """Create an admin key and return it in plaintext; only its hash is kept."""
        key = generate_api_key()
        await self._store.insert_api_key(
            ApiKeyRecord(
                id="key_" + secrets.token_urlsafe(9),
                name=name,
                key_hash=key_hash(key),
                product_id=None,
                envs=None,
                is_admin=True,
                created_at=self._clock.now(),
                last_used_at=None,
                revoked_at=None,
            )
        )
        return key

    async def has_admin_key(self) -> bool:
        return self._admin_hash is not None or await self._store.count_admin_keys() > 0
