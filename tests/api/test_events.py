"""Every state change made over the API records its event, with who made it and from
where, and never a secret."""

from __future__ import annotations

import dataclasses
from typing import Any

from service.clock import FrozenClock
from service.tessera import Tessera
from store import EventRecord
from tests.conftest import Api

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


async def log(tessera: Tessera) -> list[EventRecord]:
    return await tessera.store.events_after((0, 0), 1000)


def summary(events: list[EventRecord]) -> list[tuple[str, str | None]]:
    return [(e.type, e.cause) for e in events]


async def start(api: Api, user: str = "alice") -> dict[str, Any]:
    created = await api.create_session(**SCOPE, data={"userId": user, "details": {"k": "v"}})
    assert created["__typename"] == "SessionTokens"
    return created


async def refresh(api: Api, refresh_token: str) -> dict[str, Any]:
    data = await api.op("RefreshSession", key=None, input={**SCOPE, "refreshToken": refresh_token})
    result: dict[str, Any] = data["refreshSession"]
    return result


async def test_session_life_records_created_refreshed_revoked(api: Api, tessera: Tessera) -> None:
    api.client.headers["user-agent"] = "shop-backend/2.1"
    created = await start(api)
    refreshed = await refresh(api, created["refreshToken"])
    assert refreshed["__typename"] == "SessionTokens"
    revoked = await api.op("RevokeSession", input={**SCOPE, "sessionId": created["sessionId"]})
    assert revoked["revokeSession"]["count"] == 1

    events = [e for e in await log(tessera) if e.session_id == created["sessionId"]]

    assert summary(events) == [
        ("session_created", None),
        ("session_refreshed", None),
        ("session_revoked", "api_key"),
    ]
    for e in events:
        assert (e.product, e.env, e.tag, e.identifier) == ("shop", "prd", "web", "alice")
        assert e.client_address == "127.0.0.1"
        assert e.user_agent == "shop-backend/2.1"
    # The refresh came with no key: its actor is the session whose token it redeemed.
    assert [e.actor for e in events] == [
        "key:env-admin",
        f"session:{created['sessionId']}",
        "key:env-admin",
    ]


async def test_first_session_records_provisioning_and_key_creation(
    api: Api, tessera: Tessera
) -> None:
    await start(api)

    assert [(e.type, e.product, e.env, e.tag) for e in await log(tessera)] == [
        ("product_created", "shop", None, None),
        ("config_created", "shop", None, "web"),
        ("key_created", "shop", "prd", None),
        ("session_created", "shop", "prd", "web"),
    ]


async def test_reused_refresh_token_records_theft_and_revocation(
    api: Api, tessera: Tessera, clock: FrozenClock
) -> None:
    created = await start(api)
    await refresh(api, created["refreshToken"])
    clock.advance(60)  # past the grace window

    reused = await refresh(api, created["refreshToken"])

    assert reused["code"] == "REFRESH_TOKEN_REUSED"
    events = [e for e in await log(tessera) if e.session_id == created["sessionId"]]
    assert summary(events)[-2:] == [("refresh_reused", None), ("session_revoked", "theft")]
    # Reused again: nothing changes any more, so nothing more is recorded.
    await refresh(api, created["refreshToken"])
    assert len([e for e in await log(tessera) if e.session_id == created["sessionId"]]) == 4


async def test_grace_window_redemption_records_no_second_refresh(
    api: Api, tessera: Tessera
) -> None:
    created = await start(api)
    first = await refresh(api, created["refreshToken"])
    again = await refresh(api, created["refreshToken"])

    assert first["refreshToken"] == again["refreshToken"]
    assert summary([e for e in await log(tessera) if e.session_id == created["sessionId"]]) == [
        ("session_created", None),
        ("session_refreshed", None),
    ]


async def test_end_user_revocations_name_their_cause_and_actor(api: Api, tessera: Tessera) -> None:
    mine, other, last = await start(api), await start(api), await start(api)

    await api.op("LogoutOtherSessions", key=mine["token"])
    await api.op("Logout", key=mine["token"])

    revoked = [e for e in await log(tessera) if e.type == "session_revoked"]
    assert {(e.session_id, e.cause, e.actor) for e in revoked} == {
        (other["sessionId"], "logout_others", f"session:{mine['sessionId']}"),
        (last["sessionId"], "logout_others", f"session:{mine['sessionId']}"),
        (mine["sessionId"], "end_user", f"session:{mine['sessionId']}"),
    }


async def test_revoking_an_identifier_records_one_event_per_session(
    api: Api, tessera: Tessera
) -> None:
    sessions = [await start(api) for _ in range(3)]
    await start(api, "bob")

    data = await api.op("RevokeSession", input={**SCOPE, "identifier": "alice"})

    assert data["revokeSession"]["count"] == 3
    revoked = [e for e in await log(tessera) if e.type == "session_revoked"]
    assert sorted(e.session_id or "" for e in revoked) == sorted(s["sessionId"] for s in sessions)


async def test_config_and_api_key_changes_are_recorded(api: Api, tessera: Tessera) -> None:
    await api.op("CreateProduct", input={"tag": "books", "name": "Books"})
    await api.op("CreateSessionConfig", input={"product": "books", "tag": "web", "name": "Web"})
    await api.op("UpdateSessionConfig", input={"product": "books", "tag": "web", "name": "W"})
    key = (await api.op("CreateApiKey", input={"product": "books", "name": "ci"}))["createApiKey"]
    await api.op("RevokeApiKey", id=key["apiKey"]["id"])
    await api.op("DeleteSessionConfig", input={"product": "books", "tag": "web"})

    events = [e for e in await log(tessera) if e.product == "books"]
    assert [(e.type, e.tag, e.subject) for e in events] == [
        ("product_created", None, None),
        ("config_created", "web", None),
        ("config_updated", "web", None),
        ("api_key_created", None, key["apiKey"]["id"]),
        ("api_key_revoked", None, key["apiKey"]["id"]),
        ("config_deleted", "web", None),
    ]
    assert {e.actor for e in events} == {"key:env-admin"}


async def test_events_never_hold_a_token_or_secret(
    api: Api, tessera: Tessera, admin_key: str, clock: FrozenClock
) -> None:
    created = await start(api)
    refreshed = await refresh(api, created["refreshToken"])
    key = (await api.op("CreateApiKey", input={"product": "shop", "name": "ci"}))["createApiKey"]
    await api.op("Logout", key=refreshed["token"])
    clock.advance(60)
    await refresh(api, created["refreshToken"])
    tokens = [created["token"], refreshed["token"]]
    # A refresh token is "<session id>.<generation>:<secret>": the id is no secret.
    refresh_secrets = [t["refreshToken"].rsplit(":", 1)[1] for t in (created, refreshed)]
    # Each JOSE segment of a token (its header names only the kid and algorithms).
    parts = {p for t in tokens for p in t.split(":", 1)[1].split(".")[1:] if len(p) >= 16}
    parts.update(refresh_secrets)
    parts.update(tokens)
    parts.update({key["key"], admin_key, key["key"].removeprefix("tsk_")})

    for e in await log(tessera):
        for value in dataclasses.astuple(e):
            if isinstance(value, str):
                assert not any(p in value for p in parts), (e.type, value)


async def test_key_rotation_records_one_event_per_new_key(api: Api, tessera: Tessera) -> None:
    await start(api)
    api.client.headers["user-agent"] = "ops-console/1"
    data = await api.op("RotateKeys", input={"product": "shop", "env": "prd"})
    assert data["rotateKeys"]["__typename"] == "KeyRing"
    active = {k["kid"] for k in data["rotateKeys"]["keys"] if k["state"] == "ACTIVE"}

    rotated = [e for e in await log(tessera) if e.type == "key_rotated"]

    assert {e.subject for e in rotated} == active and len(rotated) == 2
    for e in rotated:
        assert (e.product, e.env, e.actor, e.user_agent) == (
            "shop",
            "prd",
            "key:env-admin",
            "ops-console/1",
        )
