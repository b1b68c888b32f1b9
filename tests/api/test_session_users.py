"""``sessionUsers`` and ``sessionUser``: the people of a product's env as sessions
create, refresh, revoke and expire, paged and searched, under the edge rule and the
access rules of ``activeSessions``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from service.clock import FrozenClock
from service.tessera import Tessera
from tests.api.test_details_at_rest import execute
from tests.api.test_edge import BAD_CURSORS, b64, send
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
ENV = {"product": "shop", "env": "prd"}


async def start(
    api: Api, user_id: str, clock: FrozenClock, tag: str = "web", **details: Any
) -> dict[str, Any]:
    clock.advance(1)
    result = await api.create_session(
        **{**SCOPE, "tag": tag}, data={"userId": user_id, "details": details}
    )
    assert result["__typename"] == "SessionTokens", result
    return result


async def listed(api: Api, **variables: Any) -> dict[str, Any]:
    page: dict[str, Any] = (await api.op("SessionUsers", **{**ENV, **variables}))["sessionUsers"]
    return page


async def one(api: Api, identifier: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.op("SessionUser", **ENV, identifier=identifier))[
        "sessionUser"
    ]
    return found


async def test_session_user_counts_follow_create_refresh_revoke_and_expiry(
    api: Api, clock: FrozenClock
) -> None:
    first = await start(api, "ann", clock, device="phone")
    started = clock.now()
    second = await start(api, "ann", clock, tag="mobile", device="tablet")
    ann = await one(api, "ann")
    assert ann is not None
    assert {k: ann[k] for k in ("liveSessions", "totalSessions", "tags", "userId", "details")} == {
        "liveSessions": 2,
        "totalSessions": 2,
        "tags": ["mobile", "web"],
        "userId": "ann",
        "details": {"device": "tablet"},
    }
    assert ann["sessions"]["totalCount"] == 2

    clock.advance(30)
    refreshed = await api.op(
        "RefreshSession", input={**SCOPE, "refreshToken": first["refreshToken"]}
    )
    assert refreshed["refreshSession"]["__typename"] == "SessionTokens"
    after_refresh = await one(api, "ann")
    assert after_refresh is not None
    assert after_refresh["lastSeenAt"] > ann["lastSeenAt"]
    assert after_refresh["firstSeenAt"] == ann["firstSeenAt"]
    # Verifying is a read: it changes nothing here.
    clock.advance(120)
    assert (await api.verify(**SCOPE, token=refreshed["refreshSession"]["token"]))["valid"]
    verified = await one(api, "ann")
    assert verified is not None
    assert verified["lastSeenAt"] == after_refresh["lastSeenAt"]
    # ...while the session's own lastSeenAt records it (once a minute).
    assert verified["sessions"] != after_refresh["sessions"]

    revoked = await api.op(
        "RevokeSession", input={**SCOPE, "tag": "mobile", "sessionId": second["sessionId"]}
    )
    assert revoked["revokeSession"]["count"] == 1
    ann = await one(api, "ann")
    assert ann is not None
    assert (ann["liveSessions"], ann["totalSessions"]) == (1, 2)

    clock.t = started + 31 * 86_400  # past the default 30 days
    ann = await one(api, "ann")
    assert ann is not None
    assert (ann["liveSessions"], ann["totalSessions"]) == (0, 2)
    assert ann["sessions"]["edges"] == []


async def test_session_users_page_last_seen_first_without_gap_or_repeat(
    api: Api, clock: FrozenClock
) -> None:
    for name in ("a", "b", "c", "d", "e"):
        await start(api, name, clock)
    await start(api, "b", clock)  # b is seen again: first now

    seen: list[str] = []
    after = None
    while True:
        page = await listed(api, first=2, after=after)
        seen += [e["node"]["identifier"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert page["edges"][-1]["cursor"] == after

    assert seen == ["b", "e", "d", "c", "a"]


async def test_session_users_search_is_a_literal_case_sensitive_prefix(
    api: Api, clock: FrozenClock
) -> None:
    for name in ("john", "johnny", "jo_n", "jo%n", "John", "jane"):
        await start(api, name, clock)

    async def found(search: str, **more: Any) -> list[str]:
        page = await listed(api, search=search, **more)
        return [e["node"]["identifier"] for e in page["edges"]]

    assert await found("john") == ["johnny", "john"]
    assert await found("jo_") == ["jo_n"]
    assert await found("jo%") == ["jo%n"]
    assert await found("J") == ["John"]
    assert await found("") == ["jane", "John", "jo%n", "jo_n", "johnny", "john"]
    assert await found("jo", tag="web", first=2) == ["jo%n", "jo_n"]


async def test_session_users_of_a_tag(api: Api, clock: FrozenClock) -> None:
    await start(api, "ann", clock)
    await start(api, "bob", clock, tag="mobile")

    page = await listed(api, tag="mobile")

    assert [e["node"]["identifier"] for e in page["edges"]] == ["bob"]


@pytest.mark.parametrize(
    ("variables", "code", "field"),
    [
        ({"product": "ghost", "env": "prd"}, "PRODUCT_NOT_FOUND", "product"),
        ({"product": "shop", "env": "qa"}, "ENV_NOT_FOUND", "env"),
        ({"product": "shop", "env": "prd", "tag": "ghost"}, "SESSION_CONFIG_NOT_FOUND", "tag"),
        ({"product": "shop", "env": "prd", "first": 0}, "INVALID_INPUT", "first"),
        ({"product": "shop", "env": "prd", "first": 101}, "INVALID_INPUT", "first"),
        ({"product": "shop", "env": "prd", "search": "a\x00"}, "INVALID_INPUT", "search"),
        ({"product": "shop", "env": "prd", "search": "a" * 257}, "INVALID_INPUT", "search"),
    ],
)
async def test_session_users_refuse_what_names_nothing(
    api: Api, clock: FrozenClock, variables: dict[str, Any], code: str, field: str
) -> None:
    await start(api, "ann", clock)

    body = await send(api, operation("SessionUsers"), variables)

    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]] == [
        (code, field)
    ]


async def test_session_user_never_seen_is_null(api: Api, clock: FrozenClock) -> None:
    await start(api, "ann", clock)

    assert await one(api, "bob") is None
    assert await one(api, "Ann") is None
    body = await send(
        api, operation("SessionUser"), {"product": "shop", "env": "qa", "identifier": "ann"}
    )
    assert [e["extensions"]["code"] for e in body["errors"]] == ["ENV_NOT_FOUND"]


BAD_USER_CURSORS = {
    **{name: c for name, c in BAD_CURSORS.items() if name != "foreign-id"},
    "empty-identifier": b64('[1,""]'),
    "control-identifier": b64('[1,"a\\u0000b"]'),
    "long-identifier": b64('[1,"' + "x" * 257 + '"]'),
    "too-long": "A" * 2001,
    "line-break": "WzEsImEiXQ\n",
}


async def test_session_users_bad_cursor_is_invalid_input(api: Api, clock: FrozenClock) -> None:
    await start(api, "ann", clock)
    answers = {}

    for name, cursor in BAD_USER_CURSORS.items():
        body = await send(api, operation("SessionUsers"), {**ENV, "after": cursor})
        answers[name] = [
            (e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]
        ]

    assert {n: a for n, a in answers.items() if a != [("INVALID_INPUT", "after")]} == {}


async def test_session_users_cursor_of_the_longest_identifier_pages(
    api: Api, clock: FrozenClock
) -> None:
    # Up to 256 characters of up to 4 UTF-8 bytes each: longer than a name may be.
    longest = "\U0001f600" * 256
    await start(api, "ann", clock)
    await api.op(
        "CreateSessionConfig",
        input={
            "product": "shop",
            "tag": "email",
            "name": "E",
            "selector": "$Session{details.email}",
        },
    )
    clock.advance(1)
    created = await api.create_session(
        **{**SCOPE, "tag": "email"}, data={"userId": "u", "details": {"email": longest}}
    )
    assert created["__typename"] == "SessionTokens", created

    page = await listed(api, first=1)
    assert page["edges"][0]["node"]["identifier"] == longest
    rest = await listed(api, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["identifier"] for e in rest["edges"]] == ["ann"]


async def test_session_user_details_that_do_not_open_are_null(
    api: Api,
    tessera: Tessera,
    database_url: str,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await start(api, "ann", clock, secret="a")
    await start(api, "bob", clock, secret="b")
    await execute(
        database_url,
        "UPDATE session_users SET details = (SELECT details FROM session_users WHERE "
        "identifier = $1) WHERE identifier = $2",
        "ann",
        "bob",
    )

    with caplog.at_level(logging.WARNING, logger="tessera.sessions"):
        page = await listed(api)

    nodes = {e["node"]["identifier"]: e["node"] for e in page["edges"]}
    assert nodes["bob"]["details"] is None and nodes["bob"]["userId"] == "bob"
    assert nodes["ann"]["details"] == {"secret": "a"}
    assert any("do not open" in r.getMessage() for r in caplog.records)
