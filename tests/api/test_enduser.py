"""End-user operations with the user's own session token as bearer."""

from __future__ import annotations

from typing import Any

from service.clock import FrozenClock
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


async def start(api: Api, user: str, **scope: str) -> dict[str, Any]:
    result = await api.create_session(
        **{**SCOPE, **scope}, data={"userId": user, "details": {"device": "phone"}}
    )
    assert result["__typename"] == "SessionTokens"
    return result


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_current_session_is_the_bearers(api: Api) -> None:
    mine = await start(api, "alice")

    data = await api.op("CurrentSession", key=mine["token"])

    assert data["currentSession"]["id"] == mine["sessionId"]
    assert data["currentSession"]["data"] == {"userId": "alice", "details": {"device": "phone"}}


async def test_my_sessions_lists_only_the_users_sessions_in_scope(api: Api) -> None:
    mine = [await start(api, "alice") for _ in range(3)]
    await start(api, "bob")
    await start(api, "alice", tag="other-flow")
    await start(api, "alice", env="dev")

    data = await api.op("MySessions", key=mine[0]["token"])

    ids = {e["node"]["id"] for e in data["mySessions"]["edges"]}
    assert ids == {m["sessionId"] for m in mine}
    assert data["mySessions"]["totalCount"] == 3


async def test_logout_revokes_only_the_current_session(api: Api) -> None:
    current, other = await start(api, "alice"), await start(api, "alice")

    assert (await api.op("Logout", key=current["token"]))["logout"]["count"] == 1

    assert (await api.verify(**SCOPE, token=current["token"]))["reason"] == "REVOKED"
    assert (await api.verify(**SCOPE, token=other["token"]))["valid"] is True
    body = await api.post(operation("CurrentSession"), key=current["token"])
    assert codes(body) == ["UNAUTHENTICATED"]


async def test_logout_other_sessions_keeps_the_current_one(api: Api) -> None:
    current = await start(api, "alice")
    others = [await start(api, "alice") for _ in range(2)]
    bob = await start(api, "bob")

    data = await api.op("LogoutOtherSessions", key=current["token"])

    assert data["logoutOtherSessions"]["count"] == 2
    assert (await api.verify(**SCOPE, token=current["token"]))["valid"] is True
    for other in others:
        assert (await api.verify(**SCOPE, token=other["token"]))["reason"] == "REVOKED"
    assert (await api.verify(**SCOPE, token=bob["token"]))["valid"] is True


async def test_expired_session_token_is_unauthenticated(api: Api, clock: FrozenClock) -> None:
    mine = await start(api, "alice")
    clock.advance(3601)

    body = await api.post(operation("CurrentSession"), key=mine["token"])

    assert codes(body) == ["UNAUTHENTICATED"]


async def test_tampered_session_token_is_unauthenticated(api: Api) -> None:
    mine = await start(api, "alice")
    tampered = mine["token"][:-3] + ("AAA" if not mine["token"].endswith("AAA") else "BBB")

    body = await api.post(operation("CurrentSession"), key=tampered)

    assert codes(body) == ["UNAUTHENTICATED"]


async def test_session_token_grants_nothing_else(api: Api) -> None:
    mine = await start(api, "alice")

    body = await api.post(
        operation("VerifySession"), {"input": {**SCOPE, "token": mine["token"]}}, key=mine["token"]
    )

    assert codes(body) == ["FORBIDDEN"]


async def test_refresh_ignores_a_stale_session_token_bearer(api: Api, clock: FrozenClock) -> None:
    mine = await start(api, "alice")
    clock.advance(3601)  # the session token expired; a client still attaches it

    data = await api.op(
        "RefreshSession", key=mine["token"], input={**SCOPE, "refreshToken": mine["refreshToken"]}
    )

    assert data["refreshSession"]["__typename"] == "SessionTokens"
