"""Verification counts: too many verifications for an event row each, so they are
counted in memory per (product, env, tag, minute, outcome) and added to the store's
counters once a minute and at shutdown. Counting is a dict increment on the event
loop's thread: no lock, no I/O on the verify path. A crash loses at most the counts
not flushed yet (the current minute's)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from service.clock import Clock
from store import Store, VerificationCount

log = logging.getLogger("tessera.counters")

VALID = "valid"
# Names are the caller's (a verify of a made-up tag is counted too): past this many
# distinct keys within one flush the rest are counted under OVERFLOW, so memory stays
# bounded whatever is sent.
MAX_KEYS = 10_000
OVERFLOW = "*"

_Key = tuple[str, str, str, int, str]


class VerificationCounts:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._counts: Counter[_Key] = Counter()

    def count(self, product: str, env: str, tag: str, outcome: str) -> None:
        """Count one verification of (product, env, tag) that ended with ``outcome``
        (``valid`` or a ``Reason``'s value)."""
        key = (product, env, tag, int(self._clock.now() // 60), outcome)
        counts = self._counts
        if key not in counts and len(counts) >= MAX_KEYS:
            key = (OVERFLOW, OVERFLOW, OVERFLOW, key[3], outcome)
        counts[key] += 1

    async def flush(self) -> int:
        """Add what was counted since the last flush to the store; the number of
        counters written. Counts that fail to be written are kept for the next one."""
        taken, self._counts = self._counts, Counter()
        if not taken:
            return 0
        try:
            await self._store.add_verification_counts(
                [VerificationCount(*key, count) for key, count in taken.items()]
            )
        except BaseException:
            # All or none were added (one transaction): try them again next time.
            self._counts.update(taken)
            raise
        return len(taken)

    async def run(self, interval: float = 60.0) -> None:
        """Flush every ``interval`` seconds until cancelled (``Tessera.close`` flushes
        the rest)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("flushing verification counts failed; retrying next minute")
