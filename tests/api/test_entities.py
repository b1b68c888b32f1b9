"""Federation entities (``_entities``): ``Session`` by id and ``SessionUser`` by
``product env tag identifier``, under exactly the access rules of the root fields that
reach them, and under the edge rule and the audit line like every root field."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from service.clock import FrozenClock
from tests.api.test_edge import BAD_CURSORS, BAD_STRINGS, send
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
ENTITIES = operation("Entities")
NOT_THE_USERS = "this operation needs the session token of the user it names"
NOT_IN_SCOPE = "this operation needs admin key, or a key of the product (and env)"


def session(session_id: str) -> dict[str, Any]:
    return {"__typename": "Session", "id": session_id}


def user(identifier: str, product: str = "shop", env: str = "prd") -> dict[str, Any]:
    return {"__typename": "SessionUser", "product": product, "env": env, "identifier": identifier}


async def start(
    api: Api, user_id: str, *, clock: FrozenClock | None = None, **scope: str
) -> dict[str, Any]:
    """A new session; with ``clock``, a second after the previous one (listings are
    newest first)."""
    if clock is not None:
        clock.advance(1)
    result = await api.create_session(
        **{**SCOPE, **scope}, data={"userId": user_id, "details": {"device": "phone"}}
    )
    assert result["__typename"] == "SessionTokens", result
    return result


async def product_key(api: Api, product: str, envs: list[str] | None = None) -> str:
    data = await api.op("CreateApiKey", input={"product": product, "name": "k", "envs": envs})
    key: str = data["createApiKey"]["key"]
    return key


async def entities(api: Api, *representations: Any, key: Any = ..., **variables: Any) -> Any:
    return await api.post(
        ENTITIES, {"representations": list(representations), **variables}, key=key
    )


def errors(body: dict[str, Any]) -> list[tuple[list[Any], str, str]]:
    return [
        (e.get("path"), e["extensions"]["code"], e["message"]) for e in body.get("errors") or []
    ]


# Session by id ---------------------------------------------------------------------


async def test_entities_session_by_id_is_the_session(api: Api) -> None:
    alice = await start(api, "alice")

    body = await entities(api, session(alice["sessionId"]))

    assert body == {
        "data": {
            "_entities": [
                {
                    "__typename": "Session",
                    "id": alice["sessionId"],
                    "identifier": "alice",
                    "active": True,
                    "data": {"userId": "alice", "details": {"device": "phone"}},
                }
            ]
        }
    }


async def test_entities_ended_session_is_resolved_inactive(api: Api) -> None:
    alice = await start(api, "alice")
    await api.op("RevokeSession", input={**SCOPE, "sessionId": alice["sessionId"]})

    body = await entities(api, session(alice["sessionId"]))

    assert body["data"]["_entities"][0]["active"] is False


async def test_entities_product_key_never_resolves_another_products_session(api: Api) -> None:
    theirs = await start(api, "alice", product="other")
    mine = await start(api, "alice")
    key = await product_key(api, "shop")

    foreign = await entities(api, session(theirs["sessionId"]), key=key)
    missing = await entities(api, session("A" * 22), key=key)
    own = await entities(api, session(mine["sessionId"]), key=key)

    # Out of scope and missing answer alike: the id names no product to refuse by.
    assert foreign == missing == {"data": {"_entities": [None]}}
    assert own["data"]["_entities"][0]["id"] == mine["sessionId"]


async def test_entities_product_key_limited_to_envs_never_resolves_other_envs(api: Api) -> None:
    dev = await start(api, "alice", env="dev")
    key = await product_key(api, "shop", ["prd"])

    assert await entities(api, session(dev["sessionId"]), key=key) == {
        "data": {"_entities": [None]}
    }


async def test_entities_end_user_resolves_only_their_own_users_sessions(api: Api) -> None:
    mine, also_mine = await start(api, "alice"), await start(api, "alice")
    bob = await start(api, "bob")
    elsewhere = await start(api, "alice", tag="other-flow")

    body = await entities(
        api,
        session(mine["sessionId"]),
        session(also_mine["sessionId"]),
        session(bob["sessionId"]),
        session(elsewhere["sessionId"]),
        key=mine["token"],
    )

    # As mySessions: the sessions of the bearer's user in the bearer's product, env, tag.
    resolved = [e and e["id"] for e in body["data"]["_entities"]]
    assert resolved == [mine["sessionId"], also_mine["sessionId"], None, None]
    assert "errors" not in body


@pytest.mark.parametrize("key", [None, "tsk_" + "b" * 43, "web:not.a.token"])
async def test_entities_without_valid_credential_is_unauthenticated(api: Api, key: Any) -> None:
    alice = await start(api, "alice")

    body = await entities(api, session(alice["sessionId"]), user("alice"), key=key)

    assert body["data"] is None
    assert [(path, code) for path, code, _ in errors(body)] == [(["_entities"], "UNAUTHENTICATED")]


# SessionUser by product, env, tag and identifier ----------------------------------------


async def test_entities_user_lists_their_live_sessions_of_every_config(
    api: Api, clock: FrozenClock
) -> None:
    web = [await start(api, "alice", clock=clock) for _ in range(2)]
    mobile = await start(api, "alice", clock=clock, tag="mobile")
    ended = await start(api, "alice", clock=clock)
    await api.op("RevokeSession", input={**SCOPE, "sessionId": ended["sessionId"]})
    await start(api, "bob", clock=clock)
    await start(api, "alice", clock=clock, env="dev")
    await start(api, "alice", clock=clock, product="other")
    key = await product_key(api, "shop", ["prd"])

    body = await entities(api, user("alice"), key=key)

    [entity] = body["data"]["_entities"]
    assert {k: entity[k] for k in ("__typename", "product", "env", "identifier")} == {
        "__typename": "SessionUser",
        "product": "shop",
        "env": "prd",
        "identifier": "alice",
    }
    listed = [edge["node"]["id"] for edge in entity["sessions"]["edges"]]
    newest_first = [mobile["sessionId"], web[1]["sessionId"], web[0]["sessionId"]]
    assert listed == newest_first
    assert entity["sessions"]["totalCount"] == 3


async def test_entities_user_sessions_page_across_configs(api: Api, clock: FrozenClock) -> None:
    started = [await start(api, "alice", clock=clock, tag=tag) for tag in ("web", "mobile") * 3]

    pages, after = [], None
    for _ in range(3):
        body = await entities(api, user("alice"), first=2, after=after)
        page = body["data"]["_entities"][0]["sessions"]
        pages.append(page)
        after = page["pageInfo"]["endCursor"]

    ids = [[e["node"]["id"] for e in page["edges"]] for page in pages]
    newest_first = [s["sessionId"] for s in reversed(started)]
    assert ids == [newest_first[0:2], newest_first[2:4], newest_first[4:6]]
    assert [page["pageInfo"]["hasNextPage"] for page in pages] == [True, True, False]
    assert {page["totalCount"] for page in pages} == {6}


async def test_entities_user_sessions_on_same_second_page_without_gap_or_repeat(
    api: Api,
) -> None:
    # A frozen clock: every session starts at the same time, ordered by id alone.
    started = {(await start(api, "alice", tag=tag))["sessionId"] for tag in ("web", "mobile") * 3}

    seen, after = [], None
    for _ in range(6):
        page = (await entities(api, user("alice"), first=1, after=after))["data"]
        sessions = page["_entities"][0]["sessions"]
        seen += [e["node"]["id"] for e in sessions["edges"]]
        after = sessions["pageInfo"]["endCursor"]

    assert sorted(seen) == sorted(started)
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize("target", ["other", "ghost"])
async def test_entities_product_key_of_another_product_is_forbidden_for_its_users(
    api: Api, target: str
) -> None:
    await start(api, "alice")
    await start(api, "alice", product="other")
    key = await product_key(api, "shop")

    body = await entities(api, user("alice", product=target), key=key)

    # Decided by the names alone, as activeSessions: the same whether the product exists.
    assert body["data"] == {"_entities": [None]}
    assert errors(body) == [(["_entities", 0], "FORBIDDEN", NOT_IN_SCOPE)]


async def test_entities_product_key_of_other_envs_is_forbidden_for_users_there(
    api: Api,
) -> None:
    await start(api, "alice", env="dev")
    key = await product_key(api, "shop", ["prd"])

    body = await entities(api, user("alice", env="dev"), key=key)

    assert errors(body) == [(["_entities", 0], "FORBIDDEN", NOT_IN_SCOPE)]


async def test_entities_end_user_may_name_only_their_own_user_and_config(
    api: Api, clock: FrozenClock
) -> None:
    mine = await start(api, "alice", clock=clock)
    also_mine = await start(api, "alice", clock=clock)
    await start(api, "alice", clock=clock, tag="mobile")
    await start(api, "bob", clock=clock)

    body = await entities(
        api,
        user("alice"),
        user("bob"),
        user("alice", env="dev"),
        user("alice", product="other"),
        key=mine["token"],
    )

    resolved = body["data"]["_entities"]
    # Their sessions of the bearer's config only, exactly what mySessions lists.
    own = resolved[0]["sessions"]
    my_sessions = (await api.op("MySessions", key=mine["token"]))["mySessions"]
    listed = [e["node"]["id"] for e in own["edges"]]
    assert listed == [also_mine["sessionId"], mine["sessionId"]]
    assert listed == [e["node"]["id"] for e in my_sessions["edges"]]
    assert own["totalCount"] == my_sessions["totalCount"] == 2
    assert resolved[1:] == [None, None, None]
    assert errors(body) == [(["_entities", i], "FORBIDDEN", NOT_THE_USERS) for i in range(1, 4)]


async def test_entities_forbidden_user_fails_alone(api: Api) -> None:
    alice = await start(api, "alice")
    key = await product_key(api, "shop")

    body = await entities(
        api, session(alice["sessionId"]), user("alice", product="other"), user("alice"), key=key
    )

    resolved = body["data"]["_entities"]
    assert [e and e["__typename"] for e in resolved] == ["Session", None, "SessionUser"]
    assert [(path, code) for path, code, _ in errors(body)] == [(["_entities", 1], "FORBIDDEN")]


@pytest.mark.parametrize(
    ("scope", "code"),
    [({"product": "ghost"}, "PRODUCT_NOT_FOUND"), ({"env": "qa"}, "ENV_NOT_FOUND")],
)
async def test_entities_user_of_missing_product_or_env_is_not_found(
    api: Api, scope: dict[str, str], code: str
) -> None:
    await start(api, "alice")

    body = await entities(api, user("alice", **scope))

    codes = [(path, code) for path, code, _ in errors(body)]
    assert codes == [(["_entities", 0, "sessions"], code)]


# Representations: the edge rule and the limit ----------------------------------------------


BAD_REPRESENTATIONS: dict[str, tuple[Any, str]] = {
    "not-an-object": ("Session", "representations.0"),
    "no-typename": ({"id": "x"}, "representations.0.__typename"),
    "unknown-typename": ({"__typename": "Query", "id": "x"}, "representations.0.__typename"),
    "typename-not-a-string": ({"__typename": 1, "id": "x"}, "representations.0.__typename"),
    "missing-key": ({"__typename": "Session"}, "representations.0.id"),
    "key-not-a-string": ({"__typename": "Session", "id": 5}, "representations.0.id"),
    "missing-user-key": (
        {"__typename": "SessionUser", "product": "shop", "env": "prd"},
        "representations.0.identifier",
    ),
    "extra-field": ({"__typename": "Session", "id": "x", "\ud800": 1}, "representations.0"),
    **{
        name: ({"__typename": "Session", "id": bad}, "representations.0.id")
        for name, bad in BAD_STRINGS.items()
    },
    **{
        f"user-{name}": (user("alice", env=bad), "representations.0.env")
        for name, bad in BAD_STRINGS.items()
    },
}


@pytest.mark.parametrize("key", ["admin", None], ids=["admin", "no-credential"])
async def test_entities_bad_representation_is_invalid_input_before_anything_runs(
    api: Api, key: str | None
) -> None:
    answers = {}
    for name, (bad, _) in BAD_REPRESENTATIONS.items():
        body = await send(api, ENTITIES, {"representations": [bad]}, key=api.key if key else None)
        answers[name] = (
            body["data"],
            [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]],
        )

    # Refused before authentication too: a key-less caller gets the same answer.
    expected = {
        name: (None, [("INVALID_INPUT", where)]) for name, (_, where) in BAD_REPRESENTATIONS.items()
    }
    assert answers == expected


async def test_entities_more_than_a_page_of_representations_is_invalid_input(api: Api) -> None:
    alice = await start(api, "alice")

    at_limit = await entities(api, *[session(alice["sessionId"])] * 100)
    over = await entities(api, *[session(alice["sessionId"])] * 101)

    assert len(at_limit["data"]["_entities"]) == 100 and "errors" not in at_limit
    assert over["data"] is None
    assert [(e["extensions"]["code"], e["extensions"]["field"]) for e in over["errors"]] == [
        ("INVALID_INPUT", "representations")
    ]


async def test_entities_user_sessions_cursor_and_strings_pass_the_edge(api: Api) -> None:
    # SessionUser.sessions is the one nested field taking a string (tests/api/test_edge.py).
    await start(api, "alice")
    answers = {}
    for name, bad in {**BAD_CURSORS, **BAD_STRINGS}.items():
        body = await send(api, ENTITIES, {"representations": [user("alice")], "after": bad})
        answers[name] = [
            (e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]
        ]

    assert {name: a for name, a in answers.items() if a != [("INVALID_INPUT", "after")]} == {}


# The audit line ----------------------------------------------------------------------


async def test_entities_writes_one_audit_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    alice = await start(api, "alice")
    key = await product_key(api, "shop")
    caplog.set_level(logging.INFO, logger="tessera.audit")

    await entities(api, session(alice["sessionId"]), key=key)
    await entities(api, user("alice", product="other"), key=key)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert [(line["operation"], line["fields"], line["outcome"]) for line in lines] == [
        ("Entities", ["_entities"], "ok"),
        ("Entities", ["_entities"], "FORBIDDEN"),
    ]
    assert all(line["caller"].startswith("key:key_") for line in lines)
