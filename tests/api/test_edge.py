"""Every string a caller sends is checked once, at the edge, before anything else runs:
bad input is ``INVALID_INPUT`` naming its path — the ``InvalidInputError``
of a field's result union, or a top-level error on a field without one — and a 400 for
the HTTP envelope; never a 500, on SQLite and PostgreSQL alike.

The argument paths are derived from the exported schema, so an argument added later is
covered without touching this file (and fails here until the edge checks it)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    build_schema,
)

from schema import schema
from tests.conftest import Api
from tests.operations import operation

# The subgraph SDL applies federation's directives without defining them.
SDL = build_schema(schema.as_str(), assume_valid_sdl=True)
SCOPE = {"product": "shop", "env": "prd", "tag": "web"}

# Tokens are the one kind of string the edge leaves to its own check, which answers a bad
# one as a bad token (verifySession: `valid: false`), never as INVALID_INPUT.
CREDENTIALS = {("verifySession", "token"), ("refreshSession", "refreshToken")}


@dataclass(frozen=True)
class StringPath:
    """One place in the schema where a caller's string (or JSON) enters."""

    operation: str  # "query" or "mutation"
    field: str
    argument: str
    keys: tuple[str | int, ...]  # below the argument: input fields and list indices
    scalar: str  # "String" or "JSON"

    @property
    def reported(self) -> str:
        """The path errors name: an input object's fields by their own path (as
        ``data.userId``), any other argument by its name."""
        return ".".join(map(str, self.keys)) if self.keys else self.argument

    @property
    def root(self) -> GraphQLField:
        root_type = SDL.query_type if self.operation == "query" else SDL.mutation_type
        assert root_type is not None
        field: GraphQLField = root_type.fields[self.field]
        return field

    @property
    def has_invalid_input_union(self) -> bool:
        return "InvalidInputError" in _possible_types(self.root)

    def __str__(self) -> str:
        return f"{self.field}.{self.argument}" + "".join(f".{k}" for k in self.keys)


def _unwrap(type_: Any) -> Any:
    return _unwrap(type_.of_type) if isinstance(type_, GraphQLNonNull | GraphQLList) else type_


def _possible_types(field: GraphQLField) -> set[str]:
    named = _unwrap(field.type)
    return {t.name for t in named.types} if isinstance(named, GraphQLUnionType) else set()


def _leaves(type_: GraphQLInputType, keys: tuple[str | int, ...]) -> Iterator[tuple[Any, ...]]:
    if isinstance(type_, GraphQLNonNull):
        yield from _leaves(type_.of_type, keys)
    elif isinstance(type_, GraphQLList):
        yield from _leaves(type_.of_type, (*keys, 0))
    elif isinstance(type_, GraphQLInputObjectType):
        for name, field in type_.fields.items():
            yield from _leaves(field.type, (*keys, name))
    elif isinstance(type_, GraphQLScalarType) and type_.name in ("String", "ID", "JSON"):
        yield keys, "String" if type_.name == "ID" else type_.name


def string_paths() -> list[StringPath]:
    paths = []
    for operation_name, root_type in (("query", SDL.query_type), ("mutation", SDL.mutation_type)):
        assert root_type is not None
        for field_name, field in root_type.fields.items():
            for argument_name, argument in field.args.items():
                for keys, scalar in _leaves(argument.type, ()):
                    path = StringPath(operation_name, field_name, argument_name, keys, scalar)
                    paths.append(path)
    return paths


PATHS = string_paths()
STRINGS = [p for p in PATHS if p.scalar == "String" and (p.field, p.reported) not in CREDENTIALS]
JSONS = [p for p in PATHS if p.scalar == "JSON"]
TOKENS = [p for p in PATHS if (p.field, p.reported) in CREDENTIALS]


def test_edge_paths_are_derived_from_the_whole_schema() -> None:
    named = {str(p) for p in PATHS}

    # The thirteen and more: every operation, end-user ones included.
    assert len(STRINGS) >= 40
    assert {
        "product.tag",
        "sessionConfig.product",
        "refreshSession.input.product",
        "activeSessions.after",
        "mySessions.after",
        "createSession.input.data.userId",
        "createProduct.input.envs.0",
        "revokeApiKey.id",  # an ID: a string on its way in
        "revokeSession.input.target.sessionId",
    } <= named
    assert {str(p) for p in JSONS} == {
        "createSession.input.data.details",
        "createSessionConfig.input.schema",
        "updateSessionConfig.input.schema",
        "registerTrustedDocuments.manifest",
    }
    assert {(p.field, p.reported) for p in TOKENS} == CREDENTIALS


def test_edge_strings_enter_through_root_fields_only() -> None:
    # The edge guards the root fields' arguments (schema/__init__.py); a nested field or
    # a subscription taking a string needs guarding too, and covering: the one there is,
    # SessionUser.sessions (reached through `_entities`), is covered in
    # tests/api/test_entities.py.
    roots = {SDL.query_type, SDL.mutation_type}
    nested = [
        f"{type_.name}.{name}"
        for type_ in SDL.type_map.values()
        if isinstance(type_, GraphQLObjectType)
        and type_ not in roots
        and not type_.name.startswith("__")
        for name, field in type_.fields.items()
        if any(True for argument in field.args.values() for _ in _leaves(argument.type, ()))
    ]

    assert nested == ["SessionUser.sessions"]
    assert SDL.subscription_type is None


# Request building ---------------------------------------------------------------------


def _benign(type_: Any) -> Any:
    """A value of ``type_`` the edge accepts; input objects with every field set, so that
    every path of the argument is in play."""
    if isinstance(type_, GraphQLNonNull):
        return _benign(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [_benign(type_.of_type)]
    if isinstance(type_, GraphQLInputObjectType):
        values = {name: _benign(field.type) for name, field in type_.fields.items()}
        # A @oneOf input takes exactly one field (the one a path is at: ``_arguments``).
        return dict(list(values.items())[:1]) if type_.is_one_of else values
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    return {
        "String": "x",
        "ID": "x",
        "Int": 1,
        "Boolean": False,
        "JSON": {},
        "DateTime": "2027-01-15T08:00:00.000Z",
    }[type_.name]


def _arguments(path: StringPath, bad: Any) -> dict[str, Any]:
    """Every argument of the field with a benign value, and ``bad`` at ``path``."""
    values = {name: _benign(argument.type) for name, argument in path.root.args.items()}
    if not path.keys:
        values[path.argument] = bad
        return values
    target = values[path.argument]
    type_ = _unwrap(path.root.args[path.argument].type)
    for i, key in enumerate(path.keys):
        if isinstance(key, str) and isinstance(type_, GraphQLInputObjectType):
            if type_.is_one_of:
                target.clear()  # the one field it gives is the path's
            type_ = _unwrap(type_.fields[key].type)
        if i == len(path.keys) - 1:
            target[key] = bad
        else:
            target = target[key]
    return values


def _selection(path: StringPath) -> str:
    if path.has_invalid_input_union:
        return "{ __typename ... on InvalidInputError { field fieldErrors { field } } }"
    return "{ __typename }"


def _with_variables(path: StringPath) -> str:
    definitions = ", ".join(f"${n}: {a.type}" for n, a in path.root.args.items())
    arguments = ", ".join(f"{n}: ${n}" for n in path.root.args)
    return (
        f"{path.operation} Edge({definitions}) {{ {path.field}({arguments}) {_selection(path)} }}"
    )


def _literal(value: Any, type_: Any) -> str:
    """``value`` as a GraphQL literal of ``type_``. JSON's string escapes are GraphQL's."""
    if isinstance(type_, GraphQLNonNull):
        return _literal(value, type_.of_type)
    if isinstance(type_, GraphQLList):
        return "[" + ", ".join(_literal(v, type_.of_type) for v in value) + "]"
    if isinstance(type_, GraphQLInputObjectType):
        items = (f"{k}: {_literal(v, type_.fields[k].type)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(type_, GraphQLEnumType):
        return str(value)
    if isinstance(value, dict):  # JSON
        return "{" + ", ".join(f"{k}: {_literal(v, type_)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _inline(path: StringPath, values: dict[str, Any]) -> str:
    arguments = ", ".join(f"{n}: {_literal(values[n], a.type)}" for n, a in path.root.args.items())
    return f"{path.operation} {{ {path.field}({arguments}) {_selection(path)} }}"


async def send(api: Api, document: str, variables: Any = None, *, key: Any = ...) -> Any:
    """POST the request as ASCII JSON, so lone surrogates travel as ``\\udXXX`` escapes
    and NaN/Infinity as the bare words some clients send; a 500 fails here."""
    key = api.key if key is ... else key
    body = json.dumps({"query": document, "variables": variables}, ensure_ascii=True)
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    response = await api.client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def refusal_problem(body: Any, path: StringPath, where: str) -> str | None:
    """What keeps ``body`` from being INVALID_INPUT at ``where`` (in the result union
    when the field has one, else as the one top-level error), or ``None``."""
    if "INTERNAL_SERVER_ERROR" in json.dumps(body):
        return f"{path}: {body}"
    if path.has_invalid_input_union:
        result = (body.get("data") or {}).get(path.field) or {}
        if "errors" in body or result.get("__typename") != "InvalidInputError":
            return f"{path}: {body}"
        if result["field"] != where or where not in [e["field"] for e in result["fieldErrors"]]:
            return f"{path}: {result} does not name {where}"
        return None
    codes = [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]
    return None if codes == [("INVALID_INPUT", where)] else f"{path}: {body}"


# Strings: every path, as variables and as inline literals -----------------------------
# One test per kind of bad value, each sending it to every path: a test per path would
# spend its time starting services rather than sending requests.

BAD_STRINGS = {
    "lone-surrogate": "a\ud800b",
    "lone-low-surrogate": "\udfff",
    "nul": "a\x00b",
    "c1-control": "a\x85b",
    "too-long": "x" * 2001,
}


@pytest.mark.parametrize("bad", BAD_STRINGS.values(), ids=BAD_STRINGS.keys())
async def test_edge_bad_string_variable_is_invalid_input_on_every_path(api: Api, bad: str) -> None:
    problems = []
    for path in STRINGS:
        body = await send(api, _with_variables(path), _arguments(path, bad))
        problems.append(refusal_problem(body, path, path.reported))

    assert [p for p in problems if p] == []


async def test_edge_bad_string_literal_is_invalid_input_on_every_path(api: Api) -> None:
    # GraphQL's own escapes: "\u0000" is a NUL by the time the field sees it.
    problems = []
    for path in STRINGS:
        for bad in ("a\x00b", "a\x7fb"):
            body = await send(api, _inline(path, _arguments(path, bad)))
            problems.append(refusal_problem(body, path, path.reported))

    assert [p for p in problems if p] == []


async def test_edge_bad_string_without_credential_is_invalid_input_on_every_path(
    api: Api,
) -> None:
    # Refused before authentication: the same answer for a key-less caller, who learns
    # nothing from it that depends on stored state.
    problems = []
    for path in STRINGS:
        body = await send(api, _with_variables(path), _arguments(path, "\ud800"), key=None)
        problems.append(refusal_problem(body, path, path.reported))

    assert [p for p in problems if p] == []


async def test_edge_bad_token_is_a_bad_token_not_invalid_input(api: Api) -> None:
    for path in TOKENS:
        for bad in BAD_STRINGS.values():
            body = await send(api, _with_variables(path), _arguments(path, bad))

            assert "errors" not in body, (path, body)
            result = body["data"][path.field]["__typename"]
            assert result in ("SessionVerification", "SessionError"), (path, body)


async def test_edge_lone_surrogate_escape_in_document_is_a_parse_error(api: Api) -> None:
    # (A raw one in the query text is refused with the envelope: a 400.)
    for literal in ('"\\ud800"', '"\\udfff"', '"\\u{D800}"', '"\\ude00\\ud83d"'):
        body = await send(api, f"{{ product(tag: {literal}) {{ tag }} }}")

        assert body["data"] is None
        assert "Syntax Error" in body["errors"][0]["message"]


async def test_edge_line_breaks_are_text_not_names(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    config = {"product": "shop", "tag": "web", "name": "Web"}

    refused = await api.op("CreateSessionConfig", input={**config, "name": "We\nb"})
    created = await api.op(
        "CreateSessionConfig", input={**config, "description": "line one\n\tline two\r\n"}
    )

    assert refused["createSessionConfig"]["field"] == "name"
    assert created["createSessionConfig"]["description"] == "line one\n\tline two\r\n"


async def test_edge_every_problem_is_listed(api: Api) -> None:
    details = {"a": [1, float("nan")], "\ud800": 1}
    data = {"userId": "u" * 300, "details": details}
    input = {**SCOPE, "product": "\ud800", "tag": "\x00", "data": data}

    result = (await send(api, operation("CreateSessionWith"), {"input": input}))["data"]

    assert [e["field"] for e in result["createSession"]["fieldErrors"]] == [
        "product",
        "tag",
        "data.userId",
        "data.details",  # a key that is not valid Unicode
        "data.details.a.1",
    ]


async def test_edge_valid_unicode_round_trips(api: Api) -> None:
    user = "zoë-😀-" + "字" * 200  # multi-byte, and beyond the Basic Multilingual Plane
    details = {"😀": ["\u2028", "\t\n", "\x00"], "name": "Zoë"}  # JSON strings are content

    issued = await api.create_session(**SCOPE, data={"userId": user, "details": details})
    verified = await api.verify(**SCOPE, token=issued["token"])

    assert verified["data"] == {"userId": user, "details": details}


# JSON: keys and strings at any depth ----------------------------------------------------

BAD_JSON = {
    "surrogate-value": ({"k": "\ud800"}, ".k"),
    "surrogate-key": ({"ok": {"\ud800": 1}}, ".ok"),
    "deep-surrogate": ({"k": [{"a": ["x", "\udfff"]}]}, ".k.0.a.1"),
}


async def test_edge_bad_json_is_invalid_input_at_its_path(api: Api) -> None:
    problems = []
    for path in JSONS:
        for bad, below in BAD_JSON.values():
            body = await send(api, _with_variables(path), _arguments(path, bad))
            problems.append(refusal_problem(body, path, path.reported + below))

    assert [p for p in problems if p] == []


# Cursors ------------------------------------------------------------------------------


def b64(raw: bytes | str) -> str:
    data = raw.encode() if isinstance(raw, str) else raw
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


BAD_CURSORS = {
    "surrogate-id": b64('[1,"\\ud800"]'),
    "huge-number": b64("[" + "9" * 400 + ',"x"]'),
    "huge-float": b64('[1e400,"abc"]'),
    "nan": b64('[NaN,"abc"]'),
    "negative": b64('[-1,"abc"]'),
    "bool": b64('[true,"abc"]'),
    "string-time": b64('["1","abc"]'),
    "number-id": b64("[1,2]"),
    "foreign-id": b64('[1,"not an id!"]'),
    "object": b64('{"a":1}'),
    "short-list": b64("[1]"),
    "long-list": b64('[1,"abc","def"]'),
    "null": b64("null"),
    "bad-utf8": b64(b'[1,"\xff\xfe"]'),
    "deep": b64("[" * 60 + "]" * 60),
    "not-base64": "%%%",
    "not-json": b64("not a cursor"),
    "empty": "",
    "non-ascii": "Zoë",
}


async def test_edge_bad_cursor_is_invalid_input_for_products_and_end_users(api: Api) -> None:
    issued = await api.create_session(**SCOPE, data={"userId": "u", "details": {}})
    answers = {}

    for name, cursor in BAD_CURSORS.items():
        listed = await send(api, operation("ActiveSessions"), {**SCOPE, "after": cursor})
        mine = await send(api, operation("MySessions"), {"after": cursor}, key=issued["token"])
        answers[name] = [
            [(e["extensions"]["code"], e["extensions"].get("field")) for e in body["errors"]]
            for body in (listed, mine)
        ]

    refused = [[("INVALID_INPUT", "after")]] * 2
    assert {name: a for name, a in answers.items() if a != refused} == {}


async def test_edge_cursor_from_the_listing_still_pages(api: Api) -> None:
    for user in ("a", "b", "c"):
        await api.create_session(**SCOPE, data={"userId": user, "details": {}})

    first = (await api.op("ActiveSessions", **SCOPE, first=2))["activeSessions"]
    rest = await api.op("ActiveSessions", **SCOPE, after=first["pageInfo"]["endCursor"])

    assert len(first["edges"]) == 2
    assert len(rest["activeSessions"]["edges"]) == 1


# The HTTP envelope and the Authorization header ------------------------------------------

BAD_ENVELOPES: dict[str, dict[str, Any]] = {
    "operation-name-surrogate": {"operationName": "\ud800"},
    "operation-name-nul": {"operationName": "A\x00"},
    "operation-name-too-long": {"operationName": "A" * 300},
    "query-surrogate": {"query": "query A { products { tag } } # \ud800"},
    "extensions-value": {"extensions": {"persistedQuery": {"sha256Hash": "\ud800"}}},
    "extensions-key": {"extensions": {"\udfff": 1}},
    "extensions-nan": {"extensions": {"n": float("nan")}},
    "variable-name": {"variables": {"\ud800": 1}},
}


async def test_edge_bad_envelope_is_a_bad_request(api: Api) -> None:
    for name, envelope in BAD_ENVELOPES.items():
        request = {"query": "query A { products { tag } }", **envelope}
        response = await api.client.post(
            "/graphql",
            content=json.dumps(request, ensure_ascii=True),
            headers={"content-type": "application/json", "authorization": f"Bearer {api.key}"},
        )

        assert response.status_code == 400, name
        # Like the envelope's other refusals: one error coded BAD_REQUEST, fixed text,
        # no echo of the value, no data.
        body = response.json()
        assert "data" not in body, name
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST", name
        assert error["message"].startswith("The request is refused: "), name
        assert "\\ud800" not in response.text and "AAAA" not in response.text, name


@pytest.mark.parametrize(
    "header",
    [b"Bearer tsk_\xe9\xe9\xe9", b"Bearer web:a.b.c.d.\xff", b"Bearer " + b"a" * 20_000],
    ids=["latin-1-key", "latin-1-token", "oversize"],
)
async def test_edge_strange_authorization_is_unauthenticated(api: Api, header: bytes) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ products { tag } }"},
        headers=[(b"authorization", header)],
    )

    assert response.status_code == 200
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["UNAUTHENTICATED"]
