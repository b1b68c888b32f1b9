"""The sweeper removes sessions past their absolute lifetime plus retention."""

from __future__ import annotations

from service.catalog import ConfigSpec, Period
from service.clock import FrozenClock
from service.housekeeping import Sweeper
from service.tessera import Tessera


async def test_sweeper_deletes_only_sessions_past_retention(
    tessera: Tessera, clock: FrozenClock
) -> None:
    sessions = tessera.sessions
    await tessera.catalog.create_product("shop", "Shop")
    await tessera.catalog.create_config(
        "shop", ConfigSpec("short", refresh_expiry=1, refresh_period=Period.DAYS, expiry=1)
    )
    old = [await sessions.create("shop", "prd", "short", f"u{i}", {}) for i in range(7)]
    clock.advance(3 * 86_400)
    young = await sessions.create("shop", "prd", "short", "new", {})
    sweeper = Sweeper(tessera.store, clock, retention=86_400, batch_size=3)

    assert await sweeper.sweep_once() == 7

    for issued in old:
        assert await tessera.store.get_session(issued.session_id) is None
    assert await tessera.store.get_session(young.session_id) is not None
    assert await sweeper.sweep_once() == 0


async def test_sweeper_keeps_expired_sessions_within_retention(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await tessera.catalog.create_product("shop", "Shop")
    await tessera.catalog.create_config(
        "shop", ConfigSpec("short", refresh_expiry=1, refresh_period=Period.DAYS, expiry=1)
    )
    issued = await tessera.sessions.create("shop", "prd", "short", "u", {})
    clock.advance(2 * 86_400)

    assert await tessera.sweeper.sweep_once() == 0  # default retention: 7 days
    verification = await tessera.sessions.verify("shop", "prd", "short", issued.token)
    assert verification.reason == "EXPIRED"


async def test_sweeper_records_expired_events_and_prunes_old_events_and_counts(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await tessera.catalog.create_product("shop", "Shop")
    await tessera.catalog.create_config(
        "shop", ConfigSpec("short", refresh_expiry=1, refresh_period=Period.DAYS, expiry=1)
    )
    issued = await tessera.sessions.create("shop", "prd", "short", "u", {})
    await tessera.sessions.verify("shop", "prd", "short", issued.token)
    await tessera.verification_counts.flush()
    clock.advance(3 * 86_400)
    sweeper = Sweeper(
        tessera.store, clock, retention=86_400, batch_size=3, event_retention=2 * 86_400
    )

    assert await sweeper.sweep_once() == 1

    events = await tessera.store.events_after((0, 0), 100)
    # Everything older than two days is gone; the sweep's own event is new.
    assert [(e.type, e.session_id, e.actor) for e in events] == [
        ("session_expired", issued.session_id, "system")
    ]
    assert await tessera.store.verification_counts("shop", "prd", 0, 10**9) == []
