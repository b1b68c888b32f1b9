"""Every top-level error carries an ``extensions.code`` the schema enumerates, and a
refused document is answered with one error, whatever the mode and the caller.

The bad requests are generated: each documented operation broken in each way a client
can break it (cut short, an unknown field, argument or type, arguments left out,
variables missing or of the wrong type, several operations and none named, an unknown
operation name), plus every document limit just past its setting and introspection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLNonNull,
    IntValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    VariableDefinitionNode,
    VariableNode,
    get_introspection_query,
    parse,
    print_ast,
)

from schema import schema
from server import create_app
from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import OPERATIONS, operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def enumerated(name: str) -> set[str]:
    """The values of one of the schema's enums, as clients see them."""
    enum = schema._schema.type_map[name]
    assert isinstance(enum, GraphQLEnumType)
    return set(enum.values)


# What a top-level error may carry: a request code, or the code of an expected error of
# a field without an error union.
CODES = enumerated("RequestErrorCode") | enumerated("ErrorCode")


@dataclass
class Case:
    """One bad request and what answers it: the HTTP status, and the code every error
    has. ``refusal``: exactly one error."""

    id: str
    payload: dict[str, Any]
    code: str
    status: int = 200
    refusal: bool = False
    caller: str = "none"
    only: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # a raw body instead of ``payload`` as JSON


def _documents() -> Iterator[tuple[str, DocumentNode, OperationDefinitionNode]]:
    for path in sorted(OPERATIONS.glob("*.graphql")):
        document = parse(operation(path.stem))
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if ops:
            yield path.stem, document, ops[0]


def _root_field(op: OperationDefinitionNode) -> FieldNode:
    root = op.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    return root


def _required_arguments(op: OperationDefinitionNode, root: FieldNode) -> bool:
    parent = schema._schema.get_root_type(op.operation)
    assert parent is not None
    definition = parent.fields[root.name.value]
    return any(
        isinstance(a.type, GraphQLNonNull) and a.default_value is None
        for a in definition.args.values()
    )


def _edited(document: DocumentNode, edit: Callable[[OperationDefinitionNode], Any]) -> str:
    """``document`` printed with its first operation replaced by ``edit`` of it (nodes
    are frozen)."""
    op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    definitions = tuple(edit(d) if d is op else d for d in document.definitions)
    return print_ast(replace(document, definitions=definitions))


def _with_root(op: OperationDefinitionNode, **changes: Any) -> OperationDefinitionNode:
    """``op`` with ``changes`` made to its first root field."""
    first, *rest = op.selection_set.selections
    selections = (replace(first, **changes), *rest)
    return replace(op, selection_set=replace(op.selection_set, selections=selections))


def _unparsable(text: str) -> bool:
    try:
        parse(text)
    except GraphQLError:
        return True
    return False


def broken_operations() -> Iterator[Case]:
    """Each documented operation, broken each way that applies to it."""
    for name, document, op in _documents():
        text = print_ast(document)
        root = _root_field(op)
        variables = op.variable_definitions or ()

        cut = text[: len(text) // 2]
        if _unparsable(cut):
            yield Case(f"{name}-cut-short", {"query": cut}, "GRAPHQL_PARSE_FAILED")

        def unknown_field(o: OperationDefinitionNode) -> OperationDefinitionNode:
            selections = (*o.selection_set.selections, FieldNode(name=NameNode(value="nope")))
            return replace(o, selection_set=replace(o.selection_set, selections=selections))

        yield Case(
            f"{name}-unknown-field",
            {"query": _edited(document, unknown_field)},
            "GRAPHQL_VALIDATION_FAILED",
        )

        def unknown_argument(o: OperationDefinitionNode) -> OperationDefinitionNode:
            argument = ArgumentNode(name=NameNode(value="nope"), value=IntValueNode(value="1"))
            return _with_root(o, arguments=(*(_root_field(o).arguments or ()), argument))

        yield Case(
            f"{name}-unknown-argument",
            {"query": _edited(document, unknown_argument)},
            "GRAPHQL_VALIDATION_FAILED",
        )

        def unknown_type(o: OperationDefinitionNode) -> OperationDefinitionNode:
            variable = VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value="notUsed")),
                type=NonNullTypeNode(type=NamedTypeNode(name=NameNode(value="NotAType"))),
            )
            return replace(o, variable_definitions=(*(o.variable_definitions or ()), variable))

        yield Case(
            f"{name}-unknown-type",
            {"query": _edited(document, unknown_type)},
            "GRAPHQL_VALIDATION_FAILED",
        )

        if _required_arguments(op, root):

            def no_arguments(o: OperationDefinitionNode) -> OperationDefinitionNode:
                return replace(_with_root(o, arguments=()), variable_definitions=())

            yield Case(
                f"{name}-missing-arguments",
                {"query": _edited(document, no_arguments)},
                "GRAPHQL_VALIDATION_FAILED",
            )

        if any(isinstance(v.type, NonNullTypeNode) for v in variables):
            yield Case(
                f"{name}-missing-variables", {"query": text, "variables": {}}, "BAD_USER_INPUT"
            )
        if variables:
            wrong = {v.variable.name.value: _wrong_value(v) for v in variables}
            yield Case(
                f"{name}-variables-of-wrong-type",
                {"query": text, "variables": wrong},
                "BAD_USER_INPUT",
            )

        def renamed(o: OperationDefinitionNode) -> OperationDefinitionNode:
            assert o.name is not None
            return replace(o, name=NameNode(value=o.name.value + "Again"))

        several = text + "\n" + _edited(document, renamed)
        yield Case(
            f"{name}-several-none-named",
            {"query": several},
            "BAD_REQUEST",
            status=400,
            refusal=True,
        )
        yield Case(
            f"{name}-unknown-operation-name",
            {"query": text, "operationName": "NotAnOperation"},
            "BAD_REQUEST",
            status=400,
            refusal=True,
        )


def _wrong_value(variable: VariableDefinitionNode) -> Any:
    """A value the variable's type refuses: a list of lists fits none of the operations'
    types but JSON, which takes any value; null does not fit JSON!."""
    type_ = variable.type
    if (
        isinstance(type_, NonNullTypeNode)
        and isinstance(type_.type, NamedTypeNode)
        and type_.type.name.value == "JSON"
    ):
        return None
    return [[1]]


def limits(settings: Settings) -> Iterator[Case]:
    """Each document limit, one past its setting."""
    depth = settings.max_query_depth + 1
    documents = {
        "depth": "{ " + "a { " * depth + "b" + " }" * depth + " }",
        "aliases": "{ "
        + " ".join(f"a{i}: __typename" for i in range(settings.max_aliases + 1))
        + " }",
        "directives": "{ " + "__typename @include(if: true) " * (settings.max_directives + 1) + "}",
        "directives-on-one-field": "{ __typename "
        + "@skip(if: false) " * (settings.max_directives + 1)
        + "}",
        "tokens": "{ " + "__typename " * settings.max_query_tokens + "}",
        "fields": "{ " + "__typename " * (settings.max_fields + 1) + "}",
    }
    for name, document in documents.items():
        for caller in ("none", "admin"):
            yield Case(
                f"limit-{name}-{caller}",
                {"query": document},
                "BAD_REQUEST",
                refusal=True,
                caller=caller,
            )


def requests(settings: Settings) -> Iterator[Case]:
    yield from broken_operations()
    yield from limits(settings)
    yield Case("not-graphql", {"query": "tessera"}, "GRAPHQL_PARSE_FAILED")
    yield Case("no-query", {"query": ""}, "BAD_REQUEST", status=400, refusal=True)
    yield Case("not-json", {}, "BAD_REQUEST", status=400, refusal=True, content=b'{"query": ')
    yield Case(
        "subscription", {"query": "subscription S { x }"}, "BAD_REQUEST", status=400, refusal=True
    )
    yield Case(
        "anonymous-and-named",
        {"query": "{ __typename } query Named { __typename }"},
        "BAD_REQUEST",
        status=400,
        refusal=True,
    )
    for name, document in {
        "introspection": get_introspection_query(),
        "schema": "{ __schema { types { name } } }",
        "type": '{ __type(name: "Query") { name fields { name } } }',
        "introspection-with-unknown-fields": "{ __schema { nope } products { nope } }",
    }.items():
        yield Case(
            f"{name}-production-without-key",
            {"query": document},
            "GRAPHQL_VALIDATION_FAILED",
            refusal=True,
            only={"mode": "production"},
        )
    yield Case(
        "bad-credential",
        {"query": operation("Products")},
        "UNAUTHENTICATED",
        caller="bad",
    )
    yield Case("product-key-on-admin-field", {"query": operation("Products")}, "FORBIDDEN",
               caller="product")  # fmt: skip
    yield Case(
        "first-out-of-range",
        {"query": operation("ActiveSessions"), "variables": {**SCOPE, "first": 500}},
        "INVALID_INPUT",
        caller="admin",
    )


@dataclass
class Target:
    mode: str
    settings: Settings
    client: httpx.AsyncClient
    keys: dict[str, str]

    async def send(self, case: Case) -> httpx.Response:
        key = self.keys.get(case.caller)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        if case.content is not None:
            headers["content-type"] = "application/json"
            return await self.client.post("/graphql", content=case.content, headers=headers)
        return await self.client.post("/graphql", json=case.payload, headers=headers)


@pytest.fixture(params=["development", "production"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    settings = make_settings(tmp_path, mode=request.param)
    assert settings.admin_key is not None
    service = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    app = create_app(settings, tessera=service)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://tessera.test"
        ) as client:
            admin = settings.admin_key.get_secret_value()
            target = Target(
                request.param, settings, client, {"admin": admin, "bad": "tsk_" + "x" * 43}
            )
            created = await client.post(
                "/graphql",
                json={
                    "query": operation("CreateProduct"),
                    "variables": {"input": {"tag": "shop", "name": "Shop"}},
                },
                headers={"authorization": f"Bearer {admin}"},
            )
            assert created.json()["data"]["createProduct"]["tag"] == "shop"
            key = await client.post(
                "/graphql",
                json={
                    "query": operation("CreateApiKey"),
                    "variables": {"input": {"product": "shop", "name": "backend"}},
                },
                headers={"authorization": f"Bearer {admin}"},
            )
            target.keys["product"] = key.json()["data"]["createApiKey"]["key"]
            yield target
    finally:
        await service.close()


def _problems(case: Case, response: httpx.Response) -> list[str]:
    """What is wrong with the answer to ``case`` (nothing: an empty list)."""
    if response.status_code != case.status:
        return [f"status {response.status_code}, expected {case.status}: {response.text[:200]}"]
    try:
        errors = response.json().get("errors")
    except ValueError:
        return [f"not a GraphQL response: {response.text[:200]}"]
    if not errors:
        return [f"no errors: {response.text[:200]}"]
    problems = []
    found = [(e.get("extensions") or {}).get("code") for e in errors]
    if any(code not in CODES for code in found):
        problems.append(f"codes {found} not all enumerated")
    if set(found) != {case.code}:
        problems.append(f"codes {found}, expected {case.code}")
    if case.refusal and len(errors) != 1:
        problems.append(f"{len(errors)} errors for one refusal: {[e['message'] for e in errors]}")
    return problems


async def test_every_top_level_error_has_an_enumerated_code(target: Target) -> None:
    cases = [c for c in requests(target.settings) if c.only.get("mode", target.mode) == target.mode]
    failures = {}
    for case in cases:
        problems = _problems(case, await target.send(case))
        if problems:
            failures[case.id] = problems

    assert len(cases) > 150  # the generator covers every documented operation
    assert failures == {}, json.dumps(failures, indent=1)


@pytest.mark.parametrize(
    "document",
    [get_introspection_query(), "{ __schema { types { name } } }"],
    ids=["standard", "small"],
)
async def test_introspection_allowed_answers_without_errors(target: Target, document: str) -> None:
    # The other side of the refusals above: in development anyone, in production an
    # admin, introspects the schema.
    case = Case("introspection", {"query": document}, "", caller="admin")

    body = (await target.send(case)).json()

    assert "errors" not in body, body
    assert "RequestErrorCode" in json.dumps(body["data"])
