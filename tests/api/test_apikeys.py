"""API keys: creation, scope, listing, revocation, storage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from service.clock import FrozenClock
from service.settings import Settings
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


async def create_key(api: Api, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await api.op("CreateApiKey", input=input))["createApiKey"]
    return result


@pytest.fixture
async def shop(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})


@pytest.mark.usefixtures("shop")
async def test_create_api_key_returns_key_once(api: Api) -> None:
    created = await create_key(api, product="shop", name="backend", envs=["prd"])

    assert created["__typename"] == "CreatedApiKey"
    assert re.fullmatch(r"tsk_[A-Za-z0-9_-]{43}", created["key"])  # 256 random bits
    assert created["apiKey"]["product"] == "shop"
    assert created["apiKey"]["envs"] == ["prd"]
    listed = await api.op("ApiKeys", product="shop")
    assert created["key"] not in str(listed)
    assert [k["id"] for k in listed["apiKeys"]] == [created["apiKey"]["id"]]


@pytest.mark.usefixtures("shop")
async def test_api_key_is_stored_only_as_hash(api: Api, settings: Settings) -> None:
    created = await create_key(api, product="shop", name="backend")

    database = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob("tessera.db*"))
    assert created["key"].encode() not in stored
    assert created["key"][4:20].encode() not in stored


@pytest.mark.usefixtures("shop")
async def test_product_key_works_for_its_product(api: Api) -> None:
    key = (await create_key(api, product="shop", name="backend"))["key"]

    data = await api.op(
        "CreateSessionWith", key=key, input={**SCOPE, "data": {"userId": "u", "details": {}}}
    )

    assert data["createSession"]["__typename"] == "SessionTokens"


@pytest.mark.usefixtures("shop")
async def test_revoked_key_fails_on_the_next_request(api: Api) -> None:
    created = await create_key(api, product="shop", name="backend")
    key = created["key"]
    assert "errors" not in await api.post(
        'query { sessionConfigs(product: "shop") { tag } }', key=key
    )

    revoked = (await api.op("RevokeApiKey", id=created["apiKey"]["id"]))["revokeApiKey"]
    assert revoked["revokedAt"] is not None

    body = await api.post(operation("SessionConfigs"), {"product": "shop"}, key=key)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.usefixtures("shop")
async def test_last_used_at_is_recorded(api: Api, clock: FrozenClock) -> None:
    created = await create_key(api, product="shop", name="backend")
    assert created["apiKey"]["lastUsedAt"] is None
    clock.advance(120)

    await api.post(operation("SessionConfigs"), {"product": "shop"}, key=created["key"])

    listed = (await api.op("ApiKeys", product="shop"))["apiKeys"][0]
    assert listed["lastUsedAt"] is not None


@pytest.mark.usefixtures("shop")
@pytest.mark.parametrize(
    ("input", "code"),
    [
        ({"product": "ghost", "name": "k"}, "PRODUCT_NOT_FOUND"),
        ({"product": "shop", "name": "k", "envs": ["qa"]}, "INVALID_INPUT"),
        ({"product": "shop", "name": "k", "envs": []}, "INVALID_INPUT"),
        ({"product": "shop", "name": " "}, "INVALID_INPUT"),
    ],
)
async def test_create_api_key_invalid(api: Api, input: dict[str, Any], code: str) -> None:
    assert (await create_key(api, **input))["code"] == code


async def test_revoke_unknown_api_key_is_not_found(api: Api) -> None:
    result = (await api.op("RevokeApiKey", id="key_nope"))["revokeApiKey"]

    assert result["code"] == "NOT_FOUND"
