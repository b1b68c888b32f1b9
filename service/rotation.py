"""Key rotation: a new key mints from now on; the previous ones verify until the last
token they could have signed has expired, then retire.

That moment is the rotation's time plus the longest session-token lifetime (``expiry``)
among the product's configs — only session tokens are made with ring keys; refresh
tokens are not, and a refresh mints with the new key — plus a margin for clocks that
differ between instances and for the instances that go on minting with the old key
until they hear of the rotation. A config updated less than the longest lifetime
Tessera allows (a day) before the rotation may have minted longer-lived tokens under
its previous settings, so for it that bound counts from its update."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from service.catalog import MAX_ACCESS_SECONDS, Catalog, access_seconds
from service.clock import Clock
from service.errors import EnvNotFound
from service.events import SYSTEM, Origin
from service.keyring import KeyRings
from service.validation import SLUG, slug
from store import Conflict, KeyRecord, Store

log = logging.getLogger("tessera.keys")

# Clocks of instances may differ by this much (as ``iat`` is checked).
CLOCK_SKEW_SECONDS = 60


class KeyState(StrEnum):
    """Where a key is in its life (GraphQL ``KeyState``)."""

    ACTIVE = "active"
    """It makes the new tokens of its kind."""
    VERIFY_ONLY = "verify_only"
    """A rotation replaced it: it verifies the tokens it made until ``retireAt``."""
    RETIRED = "retired"
    """It verifies nothing any more; its material is erased."""


class KeyUse(StrEnum):
    """What a key is for (GraphQL ``KeyUse``), by the algorithm it has."""

    ENCRYPTION = "dir+A256GCM"
    """ENCRYPTED tokens: a JWE, ``alg=dir``, ``enc=A256GCM`` (a symmetric key, never
    published)."""
    SIGNING = "ES256"
    """SIGNED tokens: a JWS, ES256 (EC P-256); its public half is in the JWKS."""


@dataclass(frozen=True, slots=True)
class RotatedRing:
    """A ring after a rotation: every key it has had, newest first (no material)."""

    product: str
    env: str
    keys: tuple[KeyRecord, ...]


class KeyRotation:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        keyrings: KeyRings,
        clock: Clock,
        *,
        propagation_seconds: float,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._keyrings = keyrings
        self._clock = clock
        # How long other instances may go on minting with a demoted key.
        self._margin = CLOCK_SKEW_SECONDS + propagation_seconds
        self._propagation = propagation_seconds

    def __repr__(self) -> str:
        return "KeyRotation()"

    async def public_keys(self, product: str, env: str) -> list[dict[str, Any]] | None:
        """The public JWKs that verify the signed tokens of (``product``, ``env``) now:
        active and verify-only signing keys, never a retired, private or symmetric one.
        ``None`` if there is no such product or env."""
        if not (SLUG.fullmatch(product) and SLUG.fullmatch(env)):
            return None
        record = await self._catalog.cached_product(product)
        if record is None or env not in record.envs:
            return None
        ring = await self._keyrings.published(record.id, env, self._propagation)
        return ring.public_keys(self._clock.now())

    async def exists(self, product: str, env: str) -> bool:
        """Whether (``product``, ``env``) is an issuer."""
        if not (SLUG.fullmatch(product) and SLUG.fullmatch(env)):
            return False
        record = await self._catalog.cached_product(product)
        return record is not None and env in record.envs

    async def retire_at(self, product_id: int, now: float) -> float:
        """When keys demoted at ``now`` retire (see the module's docstring)."""
        last = now
        for config in await self._store.list_configs(product_id):
            last = max(last, now + access_seconds(config))
            if config.updated_at > config.created_at:
                last = max(last, config.updated_at + MAX_ACCESS_SECONDS)
        return last + self._margin

    async def rotate(
        self, product: str, env: str, *, retire_previous: bool = False, origin: Origin = SYSTEM
    ) -> RotatedRing:
        """Rotate the ring of (``product``, ``env``). With ``retire_previous`` the
        previous keys retire at once (a key is compromised): every token they made stops
        verifying, on every instance within a second."""
        record = await self._catalog.product(slug(product, "product"))
        if env not in record.envs:
            raise EnvNotFound(f"environment {env!r} does not exist", field="env")
        now = self._clock.now()
        retire_at = None if retire_previous else await self.retire_at(record.id, now)
        await self._keyrings.rotate(record.id, env, retire_at, product=record.tag, origin=origin)
        log.info("rotated the keys of %s/%s", product, env)
        return await self.ring(product, env)

    async def ring(self, product: str, env: str) -> RotatedRing:
        """The keys of (``product``, ``env``), newest first."""
        record = await self._catalog.product(slug(product, "product"))
        if env not in record.envs:
            raise EnvNotFound(f"environment {env!r} does not exist", field="env")
        return RotatedRing(product, env, tuple(await self._store.list_keys(record.id, env)))

    async def rotate_due(self, max_age_seconds: float) -> int:
        """Rotate every ring whose active key is older than ``max_age_seconds`` (the
        automatic schedule); the number rotated. A ring another instance rotated
        meanwhile is left alone (its active key is no longer that old)."""
        now = self._clock.now()
        rotated = 0
        for product_id, env in await self._store.rings_active_since_before(now - max_age_seconds):
            retire_at = await self.retire_at(product_id, now)
            record = await self._catalog.product_by_id(product_id)
            try:
                await self._keyrings.rotate(
                    product_id,
                    env,
                    retire_at,
                    active_before=now - max_age_seconds,
                    product=None if record is None else record.tag,
                )
            except Conflict:
                continue
            rotated += 1
        if rotated:
            log.info("rotated %d key rings on schedule", rotated)
        return rotated
