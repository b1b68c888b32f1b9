"""Per (product, env) key rings: created on first need, wrapped at rest by the master
key, unwrapped once and cached in memory.

A ring holds, per algorithm, one ``active`` key that mints (``dir+A256GCM`` for
encrypted tokens, ``ES256`` for signed ones), the ``verify_only`` keys a rotation
demoted, each until its ``retire_at``, and the ids of ``retired`` keys, whose material
is erased. A key past its ``retire_at`` verifies nothing from that instant on every
instance, whether or not the sweeper has marked it retired yet; a ring changed by a
rotation is reloaded on every instance as the store's change version moves (within a
second), and a kid an instance has not seen is loaded on the first token naming it."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import ECKey, OctKey

from service.clock import Clock
from service.crypto import MasterKey, UnwrapFailed
from service.events import SYSTEM, EventType, Origin, event
from store import Conflict, KeyRecord, NewEvent, Store

log = logging.getLogger("tessera.keys")

ENCRYPTION = "dir+A256GCM"
SIGNING = "ES256"
ALGORITHMS = (ENCRYPTION, SIGNING)
ACTIVE, VERIFY_ONLY, RETIRED = "active", "verify_only", "retired"
# Concurrent rotations of one ring: the loser retries against the winner's ring.
ROTATION_ATTEMPTS = 3


def _aad(kid: str, product_id: int, env: str, alg: str) -> bytes:
    return f"tessera-key:{kid}:{product_id}:{env}:{alg}".encode()


def aad_of(record: KeyRecord) -> bytes:
    """The associated data a key's material is wrapped with: its identity."""
    return _aad(record.kid, record.product_id, record.env, record.alg)


@dataclass(frozen=True, slots=True)
class RingKey:
    """One unwrapped key; its material never appears in ``repr``."""

    kid: str
    alg: str
    state: str
    created_at: float
    retire_at: float | None
    key: OctKey | ECKey = field(repr=False)

    def usable(self, now: float) -> bool:
        """Whether it still verifies at ``now``."""
        return self.state != RETIRED and (self.retire_at is None or now < self.retire_at)

    def public_jwk(self) -> dict[str, Any]:
        """The public half of a signing key as a JWK (RFC 7517), for the JWKS."""
        if not isinstance(self.key, ECKey):
            raise ValueError("only signing keys have a public half")
        public = self.key.as_dict(private=False)
        return {**public, "kid": self.kid, "use": "sig", "alg": SIGNING}


@dataclass(slots=True)
class KeyRing:
    """The unwrapped keys of one (product, env), and the ids of its retired keys."""

    keys: dict[str, RingKey] = field(default_factory=dict)
    retired: frozenset[str] = frozenset()
    records: tuple[KeyRecord, ...] = ()
    # When it was read (the clock's monotonic time).
    loaded_at: float = 0.0

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self.keys)!r}, retired={sorted(self.retired)!r})"

    def active(self, alg: str) -> RingKey | None:
        return next((k for k in self.keys.values() if k.alg == alg and k.state == ACTIVE), None)

    def verifying(self, alg: str, now: float) -> Mapping[str, Any]:
        """``kid -> key`` of the keys of ``alg`` that verify at ``now``."""
        return {k.kid: k.key for k in self.keys.values() if k.alg == alg and k.usable(now)}

    def public_keys(self, now: float) -> list[dict[str, Any]]:
        """The public JWKs of the signing keys that verify at ``now``, newest first."""
        found = [k for k in self.keys.values() if k.alg == SIGNING and k.usable(now)]
        found.sort(key=lambda k: k.created_at, reverse=True)
        return [k.public_jwk() for k in found]


def _material(alg: str) -> tuple[bytes, OctKey | ECKey]:
    """New key material for ``alg``: the bytes wrapped at rest, and the key."""
    if alg == SIGNING:
        ec = ECKey.generate_key("P-256", private=True)
        return ec.as_pem(private=True), ec
    raw = os.urandom(32)
    return raw, OctKey.import_key(raw)


def _rotated(key: KeyRecord, now: float, origin: Origin, product: str | None) -> NewEvent:
    return event(EventType.KEY_ROTATED, now, origin, product, key.env, subject=key.kid)


class KeyRings:
    """Cache of unwrapped rings. A ring's key of an algorithm is created only when
    minting needs one (or a rotation makes one); verification never creates keys."""

    def __init__(self, store: Store, master_key: MasterKey, clock: Clock) -> None:
        self._store = store
        self._master = master_key
        self._clock = clock
        self._rings: dict[tuple[int, str], KeyRing] = {}
        self._owners: dict[str, tuple[int, str]] = {}

    def __repr__(self) -> str:
        return f"KeyRings(rings={len(self._rings)})"

    def invalidate(self) -> None:
        """Forget every unwrapped ring: a ring may have changed elsewhere."""
        self._rings = {}

    def _unwrap(self, record: KeyRecord) -> RingKey | None:
        try:
            raw = self._master.unwrap(record.wrapped, aad_of(record))
        except UnwrapFailed:
            # E.g. wrapped by a master key this instance does not hold yet, mid-rollout:
            # only the tokens of this key fail here, not the ring.
            log.warning("key %s does not open with the master key; skipped", record.kid)
            return None
        key: OctKey | ECKey = (
            ECKey.import_key(raw) if record.alg == SIGNING else OctKey.import_key(raw)
        )
        return RingKey(
            record.kid, record.alg, record.state, record.created_at, record.retire_at, key
        )

    async def _load(self, product_id: int, env: str) -> KeyRing:
        records = await self._store.list_keys(product_id, env)
        live = [r for r in records if r.state != RETIRED]
        unwrapped = (self._unwrap(r) for r in live)
        ring = KeyRing(
            keys={k.kid: k for k in unwrapped if k is not None},
            retired=frozenset(r.kid for r in records if r.state == RETIRED),
            records=tuple(records),
            loaded_at=self._clock.monotonic(),
        )
        self._rings[(product_id, env)] = ring
        return ring

    async def ring(self, product_id: int, env: str) -> KeyRing:
        """The ring as this instance has it (loaded on first need)."""
        ring = self._rings.get((product_id, env))
        return ring if ring is not None else await self._load(product_id, env)

    async def published(self, product_id: int, env: str, max_age: float) -> KeyRing:
        """The ring as the JWKS shows it: read again once it is ``max_age`` seconds old,
        so a signing key another instance created (which changes no version) is
        published within that, and the store is read at most that often per ring."""
        ring = self._rings.get((product_id, env))
        if ring is None or self._clock.monotonic() - ring.loaded_at >= max_age:
            ring = await self._load(product_id, env)
        return ring

    async def for_verify(self, product_id: int, env: str, kid: str | None = None) -> KeyRing | None:
        """The ring used to verify, or ``None`` if this (product, env) has no keys.

        A ``kid`` the cached ring neither holds nor knows as retired, but the store knows
        for this ring (``owner`` found it), means another instance added a key since:
        reload once."""
        ring = self._rings.get((product_id, env))
        if ring is None or (kid is not None and kid not in ring.keys and kid not in ring.retired):
            ring = await self._load(product_id, env)
        return ring if ring.records else None

    def _new_record(self, product_id: int, env: str, alg: str) -> KeyRecord:
        kid = secrets.token_urlsafe(12)
        raw, _ = _material(alg)
        return KeyRecord(
            kid=kid,
            product_id=product_id,
            env=env,
            alg=alg,
            state=ACTIVE,
            wrapped=self._master.wrap(raw, _aad(kid, product_id, env, alg)),
            created_at=self._clock.now(),
        )

    async def for_minting(
        self, product_id: int, env: str, alg: str = ENCRYPTION, *, product: str | None = None
    ) -> RingKey:
        """The active key of ``alg``, created and persisted on first need (race-safe),
        with a ``key_created`` event naming ``product`` (the tag of ``product_id``)."""
        ring = await self.ring(product_id, env)
        active = ring.active(alg)
        if active is None:
            candidate = self._new_record(product_id, env, alg)
            created = event(
                EventType.KEY_CREATED,
                candidate.created_at,
                SYSTEM,
                product,
                env,
                subject=candidate.kid,
            )
            await self._store.insert_active_key(candidate, event=created)
            active = (await self._load(product_id, env)).active(alg)
            assert active is not None
        return active

    async def rotate(
        self,
        product_id: int,
        env: str,
        retire_at: float | None,
        *,
        active_before: float | None = None,
        product: str | None = None,
        origin: Origin = SYSTEM,
    ) -> KeyRing:
        """A new active key of every algorithm; the previous ones verify until
        ``retire_at`` (``None``: every previous key is retired now). Racing rotations of
        one ring each take effect, one after the other. With ``active_before`` only an
        active key created before it is replaced, once: ``Conflict`` otherwise. Each new
        key records a ``key_rotated`` event naming ``product`` (the tag of
        ``product_id``), in the rotation's transaction."""
        attempts = 1 if active_before is not None else ROTATION_ATTEMPTS
        for attempt in range(1, attempts + 1):
            keys = [self._new_record(product_id, env, alg) for alg in ALGORITHMS]
            now = self._clock.now()
            rotated = tuple(_rotated(k, now, origin, product) for k in keys)
            try:
                if active_before is None:
                    await self._store.rotate_keys(
                        product_id, env, keys, retire_at, now, events=rotated
                    )
                else:
                    await self._store.rotate_keys(
                        product_id,
                        env,
                        keys,
                        retire_at,
                        now,
                        active_before=active_before,
                        events=rotated,
                    )
                break
            except Conflict:
                if attempt == attempts:
                    raise
        self._rings.pop((product_id, env), None)
        return await self._load(product_id, env)

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

    async def rewrap_all(self) -> int:
        """Re-wrap every key that is not retired under the current master key; the
        number re-wrapped (those wrapped by the previous master key)."""
        changes: list[tuple[str, bytes, bytes]] = []
        for record in await self._store.live_keys():
            new = self._master.rewrap(record.wrapped, aad_of(record))
            if new is not None:
                changes.append((record.kid, record.wrapped, new))
        await self._store.rewrap_keys(changes)
        return len(changes)
