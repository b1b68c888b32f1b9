"""Session activity: the event log, newest first, to product keys and to end users."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


async def start(api: Api, user: str, **scope: str) -> dict[str, Any]:
    data = {"userId": user, "details": {}}
    created = await api.create_session(**{**SCOPE, **scope}, data=data)
    assert created["__typename"] == "SessionTokens"
    return created


async def activity(api: Api, key: Any = ..., **variables: Any) -> dict[str, Any]:
    data = await api.op(
        "SessionActivity", key=key, **{"product": "shop", "env": "prd", **variables}
    )
    result: dict[str, Any] = data["sessionActivity"]
    return result


def kinds(connection: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["node"]["type"], e["node"]["sessionId"]) for e in connection["edges"]]


async def test_session_activity_lists_newest_first_and_pages(api: Api) -> None:
    alice = await start(api, "alice")
    await api.op("RevokeSession", input={**SCOPE, "sessionId": alice["sessionId"]})
    bob = await start(api, "bob")
    sid_a, sid_b = alice["sessionId"], bob["sessionId"]

    first = await activity(api, first=2, types=["SESSION_CREATED", "SESSION_REVOKED"])
    assert kinds(first) == [("SESSION_CREATED", sid_b), ("SESSION_REVOKED", sid_a)]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await activity(
        api,
        first=2,
        after=first["pageInfo"]["endCursor"],
        types=["SESSION_CREATED", "SESSION_REVOKED"],
    )
    assert kinds(rest) == [("SESSION_CREATED", sid_a)]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}
    node = first["edges"][1]["node"]
    assert (node["cause"], node["actor"], node["tag"], node["identifier"]) == (
        "API_KEY",
        "key:env-admin",
        "web",
        "alice",
    )
    assert node["at"].endswith("Z")


async def test_session_activity_narrows_by_identifier_session_and_tag(api: Api) -> None:
    alice = await start(api, "alice")
    await start(api, "bob")
    await start(api, "alice", tag="mobile")

    assert len((await activity(api, identifier="alice", types=["SESSION_CREATED"]))["edges"]) == 2
    assert kinds(await activity(api, sessionId=alice["sessionId"])) == [
        ("SESSION_CREATED", alice["sessionId"])
    ]
    mobile = await activity(api, tag="mobile", types=["SESSION_CREATED"])
    assert [e["node"]["identifier"] for e in mobile["edges"]] == ["alice"]


@pytest.mark.parametrize(
    "after", ["nope", "W10", "WzEsMl0x", "WyIxIiwyXQ", "Wy0xLDJd", "x" * 200, "WzEsMiwzXQ"]
)
async def test_session_activity_refuses_a_cursor_not_of_the_log(api: Api, after: str) -> None:
    body = await api.post(
        operation("SessionActivity"), {"product": "shop", "env": "prd", "after": after}
    )

    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"]


async def test_session_activity_refuses_bad_bounds(api: Api) -> None:
    bounds: list[dict[str, Any]] = [
        {"first": 0},
        {"first": 101},
        {"types": []},
        {"since": "2030-01-01T00:00:00.000Z", "until": "2029-01-01T00:00:00.000Z"},
    ]
    for variables in bounds:
        body = await api.post(
            operation("SessionActivity"), {"product": "shop", "env": "prd", **variables}
        )
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID_INPUT"], variables


async def test_product_key_sees_only_its_product(api: Api) -> None:
    await start(api, "alice")
    await start(api, "carol", product="books")
    created = await api.op("CreateApiKey", input={"product": "books", "name": "b"})
    books_key = created["createApiKey"]["key"]

    own = await activity(api, key=books_key, product="books", types=["SESSION_CREATED"])
    assert [e["node"]["identifier"] for e in own["edges"]] == ["carol"]
    body = await api.post(
        operation("SessionActivity"), {"product": "shop", "env": "prd"}, key=books_key
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_my_activity_is_the_users_own_sessions_only(api: Api) -> None:
    mine = await start(api, "alice")
    second = await start(api, "alice")
    await start(api, "bob")
    await start(api, "alice", tag="mobile")
    await api.op("LogoutOtherSessions", key=mine["token"])

    data = (await api.op("MyActivity", key=mine["token"]))["myActivity"]

    assert [(e["node"]["type"], e["node"]["sessionId"]) for e in data["edges"]] == [
        ("SESSION_REVOKED", second["sessionId"]),
        ("SESSION_CREATED", second["sessionId"]),
        ("SESSION_CREATED", mine["sessionId"]),
    ]
    assert data["edges"][0]["node"]["cause"] == "LOGOUT_OTHERS"
