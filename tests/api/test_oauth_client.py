"""A standard OAuth client — authlib's, over httpx — introspects and revokes Tessera's
tokens on a real ``tessera serve`` (production mode, SQLite and PostgreSQL), with both
client authentication methods: HTTP Basic (``client_secret_basic``, authlib's own) and
the key as a Bearer credential (registered with authlib as a client auth method)."""

from __future__ import annotations

import asyncio
import base64
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from authlib.deprecate import AuthlibDeprecationWarning

from service.access import generate_api_key
from tests.databases import fresh_postgres_database
from tests.processes import Server, graphql

with warnings.catch_warnings():
    # authlib 1.9 would have the httpx2 fork rather than httpx, which it still supports.
    warnings.filterwarnings("ignore", "The httpx module", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
METHODS = ["client_secret_basic", "client_secret_bearer"]


def bearer(
    client: Any, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """authlib's signature for a client auth method: the key as a Bearer credential."""
    return uri, {**headers, "Authorization": f"Bearer {client.client_secret}"}, body


@dataclass
class Running:
    server: Server
    admin_key: str
    http: httpx.Client

    def op(self, name: str, key: str | None = None, **variables: Any) -> dict[str, Any]:
        return graphql(self.http, self.server, key or self.admin_key, name, **variables)

    def oauth(self, client_id: str, secret: str, method: str) -> OAuth2Client:
        oauth = OAuth2Client(
            client_id=client_id,
            client_secret=secret,
            revocation_endpoint_auth_method=method,
            trust_env=False,
            timeout=10.0,
        )
        oauth.register_client_auth_method(("client_secret_bearer", bearer))
        return oauth


@pytest.fixture(params=["sqlite", "postgresql"])
def running(
    request: pytest.FixtureRequest, tmp_path: Path, servers: list[Server], client: httpx.Client
) -> Iterator[Running]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tessera.db'}"
    else:
        url = asyncio.run(fresh_postgres_database())
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client)
    running = Running(server, admin_key, client)
    for product in ("shop", "other"):
        running.op("CreateProduct", input={"tag": product, "name": product})
        running.op("CreateSessionConfig", input={"product": product, "tag": "web", "name": "Web"})
    yield running


def start(running: Running, product: str = "shop") -> dict[str, Any]:
    data = {"userId": "user_123", "details": {"email": "john@example.com"}}
    input = {**SCOPE, "product": product, "data": data}
    created: dict[str, Any] = running.op("CreateSessionWith", input=input)["createSession"]
    assert created["__typename"] == "SessionTokens", created
    return created


def product_key(running: Running, product: str = "shop") -> tuple[str, str]:
    created = running.op("CreateApiKey", input={"product": product, "name": "gateway"})
    return created["createApiKey"]["apiKey"]["id"], created["createApiKey"]["key"]


@pytest.mark.parametrize("method", METHODS)
def test_authlib_client_introspects_and_revokes(running: Running, method: str) -> None:
    key_id, key = product_key(running)
    introspect = f"{running.server.url}/oauth/introspect"
    revoke = f"{running.server.url}/oauth/revoke"
    session = start(running)
    theirs = start(running, "other")

    with running.oauth(key_id, key, method) as oauth:
        live = oauth.introspect_token(introspect, token=session["token"])
        hinted = oauth.introspect_token(
            introspect, token=session["token"], token_type_hint="refresh_token"
        )
        refresh = oauth.introspect_token(introspect, token=session["refreshToken"])
        foreign = oauth.introspect_token(introspect, token=theirs["token"])
        foreign_revoked = oauth.revoke_token(revoke, token=theirs["refreshToken"])
        revoked = oauth.revoke_token(
            revoke, token=session["refreshToken"], token_type_hint="refresh_token"
        )
        after = oauth.introspect_token(introspect, token=session["token"])
        unknown = oauth.revoke_token(revoke, token="not-a-token")

    assert live.status_code == 200, live.text
    assert live.json()["active"] is True
    assert live.json()["sid"] == session["sessionId"]
    assert live.json()["sub"] == "user_123"
    assert live.json()["aud"] == "shop:prd"
    assert hinted.json() == live.json()
    assert refresh.json() == foreign.json() == after.json() == {"active": False}
    assert [r.status_code for r in (foreign_revoked, revoked, unknown)] == [200, 200, 200]
    # The other product's session was not touched; this one is revoked for GraphQL too.
    other = running.op(
        "VerifySession", input={**SCOPE, "product": "other", "token": theirs["token"]}
    )
    mine = running.op("VerifySession", input={**SCOPE, "token": session["token"]})
    assert other["verifySession"]["valid"] is True
    assert mine["verifySession"]["reason"] == "REVOKED"


@pytest.mark.parametrize("method", METHODS)
def test_authlib_client_with_wrong_credentials_is_invalid_client(
    running: Running, method: str
) -> None:
    key_id, key = product_key(running)
    other_id, _ = product_key(running, "other")
    session = start(running)
    url = f"{running.server.url}/oauth/introspect"
    wrong = [(key_id, "tsk_" + "x" * 43)]
    if method == "client_secret_basic":
        wrong.append((other_id, key))  # the right secret under another key's id

    for client_id, secret in wrong:
        with running.oauth(client_id, secret, method) as oauth:
            response = oauth.introspect_token(url, token=session["token"])
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
        assert "www-authenticate" in response.headers


def test_authlib_client_with_admin_key_introspects_every_product(running: Running) -> None:
    listed = running.op("ApiKeys")["apiKeys"]
    assert listed == []  # the admin key of TESSERA_ADMIN_KEY is not stored: its id is fixed
    sessions = [start(running), start(running, "other")]
    url = f"{running.server.url}/oauth/introspect"

    with running.oauth("env-admin", running.admin_key, "client_secret_basic") as oauth:
        answers = [oauth.introspect_token(url, token=s["token"]).json() for s in sessions]

    assert [a["sid"] for a in answers] == [s["sessionId"] for s in sessions]
    assert [a["aud"] for a in answers] == ["shop:prd", "other:prd"]
