"""The exported SDL, the operation documents and the error codes stay in step."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate

from schema import schema
from service import errors as svc
from tests.operations import OPERATIONS, operation

SDL = Path(__file__).resolve().parents[2] / "graphql" / "schema.graphql"


def test_schema_graphql_matches_code() -> None:
    assert SDL.read_text().strip() == schema.as_str().strip(), (
        "graphql/schema.graphql is stale: run "
        "`.venv/bin/python -c 'from schema import schema; print(schema.as_str())' "
        "> graphql/schema.graphql`"
    )


@pytest.mark.parametrize("path", sorted(OPERATIONS.glob("*.graphql")), ids=lambda p: p.stem)
def test_operation_document_is_valid(path: Path) -> None:
    document = parse(operation(path.stem))
    if all(d.kind == "fragment_definition" for d in document.definitions):
        return  # a fragment file is validated through the operations that import it
    assert validate(schema._schema, document) == []


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
