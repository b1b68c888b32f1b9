"""Tessera's ``/graphql`` answers exactly as Strawberry's own HTTP view does.

schema/engine.py holds every place where Tessera does some of Strawberry's request work
its own way. Here two worlds get the same requests, one world after the other, each on a
fresh database with a clock at the same instant:

- ``tessera``: the app of ``create_app``, as it is served;
- ``strawberry``: the same app with Strawberry's ASGI view (``strawberry.asgi.GraphQL``
  over the same schema, its ``get_context`` giving Tessera's ``Context``) in place of the
  endpoint, and every other substitute of schema/engine.py switched off: input objects
  converted by Strawberry field by field, names converted anew each time, each document
  prepared afresh.

The requests: every document of graphql/operations/ with realistic variables, in the
order a product's life takes them (created, configured, keyed, sessions started,
verified, listed, refreshed, logged out, revoked, deleted) with the expected failures
along the way (invalid input, unknown things, forbidden, unauthenticated), then every
bad request of tests/api/test_error_codes.py (syntax, validation, unknown and ambiguous
operations, each limit, bad variables, introspection in production). Both answers must
have the same status, content type and bytes, once the values that are random by design
(tokens, refresh tokens, ids, keys, cursors) are replaced by placeholders numbered by
first appearance: where one world repeats a value, the other must repeat its own.

Tessera's world is run twice: with ``Accept: */*`` (what httpx and browsers' fetch send;
Strawberry's world always gets that), and with Apollo Client 4's
``Accept: application/graphql-response+json, application/json;q=0.9``, which Strawberry's
view does not negotiate: it answers ``application/json`` to both.

The differences are deliberate, and asserted as such:

- Tessera says its JSON is UTF-8: ``application/json; charset=utf-8`` where Strawberry's
  view says ``application/json`` (GraphQL over HTTP: the server SHOULD state the
  encoding);
- under ``application/graphql-response+json`` Tessera answers in that media type, and a
  request error (data null, every error coded as a parse, validation, limit or variable
  failure) is a 400 without ``data``; every other answer is Strawberry's, in that type;
- where Strawberry's view refuses a request with a plain-text 400, Tessera answers the
  very same text as a GraphQL response: one error, coded ``BAD_REQUEST``;
- a request whose envelope is not one operation as JSON that obeys the edge rule, or a
  subscription sent over POST (``TESSERAS_OWN``), Tessera refuses with a 400 of its own
  before running anything; Strawberry's view answers those in its own way, or runs them.

``GET`` is not compared: Tessera serves nothing but GraphiQL there
(tests/api/test_probes.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.schema.name_converter import NameConverter

from schema import documents, schema
from schema.context import Context
from schema.engine import CachedNameConverter
from server import create_app
from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.api.test_error_codes import requests as bad_requests
from tests.conftest import make_settings
from tests.databases import clean_postgres_database
from tests.operations import OPERATIONS, operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
VOLATILE = frozenset(
    {"token", "refreshToken", "sessionId", "id", "key", "cursor", "endCursor", "actor"}
)
BAD_KEY = "tsk_" + "x" * 43
JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
# What each world sends; Strawberry's world the first.
ACCEPT = {JSON: "*/*", GRAPHQL_RESPONSE: f"{GRAPHQL_RESPONSE}, {JSON};q=0.9"}
# The codes of errors raised before anything executes (README: "The API").
REQUEST_ERROR_CODES = frozenset(
    {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "BAD_REQUEST"}
)
# Requests Tessera refuses in its own words (see the module's docstring).
TESSERAS_OWN = frozenset(
    {
        "batch",
        "body-not-an-object",
        "query-null",
        "query-not-a-string",
        "variables-not-an-object",
        "operation-name-not-a-string",
        "extensions-not-an-object",
        "operation-name-with-nul",
        "variable-name-with-nul",
        "subscription",
    }
)

World = dict[str, Any]
Variables = Mapping[str, Any] | Callable[[World], Mapping[str, Any]] | None


@dataclass(frozen=True)
class Step:
    """One request: ``payload`` as JSON (or ``content`` as it is) with ``caller``'s
    credential; ``keep`` names values of the answer (dotted paths into ``data``) that
    later steps of the same world use."""

    id: str
    payload: Callable[[World], Any]
    caller: str = "admin"
    keep: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    document: str | None = None  # the operation of graphql/operations/ it runs


def op(
    name: str,
    variables: Variables = None,
    *,
    caller: str = "admin",
    keep: Mapping[str, str] | None = None,
    id: str | None = None,
) -> Step:
    def payload(world: World) -> dict[str, Any]:
        given = variables(world) if callable(variables) else variables
        return {"query": operation(name), "variables": None if given is None else dict(given)}

    return Step(id or name, payload, caller, keep or {}, document=name)


def raw(id: str, payload: Any, *, caller: str = "admin") -> Step:
    return Step(id, lambda world: payload, caller)


SESSION = {**SCOPE, "data": {"userId": "u1", "details": {"email": "u1@example.com"}}}
TOKENS = {"token": "createSession.token", "refresh": "createSession.refreshToken"}


def life() -> Iterator[Step]:
    """A product's life, every documented operation at least once, failures included."""
    yield op("CreateProduct", {"input": {"tag": "shop", "name": "Shop", "envs": ["prd", "dev"]}})
    yield op("CreateProduct", {"input": {"tag": "shop", "name": "Again"}}, id="product-exists")
    yield op("CreateProduct", {"input": {"tag": "Not A Tag", "name": ""}}, id="product-invalid")
    config = {
        "product": "shop",
        "tag": "web",
        "name": "Web",
        "expiry": 2,
        "period": "HOURS",
        "schema": {
            "type": "object",
            "properties": {"email": {"type": "string", "format": "email"}},
            "required": ["email"],
        },
    }
    yield op("CreateSessionConfig", {"input": config})
    yield op(
        "CreateApiKey",
        {"input": {"product": "shop", "envs": ["prd"], "name": "backend"}},
        keep={"product": "createApiKey.key", "key-id": "createApiKey.apiKey.id"},
    )
    yield op("CreateSession")  # the seed's example: provisioned in development only
    yield op("CreateSessionWith", {"input": SESSION}, caller="product", keep=TOKENS)
    yield op(
        "CreateSessionWith",
        {"input": SESSION},
        caller="product",
        id="second-session",
        keep={"other-token": "createSession.token"},
    )
    yield op(
        "CreateSessionWith",
        {"input": {**SESSION, "data": {"userId": "u1", "details": {"email": 5, "n": [1.5]}}}},
        caller="product",
        id="details-against-the-schema",
    )
    yield op(
        "CreateSessionWith",
        {"input": {**SESSION, "env": "dev"}},
        caller="product",
        id="env-outside-the-key",
    )
    yield op(
        "CreateSessionWith",
        {"input": {**SESSION, "data": {"userId": "u\u0000", "details": {}}}},
        caller="product",
        id="edge-rule-in-input",
    )
    trusted = "query Trusted { products { tag } }"
    yield op(
        "RegisterTrustedDocuments",
        {"manifest": {hashlib.sha256(trusted.encode()).hexdigest(): trusted}},
    )
    yield op(
        "RegisterTrustedDocuments",
        {"manifest": {"0" * 64: trusted}},
        id="trusted-document-hash-mismatch",
    )
    yield op("RegisterTrustedDocuments", {"manifest": {}}, caller="product", id="trusted-by-key")
    # Rotating changes the keys each view would show: the deterministic answers only.
    yield op("RotateKeys", {"input": {"product": "missing", "env": "prd"}}, id="rotate-missing")
    yield op("KeyRing", {"product": "shop", "env": "missing"}, id="key-ring-missing-env")
    yield op("Products")
    yield op("Product", {"tag": "shop"})
    yield op("Product", {"tag": "missing"}, id="product-missing")
    yield op("SessionConfigs", {"product": "shop"}, caller="product")
    yield op("SessionConfig", {"product": "shop", "tag": "web"}, caller="product")
    yield op(
        "UpdateSessionConfig",
        {"input": {"product": "shop", "tag": "web", "description": "Web", "idleTimeout": 7200}},
    )
    yield op(
        "UpdateSessionConfig",
        {"input": {"product": "shop", "tag": "nope", "name": "x"}},
        id="update-missing-config",
    )

    def verify(world: World) -> dict[str, Any]:
        return {"input": {**SCOPE, "token": world["token"]}}

    yield op("VerifySession", verify, caller="product")
    yield op("VerifySessionWithActivity", verify, caller="product")
    yield op(
        "VerifySession",
        {"input": {**SCOPE, "token": "web:x.y.z.a.b"}},
        caller="product",
        id="verify-malformed",
    )
    yield op(
        "VerifySession",
        lambda world: {"input": {**SCOPE, "tag": "app", "token": world["token"]}},
        caller="product",
        id="verify-other-tag",
    )
    yield op(
        "VerifySession",
        {"input": {**SCOPE, "product": "sh\u0000p", "token": "web:x"}},
        caller="product",
        id="edge-rule-in-argument",
    )
    yield op(
        "ActiveSessions",
        {**SCOPE, "first": 1},
        caller="product",
        keep={"cursor": "activeSessions.pageInfo.endCursor"},
    )
    yield op(
        "ActiveSessions",
        lambda world: {**SCOPE, "first": 1, "after": world["cursor"]},
        caller="product",
        id="active-sessions-next-page",
    )
    yield op(
        "ActiveSessions",
        {**SCOPE, "identifier": "u1", "after": "not-a-cursor"},
        caller="product",
        id="active-sessions-bad-cursor",
    )
    yield op(
        "SessionUsers",
        {"product": "shop", "env": "prd", "first": 1},
        caller="product",
        keep={"user_cursor": "sessionUsers.pageInfo.endCursor"},
    )
    yield op(
        "SessionUsers",
        lambda world: {
            "product": "shop",
            "env": "prd",
            "tag": "web",
            "after": world["user_cursor"],
        },
        caller="product",
        id="session-users-next-page",
    )
    yield op(
        "SessionUsers",
        {"product": "shop", "env": "prd", "search": "u%", "after": "not-a-cursor"},
        caller="product",
        id="session-users-bad-cursor",
    )
    yield op("SessionUser", {"product": "shop", "env": "prd", "identifier": "u1"}, caller="product")
    yield op(
        "SessionUser",
        {"product": "shop", "env": "prd", "identifier": "u1"},
        caller="user",
        id="session-user-end-user",
    )
    yield op("CurrentSession", caller="user")
    yield op("MySessions", {"first": 10}, caller="user")
    yield op("MyActivity", {"first": 5, "types": ["SESSION_CREATED"]}, caller="user")
    yield op(
        "SessionActivity",
        {"product": "shop", "env": "prd", "types": ["SESSION_CREATED"], "first": 2},
        caller="product",
    )
    yield op(
        "SessionActivity",
        {"product": "shop", "env": "prd", "after": "not-a-cursor"},
        caller="product",
        id="session-activity-bad-cursor",
    )
    yield op(
        "RefreshSession",
        lambda world: {"input": {**SCOPE, "refreshToken": world["refresh"]}},
        caller="none",
        keep={"token": "refreshSession.token", "refresh": "refreshSession.refreshToken"},
    )
    yield op(
        "RefreshSession",
        {"input": {**SCOPE, "refreshToken": "forged"}},
        caller="none",
        id="refresh-forged",
    )
    yield op("ApiKeys", {"product": "shop"})
    yield op("Products", caller="product", id="forbidden")
    yield op("Products", caller="bad", id="unauthenticated")


def endings() -> Iterator[Step]:
    """What ends sessions, keys and configs (after the bad requests, which use them)."""
    yield op("LogoutOtherSessions", caller="user")
    yield op("Logout", caller="user")
    yield op("CurrentSession", caller="user", id="current-session-after-logout")
    yield op(
        "CreateSessionWith",
        {"input": {**SESSION, "data": {"userId": "u2", "details": {"email": "u2@example.com"}}}},
        caller="product",
        id="session-to-revoke",
        keep={"revoked": "createSession.sessionId"},
    )
    yield op(
        "Entities",
        lambda world: {
            "representations": [
                {"__typename": "Session", "id": world["revoked"]},
                {"__typename": "Session", "id": "missing"},
                {"__typename": "SessionUser", "product": "shop", "env": "prd", "identifier": "u2"},
            ],
            "first": 5,
        },
        caller="product",
    )
    yield op(
        "Entities",
        {
            "representations": [
                {"__typename": "SessionUser", "product": "other", "env": "prd", "identifier": "u2"}
            ]
        },
        caller="product",
        id="entity-outside-the-key",
    )
    yield op(
        "RevokeSession",
        lambda world: {"input": {**SCOPE, "sessionId": world["revoked"]}},
        caller="product",
    )
    yield op(
        "RevokeSession",
        {"input": {**SCOPE, "identifier": "u1"}},
        caller="product",
        id="revoke-identifier",
    )
    yield op(
        "RevokeSession",
        lambda world: {"input": {**SCOPE, "sessionId": world["revoked"], "identifier": "u1"}},
        caller="product",
        id="revoke-both",
    )
    yield op("RevokeApiKey", lambda world: {"id": world["key-id"]})
    yield op("RevokeApiKey", {"id": "missing"}, id="revoke-missing-key")
    yield op("Products", caller="product", id="revoked-key")
    yield op("DeleteSessionConfig", {"input": {"product": "shop", "tag": "web"}})
    yield op(
        "DeleteSessionConfig",
        {"input": {"product": "shop", "tag": "web"}},
        id="delete-missing-config",
    )


def envelopes() -> Iterator[Step]:
    """Requests that are not one operation as JSON obeying the edge rule."""
    typename = {"query": "{ __typename }"}
    yield raw("batch", [typename, typename])
    yield raw("body-not-an-object", "{ __typename }")
    yield raw("query-null", {"query": None})
    yield raw("query-not-a-string", {"query": ["{ __typename }"]})
    yield raw("variables-not-an-object", {**typename, "variables": [1]})
    yield raw("operation-name-not-a-string", {**typename, "operationName": 5})
    yield raw("extensions-not-an-object", {**typename, "extensions": "x"})
    yield raw("operation-name-with-nul", {**typename, "operationName": "A\u0000"})
    yield raw("variable-name-with-nul", {**typename, "variables": {"a\u0000": 1}})


def steps(settings: Settings) -> list[Step]:
    """Every request, in order: a product's life, the bad requests of
    tests/api/test_error_codes.py for the mode, the envelopes, the endings."""
    bad = [
        raw(c.id, c.payload, caller=c.caller)
        if c.content is None
        else Step(c.id, lambda world: None, c.caller, content=c.content)
        for c in bad_requests(settings)
        if c.only.get("mode", settings.mode) == settings.mode
    ]
    return [*life(), *bad, *envelopes(), *endings()]


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str  # with volatile values replaced by placeholders


class Placeholders:
    """Each volatile value of one world, numbered by first appearance."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def collect(self, value: Any, key: str | None = None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                self.collect(v, k)
        elif isinstance(value, list):
            for item in value:
                self.collect(item, key)
        elif isinstance(value, str) and key in VOLATILE:
            self.seen.setdefault(value, f"<{key} {len(self.seen)}>")

    def replaced(self, text: str) -> str:
        for value, placeholder in self.seen.items():
            text = text.replace(json.dumps(value), json.dumps(placeholder))
        return text


def kept(world: str, step: Step, body: Any, path: str) -> Any:
    """The value at ``path`` in ``data``; the test fails if the step did not succeed."""
    value = body
    for part in ("data", *path.split(".")):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        pytest.fail(f"{world}: {step.id} answered without {path}: {body}")
    return value


class StrawberryView(GraphQL[Context, None]):
    """Strawberry's own ASGI view, with Tessera's context."""

    async def get_context(self, request: Any, response: Any) -> Context:
        assert isinstance(request, Request)
        return Context(request.app.state.tessera, request)


def stock_strawberry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Switch off the substitutes of schema/engine.py that work below the endpoint."""
    for graphql_type in schema.schema_converter.type_map.values():
        definition = graphql_type.definition
        if getattr(definition, "is_input", False) and hasattr(definition, "from_input"):
            monkeypatch.setattr(definition, "from_input", None)
    monkeypatch.setattr(
        CachedNameConverter, "apply_naming_config", NameConverter.apply_naming_config
    )
    monkeypatch.setattr(documents, "_prepare", documents._prepare.__wrapped__)


@asynccontextmanager
async def app_of(world: str, settings: Settings, clock: FrozenClock) -> AsyncIterator[Starlette]:
    tessera = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    app = create_app(settings, tessera=tessera)
    if world == "strawberry":
        [index] = [
            i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/graphql"
        ]
        view = StrawberryView(schema, graphql_ide=None, allow_queries_via_get=False)
        app.router.routes[index] = Route("/graphql", view)
    try:
        yield app
    finally:
        await tessera.close()


async def answers(
    world: str, settings: Settings, admin_key: str, accept: str = ACCEPT[JSON]
) -> list[Answer]:
    """Every step's answer in a fresh ``world``, each request sending ``accept``."""
    clock = FrozenClock()
    placeholders = Placeholders()
    keys: World = {"admin": admin_key, "bad": BAD_KEY}
    found: list[Answer] = []
    async with app_of(world, settings, clock) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as client:
            for step in steps(settings):
                clock.advance(1)
                key = keys.get("token" if step.caller == "user" else step.caller)
                headers = {"accept": accept}
                if key:
                    headers["authorization"] = f"Bearer {key}"
                if step.content is not None:
                    headers["content-type"] = "application/json"
                    response = await client.post("/graphql", content=step.content, headers=headers)
                else:
                    response = await client.post(
                        "/graphql", json=step.payload(keys), headers=headers
                    )
                content_type = response.headers.get("content-type", "")
                text = response.text
                if _media(content_type) in ACCEPT:
                    body = response.json()
                    placeholders.collect(body)
                    text = placeholders.replaced(text)
                    for name, path in step.keep.items():
                        keys[name] = kept(world, step, body, path)
                else:
                    assert not step.keep, (step.id, response.status_code, text)
                found.append(Answer(response.status_code, content_type, text))
    return found


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip()


def _json(answer: Answer) -> Any:
    return json.loads(answer.body) if _media(answer.content_type) in ACCEPT else None


def is_request_error(body: Any) -> bool:
    """Whether a GraphQL response reports a request error: nothing was executed."""
    if not isinstance(body, dict) or body.get("data") is not None or not body.get("errors"):
        return False
    return all(e["extensions"]["code"] in REQUEST_ERROR_CODES for e in body["errors"])


def differences(step: Step, tessera: Answer, strawberry: Answer, media: str = JSON) -> str | None:
    """What is wrong with Tessera's answer to ``step`` in ``media``, Strawberry's being
    ``strawberry`` (nothing: ``None``)."""
    content_type = f"{media}; charset=utf-8"
    if step.id in TESSERAS_OWN:
        body = _json(tessera) if tessera.status == 400 else None
        codes = [e["extensions"]["code"] for e in body["errors"]] if body else []
        own = codes == ["BAD_REQUEST"] and tessera.content_type == content_type
        return None if own else f"not Tessera's own 400: {tessera}"
    if strawberry.status == 400 and strawberry.content_type.startswith("text/plain"):
        error = {"message": strawberry.body, "extensions": {"code": "BAD_REQUEST"}}
        same = tessera.status == 400 and _json(tessera) == {"errors": [error]}
        same = same and tessera.content_type == content_type
        return None if same else f"{tessera} for Strawberry's 400 {strawberry}"
    expected = strawberry
    if strawberry.content_type == JSON:
        expected = replace(strawberry, content_type=content_type)
        body = _json(strawberry)
        if media == GRAPHQL_RESPONSE and is_request_error(body):
            del body["data"]
            expected = replace(expected, status=400, body=json.dumps(body, separators=(",", ":")))
    return None if tessera == expected else f"tessera {tessera}\nstrawberry {strawberry}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def fresh_url(database: str, path: Path) -> str:
    if database == "sqlite":
        return f"sqlite:///{path}"
    return await clean_postgres_database()


@pytest.mark.parametrize("mode", ["development", "production"])
async def test_endpoint_answers_as_strawberrys_view(
    database: str, mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = make_settings(tmp_path, mode=mode)
    assert common.admin_key is not None and common.master_key is not None
    admin_key = common.admin_key.get_secret_value()
    master_key = common.master_key.get_secret_value()

    async def world(name: str, media: str = JSON) -> tuple[Settings, list[Answer]]:
        url = await fresh_url(database, tmp_path / f"{name}.db")
        settings = make_settings(
            tmp_path / name, mode=mode, admin_key=admin_key, master_key=master_key, database_url=url
        )
        return settings, await answers(name, settings, admin_key, ACCEPT[media])

    settings, tessera = await world("tessera")
    _, tessera_graphql_response = await world("tessera-graphql-response", GRAPHQL_RESPONSE)
    with monkeypatch.context() as stock:
        stock_strawberry(stock)
        _, strawberry = await world("strawberry")

    run = steps(settings)
    assert len(tessera) == len(strawberry) == len(run) == len({s.id for s in run})
    for media, ours in ((JSON, tessera), (GRAPHQL_RESPONSE, tessera_graphql_response)):
        found = {
            step.id: problem
            for step, answer, theirs in zip(run, ours, strawberry, strict=True)
            if (problem := differences(step, answer, theirs, media)) is not None
        }
        shown = "\n\n".join(f"{k}:\n{v}" for k, v in list(found.items())[:10])
        assert found == {}, (
            f"in {media}, {len(found)} of {len(run)} answers differ; the first:\n\n{shown}"
        )
    # Under application/graphql-response+json the request errors were answered with 400s.
    refused = [a.status for a, s in zip(tessera_graphql_response, strawberry, strict=True)
               if is_request_error(_json(s))]  # fmt: skip
    assert refused and set(refused) == {400}


def test_differential_runs_every_documented_operation() -> None:
    used = {s.document for s in [*life(), *endings()]}

    assert used == {p.stem for p in OPERATIONS.glob("*.graphql")}
