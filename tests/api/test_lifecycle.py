"""Session lifecycle over GraphQL: refresh rotation, theft detection, revocation,
listing, activity bookkeeping."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


async def start(api: Api, user: str = "u1", **details: Any) -> dict[str, Any]:
    result = await api.create_session(
        **SCOPE, data={"userId": user, "details": {"email": f"{user}@x.io", **details}}
    )
    assert result["__typename"] == "SessionTokens", result
    return result


async def refresh(api: Api, token: str, key: Any = ..., **scope: str) -> dict[str, Any]:
    data = await api.op("RefreshSession", key=key, input={**SCOPE, **scope, "refreshToken": token})
    result: dict[str, Any] = data["refreshSession"]
    return result


async def verify(api: Api, token: str) -> dict[str, Any]:
    return await api.verify(**SCOPE, token=token)


async def revoke(api: Api, **target: str) -> dict[str, Any]:
    """``revokeSession`` with ``target`` (``sessionId=`` or ``identifier=``)."""
    data = await api.op("RevokeSession", input={**SCOPE, "target": target})
    result: dict[str, Any] = data["revokeSession"]
    return result


async def revoke_deprecated(api: Api, **by: Any) -> dict[str, Any]:
    """``revokeSession`` with 0.1.0's selectors, ``sessionId`` and ``identifier``."""
    data = await api.op("RevokeSession", input={**SCOPE, **by})
    result: dict[str, Any] = data["revokeSession"]
    return result


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def configure(api: Api, **config: Any) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    created = await api.op(
        "CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web", **config}
    )
    assert created["createSessionConfig"]["__typename"] == "SessionConfig", created


# Refresh and rotation -----------------------------------------------------------------


async def test_refresh_rotates_both_tokens(api: Api, clock: FrozenClock) -> None:
    first = await start(api)
    clock.advance(5)

    second = await refresh(api, first["refreshToken"])

    assert second["__typename"] == "SessionTokens"
    assert second["sessionId"] == first["sessionId"]
    assert second["refreshToken"] != first["refreshToken"]
    assert second["token"] != first["token"]
    assert second["refreshExpiresAt"] == first["refreshExpiresAt"]
    assert (await verify(api, second["token"]))["valid"] is True
    third = await refresh(api, second["refreshToken"])
    assert third["__typename"] == "SessionTokens"


async def test_refresh_without_api_key_works(api: Api) -> None:
    first = await start(api)

    result = await refresh(api, first["refreshToken"], key=None)

    assert result["__typename"] == "SessionTokens"


async def test_refresh_with_bad_api_key_is_unauthenticated(api: Api) -> None:
    first = await start(api)
    body = await api.post(
        operation("RefreshSession"),
        {"input": {**SCOPE, "refreshToken": first["refreshToken"]}},
        key="tsk_" + "n" * 43,
    )

    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_refresh_old_token_after_grace_is_reused_and_revokes(
    api: Api, clock: FrozenClock
) -> None:
    first = await start(api)
    second = await refresh(api, first["refreshToken"])
    clock.advance(11)

    reused = await refresh(api, first["refreshToken"])

    assert reused["code"] == "REFRESH_TOKEN_REUSED"
    assert (await refresh(api, second["refreshToken"]))["code"] == "SESSION_REVOKED"
    assert (await verify(api, second["token"]))["reason"] == "REVOKED"
    assert (await verify(api, first["token"]))["reason"] == "REVOKED"


async def test_refresh_within_grace_returns_same_successor(api: Api, clock: FrozenClock) -> None:
    first = await start(api)
    a = await refresh(api, first["refreshToken"])
    clock.advance(9)

    b = await refresh(api, first["refreshToken"])

    assert b["__typename"] == "SessionTokens"
    assert b["refreshToken"] == a["refreshToken"]
    assert (await verify(api, b["token"]))["valid"] is True
    # The session did not fork: the shared successor rotates exactly once more.
    c = await refresh(api, a["refreshToken"])
    assert c["__typename"] == "SessionTokens"


async def test_refresh_grace_per_config_override(api: Api, clock: FrozenClock) -> None:
    await configure(api, refreshGraceSeconds=2)
    first = await start(api)
    await refresh(api, first["refreshToken"])
    clock.advance(3)

    assert (await refresh(api, first["refreshToken"]))["code"] == "REFRESH_TOKEN_REUSED"


async def test_refresh_older_generation_inside_grace_is_reused(
    api: Api, clock: FrozenClock
) -> None:
    first = await start(api)
    second = await refresh(api, first["refreshToken"])
    third = await refresh(api, second["refreshToken"])

    assert (await refresh(api, first["refreshToken"]))["code"] == "REFRESH_TOKEN_REUSED"
    assert (await verify(api, third["token"]))["reason"] == "REVOKED"


@pytest.mark.parametrize("attacker_first", [True, False], ids=["attacker-first", "victim-first"])
async def test_refresh_theft_revokes_session_for_both(
    api: Api, clock: FrozenClock, attacker_first: bool
) -> None:
    issued = await start(api)
    stolen = issued["refreshToken"]  # both parties hold the same token

    winner = await refresh(api, stolen)
    clock.advance(30)
    loser = await refresh(api, stolen)

    assert winner["__typename"] == "SessionTokens"
    assert loser["code"] == "REFRESH_TOKEN_REUSED"
    # Whoever redeemed first (attacker or victim) is logged out too.
    assert (await refresh(api, winner["refreshToken"]))["code"] == "SESSION_REVOKED"
    assert (await verify(api, winner["token"]))["reason"] == "REVOKED"
    assert (await verify(api, issued["token"]))["reason"] == "REVOKED"


async def test_refresh_fifty_concurrent_redemptions_yield_one_successor(
    api: Api, tessera: Tessera
) -> None:
    issued = await start(api)

    results = await asyncio.gather(*(refresh(api, issued["refreshToken"]) for _ in range(50)))

    assert {r["__typename"] for r in results} == {"SessionTokens"}
    assert len({r["refreshToken"] for r in results}) == 1
    session = await tessera.store.get_session(issued["sessionId"])
    assert session is not None and session.refresh_generation == 1
    assert (await refresh(api, results[0]["refreshToken"]))["__typename"] == "SessionTokens"


async def test_refresh_absolute_lifetime_is_never_extended(api: Api, clock: FrozenClock) -> None:
    await configure(api, expiry=20, period="MINUTES", refreshExpiry=1, refreshPeriod="HOURS")
    issued = await start(api)
    tokens = issued
    for _ in range(3):
        clock.advance(15 * 60)
        tokens = await refresh(api, tokens["refreshToken"])
        assert tokens["refreshExpiresAt"] == issued["refreshExpiresAt"]
    # 45 minutes in: the new session token is cut at the session's end, not 20 min on.
    assert tokens["expiresAt"] == issued["refreshExpiresAt"]
    clock.advance(16 * 60)

    assert (await refresh(api, tokens["refreshToken"]))["code"] == "REFRESH_TOKEN_EXPIRED"
    assert (await verify(api, tokens["token"]))["reason"] == "EXPIRED"


async def test_refresh_idle_timeout(api: Api, clock: FrozenClock) -> None:
    await configure(api, idleTimeout=300)
    issued = await start(api)
    clock.advance(200)
    tokens = await refresh(api, issued["refreshToken"])
    clock.advance(299)
    tokens = await refresh(api, tokens["refreshToken"])
    assert tokens["__typename"] == "SessionTokens"
    clock.advance(301)

    assert (await refresh(api, tokens["refreshToken"]))["code"] == "REFRESH_TOKEN_EXPIRED"


@pytest.mark.parametrize(
    "scope", [{"tag": "mobile"}, {"env": "dev"}, {"product": "other"}], ids=str
)
async def test_refresh_other_scope_is_wrong_session(api: Api, scope: dict[str, str]) -> None:
    issued = await start(api)
    await api.create_session(**{**SCOPE, **scope}, data={"userId": "z", "details": {}})

    result = await refresh(api, issued["refreshToken"], **scope)

    assert result["code"] == "WRONG_SESSION"
    # A misdirected refresh is not theft: the session lives on.
    assert (await refresh(api, issued["refreshToken"]))["__typename"] == "SessionTokens"


async def test_refresh_forged_or_malformed_token_is_invalid_and_harmless(api: Api) -> None:
    issued = await start(api)
    lookup, _, secret = issued["refreshToken"].partition(":")
    session_id = lookup.split(".")[0]
    forged = [
        f"{lookup}:{'A' * len(secret)}",
        f"{session_id}.7:{secret}",
        f"{session_id}.1:{secret}",
        "",
        "garbage",
        issued["token"],
        issued["refreshToken"] + "x",
    ]
    for token in forged:
        assert (await refresh(api, token))["code"] == "REFRESH_TOKEN_INVALID", token

    assert (await refresh(api, issued["refreshToken"]))["__typename"] == "SessionTokens"


# Revocation ---------------------------------------------------------------------------


async def test_verify_with_activity_has_the_session_only_when_valid(
    api: Api, clock: FrozenClock
) -> None:
    issued = await start(api)
    clock.advance(5)

    valid = await api.op("VerifySessionWithActivity", input={**SCOPE, "token": issued["token"]})
    await revoke(api, sessionId=issued["sessionId"])
    revoked = await api.op("VerifySessionWithActivity", input={**SCOPE, "token": issued["token"]})

    session = valid["verifySession"]["session"]
    assert session["id"] == issued["sessionId"] == valid["verifySession"]["sessionId"]
    assert session["identifier"] == "u1" and session["active"] is True
    assert session["refreshExpiresAt"] == issued["refreshExpiresAt"]
    assert revoked["verifySession"]["session"] is None
    assert revoked["verifySession"]["reason"] == "REVOKED"


async def test_revoke_by_session_id_is_immediate_and_idempotent(api: Api) -> None:
    issued = await start(api)
    other = await start(api)

    assert (await revoke(api, sessionId=issued["sessionId"]))["count"] == 1
    assert (await revoke(api, sessionId=issued["sessionId"]))["count"] == 0

    assert (await verify(api, issued["token"]))["reason"] == "REVOKED"
    assert (await refresh(api, issued["refreshToken"]))["code"] == "SESSION_REVOKED"
    assert (await verify(api, other["token"]))["valid"] is True


async def test_revoke_by_identifier_revokes_all_of_that_user(api: Api) -> None:
    mine = [await start(api, "alice") for _ in range(3)]
    theirs = await start(api, "bob")

    assert (await revoke(api, identifier="alice"))["count"] == 3

    for issued in mine:
        assert (await verify(api, issued["token"]))["reason"] == "REVOKED"
    assert (await verify(api, theirs["token"]))["valid"] is True
    assert (await revoke(api, identifier="alice"))["count"] == 0


@pytest.mark.parametrize(
    "target",
    [{}, {"sessionId": "x", "identifier": "u1"}, {"identifier": None}, {"sessionId": None}],
    ids=["none", "both", "null-identifier", "null-session-id"],
)
async def test_revoke_target_not_exactly_one_selector_does_not_validate(
    api: Api, target: dict[str, str | None]
) -> None:
    # @oneOf: the schema itself refuses it, as a variable and as a literal, before any
    # resolver runs.
    issued = await start(api)
    literal = ", ".join(f"{k}: {json.dumps(v)}" for k, v in target.items())
    scope = ", ".join(f'{k}: "{v}"' for k, v in SCOPE.items())
    inline = (
        f"mutation {{ revokeSession(input: {{{scope}, target: {{{literal}}}}}) {{ __typename }} }}"
    )

    as_variable = await api.post(operation("RevokeSession"), {"input": {**SCOPE, "target": target}})
    as_literal = await api.post(inline)

    assert as_variable["data"] is None and codes(as_variable) == ["BAD_USER_INPUT"], as_variable
    assert as_literal["data"] is None and codes(as_literal) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "RevokeSessionTarget" in as_literal["errors"][0]["message"]
    assert (await verify(api, issued["token"]))["valid"] is True


@pytest.mark.parametrize(
    "target", [{"identifier": "a\x00"}, {"sessionId": "\x00"}], ids=["identifier", "session-id"]
)
async def test_revoke_target_bad_string_is_invalid_input(api: Api, target: dict[str, str]) -> None:
    await start(api)

    assert (await revoke(api, **target))["code"] == "INVALID_INPUT"


async def test_revoke_deprecated_selectors_still_revoke(api: Api) -> None:
    issued = await start(api)
    mine = [await start(api, "alice") for _ in range(2)]

    assert (await revoke_deprecated(api, sessionId=issued["sessionId"]))["count"] == 1
    assert (await revoke_deprecated(api, identifier="alice"))["count"] == 2
    assert (await verify(api, issued["token"]))["reason"] == "REVOKED"
    assert all([(await verify(api, m["token"]))["reason"] == "REVOKED" for m in mine])


@pytest.mark.parametrize(
    "by",
    [
        {},
        {"sessionId": None, "identifier": None},
        {"sessionId": "x", "identifier": "y"},
        {"identifier": "a\x00"},
        {"sessionId": "\x00"},
    ],
    ids=["none", "nulls", "both", "nul-identifier", "nul-session-id"],
)
async def test_revoke_deprecated_selectors_need_exactly_one(
    api: Api, by: dict[str, str | None]
) -> None:
    await start(api)

    assert (await revoke_deprecated(api, **by))["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("deprecated", ["sessionId", "identifier"])
async def test_revoke_target_beside_a_deprecated_selector_is_invalid_input(
    api: Api, deprecated: str
) -> None:
    issued = await start(api)

    result = await revoke_deprecated(
        api, target={"sessionId": issued["sessionId"]}, **{deprecated: "u1"}
    )

    assert result["code"] == "INVALID_INPUT" and "give target alone" in result["message"]
    assert (await verify(api, issued["token"]))["valid"] is True


async def test_revoke_unknown_scope_is_not_found(api: Api) -> None:
    await start(api)
    result: dict[str, Any] = (
        await api.op(
            "RevokeSession", input={**SCOPE, "tag": "nope", "target": {"identifier": "u1"}}
        )
    )["revokeSession"]

    assert result["code"] == "SESSION_CONFIG_NOT_FOUND"


# Listing ------------------------------------------------------------------------------


async def active(api: Api, **args: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.op("ActiveSessions", **SCOPE, **args))["activeSessions"]
    return result


async def test_active_sessions_pages_newest_first_across_concurrent_inserts(
    api: Api, clock: FrozenClock
) -> None:
    created = []
    for i in range(25):
        created.append((await start(api, f"user{i}"))["sessionId"])
        if i % 3 == 0:
            clock.advance(1)  # some share a start time: the id breaks the tie

    seen: list[tuple[str, str]] = []
    page = await active(api, first=10)
    assert page["totalCount"] == 25
    while True:
        seen += [(e["node"]["startedAt"], e["node"]["id"]) for e in page["edges"]]
        # Sessions started while a client pages are newer: they never shift the pages.
        clock.advance(1)
        await start(api, "late")
        if not page["pageInfo"]["hasNextPage"]:
            break
        page = await active(api, first=10, after=page["pageInfo"]["endCursor"])

    ids = [sid for _, sid in seen]
    assert len(ids) == len(set(ids)) == 25
    assert set(ids) == set(created)
    assert seen == sorted(seen, reverse=True)  # newest first, ties broken by id


async def test_active_sessions_filters_identifier_and_excludes_revoked(api: Api) -> None:
    a1 = await start(api, "alice")
    await start(api, "alice")
    await start(api, "bob")
    await revoke(api, sessionId=a1["sessionId"])

    page = await active(api, identifier="alice")

    assert page["totalCount"] == 1
    assert [e["node"]["identifier"] for e in page["edges"]] == ["alice"]
    assert page["edges"][0]["node"]["active"] is True
    assert page["edges"][0]["node"]["data"]["details"] == {"email": "alice@x.io"}


@pytest.mark.parametrize(
    "args", [{"first": 101}, {"first": 0}, {"after": "bm90LWEtY3Vyc29y"}, {"after": "%%%"}]
)
async def test_active_sessions_bad_paging_is_invalid_input(api: Api, args: dict[str, Any]) -> None:
    await start(api)
    body = await api.post(operation("ActiveSessions"), {**SCOPE, **args})

    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


# Activity bookkeeping -----------------------------------------------------------------


async def test_last_seen_updates_at_most_once_a_minute(
    api: Api, clock: FrozenClock, tessera: Tessera
) -> None:
    issued = await start(api)
    started = (await tessera.store.get_session(issued["sessionId"])).last_seen_at  # type: ignore[union-attr]

    clock.advance(30)
    await verify(api, issued["token"])
    after_30 = (await tessera.store.get_session(issued["sessionId"])).last_seen_at  # type: ignore[union-attr]
    clock.advance(31)
    await verify(api, issued["token"])
    after_61 = (await tessera.store.get_session(issued["sessionId"])).last_seen_at  # type: ignore[union-attr]
    clock.advance(5)
    await refresh(api, issued["refreshToken"])
    after_refresh = (await tessera.store.get_session(issued["sessionId"])).last_seen_at  # type: ignore[union-attr]

    assert after_30 == started
    assert after_61 == started + 61
    assert after_refresh == started + 66
