"""Audit lines, security events, and no secret in any log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from service.clock import FrozenClock
from service.settings import Settings
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def fragments(secret: str) -> list[str]:
    """The secret and long pieces of its secret part that must not leak either. The
    lookup part of a refresh token is the session id and a session token's first
    segments are its tag and JOSE header: public by design, so not searched for alone."""
    if secret.startswith("tsk_") or ":" not in secret:
        return [secret, secret[:16], secret[-16:]]
    _, _, body = secret.partition(":")
    pieces = [secret, body[-16:]]
    for part in body.split(".")[2:] if body.count(".") == 4 else [body]:
        if len(part) >= 16:
            pieces += [part, part[:16]]
    return pieces


async def run_everything(api: Api, clock: FrozenClock) -> list[str]:
    """Drive every flow of the suite once; return every secret it saw."""
    secrets: list[str] = []
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    await api.op("CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"})
    created = (await api.op("CreateApiKey", input={"product": "shop", "name": "b"}))["createApiKey"]
    product_key = created["key"]
    secrets.append(product_key)
    data = {"userId": "u1", "details": {"email": "u1@x.io"}}
    tokens = (await api.op("CreateSessionWith", key=product_key, input={**SCOPE, "data": data}))[
        "createSession"
    ]
    secrets += [tokens["token"], tokens["refreshToken"]]
    await api.op("VerifySession", key=product_key, input={**SCOPE, "token": tokens["token"]})
    await api.op("VerifySession", input={**SCOPE, "token": tokens["token"] + "x"})
    rotated = (
        await api.op(
            "RefreshSession", key=None, input={**SCOPE, "refreshToken": tokens["refreshToken"]}
        )
    )["refreshSession"]
    secrets += [rotated["token"], rotated["refreshToken"]]
    await api.op("CurrentSession", key=rotated["token"])
    await api.op("MySessions", key=rotated["token"])
    representations = [
        {"__typename": "Session", "id": tokens["sessionId"]},
        {"__typename": "SessionUser", "product": "shop", "env": "prd", "identifier": "u1"},
    ]
    await api.op("Entities", key=product_key, representations=representations)
    await api.op("Entities", key=rotated["token"], representations=representations)
    clock.advance(60)
    # Theft: the spent refresh token again, after the grace window.
    await api.op(
        "RefreshSession", key=None, input={**SCOPE, "refreshToken": tokens["refreshToken"]}
    )
    await api.post(operation("Products"), key="tsk_" + "w" * 43)  # failed authentication
    await api.post(operation("Products"), key=tokens["token"] + "tampered")
    await api.op("RevokeApiKey", id=created["apiKey"]["id"])
    await api.post(operation("Products"), key=product_key)  # revoked key
    await api.op("RevokeSession", input={**SCOPE, "identifier": "u1"})
    return secrets


async def test_no_secret_appears_in_any_log_line(
    api: Api, clock: FrozenClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = await run_everything(api, clock)
    assert settings.master_key is not None and settings.admin_key is not None
    secrets += [settings.master_key.get_secret_value(), settings.admin_key.get_secret_value()]

    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    assert caplog.records, "the flows should have logged something"
    leaked = [piece for secret in secrets for piece in fragments(secret) if piece in text]
    assert leaked == []


async def test_every_operation_writes_one_structured_audit_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tessera.audit")
    await api.create_session(**SCOPE, data={"userId": "u1", "details": {}})
    await api.verify(**SCOPE, token="web:nope")
    await api.post(operation("Products"), key=None)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert [(line["fields"], line["outcome"]) for line in lines] == [
        (["createSession"], "ok"),
        (["verifySession"], "ok"),
        (["products"], "UNAUTHENTICATED"),
    ]
    first: dict[str, Any] = lines[0]
    assert (first["product"], first["env"], first["tag"]) == ("shop", "prd", "web")
    assert first["caller"] == "key:env-admin"
    assert first["duration_ms"] >= 0
    assert lines[2]["caller"] is None


# Two operations of different kinds, each of its own root fields.
LISTING_AND_CREATING = operation("Products") + operation("CreateProduct")


@pytest.mark.parametrize(
    ("name", "fields"), [("Products", ["products"]), ("CreateProduct", ["createProduct"])]
)
async def test_audit_line_lists_the_root_fields_of_the_operation_that_ran(
    api: Api, caplog: pytest.LogCaptureFixture, name: str, fields: list[str]
) -> None:
    caplog.set_level(logging.INFO, logger="tessera.audit")

    response = await api.client.post(
        "/graphql",
        json={
            "query": LISTING_AND_CREATING,
            "operationName": name,
            "variables": {"input": {"tag": "shop", "name": "Shop"}},
        },
        headers={"authorization": f"Bearer {api.key}"},
    )

    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert "errors" not in response.json(), response.text
    assert (line["operation"], line["fields"], line["outcome"]) == (name, fields, "ok")


async def test_security_events_are_logged(
    api: Api, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await run_everything(api, clock)

    events = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("failed authentication" in e for e in events)
    assert any("refresh token reuse" in e for e in events)


@pytest.mark.parametrize(
    ("request_args", "status", "reason"),
    [
        ({"content": b"{" * 10, "headers": {"content-type": "application/json"}}, 400,
         "Unable to parse request body as JSON"),
        ({"content": b'{"query": "{ __typename }"}', "headers": {"content-type": "text/plain"}},
         415, "POST bodies must be application/json"),
        ({"content": b"x" * 70_000, "headers": {"content-type": "application/json"}}, 413,
         "request body too large"),
        ({"json": {"query": "{ __typename }", "operationName": "tsk_secretish_name"}}, 400,
         "Unknown or ambiguous operation"),
        ({"json": {"query": "query tsk_secretish_name { __typename } query B { __typename }"}},
         400, "Unknown or ambiguous operation"),
    ],
    ids=["bad-json", "content-type", "too-large", "unknown-operation", "ambiguous-operation"],
)  # fmt: skip
async def test_refused_request_writes_one_audit_line_without_its_content(
    api: Api,
    caplog: pytest.LogCaptureFixture,
    request_args: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO, logger="tessera.audit")

    response = await api.client.post("/graphql", **request_args)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert response.status_code == status
    assert lines == [
        {
            "event": "refused",
            "method": "POST",
            "path": "/graphql",
            "status": status,
            "reason": reason,
            "client": "127.0.0.1",
            "request_id": response.headers["x-request-id"],
        }
    ]
    assert "tsk_secretish_name" not in caplog.text


async def test_get_refused_writes_an_audit_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tessera.audit")

    response = await api.client.get("/graphql")

    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert response.status_code == 405
    assert (line["event"], line["method"], line["status"]) == ("refused", "GET", 405)
