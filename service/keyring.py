"""Per (product, env) key rings: created on first need, wrapped at rest by the master
key, unwrapped once and cached in memory."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from joserfc.jwk import OctKey

from service.clock import Clock
from service.crypto import MasterKey
from service.events import SYSTEM, EventType, event
from store import KeyRecord, Store

ALG = "dir+A256GCM"


def _aad(kid: str, product_id: int, env: str, alg: str) -> bytes:
    return f"tessera-key:{kid}:{product_id}:{env}:{alg}".encode()


@dataclass(slots=True)
class KeyRing:
    """The unwrapped keys of one (product, env): the active one mints, all decrypt."""

    active_kid: str | None
    keys: dict[str, OctKey] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"KeyRing(active_kid={self.active_kid!r}, kids={list(self.keys)!r})"


class KeyRings:
    """Cache of unwrapped rings. A ring is created only when minting needs one;
    verification never creates keys."""

    def __init__(self, store: Store, master_key: MasterKey, clock: Clock) -> None:
        self._store = store
        self._master = master_key
        self._clock = clock
        self._rings: dict[tuple[int, str], KeyRing] = {}
        self._owners: dict[str, tuple[int, str]] = {}

    def _unwrap(self, record: KeyRecord) -> OctKey:
        raw = self._master.unwrap(
            record.wrapped, _aad(record.kid, record.product_id, record.env, record.alg)
        )
        return OctKey.import_key(raw)

    async def _load(self, product_id: int, env: str) -> KeyRing | None:
        records = await self._store.list_keys(product_id, env)
        if not records:
            return None
        ring = KeyRing(
            active_kid=next((r.kid for r in records if r.state == "active"), None),
            keys={r.kid: self._unwrap(r) for r in records},
        )
        self._rings[(product_id, env)] = ring
        return ring

    async def for_verify(self, product_id: int, env: str, kid: str | None = None) -> KeyRing | None:
        """The ring used to decrypt, or ``None`` if this (product, env) has no keys.

        A ``kid`` the cached ring lacks but the store knows for this ring (``owner``
        found it) means another instance added a key since: reload once."""
        ring = self._rings.get((product_id, env))
        if ring is None or (kid is not None and kid not in ring.keys):
            ring = await self._load(product_id, env)
        return ring

    async def for_minting(
        self, product_id: int, env: str, *, product: str | None = None
    ) -> tuple[str, OctKey]:
        """The active key, created and persisted on first need (race-safe), with a
        ``key_created`` event naming ``product`` (the tag of ``product_id``)."""
        ring = await self.for_verify(product_id, env)
        if ring is None or ring.active_kid is None:
            kid = secrets.token_urlsafe(12)
            raw = os.urandom(32)
            candidate = KeyRecord(
                kid=kid,
                product_id=product_id,
                env=env,
                alg=ALG,
                state="active",
                wrapped=self._master.wrap(raw, _aad(kid, product_id, env, ALG)),
                created_at=self._clock.now(),
            )
            now = candidate.created_at
            created = event(EventType.KEY_CREATED, now, SYSTEM, product, env, subject=kid)
            await self._store.insert_active_key(candidate, event=created)
            ring = await self._load(product_id, env)
            assert ring is not None and ring.active_kid is not None
        return ring.active_kid, ring.keys[ring.active_kid]

    async def owner(self, kid: str) -> tuple[int, str] | None:
        """The (product id, env) whose ring holds ``kid``: how an end user's token,
        which names no product, is routed to the one ring allowed to decrypt it."""
        owner = self._owners.get(kid)
        if owner is None:
            record = await self._store.find_key(kid)
            if record is None:
                return None
            owner = self._owners[kid] = (record.product_id, record.env)
        return owner
