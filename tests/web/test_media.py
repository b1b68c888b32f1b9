"""Content negotiation at ``/graphql`` and the status codes and bodies that go with each
media type, as GraphQL over HTTP says (web/media.py). tests/http/test_audit.py runs the
specification's own audit suite against a real server; these pin each rule down."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schema import policy
from server import create_app
from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from store.errors import StoreUnavailable
from tests.conftest import make_settings
from tests.operations import operation
from web import media
from web.media import Media, negotiate

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
APOLLO = f"{GRAPHQL_RESPONSE}, {JSON};q=0.9"  # what Apollo Client 4 sends


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        # No preference stated: the legacy type.
        (None, Media.JSON),
        ("", Media.JSON),
        ("  ", Media.JSON),
        ("*/*", Media.JSON),
        ("application/*", Media.JSON),
        ("text/html, application/xhtml+xml, */*;q=0.8", Media.JSON),
        # Named.
        (JSON, Media.JSON),
        (GRAPHQL_RESPONSE, Media.GRAPHQL_RESPONSE),
        ("Application/GraphQL-Response+JSON", Media.GRAPHQL_RESPONSE),
        (APOLLO, Media.GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", Media.GRAPHQL_RESPONSE),
        # Equally acceptable and both named: the specification's own type, in any order.
        (f"{JSON}, {GRAPHQL_RESPONSE}", Media.GRAPHQL_RESPONSE),
        (f"{JSON};q=0.5, {GRAPHQL_RESPONSE};q=0.5", Media.GRAPHQL_RESPONSE),
        # q-values decide, wherever the type stands.
        (f"{JSON}, {GRAPHQL_RESPONSE};q=0.9", Media.JSON),
        (f"{GRAPHQL_RESPONSE};q=0.1 ,  {JSON} ; q=0.2", Media.JSON),
        (f"{GRAPHQL_RESPONSE};q=0.5, */*", Media.JSON),
        # A named type beats one a wildcard covers at the same q-value.
        (f"application/*, {JSON}", Media.JSON),
        (f"*/*, {GRAPHQL_RESPONSE}", Media.GRAPHQL_RESPONSE),
        # The most specific range sets a type's q-value; q=0 excludes.
        (f"{JSON};q=0, */*", Media.GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, */*", Media.JSON),
        (f"{GRAPHQL_RESPONSE};q=0, {JSON}", Media.JSON),
        # Parameters: a charset other than UTF-8 matches nothing; others are ignored, and
        # so is whatever follows the weight.
        (f"{GRAPHQL_RESPONSE}; charset=iso-8859-1, {JSON}", Media.JSON),
        (f'{JSON}; charset="UTF-8"', Media.JSON),
        (f"{GRAPHQL_RESPONSE}; profile=x; q=0.8; ext=1, {JSON};q=0.7", Media.GRAPHQL_RESPONSE),
        # Malformed elements are skipped.
        (f"nonsense, {GRAPHQL_RESPONSE};q=high, {JSON}", Media.JSON),
        (f"*/json, {JSON};q=2, {GRAPHQL_RESPONSE}", Media.GRAPHQL_RESPONSE),
        # Nothing acceptable.
        ("text/html", None),
        ("application/xml, text/*", None),
        (f"{JSON};q=0", None),
        (f"{JSON};q=0, {GRAPHQL_RESPONSE};q=0, */*;q=0", None),
        ("*/*;q=0", None),
        (f"{JSON}; charset=latin-1", None),
        ("nonsense", None),
    ],
)
def test_negotiate_chooses_per_rfc_9110(accept: str | None, expected: Media | None) -> None:
    assert negotiate(accept) is expected


def test_negotiate_parses_each_accept_header_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    parse = media._media_range

    def counting(text: str) -> Any:
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(media, "_media_range", counting)
    media._negotiated.cache_clear()

    chosen = [negotiate(APOLLO) for _ in range(3)]

    assert chosen == [Media.GRAPHQL_RESPONSE] * 3
    assert len(parsed) == 2  # its two ranges, on the first request only


@dataclass
class Client:
    http: httpx.AsyncClient
    admin_key: str
    production: bool

    async def post(
        self, payload: Any, accept: str | None, *, key: str | None = None, content: bytes = b""
    ) -> httpx.Response:
        headers = {"content-type": JSON}
        if accept is not None:
            headers["accept"] = accept
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        if content:
            return await self.http.post("/graphql", content=content, headers=headers)
        return await self.http.post("/graphql", json=payload, headers=headers)


@pytest.fixture(params=["development", "production"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Client]:
    # Nothing here depends on the database: the media type is decided above it.
    settings: Settings = make_settings(tmp_path, mode=request.param)
    assert settings.admin_key is not None
    tessera = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    transport = httpx.ASGITransport(app=create_app(settings, tessera=tessera))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as http:
            # httpx sends `Accept: */*` unless told otherwise; None must mean no header.
            http.headers.pop("accept")
            yield Client(http, settings.admin_key.get_secret_value(), settings.production)
    finally:
        await tessera.close()


# Request errors: nothing is executed.
REQUEST_ERRORS = {
    "parse": ({"query": "{"}, "GRAPHQL_PARSE_FAILED"),
    "validation": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variables": (
        {"query": operation("Product"), "variables": {"tag": None}},
        "BAD_USER_INPUT",
    ),
    "missing-variable": ({"query": operation("Product")}, "BAD_USER_INPUT"),
    "limit": ({"query": "{ " + "a { " * 11 + "b" + " }" * 11 + " }"}, "BAD_REQUEST"),
    "parser-limit": ({"query": "{ " + "__typename " * 2000 + "}"}, "BAD_REQUEST"),
}


@pytest.mark.parametrize("case", REQUEST_ERRORS, ids=str)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, APOLLO])
async def test_request_error_under_graphql_response_is_400_without_data(
    client: Client, case: str, accept: str
) -> None:
    payload, code = REQUEST_ERRORS[case]

    response = await client.post(payload, accept, key=client.admin_key)

    assert response.status_code == 400
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    body = response.json()
    assert "data" not in body
    assert {e["extensions"]["code"] for e in body["errors"]} == {code}


@pytest.mark.parametrize("case", REQUEST_ERRORS, ids=str)
@pytest.mark.parametrize("accept", [None, "*/*", JSON])
async def test_request_error_under_json_is_200_with_data_null(
    client: Client, case: str, accept: str | None
) -> None:
    payload, code = REQUEST_ERRORS[case]

    response = await client.post(payload, accept, key=client.admin_key)

    assert response.status_code == 200
    assert response.headers["content-type"] == f"{JSON}; charset=utf-8"
    body = response.json()
    assert body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {code}


async def test_introspection_refused_in_production_is_a_request_error(client: Client) -> None:
    response = await client.post({"query": "{ __schema { types { name } } }"}, APOLLO)

    assert response.status_code == (400 if client.production else 200)
    assert ("data" in response.json()) is not client.production


# Executed: the data entry is there (null or not), whatever the errors.
EXECUTED = {
    "success": ({"query": "{ __typename }"}, "admin", {"__typename": "Query"}, set()),
    "partial-data": ({"query": operation("Product"), "variables": {"tag": "x"}}, None,
                     {"product": None}, {"UNAUTHENTICATED"}),
    "data-null": ({"query": operation("Products")}, None, None, {"UNAUTHENTICATED"}),
    "bad-credential": ({"query": operation("Products")}, "bad", None, {"UNAUTHENTICATED"}),
}  # fmt: skip


@pytest.mark.parametrize("case", EXECUTED, ids=str)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, APOLLO, JSON, None])
async def test_executed_operation_is_200_in_either_media_type(
    client: Client, case: str, accept: str | None
) -> None:
    payload, caller, data, codes = EXECUTED[case]
    key = {"admin": client.admin_key, "bad": "tsk_" + "x" * 43}.get(caller or "")

    response = await client.post(payload, accept, key=key)

    media = JSON if accept in (JSON, None) else GRAPHQL_RESPONSE
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    body = response.json()
    assert body["data"] == data
    assert {e["extensions"]["code"] for e in body.get("errors", [])} == codes


# Tessera's own refusals of a request that is not one operation.
REFUSALS = {
    "not-json": b'{"query": ',
    "no-query": b'{"notquery": "{ __typename }"}',
    "ambiguous": b'{"query": "query A { __typename } query B { __typename }"}',
    "unknown-operation": b'{"query": "{ __typename }", "operationName": "Nope"}',
    "subscription": b'{"query": "subscription S { x }"}',
}


@pytest.mark.parametrize("case", REFUSALS, ids=str)
@pytest.mark.parametrize(("accept", "media"), [(APOLLO, GRAPHQL_RESPONSE), ("*/*", JSON)])
async def test_refused_request_is_400_in_the_negotiated_media_type(
    client: Client, case: str, accept: str, media: str
) -> None:
    response = await client.post(None, accept, content=REFUSALS[case])

    assert response.status_code == 400
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    body = response.json()
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "accept", ["text/html", "application/xml", f"{JSON};q=0", "*/*;q=0", f"{JSON};charset=latin1"]
)
async def test_unacceptable_accept_is_406_and_runs_nothing(
    client: Client, accept: str, caplog: pytest.LogCaptureFixture
) -> None:
    created = {
        "query": operation("CreateProduct"),
        "variables": {"input": {"tag": "shop", "name": "Shop"}},
    }
    caplog.set_level(logging.INFO, logger="tessera.audit")

    refused = await client.post(created, accept, key=client.admin_key)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    listed = await client.post({"query": operation("Products")}, JSON, key=client.admin_key)

    assert [(line["event"], line["status"]) for line in lines] == [("refused", 406)]
    assert refused.status_code == 406
    assert refused.headers["content-type"].startswith("text/plain")
    assert GRAPHQL_RESPONSE in refused.text and JSON in refused.text
    assert listed.json() == {"data": {"products": []}}


@pytest.mark.parametrize(
    ("fault", "status"), [(RuntimeError("boom"), 500), (StoreUnavailable("down"), 503)]
)
async def test_server_fault_before_execution_is_5xx_under_graphql_response(
    client: Client, monkeypatch: pytest.MonkeyPatch, fault: Exception, status: int
) -> None:
    def failing(*args: Any) -> Any:
        raise fault

    # As the document is prepared, inside the operation hook.
    monkeypatch.setattr(policy, "prepare", failing)

    ours = await client.post({"query": "{ __typename }"}, APOLLO)
    legacy = await client.post({"query": "{ __typename }"}, JSON)

    assert ours.status_code == status and "data" not in ours.json()
    assert legacy.status_code == 200 and legacy.json()["data"] is None
    code = "INTERNAL_SERVER_ERROR" if status == 500 else "SERVICE_UNAVAILABLE"
    for response in (ours, legacy):
        assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]
