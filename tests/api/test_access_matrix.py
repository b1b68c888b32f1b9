"""Every operation against every kind of caller (issue: access control)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from strawberry.utils.str_converters import to_camel_case

from schema import Mutation, Query
from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import Api, make_settings
from tests.operations import operation


@dataclass
class World:
    api: Api
    credentials: dict[str, str | None]
    token: str
    refresh_token: str
    session_id: str


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    settings = make_settings(tmp_path, mode="production", database_url=database_url)
    service = await Tessera.start(settings, clock=FrozenClock())
    assert settings.admin_key is not None
    admin = settings.admin_key.get_secret_value()
    app = create_app(settings, tessera=service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tessera.test"
    ) as client:
        api = Api(client, admin)
        for tag in ("shop", "other"):
            await api.op("CreateProduct", input={"tag": tag, "name": tag, "envs": ["prd", "dev"]})
            await api.op("CreateSessionConfig", input={"product": tag, "tag": "web", "name": "W"})

        async def key(product: str, envs: list[str] | None = None) -> str:
            data = await api.op(
                "CreateApiKey", input={"product": product, "name": "k", "envs": envs}
            )
            created: str = data["createApiKey"]["key"]
            return created

        revoked = await key("shop")
        revoked_id = (await api.op("ApiKeys", product="shop"))["apiKeys"][0]["id"]
        await api.op("RevokeApiKey", id=revoked_id)
        session = await api.create_session(
            product="shop", env="prd", tag="web", data={"userId": "u1", "details": {}}
        )
        credentials = {
            "none": None,
            "bad": "tsk_" + "b" * 43,
            "revoked": revoked,
            "admin": admin,
            "own": await key("shop"),
            "other": await key("other"),
            "own-other-env": await key("shop", ["dev"]),
            "end-user": session["token"],
        }
        yield World(
            api, credentials, session["token"], session["refreshToken"], session["sessionId"]
        )
    await service.close()


SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
UNAUTH = {"none": "UNAUTHENTICATED", "bad": "UNAUTHENTICATED", "revoked": "UNAUTHENTICATED"}
ADMIN_ONLY = {
    **UNAUTH,
    "admin": None,
    "own": "FORBIDDEN",
    "other": "FORBIDDEN",
    "own-other-env": "FORBIDDEN",
    "end-user": "FORBIDDEN",
}
PRODUCT_ENV = {**ADMIN_ONLY, "own": None}
PRODUCT_WIDE = {**PRODUCT_ENV, "own-other-env": None}
REFRESH = {**PRODUCT_ENV, "none": None, "end-user": None}
END_USER = {
    **UNAUTH,
    "admin": "FORBIDDEN",
    "own": "FORBIDDEN",
    "other": "FORBIDDEN",
    "own-other-env": "FORBIDDEN",
    "end-user": None,
}


def variables(name: str, w: World) -> dict[str, Any]:
    by_operation: dict[str, dict[str, Any]] = {
        "CreateProduct": {"input": {"tag": "p2", "name": "P2"}},
        "Products": {},
        "Product": {"tag": "shop"},
        "CreateSessionConfig": {"input": {"product": "shop", "tag": "c2", "name": "C2"}},
        "UpdateSessionConfig": {"input": {"product": "shop", "tag": "web", "name": "W2"}},
        "DeleteSessionConfig": {"input": {"product": "shop", "tag": "web"}},
        "SessionConfigs": {"product": "shop"},
        "SessionConfig": {"product": "shop", "tag": "web"},
        "CreateSessionWith": {"input": {**SCOPE, "data": {"userId": "u2", "details": {}}}},
        "VerifySession": {"input": {**SCOPE, "token": w.token}},
        "RefreshSession": {"input": {**SCOPE, "refreshToken": w.refresh_token}},
        "RevokeSession": {"input": {**SCOPE, "sessionId": w.session_id}},
        "ActiveSessions": {**SCOPE},
        "CreateApiKey": {"input": {"product": "shop", "name": "n"}},
        "ApiKeys": {"product": "shop"},
        "RevokeApiKey": {"id": "key_missing"},
        "RegisterTrustedDocuments": {"manifest": {}},
        "RotateKeys": {"input": {"product": "shop", "env": "prd"}},
        "KeyRing": {"product": "shop", "env": "prd"},
        "CurrentSession": {},
        "MySessions": {},
        "Logout": {},
        "LogoutOtherSessions": {},
        "Entities": {
            "representations": [
                {"__typename": "Session", "id": w.session_id},
                {"__typename": "SessionUser", "product": "shop", "env": "prd", "identifier": "u1"},
            ]
        },
        "SessionActivity": {"product": "shop", "env": "prd"},
        "MyActivity": {},
        "SessionUsers": {"product": "shop", "env": "prd"},
        "SessionUser": {"product": "shop", "env": "prd", "identifier": "u1"},
    }
    return by_operation[name]


MATRIX: dict[str, dict[str, str | None]] = {
    "CreateProduct": ADMIN_ONLY,
    "Products": ADMIN_ONLY,
    "Product": ADMIN_ONLY,
    "CreateSessionConfig": ADMIN_ONLY,
    "UpdateSessionConfig": ADMIN_ONLY,
    "DeleteSessionConfig": ADMIN_ONLY,
    "SessionConfigs": PRODUCT_WIDE,
    "SessionConfig": PRODUCT_WIDE,
    "CreateSessionWith": PRODUCT_ENV,
    "VerifySession": PRODUCT_ENV,
    "RefreshSession": REFRESH,
    "RevokeSession": PRODUCT_ENV,
    "ActiveSessions": PRODUCT_ENV,
    "CreateApiKey": ADMIN_ONLY,
    "ApiKeys": ADMIN_ONLY,
    "RevokeApiKey": ADMIN_ONLY,
    "RegisterTrustedDocuments": ADMIN_ONLY,
    "RotateKeys": ADMIN_ONLY,
    "KeyRing": ADMIN_ONLY,
    "CurrentSession": END_USER,
    "MySessions": END_USER,
    "Logout": END_USER,
    "LogoutOtherSessions": END_USER,
    # A session out of scope is null (tests/api/test_entities.py); the user is FORBIDDEN.
    "Entities": {**PRODUCT_ENV, "end-user": None},
    "SessionActivity": PRODUCT_ENV,
    "MyActivity": END_USER,
    "SessionUsers": PRODUCT_ENV,
    "SessionUser": PRODUCT_ENV,
}
CASES = [(op, who, code) for op, row in MATRIX.items() for who, code in row.items()]


@pytest.mark.parametrize(("name", "who", "expected"), CASES, ids=[f"{o}-{w}" for o, w, _ in CASES])
async def test_access_matrix(world: World, name: str, who: str, expected: str | None) -> None:
    body = await world.api.post(operation(name), variables(name, world), key=world.credentials[who])

    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    assert codes == ([expected] if expected else []), body


def test_access_matrix_covers_every_root_field() -> None:
    root_fields = {
        f.graphql_name or to_camel_case(f.name)
        for root in (Query, Mutation)
        for f in root.__strawberry_definition__.fields  # type: ignore[union-attr]
    }
    documents = " ".join(operation(name) for name in MATRIX)

    assert {f for f in root_fields if not re.search(rf"\b{f}\b\s*[({{]", documents)} == set()


@pytest.mark.parametrize("target", ["shop", "ghost"])
async def test_forbidden_reveals_nothing_about_other_tenants(world: World, target: str) -> None:
    body = await world.api.post(
        operation("VerifySession"),
        {"input": {"product": target, "env": "prd", "tag": "web", "token": world.token}},
        key=world.credentials["other"],
    )

    assert body == {
        "data": None,
        "errors": [
            {
                "message": "this operation needs admin key, or a key of the product (and env)",
                "locations": [{"line": 3, "column": 3}],
                "path": ["verifySession"],
                "extensions": {"code": "FORBIDDEN"},
            }
        ],
    }
