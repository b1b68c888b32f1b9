"""One caller per request: every root field of a document sees the same caller, however
many fields there are and however long the lookup takes (a key's first use writes its
``lastUsedAt``; a session token as bearer is read from the database).

Query fields run concurrently, so a second field asks for the caller while the first
one's lookup is still running; it must wait for that lookup, not see "no caller"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
SCOPE_ARGS = 'product: "shop", env: "prd", tag: "web"'
FIELD_COUNTS = [1, 2, 5]

# Root fields each kind of caller may run, cycled to make a document of n fields; each
# list starts with verifySession, which uses the document's one variable.
KEY_FIELDS = [
    "verifySession(input: $verify) { valid reason }",
    f"activeSessions({SCOPE_ARGS}) {{ totalCount }}",
    'sessionConfigs(product: "shop") { tag }',
    'sessionConfig(product: "shop", tag: "web") { tag }',
]
ADMIN_FIELDS = [KEY_FIELDS[0], "products { tag }", "apiKeys { name }", *KEY_FIELDS[1:]]
END_USER_FIELDS = ["currentSession { id }", "mySessions { totalCount }"]


@dataclass
class Caller:
    """The app with product "shop", a live session, and a credential of each kind."""

    client: httpx.AsyncClient
    tessera: Tessera
    credentials: dict[str, str]
    token: str

    async def post(
        self, document: str, variables: dict[str, Any], credential: str | None
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {credential}"} if credential else {}
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def admin(self, name: str, **variables: Any) -> dict[str, Any]:
        body = await self.post(operation(name), variables, self.credentials["env-admin"])
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def start_session(self) -> dict[str, Any]:
        data = await self.admin(
            "CreateSessionWith", input={**SCOPE, "data": {"userId": "u1", "details": {}}}
        )
        tokens: dict[str, Any] = data["createSession"]
        assert tokens["__typename"] == "SessionTokens", tokens
        return tokens


@pytest.fixture(params=["development", "production"])
async def caller(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> AsyncIterator[Caller]:
    # Production asks who an API key is before execution (for introspection), so there
    # the fields find it known; development asks first in the fields themselves.
    settings = make_settings(tmp_path, mode=request.param, database_url=database_url)
    assert settings.admin_key is not None
    service = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    app = create_app(settings, tessera=service)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tessera.test"
    ) as client:
        admin = settings.admin_key.get_secret_value()
        api = Caller(client, service, {"env-admin": admin}, "")
        await api.admin("CreateProduct", input={"tag": "shop", "name": "Shop", "envs": ["prd"]})
        await api.admin(
            "CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"}
        )
        # Created, never used: the document under test is each key's first use.
        stored_admin, _ = await service.access.create_admin_key("stored admin")
        api.credentials["stored-admin"] = stored_admin
        for kind, envs in (("product", None), ("env-limited-product", ["prd"])):
            created = await api.admin(
                "CreateApiKey", input={"product": "shop", "name": kind, "envs": envs}
            )
            api.credentials[kind] = created["createApiKey"]["key"]
        api.token = (await api.start_session())["token"]
        api.credentials["end-user"] = api.token
        yield api
    await service.close()


def document(fields: list[str], n: int) -> str:
    selections = " ".join(f"f{i}: {fields[i % len(fields)]}" for i in range(n))
    return f"query Fields($verify: VerifySessionInput!) {{ {selections} }}"


def assert_every_field_answered(body: dict[str, Any], n: int) -> None:
    assert "errors" not in body, body
    assert sorted(body["data"]) == sorted(f"f{i}" for i in range(n))
    assert all(value is not None for value in body["data"].values()), body


@pytest.mark.parametrize("n", FIELD_COUNTS)
@pytest.mark.parametrize("kind", ["env-admin", "stored-admin", "product", "env-limited-product"])
async def test_key_every_root_field_sees_the_caller(caller: Caller, kind: str, n: int) -> None:
    fields = ADMIN_FIELDS if kind.endswith("admin") else KEY_FIELDS
    variables = {"verify": {**SCOPE, "token": caller.token}}

    body = await caller.post(document(fields, n), variables, caller.credentials[kind])

    assert_every_field_answered(body, n)
    verified = [v for v in body["data"].values() if "valid" in v]
    assert verified and all(v == {"valid": True, "reason": None} for v in verified)


@pytest.mark.parametrize("n", FIELD_COUNTS)
async def test_end_user_every_root_field_sees_the_caller(caller: Caller, n: int) -> None:
    selections = " ".join(f"f{i}: {END_USER_FIELDS[i % 2]}" for i in range(n))

    body = await caller.post(f"{{ {selections} }}", {}, caller.credentials["end-user"])

    assert_every_field_answered(body, n)
    sessions = [v for v in body["data"].values() if "id" in v]
    assert all(v == sessions[0] for v in sessions)


async def test_end_user_session_and_sessions_in_one_document(caller: Caller) -> None:
    # The issue's own example.
    body = await caller.post(
        "{ currentSession { id } mySessions { totalCount } }", {}, caller.token
    )

    assert "errors" not in body, body
    assert body["data"]["mySessions"] == {"totalCount": 1}


@pytest.mark.parametrize("n", FIELD_COUNTS)
@pytest.mark.parametrize("bearer", ["none", "stale-session-token"])
async def test_refresh_without_key_every_root_field_is_answered(
    caller: Caller, n: int, bearer: str
) -> None:
    sessions = [await caller.start_session() for _ in range(n)]
    selections = " ".join(
        f'f{i}: refreshSession(input: {{{SCOPE_ARGS}, refreshToken: "{s["refreshToken"]}"}}) '
        "{ __typename }"
        for i, s in enumerate(sessions)
    )
    credential = None if bearer == "none" else caller.token[:-4] + "AAAA"

    body = await caller.post(f"mutation {{ {selections} }}", {}, credential)

    assert_every_field_answered(body, n)
    assert all(v == {"__typename": "SessionTokens"} for v in body["data"].values()), body


@pytest.mark.parametrize("n", FIELD_COUNTS)
@pytest.mark.parametrize("credential", ["tsk_" + "x" * 43, "web:eyJhbGciOiJkaXIifQ..a.b.c"])
async def test_bad_credential_every_root_field_is_unauthenticated(
    caller: Caller, n: int, credential: str
) -> None:
    body = await caller.post(
        document(KEY_FIELDS, n), {"verify": {**SCOPE, "token": "x"}}, credential
    )

    # Non-null root fields: the first error nulls the whole answer.
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}


@pytest.mark.parametrize("kind", ["product", "end-user"])
async def test_caller_is_looked_up_once_per_request(
    caller: Caller, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    access = caller.tessera.access
    lookups: list[str] = []
    authenticate = access.authenticate

    async def counting(credential: str | None) -> Any:
        lookups.append("lookup")
        return await authenticate(credential)

    monkeypatch.setattr(access, "authenticate", counting)
    fields = KEY_FIELDS if kind == "product" else END_USER_FIELDS
    selections = " ".join(f"f{i}: {fields[i % len(fields)]}" for i in range(5))
    variables = {"verify": {**SCOPE, "token": caller.token}} if kind == "product" else {}
    header = "($verify: VerifySessionInput!)" if kind == "product" else ""

    body = await caller.post(
        f"query Five{header} {{ {selections} }}", variables, caller.credentials[kind]
    )

    assert_every_field_answered(body, 5)
    assert lookups == ["lookup"]
