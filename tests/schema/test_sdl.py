"""The exported SDL, the operation documents and the error codes stay in step."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    FragmentDefinitionNode,
    GraphQLInputObjectType,
    OperationDefinitionNode,
    parse,
    print_ast,
    validate,
)

from schema import schema
from schema.edge import EDGE
from schema.persisted import CREDENTIALS
from service import errors as svc
from service.validation import Kind
from tests.operations import OPERATIONS

SDL = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"


def test_schema_graphql_matches_code() -> None:
    assert SDL.read_text().strip() == schema.as_str().strip(), (
        "graphql/schema.graphql is stale: run "
        "`.venv/bin/python -c 'from schema import schema; print(schema.as_str())' "
        "> graphql/schema.graphql`"
    )


DOCUMENTS = sorted(OPERATIONS.glob("*.graphql"))


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_operation_document_runs_as_written(path: Path) -> None:
    # The file's own text, no preprocessing: pasted into GraphiQL or curl it must run, so
    # it holds one operation named after the file and every fragment it spreads.
    document = parse(path.read_text())

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert [o.name.value for o in operations if o.name] == [path.stem]
    assert validate(schema._schema, document) == []


def test_fragment_repeated_across_documents_is_the_same_everywhere() -> None:
    copies: dict[str, dict[str, list[str]]] = {}
    for path in DOCUMENTS:
        for definition in parse(path.read_text()).definitions:
            if isinstance(definition, FragmentDefinitionNode):
                text = print_ast(definition)
                copies.setdefault(definition.name.value, {}).setdefault(text, []).append(path.stem)

    assert {name: list(texts.values()) for name, texts in copies.items() if len(texts) > 1} == {}


def _subclasses(cls: type[svc.TesseraError]) -> list[type[svc.TesseraError]]:
    return [cls, *(s for c in cls.__subclasses__() for s in _subclasses(c))]


# Every class with a code, and every class without subclasses (one raised, which must
# have a code): the abstract bases declare the kind of their subclasses' codes only.
RAISED = [c for c in _subclasses(svc.TesseraError) if hasattr(c, "code") or not c.__subclasses__()]


@pytest.mark.parametrize("error", RAISED, ids=lambda c: c.__name__)
def test_service_error_has_a_code_of_its_kind(error: type[svc.TesseraError]) -> None:
    # Codes are members of the enumerations the schema exposes, so none can be missing
    # from it; a class without one would fail only when raised.
    kind = svc.RequestErrorCode if issubclass(error, svc.AccessError) else svc.ErrorCode

    assert isinstance(error.code, kind)


def test_persisted_documents_know_every_credential_field() -> None:
    # A document with one of these written into it is never stored (schema/persisted.py).
    credentials = {
        schema.config.name_converter.get_graphql_name(field)
        for type_ in schema._schema.type_map.values()
        if isinstance(type_, GraphQLInputObjectType)
        for field in type_.extensions["strawberry-definition"].fields
        if field.metadata.get(EDGE) is Kind.CREDENTIAL
    }

    assert credentials == CREDENTIALS
