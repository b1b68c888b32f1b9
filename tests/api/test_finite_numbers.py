"""``details`` (and a config's ``schema``) are JSON, whose numbers are finite:
``NaN``, ``Infinity`` and numbers that overflow to it are refused at their path, and
no row stored before that — nor anything else — makes a response other than JSON."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import asyncpg
import pytest

from service.settings import Settings
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def strict_json(text: str) -> Any:
    """``text`` parsed as JSON proper: Python's parser would take NaN and Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def post(api: Api, body: str) -> Any:
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {api.key}"},
    )
    assert response.status_code == 200, response.text
    return strict_json(response.text)


# Written as some clients send them: bare words JSON does not have, and an overflow.
RAW_DETAILS = {
    '{"x": NaN}': "data.details.x",
    '{"x": Infinity}': "data.details.x",
    '{"x": -Infinity}': "data.details.x",
    '{"x": 1e400}': "data.details.x",
    '{"a": {"b": [1, 2.5, -1e999]}}': "data.details.a.b.2",
}


async def test_details_non_finite_number_variable_is_invalid_input_at_its_path(
    api: Api,
) -> None:
    document = json.dumps(operation("CreateSessionWith"))
    scope = '"product": "shop", "env": "prd", "tag": "web"'
    answers = {}

    for details in RAW_DETAILS:
        variables = f'{{"input": {{{scope}, "data": {{"userId": "u", "details": {details}}}}}}}'
        body = await post(api, f'{{"query": {document}, "variables": {variables}}}')
        result = body["data"]["createSession"]
        answers[details] = (result["code"], result["field"])

    assert answers == {d: ("INVALID_INPUT", path) for d, path in RAW_DETAILS.items()}


@pytest.mark.parametrize(
    "literal",
    ["1e400", "-1e400", "1" * 5000],  # graphql-core reads an over-long integer as NaN
    ids=["overflow", "negative-overflow", "huge-integer"],
)
async def test_details_non_finite_number_literal_is_invalid_input(api: Api, literal: str) -> None:
    document = (
        'mutation { createSession(input: {product: "shop", env: "prd", tag: "web", '
        f'data: {{userId: "u", details: {{x: {literal}}}}}}}) '
        "{ __typename ... on InvalidInputError { code field } } }"
    )

    body = await post(api, json.dumps({"query": document}))

    assert body["data"]["createSession"] == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "field": "data.details.x",
    }


async def test_config_schema_non_finite_number_is_invalid_input(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    document = json.dumps(operation("CreateSessionConfig"))
    input = '{"product": "shop", "tag": "web", "name": "Web", "schema": {"maximum": NaN}}'

    body = await post(api, f'{{"query": {document}, "variables": {{"input": {input}}}}}')

    assert body["data"]["createSessionConfig"]["field"] == "schema.maximum"


async def test_details_finite_numbers_are_kept(api: Api) -> None:
    details = {"big": 10**300, "small": 5e-324, "max": 1.7976931348623157e308, "neg": -0.5}

    issued = await api.create_session(**SCOPE, data={"userId": "u", "details": details})
    verified = await api.verify(**SCOPE, token=issued["token"])

    assert verified["data"]["details"] == details


# Rows stored before non-finite numbers were refused --------------------------------------


async def store_legacy_details(settings: Settings, session_id: str, details: str) -> None:
    """Overwrite a stored session's details as an earlier Tessera could have stored them
    (``json.dumps`` writes NaN and Infinity by default)."""
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute("UPDATE sessions SET details = ? WHERE id = ?", (details, session_id))
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE sessions SET details = $1 WHERE id = $2", details, session_id)
    finally:
        await conn.close()


async def test_legacy_non_finite_row_never_breaks_a_response(
    api: Api, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = await api.create_session(**SCOPE, data={"userId": "old", "details": {"x": 1}})
    fine = await api.create_session(**SCOPE, data={"userId": "new", "details": {"x": 2}})
    await store_legacy_details(settings, legacy["sessionId"], '{"x":NaN,"y":[Infinity,1]}')
    verify = {"input": {**SCOPE, "token": legacy["token"]}}

    with caplog.at_level(logging.WARNING, logger="tessera"):
        listed = await post(
            api, json.dumps({"query": operation("ActiveSessions"), "variables": SCOPE})
        )
        verified = await post(
            api, json.dumps({"query": operation("VerifySession"), "variables": verify})
        )
        current = await api.client.post(
            "/graphql",
            json={"query": operation("CurrentSession")},
            headers={"authorization": f"Bearer {legacy['token']}"},
        )

    details = {
        e["node"]["id"]: e["node"]["data"]["details"]
        for e in listed["data"]["activeSessions"]["edges"]
    }
    assert details == {
        legacy["sessionId"]: {"x": None, "y": [None, 1]},
        fine["sessionId"]: {"x": 2},
    }
    # Verification and the end user's own session read the token's claims, never the row.
    assert verified["data"]["verifySession"]["data"]["details"] == {"x": 1}
    assert strict_json(current.text)["data"]["currentSession"]["data"]["details"] == {"x": 1}
    assert "non-finite number" in caplog.text
