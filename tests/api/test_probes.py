"""The usual GraphQL security probes (the checks graphql-cop runs, and a few more),
against the real ASGI app in development and production mode.

Probe documents that no client would send are written inline: they are attacks, not
operations. Everything a client would send comes from graphql/operations/."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from graphql import ASTValidationRule, ValidationContext

import schema.guards
from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation

CALLERS = ["none", "product", "session", "admin"]
NON_ADMIN = ["none", "product", "session"]
SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
GHOST = {"input": {"tag": "ghost", "name": "Ghost"}}


@dataclass
class Target:
    """One running app and a credential of each kind of caller."""

    mode: str
    client: httpx.AsyncClient
    keys: dict[str, str | None]

    def headers(self, caller: str) -> dict[str, str]:
        key = self.keys[caller]
        return {"authorization": f"Bearer {key}"} if key is not None else {}

    async def send(
        self, document: str, variables: dict[str, Any] | None = None, *, caller: str = "none"
    ) -> httpx.Response:
        return await self.client.post(
            "/graphql",
            json={"query": document, "variables": variables},
            headers=self.headers(caller),
        )

    async def gql(
        self, document: str, variables: dict[str, Any] | None = None, *, caller: str = "none"
    ) -> dict[str, Any]:
        response = await self.send(document, variables, caller=caller)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def op(self, name: str, *, caller: str = "admin", **variables: Any) -> dict[str, Any]:
        body = await self.gql(operation(name), variables, caller=caller)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def product_tags(self) -> list[str]:
        return [p["tag"] for p in (await self.op("Products"))["products"]]


@asynccontextmanager
async def running(
    tmp_path: Path, mode: str, *, seed: bool = True, **overrides: Any
) -> AsyncIterator[Target]:
    """An app in ``mode``; with ``seed``, product "shop" (env prd, config web), a key of
    that product and a live end-user session."""
    settings = make_settings(tmp_path / mode, mode=mode, **overrides)
    assert settings.admin_key is not None
    service = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    app = create_app(settings, tessera=service)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://tessera.test"
        ) as client:
            keys: dict[str, str | None] = {
                "none": None,
                "admin": settings.admin_key.get_secret_value(),
                "product": None,
                "session": None,
            }
            target = Target(mode, client, keys)
            if seed:
                await target.op(
                    "CreateProduct", input={"tag": "shop", "name": "Shop", "envs": ["prd"]}
                )
                await target.op(
                    "CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"}
                )
                created = await target.op(
                    "CreateApiKey", input={"product": "shop", "name": "backend"}
                )
                keys["product"] = created["createApiKey"]["key"]
                tokens = await target.op(
                    "CreateSessionWith",
                    input={**SCOPE, "data": {"userId": "u1", "details": {}}},
                )
                keys["session"] = tokens["createSession"]["token"]
            yield target
    finally:
        await service.close()


@pytest.fixture
async def prod(tmp_path: Path) -> AsyncIterator[Target]:
    async with running(tmp_path, "production") as target:
        yield target


@pytest.fixture
async def dev(tmp_path: Path) -> AsyncIterator[Target]:
    async with running(tmp_path, "development") as target:
        yield target


@pytest.fixture(params=["development", "production"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    async with running(tmp_path, request.param) as target:
        yield target


def messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors") or []]


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def refused(body: dict[str, Any]) -> bool:
    """Refused before execution: errors and no data at all."""
    return bool(body.get("errors")) and body.get("data") is None


# Introspection ------------------------------------------------------------------------

INTROSPECTION = {
    "schema": "{ __schema { types { name } } }",
    "type": '{ __type(name: "Query") { name fields { name } } }',
    # Federation's: the subgraph SDL is the whole schema.
    "service": "{ _service { sdl } }",
}


@pytest.mark.parametrize("caller", NON_ADMIN)
@pytest.mark.parametrize("document", INTROSPECTION.values(), ids=list(INTROSPECTION))
async def test_introspection_production_non_admin_is_refused(
    prod: Target, document: str, caller: str
) -> None:
    body = await prod.gql(document, caller=caller)

    assert refused(body), body
    assert any("introspection" in m for m in messages(body))
    assert "Query" not in json.dumps(body)


@pytest.mark.parametrize("document", INTROSPECTION.values(), ids=list(INTROSPECTION))
async def test_introspection_production_admin_is_allowed(prod: Target, document: str) -> None:
    body = await prod.gql(document, caller="admin")

    assert "errors" not in body, body
    assert "Query" in json.dumps(body["data"])


@pytest.mark.parametrize("document", INTROSPECTION.values(), ids=list(INTROSPECTION))
async def test_introspection_development_without_key_is_allowed(dev: Target, document: str) -> None:
    body = await dev.gql(document)

    assert "errors" not in body, body
    assert "Query" in json.dumps(body["data"])


async def test_typename_production_without_key_is_allowed(prod: Target) -> None:
    # Clients add __typename everywhere; it is not schema introspection.
    assert await prod.gql("{ __typename }") == {"data": {"__typename": "Query"}}


async def test_introspection_production_over_limit_address_admin_is_still_admin(
    tmp_path: Path,
) -> None:
    # Bad keys from the admin's address (a shared gateway) are the sprayer's failures:
    # the admin key is still checked, and still an admin; the sprayer is not.
    async with running(tmp_path, "production", rate_limit_failed_auth_per_ip="1/minute") as prod:
        prod.keys["bad"] = "tsk_" + "x" * 43
        for _ in range(3):
            await prod.gql("{ __typename }", caller="bad")

        body = await prod.gql(INTROSPECTION["schema"], caller="admin")
        sprayer = await prod.gql(INTROSPECTION["schema"], caller="bad")

    assert "errors" not in body, body
    assert "Query" in json.dumps(body["data"])
    assert refused(sprayer), sprayer


# Field suggestions --------------------------------------------------------------------

SESSION_LITERAL = '{product: "shop", env: "prd", tag: "web", data: {userId: "u1", details: {}}}'
# (id, document, variables, a name the error must still mention)
SUGGESTION_PROBES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("unknown-field", "{ productz { tag } }", None, "productz"),
    ("unknown-argument", '{ product(tagg: "shop") { tag } }', None, "tagg"),
    (
        "unknown-enum-value-literal",
        'mutation { createSessionConfig(input: {product: "shop", tag: "x", name: "X", '
        "period: HOUR}) { __typename } }",
        None,
        "HOUR",
    ),
    (
        "unknown-enum-value-variable",
        operation("CreateSessionConfig"),
        {"input": {"product": "shop", "tag": "x", "name": "X", "period": "HOUR"}},
        "HOUR",
    ),
    (
        "unknown-input-field-literal",
        '{ verifySession(input: {product: "shop", env: "prd", tag: "web", tokn: "x"}) { valid } }',
        None,
        "tokn",
    ),
    (
        "unknown-input-field-variable",
        operation("VerifySession"),
        {"input": {**SCOPE, "tokn": "x"}},
        "tokn",
    ),
    (
        "unknown-type",
        "query Q($i: VerifySessionInputt!) { verifySession(input: $i) { valid } }",
        {"i": {}},
        "VerifySessionInputt",
    ),
    (
        "field-on-union",
        f"mutation {{ createSession(input: {SESSION_LITERAL}) {{ token }} }}",
        None,
        "token",
    ),
]
SUGGESTION_IDS = [p[0] for p in SUGGESTION_PROBES]


@pytest.mark.parametrize("caller", NON_ADMIN)
@pytest.mark.parametrize(
    ("name", "document", "variables", "mentions"), SUGGESTION_PROBES, ids=SUGGESTION_IDS
)
async def test_suggestions_production_non_admin_are_removed(
    prod: Target,
    caller: str,
    name: str,
    document: str,
    variables: dict[str, Any] | None,
    mentions: str,
) -> None:
    body = await prod.gql(document, variables, caller=caller)

    assert refused(body), body
    assert "Did you mean" not in json.dumps(body)
    assert any(mentions in m for m in messages(body)), body


@pytest.mark.parametrize(
    ("name", "document", "variables", "mentions"), SUGGESTION_PROBES, ids=SUGGESTION_IDS
)
async def test_suggestions_production_admin_are_kept(
    prod: Target, name: str, document: str, variables: dict[str, Any] | None, mentions: str
) -> None:
    body = await prod.gql(document, variables, caller="admin")

    assert refused(body), body
    assert any("Did you mean" in m for m in messages(body)), body


@pytest.mark.parametrize(
    ("name", "document", "variables", "mentions"), SUGGESTION_PROBES, ids=SUGGESTION_IDS
)
async def test_suggestions_development_are_kept(
    dev: Target, name: str, document: str, variables: dict[str, Any] | None, mentions: str
) -> None:
    body = await dev.gql(document, variables)

    assert refused(body), body
    assert any("Did you mean" in m for m in messages(body)), body


# GraphiQL -----------------------------------------------------------------------------


async def test_graphiql_development_is_served_with_seed_example(dev: Target) -> None:
    response = await dev.client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()
    assert "createSession" in response.text
    assert "user_123" in response.text


async def test_graphiql_production_is_not_served(prod: Target) -> None:
    response = await prod.client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code != 200
    assert not response.headers["content-type"].startswith("text/html")
    assert "graphiql" not in response.text.lower()


# GET ----------------------------------------------------------------------------------


async def test_get_query_is_refused(target: Target) -> None:
    response = await target.client.get("/graphql", params={"query": "{__typename}"})

    assert response.status_code >= 400
    assert "Query" not in response.text


async def test_get_without_graphiql_is_405_naming_post(target: Target) -> None:
    response = await target.client.get("/graphql", headers={"accept": "application/json"})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_get_mutation_is_refused_and_not_executed(target: Target) -> None:
    response = await target.client.get(
        "/graphql",
        params={"query": operation("CreateProduct"), "variables": json.dumps(GHOST)},
        headers=target.headers("admin"),
    )

    assert response.status_code >= 400
    assert "ghost" not in response.text
    assert "ghost" not in await target.product_tags()


# CSRF: the content types a cross-site form or no-cors fetch can send ------------------


def simple_request(kind: str, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """httpx arguments for a POST a browser sends cross-site without a preflight."""
    fields = {"query": document, "variables": json.dumps(variables)}
    if kind == "form":
        return {
            "content": urlencode(fields),
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        }
    if kind == "multipart":
        return {"files": {name: (None, value) for name, value in fields.items()}}
    return {
        "content": json.dumps({"query": document, "variables": variables}),
        "headers": {"content-type": "text/plain;charset=UTF-8"},
    }


@pytest.mark.parametrize("kind", ["form", "multipart", "text"])
async def test_post_simple_content_type_is_refused_and_not_executed(
    target: Target, kind: str
) -> None:
    request = simple_request(kind, operation("CreateProduct"), GHOST)
    request.setdefault("headers", {}).update(target.headers("admin"))

    response = await target.client.post("/graphql", **request)

    assert response.status_code >= 400
    assert "ghost" not in response.text
    assert "ghost" not in await target.product_tags()


# Aliases ------------------------------------------------------------------------------


def aliased(count: int, field: str = "__typename") -> str:
    return "{ " + " ".join(f"a{i}: {field}" for i in range(count)) + " }"


async def test_aliases_over_limit_are_refused(target: Target) -> None:
    body = await target.gql(aliased(101))

    assert refused(body), body
    assert any("aliases" in m for m in messages(body))


async def test_aliases_of_admin_field_over_limit_are_refused(prod: Target) -> None:
    body = await prod.gql(aliased(40, "products { tag }"), caller="admin")

    assert refused(body), body
    assert any("aliases" in m for m in messages(body))


async def test_aliases_at_limit_are_allowed(target: Target) -> None:
    body = await target.gql(aliased(20))

    assert "errors" not in body, body
    assert len(body["data"]) == 20


def nested_spreads(levels: int, spreads: int, field: str) -> str:
    """Each fragment spreads the next one ``spreads`` times: a document of a few hundred
    bytes whose naive expansion has ``spreads ** levels`` nodes."""
    parts = ["query Q { ...F0 }"]
    for i in range(levels):
        inner = " ".join([f"...F{i + 1}"] * spreads) if i + 1 < levels else "leaf"
        parts.append(f"fragment F{i} on Query {{ {field} {{ {inner} }} }}")
    return "\n".join(parts)


@pytest.mark.parametrize("field", ["x", "a: x"], ids=["plain", "aliased"])
async def test_limits_nested_fragment_spreads_are_measured_quickly(
    prod: Target, field: str
) -> None:
    # Strawberry's own depth and alias validators re-walk a fragment at every spread;
    # this 600-byte document kept them busy for tens of seconds.
    document = nested_spreads(10, 6, field)
    started = time.perf_counter()

    body = await prod.gql(document)

    assert time.perf_counter() - started < 2.0
    assert refused(body), body
    if field.startswith("a:"):
        assert any("aliases found" in m for m in messages(body))


async def test_unknown_fragment_spread_is_a_validation_error(target: Target) -> None:
    body = await target.gql("{ ...Missing }")

    assert messages(body) == ["Unknown fragment 'Missing'."]
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


# Batching -----------------------------------------------------------------------------


async def test_batch_array_is_refused_and_not_executed(target: Target) -> None:
    response = await target.client.post(
        "/graphql",
        json=[
            {"query": operation("CreateProduct"), "variables": GHOST},
            {"query": "{__typename}"},
        ],
        headers=target.headers("admin"),
    )

    assert response.status_code >= 400
    assert "ghost" not in response.text
    assert "ghost" not in await target.product_tags()


# Directives ---------------------------------------------------------------------------


async def test_directives_over_limit_are_refused(target: Target) -> None:
    body = await target.gql("{ " + "__typename @include(if: true) " * 50 + "}")

    assert refused(body), body
    assert any("more than 10 directives" in m for m in messages(body))


async def test_directive_repeated_on_one_field_is_refused(target: Target) -> None:
    body = await target.gql("{ __typename " + "@include(if: true) " * 50 + "}")

    assert refused(body), body
    assert any("more than 10 directives" in m for m in messages(body))


async def test_unknown_directives_are_refused(target: Target) -> None:
    body = await target.gql("query cop { __typename " + "@aa" * 10 + " }")

    assert refused(body), body


async def test_directives_at_limit_are_allowed(target: Target) -> None:
    body = await target.gql("{ " + "__typename @include(if: true) " * 10 + "}")

    assert body == {"data": {"__typename": "Query"}}


# Depth --------------------------------------------------------------------------------

# graphql-cop's circular introspection query, nested further.
CIRCULAR_INTROSPECTION = (
    "query cop { __schema { types { " + "fields { type { " * 5 + "name" + " } }" * 5 + " } } }"
)


@pytest.mark.parametrize("caller", CALLERS)
async def test_circular_introspection_is_refused(target: Target, caller: str) -> None:
    body = await target.gql(CIRCULAR_INTROSPECTION, caller=caller)

    assert refused(body), body


def nested(levels: int) -> str:
    return "{ " + "a { " * levels + "leaf" + " }" * levels + " }"


async def test_query_deeper_than_limit_is_refused(target: Target) -> None:
    body = await target.gql(nested(11))

    assert refused(body), body
    assert any("exceeds maximum operation depth of 10" in m for m in messages(body))


async def test_query_at_depth_limit_passes_the_depth_check(target: Target) -> None:
    body = await target.gql(nested(10))

    assert refused(body), body  # the fields do not exist
    assert not any("depth" in m for m in messages(body))


async def test_query_deeper_than_limit_through_fragments_is_refused(target: Target) -> None:
    body = await target.gql(nested_spreads(12, 1, "a"))

    assert refused(body), body
    assert any("exceeds maximum operation depth of 10" in m for m in messages(body))


async def test_operation_deeper_than_configured_limit_is_refused(tmp_path: Path) -> None:
    # ActiveSessions nests activeSessions > edges > node > data { userId }: depth 4.
    variables = {**SCOPE}
    async with running(tmp_path, "production", max_query_depth=3) as shallow:
        body = await shallow.gql(operation("ActiveSessions"), variables, caller="admin")
    async with running(tmp_path / "deeper", "production", max_query_depth=4) as deeper:
        allowed = await deeper.gql(operation("ActiveSessions"), variables, caller="admin")

    assert refused(body), body
    assert any("exceeds maximum operation depth of 3" in m for m in messages(body))
    assert "errors" not in allowed, allowed


# Tokens and body size -----------------------------------------------------------------


async def test_document_over_token_limit_is_refused(target: Target) -> None:
    body = await target.gql("{ " + "__typename " * 2100 + "}")

    assert refused(body), body
    assert any("more than 2000 tokens" in m for m in messages(body))


async def test_body_over_limit_with_content_length_is_413(target: Target) -> None:
    document = "{ __typename }" + " " * (64 * 1024)

    response = await target.client.post(
        "/graphql", json={"query": document}, headers=target.headers("admin")
    )

    assert response.status_code == 413


async def test_body_over_limit_chunked_is_413(target: Target) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }'
        for _ in range(20):
            yield b" " * 4096
        yield b'"}'

    response = await target.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_body_under_limit_chunked_is_executed(target: Target) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }'
        yield b" " * 4096
        yield b'"}'

    response = await target.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.json() == {"data": {"__typename": "Query"}}


# Tracing, stack traces and malformed requests -----------------------------------------

LEAKS = ("Traceback", 'File "', "Error:", "Exception", "SELECT ", "sqlite", "KeyError")


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, text


async def test_responses_carry_no_tracing(target: Target) -> None:
    body = await target.gql(operation("Products"), caller="admin")

    assert "extensions" not in body
    assert "tracing" not in json.dumps(body)


async def test_errors_carry_no_internals(target: Target) -> None:
    bodies = [
        await target.gql("{ productz }"),
        await target.gql("{ ...Missing }"),
        await target.gql(operation("Products"), caller="none"),
        await target.gql(operation("VerifySession"), {"input": {**SCOPE, "token": "x" * 9000}}),
    ]

    for body in bodies:
        for error in body.get("errors") or []:
            assert set(error) <= {"message", "locations", "path", "extensions"}
            assert set(error.get("extensions") or {}) <= {"code", "retryAfter"}
        assert_no_leak(json.dumps(body))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"query": ',
        b"\xff\xfe",
        b"null",
        b"42",
        b'"{ __typename }"',
        b'{"query": "{ __typename }"} trailing',
        b'{"query": "{ __typename }", "variables": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
    ],
    ids=[
        "empty",
        "truncated",
        "binary",
        "null",
        "number",
        "string",
        "trailing",
        "nested-too-deeply",
    ],
)
async def test_malformed_json_is_400_without_traceback(target: Target, content: bytes) -> None:
    response = await target.client.post(
        "/graphql", content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert_no_leak(response.text)


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"query": 1},
        {"query": "{ __typename }", "variables": "x"},
        {"query": "{ __typename }", "extensions": []},
        {"query": "{ __typename }", "operationName": "Nope"},
        {"query": "{ __typename }", "operationName": 7},
        {"query": ""},
        {"query": "subscription { __typename }"},
    ],
    ids=[
        "no-query",
        "query-not-string",
        "variables-not-object",
        "extensions-not-object",
        "unknown-operation",
        "operation-name-not-string",
        "empty-query",
        "subscription",
    ],
)
async def test_malformed_request_is_400_without_traceback(
    target: Target, payload: dict[str, Any]
) -> None:
    response = await target.client.post("/graphql", json=payload)

    assert response.status_code == 400
    assert_no_leak(response.text)


async def test_exception_during_validation_is_masked_and_logged(
    prod: Target, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            raise RuntimeError("SELECT secret FROM vault")

    monkeypatch.setattr(schema.guards, "rules", lambda *args: (Broken,))

    body = await prod.gql("{ __typename }")

    assert codes(body) == ["INTERNAL_SERVER_ERROR"]
    assert_no_leak(json.dumps(body))
    assert "vault" not in json.dumps(body)
    assert any(r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


# CORS ---------------------------------------------------------------------------------


async def preflight(target: Target, origin: str) -> httpx.Response:
    return await target.client.options(
        "/graphql",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )


async def test_cors_production_default_allows_no_foreign_origin(prod: Target) -> None:
    response = await preflight(prod, "https://evil.example")
    simple = await prod.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
    )

    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_development_default_allows_any_origin(dev: Target) -> None:
    response = await preflight(dev, "https://app.example")

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://app.example")
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_cors_configured_origins_are_allowed_exactly(tmp_path: Path) -> None:
    allowed = "https://app.example"
    async with running(tmp_path, "production", seed=False, cors_origins=[allowed]) as prod:
        ok = await preflight(prod, allowed)
        others = [
            await preflight(prod, origin)
            for origin in (
                "https://evil.example",
                "https://app.example.evil.example",
                "http://app.example",
                "https://sub.app.example",
                "null",
            )
        ]

    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == allowed
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    for response in others:
        assert "access-control-allow-origin" not in response.headers


# A sanity check that the probes above exercise a working app.


async def test_probe_targets_serve_the_seeded_product(target: Target) -> None:
    assert await target.product_tags() == ["shop"]
    verified = await target.op(
        "VerifySession", caller="product", input={**SCOPE, "token": target.keys["session"]}
    )
    assert verified["verifySession"]["valid"] is True
