from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server import create_app
from service.access import generate_api_key
from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.databases import clean_postgres_database
from tests.operations import operation
from tests.processes import Server, client_fixture, servers_fixture


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "mode": "development",
        "master_key": base64.b64encode(os.urandom(32)).decode(),
        "admin_key": generate_api_key(),
        # Flows here run faster than any client would; tests/api/test_ratelimit.py
        # checks the limits themselves.
        "rate_limit_refresh_per_session": "10000/minute",
        "rate_limit_refresh_per_ip": "10000/minute",
        "rate_limit_failed_auth_per_ip": "10000/minute",
        "rate_limit_failed_tokens_per_credential": "10000/minute",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test that stores anything runs on both databases, each time empty."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tessera.db'}"
    return await clean_postgres_database()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def admin_key(settings: Settings) -> str:
    assert settings.admin_key is not None
    return settings.admin_key.get_secret_value()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def tessera(settings: Settings, clock: FrozenClock) -> AsyncIterator[Tessera]:
    service = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    yield service
    await service.close()


class Api:
    """A GraphQL client over the real ASGI app."""

    def __init__(self, client: httpx.AsyncClient, key: str | None) -> None:
        self.client = client
        self.key = key

    async def post(
        self, document: str, variables: dict[str, Any] | None = None, *, key: Any = ...
    ) -> dict[str, Any]:
        key = self.key if key is ... else key
        headers = {"authorization": f"Bearer {key}"} if key is not None else {}
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def op(self, name: str, key: Any = ..., **variables: Any) -> dict[str, Any]:
        """Run ``graphql/operations/<name>.graphql``; return ``data`` or fail on errors."""
        body = await self.post(operation(name), variables, key=key)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def create_session(self, **input: Any) -> dict[str, Any]:
        result: dict[str, Any] = (await self.op("CreateSessionWith", input=input))["createSession"]
        return result

    async def verify(self, **input: Any) -> dict[str, Any]:
        result: dict[str, Any] = (await self.op("VerifySession", input=input))["verifySession"]
        return result


@pytest.fixture
async def api(settings: Settings, tessera: Tessera, admin_key: str) -> AsyncIterator[Api]:
    app = create_app(settings, tessera=tessera)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as client:
        yield Api(client, admin_key)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Servers started by the test; every one is killed at teardown, whatever happened."""
    yield from servers_fixture()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A loopback HTTP client that never goes through a proxy from the environment."""
    yield from client_fixture()
