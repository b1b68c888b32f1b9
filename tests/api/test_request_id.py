"""``X-Request-ID``: generated, or taken from a trusted proxy; on every response; in
the audit line and in the error lines of its request."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from server import create_app
from service import logs
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation

GENERATED = re.compile(r"[0-9a-f]{32}")
# httpx's ASGI transport presents every request as coming from 127.0.0.1.
PEER = "127.0.0.1"


async def client_for(
    tessera: Tessera, tmp_path: Path, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, database_url=tessera.settings.resolved_database_url)
    settings = settings.model_copy(update=overrides)
    app = create_app(settings, tessera=tessera)

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.add_route("/boom", boom)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as client:
        yield client


@pytest.fixture
async def direct(tessera: Tessera, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Clients reach Tessera directly: no trusted proxy."""
    async for client in client_for(tessera, tmp_path):
        yield client


@pytest.fixture
async def proxied(tessera: Tessera, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Requests come through a trusted proxy."""
    async for client in client_for(tessera, tmp_path, trusted_proxies=(f"{PEER}/32",)):
        yield client


def gql(query: str) -> dict[str, Any]:
    return {"query": query}


async def every_kind_of_answer(client: httpx.AsyncClient, key: str) -> list[httpx.Response]:
    """One request of each kind of answer: an operation, a GraphQL error, a middleware's
    refusal, a 404, the probes, Starlette's own 500."""
    auth = {"authorization": f"Bearer {key}"}
    return [
        await client.post("/graphql", json=gql(operation("Products")), headers=auth),
        await client.post("/graphql", json=gql("{ nope }"), headers=auth),
        await client.post("/graphql", content=b"x" * 100_000, headers=auth),  # 413
        await client.post("/graphql", content=b"{}", headers={"content-type": "text/plain"}),
        await client.get("/graphql"),  # 405 without text/html
        await client.get("/nowhere"),
        await client.get("/healthz"),
        await client.get("/readyz"),
        await client.get("/boom"),
    ]


async def test_every_response_carries_a_generated_request_id(
    direct: httpx.AsyncClient, admin_key: str
) -> None:
    responses = await every_kind_of_answer(direct, admin_key)

    statuses = [r.status_code for r in responses]
    assert statuses == [200, 200, 413, 415, 405, 404, 200, 200, 500]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(i is not None and GENERATED.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


async def test_request_id_from_an_untrusted_peer_is_replaced(
    direct: httpx.AsyncClient,
) -> None:
    response = await direct.get("/healthz", headers={"x-request-id": "client-chosen-1"})

    assert response.headers["x-request-id"] != "client-chosen-1"
    assert GENERATED.fullmatch(response.headers["x-request-id"])


@pytest.mark.parametrize(
    "given",
    [
        "3f2a9c1e-8b7d-4e6f-a5c4-1b2d3e4f5a6b",
        "f" * 32,
        "Root=1-67891233-abcdef012345678912345678",
        "req_01:abc/def+g=h@i.j",
        "x" * 128,
    ],
)
async def test_request_id_from_a_trusted_proxy_is_kept(
    proxied: httpx.AsyncClient, admin_key: str, given: str
) -> None:
    responses = [
        await proxied.get("/healthz", headers={"x-request-id": given}),
        await proxied.post(
            "/graphql",
            json=gql(operation("Products")),
            headers={"x-request-id": given, "authorization": f"Bearer {admin_key}"},
        ),
        await proxied.get("/nowhere", headers={"x-request-id": given}),
    ]

    assert [r.headers["x-request-id"] for r in responses] == [given] * 3


@pytest.mark.parametrize(
    "given",
    ["", "x" * 129, "has space", 'quote"d', "semi;colon", "new\\nline", "{json}", "é"],
)
async def test_unacceptable_request_id_from_a_trusted_proxy_is_replaced(
    proxied: httpx.AsyncClient, given: str
) -> None:
    response = await proxied.get("/healthz", headers=[(b"x-request-id", given.encode())])

    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_audit_lines_carry_the_request_id(
    proxied: httpx.AsyncClient, admin_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tessera.audit")
    auth = {"authorization": f"Bearer {admin_key}"}
    ran = await proxied.post(
        "/graphql", json=gql(operation("Products")), headers={**auth, "x-request-id": "op-1"}
    )
    refused = await proxied.post(
        "/graphql", content=b"x" * 100_000, headers={**auth, "x-request-id": "big-1"}
    )
    generated = await proxied.post("/graphql", json=gql(operation("Products")), headers=auth)

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert [(line["event"], line["request_id"]) for line in lines] == [
        ("operation", "op-1"),
        ("refused", "big-1"),
        ("operation", generated.headers["x-request-id"]),
    ]
    assert ran.status_code == 200 and refused.status_code == 413


async def test_error_lines_carry_the_request_id(
    direct: httpx.AsyncClient,
    tessera: Tessera,
    admin_key: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    out = io.StringIO()
    handler = logs.handler("json", out)
    logging.getLogger().addHandler(handler)

    async def broken(*args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(tessera.catalog, "products", broken)
    try:
        masked = await direct.post(
            "/graphql",
            json=gql(operation("Products")),
            headers={"authorization": f"Bearer {admin_key}"},
        )
    finally:
        logging.getLogger().removeHandler(handler)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert "RuntimeError: a bug" in error["exception"]
    assert error["request_id"] == masked.headers["x-request-id"]
    # The operation's audit line names the same request.
    [audit] = [line for line in lines if line["logger"] == "tessera.audit"]
    assert audit["request_id"] == masked.headers["x-request-id"]
    assert audit["outcome"] == "INTERNAL_SERVER_ERROR"
