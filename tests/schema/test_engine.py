"""schema/engine.py holds every reach into Strawberry's internals, and what it hands
Strawberry is taken as it was meant (tests/web/test_differential.py compares whole
answers against Strawberry's own view)."""

from __future__ import annotations

import ast

import pytest
import strawberry.schema.schema as strawberry_schema
from graphql import parse
from strawberry.types.execution import ExecutionContext

from schema import schema
from schema.engine import REQUEST_ERRORS, UnknownOperation, http_refusal, use_document
from tests.conftest import Api
from tests.test_layering import ROOT, module_imports, source_files

ENGINE = "schema.engine"
# The one reach into the standard library; service/ must not import schema/.
STDLIB_REACH = "service.logs"
# Strawberry's public API as Tessera uses it. Importing anything else of Strawberry is a
# reach into its internals: it belongs in schema/engine.py.
PUBLIC_MODULES = frozenset(
    {
        "strawberry",
        "strawberry.extensions",
        "strawberry.permission",
        "strawberry.scalars",
        "strawberry.schema.config",
        "strawberry.schema.name_converter",
        "strawberry.types",
        "strawberry.types.base",
        "strawberry.types.execution",
        "strawberry.types.field",
        "strawberry.types.graphql",
        "strawberry.types.info",
        "strawberry.types.maybe",
    }
)
PUBLIC_PACKAGES = ("strawberry.federation.", "strawberry.relay.", "strawberry.subscriptions.")
# Public attributes that only Strawberry's own machinery is meant to set or read.
MACHINERY = frozenset({"graphql_document", "pre_execution_errors", "from_input"})
# Underscored, yet the public API of named tuples.
NAMEDTUPLE = frozenset({"_replace", "_asdict", "_fields", "_make"})


def _public(module: str) -> bool:
    return module in PUBLIC_MODULES or module.startswith(PUBLIC_PACKAGES)


def _reaches(module: str) -> list[str]:
    path = source_files()[module]
    found = [
        f"line {i.line}: imports {i.module}"
        for i in module_imports(module)
        if i.module.partition(".")[0] == "strawberry" and not _public(i.module)
    ]
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        own = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
        private = node.attr.startswith("_") and not node.attr.startswith("__")
        if (private and not own and node.attr not in NAMEDTUPLE) or node.attr in MACHINERY:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_engine_holds_every_reach_into_strawberry() -> None:
    found = {
        str(source_files()[m].relative_to(ROOT)): reaches
        for m in source_files()
        if m not in (ENGINE, STDLIB_REACH) and (reaches := _reaches(m))
    }

    assert found == {}
    assert _reaches(ENGINE)  # the checker sees the reaches where they are


def test_engine_stdlib_reach_is_only_logging() -> None:
    assert [reach.split(": ", 1)[1] for reach in _reaches(STDLIB_REACH)] == ["logging._srcfile"]


async def test_engine_strawberry_neither_parses_nor_validates_a_handed_document(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Strawberry's own parse and validation (it reads both from its module's globals);
    # the document cache's own are other references to the same functions.
    monkeypatch.setattr(strawberry_schema, "parse", pytest.fail)
    monkeypatch.setattr(strawberry_schema, "validate_document", pytest.fail)
    body = {"query": "query Handed { products { tag } }"}

    for _ in range(2):  # the first time prepared, the second from the cache
        response = await api.client.post(
            "/graphql", json=body, headers={"authorization": f"Bearer {api.key}"}
        )
        assert response.json() == {"data": {"products": []}}


async def test_engine_invalid_handed_document_is_answered_with_its_errors_alone(
    api: Api,
) -> None:
    body = await api.post("query Broken { products { nope } }")

    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    assert "data" not in body or body["data"] is None


@pytest.mark.parametrize("sent", [None, "B"])
def test_engine_handed_document_answers_the_operation_name_sent(sent: str | None) -> None:
    document = parse("query A { products { tag } } query B { products { tag } }")
    context = ExecutionContext(
        query=None, schema=schema, allowed_operations=(), provided_operation_name=sent
    )

    name = use_document(context, document, [])

    # Strawberry's own operation_name would be the first operation's, "A".
    assert name == sent
    assert context.graphql_document is document and context.pre_execution_errors == []


def test_engine_unknown_operation_is_strawberrys_refusal_of_it() -> None:
    several, unknown = UnknownOperation(None), UnknownOperation("B")

    assert isinstance(several, REQUEST_ERRORS) and isinstance(unknown, REQUEST_ERRORS)
    assert http_refusal(unknown, "POST") == (
        "Unknown or ambiguous operation",
        'Unknown operation named "B".',
    )
    assert "operationName" in http_refusal(several, "POST")[1]
