"""Verification counts: in memory per minute and outcome, added to the store on flush."""

from __future__ import annotations

import pytest

from service.catalog import ConfigSpec
from service.clock import FrozenClock
from service.counters import MAX_KEYS, OVERFLOW, VerificationCounts
from service.tessera import Tessera
from store import VerificationCount


async def test_verifications_are_counted_per_minute_and_outcome(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await tessera.catalog.create_product("shop", "Shop")
    await tessera.catalog.create_config("shop", ConfigSpec("web"))
    issued = await tessera.sessions.create("shop", "prd", "web", "u", {})
    minute = int(clock.now() // 60)
    for _ in range(3):
        await tessera.sessions.verify("shop", "prd", "web", issued.token)
    await tessera.sessions.verify("shop", "prd", "web", "web:garbage")
    clock.advance(60)
    await tessera.sessions.verify("shop", "prd", "web", issued.token)

    assert await tessera.verification_counts.flush() == 3
    await tessera.sessions.verify("shop", "prd", "web", issued.token)
    await tessera.verification_counts.flush()

    assert await tessera.store.verification_counts("shop", "prd", 0, 10**9) == [
        VerificationCount("shop", "prd", "web", minute, "MALFORMED", 1),
        VerificationCount("shop", "prd", "web", minute, "valid", 3),
        VerificationCount("shop", "prd", "web", minute + 1, "valid", 2),
    ]
    assert await tessera.verification_counts.flush() == 0


async def test_counts_beyond_the_bound_are_counted_together(
    tessera: Tessera, clock: FrozenClock
) -> None:
    counts = VerificationCounts(tessera.store, clock)
    for i in range(MAX_KEYS + 5):
        counts.count("shop", "prd", f"t{i}", "INVALID")

    assert await counts.flush() == MAX_KEYS + 1
    minute = int(clock.now() // 60)
    found = await tessera.store.verification_counts(OVERFLOW, OVERFLOW, 0, 10**9)
    assert found == [VerificationCount(OVERFLOW, OVERFLOW, OVERFLOW, minute, "INVALID", 5)]


async def test_counts_that_fail_to_flush_are_kept_for_the_next(
    tessera: Tessera, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = VerificationCounts(tessera.store, clock)
    counts.count("shop", "prd", "web", "valid")
    original = tessera.store.add_verification_counts

    async def failing(batch: list[VerificationCount]) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(tessera.store, "add_verification_counts", failing)
    with pytest.raises(OSError):
        await counts.flush()
    monkeypatch.setattr(tessera.store, "add_verification_counts", original)
    counts.count("shop", "prd", "web", "valid")

    assert await counts.flush() == 1
    found = await tessera.store.verification_counts("shop", "prd", 0, 10**9)
    assert [c.count for c in found] == [2]
