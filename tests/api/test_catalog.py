"""Products and session configs over GraphQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api
from tests.operations import operation

EMAIL_SCHEMA = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "format": "email"},
        "age": {"type": "integer", "minimum": 0},
    },
}


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


async def create_config(api: Api, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.op("CreateSessionConfig", input=input))[
        "createSessionConfig"
    ]
    return result


async def test_create_product_defaults_envs(api: Api) -> None:
    data = await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})

    product = data["createProduct"]
    assert product["__typename"] == "Product"
    assert product["envs"] == ["dev", "staging", "prd"]
    listed = await api.op("Products")
    assert [p["tag"] for p in listed["products"]] == ["shop"]
    assert (await api.op("Product", tag="shop"))["product"]["name"] == "Shop"


async def test_product_unknown_is_null(api: Api) -> None:
    assert (await api.op("Product", tag="nope"))["product"] is None


async def test_create_product_duplicate_is_already_exists(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    again = (await api.op("CreateProduct", input={"tag": "shop", "name": "Other"}))["createProduct"]

    assert again["__typename"] == "AlreadyExistsError"
    assert again["code"] == "ALREADY_EXISTS"


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"tag": "Shop", "name": "x"}, "tag"),
        ({"tag": "", "name": "x"}, "tag"),
        ({"tag": "a" * 65, "name": "x"}, "tag"),
        ({"tag": "shop!", "name": "x"}, "tag"),
        ({"tag": "shop", "name": "  "}, "name"),
        ({"tag": "shop", "name": "x", "envs": ["prd", "PRD"]}, "envs.1"),
        ({"tag": "shop", "name": "x", "envs": []}, "envs"),
        ({"tag": "shop", "name": "x", "envs": ["dev", "dev"]}, "envs"),
    ],
)
async def test_create_product_invalid_input(api: Api, input: dict[str, Any], field: str) -> None:
    result = (await api.op("CreateProduct", input=input))["createProduct"]

    assert result["__typename"] == "InvalidInputError"
    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == field


async def test_session_config_crud_round_trip(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    created = await create_config(
        api,
        product="shop",
        tag="checkout",
        name="Checkout",
        expiry=15,
        period="MINUTES",
        refreshExpiry=7,
        refreshPeriod="DAYS",
        schema=EMAIL_SCHEMA,
    )
    assert created["__typename"] == "SessionConfig"
    assert (created["expiry"], created["period"]) == (15, "MINUTES")
    assert created["selector"] == "$Session{userId}"
    assert created["schema"] == EMAIL_SCHEMA

    updated = (
        await api.op(
            "UpdateSessionConfig",
            input={"product": "shop", "tag": "checkout", "description": "pay", "schema": None},
        )
    )["updateSessionConfig"]
    assert updated["description"] == "pay"
    assert updated["schema"] is None
    assert updated["expiry"] == 15  # untouched fields keep their values

    listed = await api.op("SessionConfigs", product="shop")
    assert [c["tag"] for c in listed["sessionConfigs"]] == ["checkout"]

    deleted = (await api.op("DeleteSessionConfig", input={"product": "shop", "tag": "checkout"}))[
        "deleteSessionConfig"
    ]
    assert deleted["__typename"] == "SessionConfig"
    assert (await api.op("SessionConfig", product="shop", tag="checkout"))["sessionConfig"] is None


async def test_create_session_config_unknown_product_is_not_found(api: Api) -> None:
    result = await create_config(api, product="ghost", tag="t", name="T")

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "PRODUCT_NOT_FOUND"


async def test_delete_session_config_missing_is_not_found(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    result = (await api.op("DeleteSessionConfig", input={"product": "shop", "tag": "none"}))[
        "deleteSessionConfig"
    ]

    assert result["code"] == "SESSION_CONFIG_NOT_FOUND"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"schema": {"type": "not-a-type"}}, "schema"),
        ({"schema": ["not", "an", "object"]}, "schema"),
        ({"selector": "$Session{email}"}, "selector"),
        ({"selector": "userId"}, "selector"),
        ({"expiry": 0}, "expiry"),
        ({"expiry": 2, "period": "DAYS"}, "expiry"),
        ({"refreshExpiry": 400, "refreshPeriod": "DAYS"}, "refreshExpiry"),
        ({"expiry": 2, "period": "HOURS", "refreshExpiry": 1, "refreshPeriod": "HOURS"}, "expiry"),
        ({"idleTimeout": -5}, "idleTimeout"),
        ({"description": "nul\x00"}, "description"),
    ],
)
async def test_create_session_config_invalid_input(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    result = await create_config(api, product="shop", tag="t", name="T", **overrides)

    assert result["__typename"] == "InvalidInputError"
    assert field in [e["field"] for e in result["fieldErrors"]]


async def test_create_session_config_duplicate_is_already_exists(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    await create_config(api, product="shop", tag="t", name="T")

    assert (await create_config(api, product="shop", tag="t", name="T"))["code"] == "ALREADY_EXISTS"


async def test_create_session_schema_violation_lists_failing_paths(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    await create_config(api, product="shop", tag="t", name="T", schema=EMAIL_SCHEMA)

    bad = await api.create_session(
        product="shop", env="prd", tag="t", data={"userId": "u1", "details": {"age": -1}}
    )
    assert bad["code"] == "SCHEMA_VALIDATION_FAILED"
    assert sorted(e["field"] for e in bad["fieldErrors"]) == [
        "data.details.age",
        "data.details.email",
    ]

    bad_format = await api.create_session(
        product="shop", env="prd", tag="t", data={"userId": "u1", "details": {"email": "nope"}}
    )
    assert [e["field"] for e in bad_format["fieldErrors"]] == ["data.details.email"]

    good = await api.create_session(
        product="shop", env="prd", tag="t", data={"userId": "u1", "details": {"email": "a@b.co"}}
    )
    assert good["__typename"] == "SessionTokens"


async def test_create_session_selector_on_details_sets_identifier(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    await create_config(api, product="shop", tag="t", name="T", selector="$Session{details.email}")

    tokens = await api.create_session(
        product="shop", env="prd", tag="t", data={"userId": "u1", "details": {"email": "a@b.co"}}
    )
    verified = (
        await api.op(
            "VerifySessionWithActivity",
            input={"product": "shop", "env": "prd", "tag": "t", "token": tokens["token"]},
        )
    )["verifySession"]
    assert verified["session"]["identifier"] == "a@b.co"

    unresolved = await api.create_session(
        product="shop", env="prd", tag="t", data={"userId": "u1", "details": {"name": "x"}}
    )
    assert unresolved["code"] == "SELECTOR_UNRESOLVED"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"userId": "", "details": {}}, "data.userId"),
        ({"userId": "   ", "details": {}}, "data.userId"),
        ({"userId": "u", "details": {"blob": "x" * 5000}}, "data.details"),
        ({"userId": "u", "details": ["not", "an", "object"]}, "data.details"),
        ({"userId": "u", "details": nested(40)}, "data.details"),
        ({"userId": "u\x00", "details": {}}, "data.userId"),
    ],
)
async def test_create_session_invalid_data(api: Api, data: dict[str, Any], field: str) -> None:
    result = await api.create_session(product="shop", env="prd", tag="t", data=data)

    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == field


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"product": "My App", "env": "prd", "tag": "t"}, "product"),
        ({"product": "app", "env": "p/rd", "tag": "t"}, "env"),
        ({"product": "app", "env": "prd", "tag": "T"}, "tag"),
    ],
)
async def test_create_session_invalid_slug(api: Api, input: dict[str, Any], field: str) -> None:
    result = await api.create_session(**input, data={"userId": "u", "details": {}})

    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == field


@pytest.mark.parametrize("levels", [900, 5000])
async def test_create_session_absurd_nesting_is_refused_cleanly(api: Api, levels: int) -> None:
    details = '{"a":' * levels + "{}" + "}" * levels
    scope = '"product": "shop", "env": "prd", "tag": "t"'
    variables = '{"input": {' + scope + ', "data": {"userId": "u", "details": ' + details + "}}}"
    body = '{"query": ' + json.dumps(operation("CreateSessionWith")) + ', "variables": '
    body += variables + "}"

    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {api.key}"},
    )

    assert response.status_code in (200, 400)
    assert "Traceback" not in response.text
    if response.status_code == 200:
        assert response.json()["data"]["createSession"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ('{"userId": "\\ud800", "details": {}}', "data.userId"),
        ('{"userId": "u", "details": {"name": "\\ud800"}}', "data.details.name"),
    ],
)
async def test_create_session_lone_surrogate_is_invalid_input(
    api: Api, data: str, field: str
) -> None:
    query = json.dumps(operation("CreateSessionWith"))
    variables = '{"input": {"product": "shop", "env": "prd", "tag": "t", "data": ' + data + "}}"
    response = await api.client.post(
        "/graphql",
        content='{"query": ' + query + ', "variables": ' + variables + "}",
        headers={"content-type": "application/json", "authorization": f"Bearer {api.key}"},
    )

    result = response.json()["data"]["createSession"]
    assert (result["code"], result["field"]) == ("INVALID_INPUT", field)
