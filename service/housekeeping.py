"""Background removal of sessions past their absolute lifetime, so the store's size
follows live sessions, and of events and verification counts past their retention;
retirement of verify-only keys whose time has come; and, when configured, the scheduled
rotation of key rings."""

from __future__ import annotations

import asyncio
import logging

from service import metrics
from service.clock import Clock
from service.rotation import KeyRotation
from store import Store

log = logging.getLogger("tessera.housekeeping")


class Sweeper:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        retention: float,
        batch_size: int,
        event_retention: float | None = None,
        rotation: KeyRotation | None = None,
        rotation_age: float = 0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self._batch_size = batch_size
        self._event_retention = event_retention
        self._rotation = rotation
        self._rotation_age = rotation_age

    async def tend_keys(self) -> int:
        """Retire the verify-only keys whose ``retire_at`` has come (erasing their
        material) and rotate the rings that are due; the number of keys retired."""
        retired = await self._store.retire_expired_keys(self._clock.now())
        if retired:
            log.info("retired %d keys", retired)
        if self._rotation is not None and self._rotation_age > 0:
            await self._rotation.rotate_due(self._rotation_age)
        return retired

    async def sweep_once(self) -> int:
        """Delete every session whose absolute lifetime ended more than the retention
        period ago, in small batches; yield to the event loop between batches so
        requests are never held behind a large delete. Returns how many were deleted."""
        deleted = 0
        while True:
            cutoff = self._clock.now() - self._retention
            n = await self._store.delete_expired_sessions(
                cutoff, self._batch_size, at=self._clock.now()
            )
            metrics.SESSIONS_SWEPT.inc(n)
            deleted += n
            if n < self._batch_size:
                break
            await asyncio.sleep(0)
        if self._event_retention is not None:
            await self.prune_events()
        return deleted

    async def prune_events(self) -> int:
        """Delete the events and verification counts older than the event retention,
        in batches as ``sweep_once`` does; the number of events deleted."""
        assert self._event_retention is not None
        cutoff = self._clock.now() - self._event_retention
        await self._store.prune_verification_counts(int(cutoff // 60))
        pruned = 0
        while True:
            n = await self._store.prune_events(cutoff, self._batch_size)
            pruned += n
            if n < self._batch_size:
                return pruned
            await asyncio.sleep(0)

    async def run(self, interval: float) -> None:
        """Sweep every ``interval`` seconds until cancelled."""
        while True:
            try:
                deleted = await self.sweep_once()
                if deleted:
                    log.info("swept %d expired sessions", deleted)
            except Exception:
                log.exception("session sweep failed; retrying next interval")
            try:
                await self.tend_keys()
            except Exception:
                log.exception("key retirement failed; retrying next interval")
            await asyncio.sleep(interval)
