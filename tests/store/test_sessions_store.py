"""Session state changes in the store: atomic rotation, revocation, sweeping."""

from __future__ import annotations

from store import ConfigValues, NewSession, SessionRecord, Store
from tests.databases import race_instances


async def seed_session(
    store: Store, session_id: str, *, refresh_expires_at: float = 5000.0
) -> None:
    product = await store.ensure_product("shop", "Shop", ("prd",), 1.0)
    config = await store.ensure_config(
        product.id,
        ConfigValues(
            "web",
            "Web",
            "",
            "$Session{userId}",
            1,
            "HOURS",
            30,
            "DAYS",
            None,
            None,
            None,
            "ENCRYPTED",
            False,
        ),
        1.0,
    )
    await store.insert_session(
        NewSession(
            id=session_id,
            product_id=product.id,
            env="prd",
            config_id=config.id,
            identifier="u1",
            user_id="u1",
            details="{}",
            started_at=1000.0,
            expires_at=4600.0,
            refresh_expires_at=refresh_expires_at,
            refresh_hash=b"h0" * 16,
            refresh_salt=b"s" * 16,
        )
    )


async def test_rotate_refresh_race_across_connections_has_one_winner(
    store: Store, database_url: str
) -> None:
    await seed_session(store, "sess-1")
    racers = 8

    async def redeem(instance: Store, i: int) -> SessionRecord | None:
        return await instance.rotate_refresh("sess-1", 0, b"h1" * 16, 4700.0, 1100.0)

    outcomes = race_instances(database_url, racers, redeem)

    winners = [row for row in outcomes if row is not None]
    assert len(winners) == 1
    assert winners[0].refresh_generation == 1
    session = await store.get_session("sess-1")
    assert session is not None
    assert session.refresh_generation == 1
    assert session.refresh_hash == b"h1" * 16


async def test_rotate_refresh_refuses_revoked_session(store: Store) -> None:
    await seed_session(store, "sess-1")
    session = await store.get_session("sess-1")
    assert session is not None
    assert await store.revoke_session("sess-1", session.config_id, "prd", 1050.0, "test") == 1

    assert await store.rotate_refresh("sess-1", 0, b"h1" * 16, 4700.0, 1100.0) is None


async def test_delete_expired_sessions_in_batches(store: Store) -> None:
    for i in range(5):
        await seed_session(store, f"old-{i}", refresh_expires_at=2000.0)
    await seed_session(store, "live", refresh_expires_at=9000.0)

    assert await store.delete_expired_sessions(before=3000.0, limit=2) == 2
    assert await store.delete_expired_sessions(before=3000.0, limit=10) == 3
    assert await store.delete_expired_sessions(before=3000.0, limit=10) == 0
    assert await store.get_session("live") is not None


async def seed_with_details(store: Store, details: dict[str, str]) -> None:
    for session_id, value in details.items():
        await seed_session(store, session_id)
        await store.replace_session_details([(session_id, "{}", value)])


async def test_session_details_with_prefix_matches_literally(store: Store) -> None:
    await seed_with_details(
        store, {"a": '{"x":1}', "b": "AQsealed", "c": '{"y":2}', "d": "%{", "e": "_x"}
    )

    found = await store.session_details_with_prefix("{", 10)
    assert sorted(found) == [("a", '{"x":1}'), ("c", '{"y":2}')]
    assert len(await store.session_details_with_prefix("{", 1)) == 1
    assert await store.session_details_with_prefix("%", 10) == [("d", "%{")]
    assert await store.session_details_with_prefix("_", 10) == [("e", "_x")]


async def test_replace_session_details_only_where_unchanged(store: Store) -> None:
    await seed_with_details(store, {"a": '{"x":1}', "b": '{"y":2}'})

    replaced = await store.replace_session_details(
        [("a", '{"x":1}', "AQnew-a"), ("b", '{"stale":0}', "AQnew-b"), ("gone", "{}", "AQ")]
    )

    assert replaced == 1
    a, b = await store.get_session("a"), await store.get_session("b")
    assert a is not None and a.details == "AQnew-a"
    assert b is not None and b.details == '{"y":2}'
