"""CORS: the preflight of what browser GraphQL clients send by default succeeds, and the
allowed request headers are configurable (``TESSERA_CORS_HEADERS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation

ORIGIN = "https://app.example"

# The request headers each client sends cross-origin, as its preflight lists them.
CLIENTS = {
    "apollo-client": "content-type, accept, authorization",
    "apollo-client-awareness": (
        "authorization, content-type, apollographql-client-name, apollographql-client-version"
    ),
    "apollo-csrf-prevention": "content-type, apollo-require-preflight, x-apollo-operation-name",
    "urql": "accept, authorization, content-type",
    "graphql-http": "accept, content-type, authorization",
    "hive-client-identification": "content-type, graphql-client-name, graphql-client-version",
    "traced": "authorization, content-type, traceparent, tracestate, baggage, sentry-trace",
    "mixed-case": "Authorization, Content-Type, ApolloGraphQL-Client-Name",
}


@asynccontextmanager
async def client(tmp_path: Path, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path, mode="production", cors_origins=[ORIGIN], **overrides)
    service = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(settings, tessera=service)),
            base_url="http://tessera.test",
        ) as http:
            yield http
    finally:
        await service.close()


async def preflight(http: httpx.AsyncClient, headers: str) -> httpx.Response:
    return await http.options(
        "/graphql",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": headers,
        },
    )


def allowed(response: httpx.Response) -> set[str]:
    value = response.headers.get("access-control-allow-headers", "")
    return {h.strip().lower() for h in value.split(",") if h.strip()}


@pytest.mark.parametrize("headers", CLIENTS.values(), ids=CLIENTS.keys())
async def test_cors_default_preflight_of_each_client_is_allowed(
    tmp_path: Path, headers: str
) -> None:
    async with client(tmp_path) as http:
        response = await preflight(http, headers)

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert {h.strip().lower() for h in headers.split(",")} <= allowed(response)


async def test_cors_default_request_with_client_awareness_headers_is_served(
    tmp_path: Path,
) -> None:
    async with client(tmp_path) as http:
        response = await http.post(
            "/graphql",
            json={"query": operation("Products")},
            headers={
                "origin": ORIGIN,
                "apollographql-client-name": "web",
                "apollographql-client-version": "1.2.3",
            },
        )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    # No key: the request itself ran and was refused at the GraphQL level.
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_cors_default_unknown_header_is_refused(tmp_path: Path) -> None:
    async with client(tmp_path) as http:
        response = await preflight(http, "content-type, x-not-sent-by-any-client")

    assert response.status_code == 400


async def test_cors_configured_headers_replace_the_defaults(tmp_path: Path) -> None:
    async with client(tmp_path, cors_headers=["Authorization", "X-Tenant"]) as http:
        custom = await preflight(http, "authorization, x-tenant")
        default = await preflight(http, "authorization, apollographql-client-name")

    assert custom.status_code == 200
    assert {"authorization", "x-tenant"} <= allowed(custom)
    assert default.status_code == 400


async def test_cors_configured_wildcard_allows_any_header(tmp_path: Path) -> None:
    async with client(tmp_path, cors_headers=["*"]) as http:
        response = await preflight(http, "x-anything, authorization")

    assert response.status_code == 200
    assert allowed(response) == {"x-anything", "authorization"}


@pytest.mark.parametrize("name", ["x tenant", "x-tenant\r\n", "", "a:b"])
def test_cors_headers_not_header_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValidationError, match="cors_headers"):
        make_settings(tmp_path, cors_headers=["authorization", name])
