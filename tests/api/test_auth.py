"""Authentication of every operation, and the production flows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import Api, make_settings
from tests.operations import operation

SESSION_INPUT = {
    "product": "shop",
    "env": "prd",
    "tag": "web",
    "data": {"userId": "u1", "details": {"email": "a@b.co"}},
}

# Every operation of the API with variables that would otherwise succeed.
OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("CreateProduct", {"input": {"tag": "p2", "name": "P2"}}),
    ("Products", {}),
    ("Product", {"tag": "shop"}),
    ("CreateSessionConfig", {"input": {"product": "shop", "tag": "c2", "name": "C2"}}),
    ("UpdateSessionConfig", {"input": {"product": "shop", "tag": "web", "name": "W"}}),
    ("DeleteSessionConfig", {"input": {"product": "shop", "tag": "web"}}),
    ("SessionConfigs", {"product": "shop"}),
    ("SessionConfig", {"product": "shop", "tag": "web"}),
    ("CreateSessionWith", {"input": SESSION_INPUT}),
    (
        "VerifySession",
        {"input": {"product": "shop", "env": "prd", "tag": "web", "token": "web:a.b.c.d.e"}},
    ),
]


@pytest.fixture
async def prod_api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    settings = make_settings(tmp_path, mode="production", database_url=database_url)
    service = await Tessera.start(settings, clock=FrozenClock())
    assert settings.admin_key is not None
    app = create_app(settings, tessera=service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tessera.test"
    ) as client:
        api = Api(client, settings.admin_key.get_secret_value())
        await api.op("CreateProduct", input={"tag": "shop", "name": "Shop", "envs": ["prd"]})
        await api.op("CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"})
        yield api
    await service.close()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.mark.parametrize(("name", "variables"), OPERATIONS, ids=[o[0] for o in OPERATIONS])
@pytest.mark.parametrize(
    "credential",
    [
        None,
        "tsk_" + "x" * 43,
        "not-an-api-key",
        "web:eyJhbGciOiJkaXIifQ..a.b.c",
    ],
    ids=["no-key", "unknown-key", "garbage", "session-token"],
)
async def test_operation_without_valid_key_is_unauthenticated(
    prod_api: Api, name: str, variables: dict[str, Any], credential: str | None
) -> None:
    body = await prod_api.post(operation(name), variables, key=credential)

    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert body["data"] is None or all(v is None for v in body["data"].values())


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "tsk_abc"])
async def test_malformed_authorization_header_is_unauthenticated(
    prod_api: Api, header: str
) -> None:
    response = await prod_api.client.post(
        "/graphql",
        json={"query": operation("Products")},
        headers={"authorization": header},
    )

    assert error_codes(response.json()) == ["UNAUTHENTICATED"]


async def test_production_flow_with_explicit_product_and_config(prod_api: Api) -> None:
    tokens = await prod_api.create_session(**SESSION_INPUT)
    assert tokens["__typename"] == "SessionTokens"

    verified = await prod_api.verify(product="shop", env="prd", tag="web", token=tokens["token"])
    assert verified["valid"] is True
    assert verified["data"] == SESSION_INPUT["data"]


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"product": "ghost"}, "PRODUCT_NOT_FOUND", "product"),
        ({"env": "dev"}, "ENV_NOT_FOUND", "env"),
        ({"tag": "mobile"}, "SESSION_CONFIG_NOT_FOUND", "tag"),
    ],
)
async def test_production_create_session_unknown_names_are_not_found(
    prod_api: Api, change: dict[str, str], code: str, field: str
) -> None:
    result = await prod_api.create_session(**{**SESSION_INPUT, **change})

    assert result["__typename"] == "NotFoundError"
    assert (result["code"], result["field"]) == (code, field)
    products = (await prod_api.op("Products"))["products"]
    assert [(p["tag"], p["envs"]) for p in products] == [("shop", ["prd"])]


async def test_expected_errors_are_not_logged_as_errors(
    prod_api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await prod_api.post(operation("Products"), key=None)
    await prod_api.create_session(**{**SESSION_INPUT, "product": "ghost"})

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_unexpected_error_is_masked_and_logged(
    prod_api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    tessera = prod_api.client._transport.app.state.tessera  # type: ignore[attr-defined]

    async def boom(*args: Any) -> Any:
        raise RuntimeError("SELECT secret FROM vault")

    monkeypatch.setattr(tessera.catalog, "products", boom)
    body = await prod_api.post(operation("Products"))

    assert error_codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert "SELECT" not in str(body)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)
