"""Who a request is, and what it may do.

API keys look like ``tsk_<43 url-safe chars>`` (256 random bits). Only SHA-256 of a key
is stored; a fast hash is right for a 256-bit random secret, and the lookup is by that
hash followed by a constant-time comparison. Any other bearer is taken to be an end
user's session token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, Literal

from service.cache import Cache
from service.catalog import Catalog
from service.clock import Clock
from service.crypto import constant_time_equal, sha256
from service.errors import CredentialEnded, Forbidden, InvalidInput, NotFound, Unauthenticated
from service.events import SYSTEM, EventType, Origin, event
from service.sessions import SessionOwner, Sessions
from service.settings import API_KEY_PREFIX
from service.tokens import Reason
from service.validation import name as valid_name
from service.validation import slug, text
from store import ApiKeyRecord, ProductRecord, SessionRecord, Store

ENV_ADMIN_KEY_ID = "env-admin"
# lastUsedAt is written at most this often per key, so authentication stays a read.
LAST_USED_INTERVAL_SECONDS = 60.0
MAX_CREDENTIAL_LENGTH = 16 * 1024


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> bytes:
    return sha256(key.encode())


def is_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


class Need(Enum):
    """What an operation requires of its caller."""

    ADMIN = "admin key"
    PRODUCT = "admin key, or a key of the product (and env)"
    REFRESH = "nothing (the refresh token is the credential), or a key in scope"
    END_USER = "the end user's own session token"
    ENTITY = (
        "an admin key, a product key or an end user's session token "
        "(each entity is then checked like the root fields that reach it)"
    )


@dataclass(frozen=True, slots=True)
class EndUser:
    """The session an end user's token belongs to."""

    product: str
    env: str
    tag: str
    session: SessionRecord
    # From the token, which carries them (the row holds a sealed copy).
    details: Any


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    kind: Literal["admin", "product", "session"]
    key_id: str | None = None
    product: str | None = None
    envs: tuple[str, ...] | None = None
    end_user: EndUser | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def label(self) -> str:
        """How audit lines name the caller (never a secret)."""
        if self.end_user is not None:
            return f"session:{self.end_user.session.id}"
        return f"key:{self.key_id}"


def authorize(
    principal: Principal | None, need: Need, product: str | None = None, env: str | None = None
) -> None:
    """Raise ``Unauthenticated`` or ``Forbidden`` unless ``principal`` may act on
    (``product``, ``env``) under ``need``. Out-of-scope callers learn nothing about
    whether the target exists: the check compares names only."""
    if principal is None:
        if need is Need.REFRESH:
            return
        raise Unauthenticated(f"this operation needs {need.value}")
    if need is Need.ENTITY:
        return
    if need is Need.END_USER:
        if principal.end_user is None:
            raise Forbidden("this operation needs the end user's session token")
        return
    if principal.is_admin:
        return
    if principal.kind == "product" and need in (Need.PRODUCT, Need.REFRESH):
        in_env = env is None or principal.envs is None or env in principal.envs
        if product == principal.product and in_env:
            return
    raise Forbidden(f"this operation needs {need.value}")


def authorize_user(
    principal: Principal | None, product: str, env: str, identifier: str
) -> str | None:
    """Raise ``Unauthenticated`` or ``Forbidden`` unless ``principal`` may read the
    sessions of the user ``identifier`` names in ``product``'s ``env``; return the
    session config it may read them in. An admin or a product key in scope may read
    them in every config (``None``), as ``activeSessions``; the end user who is that
    user only in the config of the bearer's session, as ``mySessions``. Decided by the
    names alone, so the answer is the same whether or not they exist."""
    if principal is not None and principal.end_user is not None:
        me = principal.end_user
        if (me.product, me.env, me.session.identifier) == (product, env, identifier):
            return me.tag
        raise Forbidden("this operation needs the session token of the user it names")
    authorize(principal, Need.PRODUCT, product, env)
    return None


def may_read(principal: Principal | None, owner: SessionOwner) -> bool:
    """Whether ``principal`` may read a session of ``owner`` (``authorize_user``)."""
    try:
        tag = authorize_user(principal, owner.product, owner.env, owner.identifier)
    except (Unauthenticated, Forbidden):
        return False
    return tag is None or tag == owner.tag


class Access:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        cache: Cache,
        catalog: Catalog,
        sessions: Sessions,
        admin_key: str | None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cache = cache
        self._catalog = catalog
        self._sessions = sessions
        self._admin_hash = None if admin_key is None else key_hash(admin_key)

    def __repr__(self) -> str:
        return "Access(<hidden>)"

    async def authenticate(self, credential: str | None) -> Principal | None:
        """``None`` for an anonymous request; ``Unauthenticated`` for a bad credential
        (``CredentialEnded`` for a session token that has expired or was revoked)."""
        if credential is None:
            return None
        if len(credential) > MAX_CREDENTIAL_LENGTH:
            raise Unauthenticated("the credential is not valid")
        if not is_api_key(credential):
            bearer = await self._sessions.verify_bearer(credential)
            if bearer in (Reason.EXPIRED, Reason.REVOKED):
                raise CredentialEnded("the session token has expired or was revoked")
            if isinstance(bearer, Reason):
                raise Unauthenticated("the session token is not valid")
            return Principal(kind="session", end_user=EndUser(*bearer))
        digest = key_hash(credential)
        if self._admin_hash is not None and constant_time_equal(digest, self._admin_hash):
            return Principal(kind="admin", key_id=ENV_ADMIN_KEY_ID)
        record = await self._cache.api_key(digest)
        if (
            record is None
            or not constant_time_equal(record.key_hash, digest)
            or record.revoked_at is not None
        ):
            raise Unauthenticated("the API key is not valid")
        now = self._clock.now()
        if record.last_used_at is None or now - record.last_used_at >= LAST_USED_INTERVAL_SECONDS:
            # The request that marks the kept copy used writes; concurrent ones with
            # this key find it marked and do not. A copy that is not kept (loaded while a
            # change dropped the cache) writes too: the store's own interval check keeps
            # that to one write.
            used = replace(record, last_used_at=now)
            kept = self._cache.replace_api_key(record, used)
            if kept or not self._cache.holds_other_api_key(record):
                try:
                    await self._store.touch_api_key(record.id, now, LAST_USED_INTERVAL_SECONDS)
                except BaseException:
                    if kept:
                        self._cache.replace_api_key(used, record)
                    raise
        if record.is_admin:
            return Principal(kind="admin", key_id=record.id)
        return Principal(kind="product", key_id=record.id, product=record.product, envs=record.envs)

    async def _insert_key(
        self,
        key_name: str,
        product: ProductRecord | None,
        envs: tuple[str, ...] | None,
        origin: Origin,
    ) -> tuple[str, ApiKeyRecord]:
        product_id = None if product is None else product.id
        key = generate_api_key()
        record = ApiKeyRecord(
            id="key_" + secrets.token_urlsafe(9),
            name=key_name,
            key_hash=key_hash(key),
            product_id=product_id,
            envs=envs,
            is_admin=product_id is None,
            created_at=self._clock.now(),
            last_used_at=None,
            revoked_at=None,
        )
        created = event(
            EventType.API_KEY_CREATED,
            record.created_at,
            origin,
            None if product is None else product.tag,
            subject=record.id,
        )
        await self._store.insert_api_key(record, event=created)
        stored = await self._store.get_api_key(record.id)
        assert stored is not None
        return key, stored

    async def create_admin_key(
        self, key_name: str, *, origin: Origin = SYSTEM
    ) -> tuple[str, ApiKeyRecord]:
        """Create an admin key; the plaintext is returned here only, its hash is kept."""
        return await self._insert_key(valid_name(key_name, "name"), None, None, origin)

    async def create_api_key(
        self, product: str, envs: list[str] | None, key_name: str, *, origin: Origin = SYSTEM
    ) -> tuple[str, ApiKeyRecord]:
        """Create a key scoped to one product and, optionally, some of its envs."""
        product_rec = await self._catalog.product(product)
        env_tuple = None
        if envs is not None:
            if not envs:
                raise InvalidInput("envs must name at least one environment", field="envs")
            for i, env in enumerate(envs):
                slug(env, f"envs.{i}")
                if env not in product_rec.envs:
                    raise InvalidInput(
                        f"product {product!r} has no environment {env!r}", field=f"envs.{i}"
                    )
            env_tuple = tuple(dict.fromkeys(envs))
        return await self._insert_key(valid_name(key_name, "name"), product_rec, env_tuple, origin)

    async def api_keys(self, product: str | None) -> list[ApiKeyRecord]:
        if product is None:
            return await self._store.list_api_keys(None)
        return await self._store.list_api_keys((await self._catalog.product(product)).id)

    async def revoke_api_key(self, key_id: str, *, origin: Origin = SYSTEM) -> ApiKeyRecord:
        """Revoke a key (idempotent); it fails on this instance's very next request,
        and on other instances' within a second (``service.cache``)."""
        text(key_id, "id")
        record = await self._store.get_api_key(key_id)
        if record is not None:
            now = self._clock.now()
            revoked = event(EventType.API_KEY_REVOKED, now, origin, record.product, subject=key_id)
            await self._store.revoke_api_key(key_id, now, event=revoked)
            record = await self._store.get_api_key(key_id)
        if record is None:
            raise NotFound(f"API key {key_id!r} does not exist", field="id")
        return record

    async def has_admin_key(self) -> bool:
        return self._admin_hash is not None or await self._store.count_admin_keys() > 0
