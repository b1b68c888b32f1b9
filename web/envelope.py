"""The request envelope: one GraphQL operation as a JSON object, shaped as GraphQL over
HTTP says, its own fields checked by the edge rule (service/validation.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.errors import FieldError
from service.validation import Kind, json_problems, string_problem


class BadRequest(Exception):
    """The request is not one GraphQL operation as JSON; answered with a 400
    (``web.refusals.bad_request``)."""


@dataclass(slots=True)
class Operation:
    """What a request asks to run."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None
    # A persisted document's id (schema/persisted.py reads it and
    # ``extensions.persistedQuery``); the query may then be absent.
    document_id: Any = None


def operation(body: bytes) -> Operation:
    """The operation a POST body carries; ``BadRequest`` if it carries none."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise BadRequest("Unable to parse request body as JSON") from None
    if isinstance(data, list):
        raise BadRequest("Batched operations are not supported; send one per request")
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object")
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    document_id = data.get("documentId")
    named = document_id is not None or (
        isinstance(extensions, dict) and "persistedQuery" in extensions
    )
    if not isinstance(query, str) and not (query is None and named):
        raise BadRequest("The request's `query` must be a string")
    if not isinstance(variables, dict | None):
        raise BadRequest("The request's `variables` must be an object or null")
    if not isinstance(name, str | None):
        raise BadRequest("The request's `operationName` must be a string or null")
    if not isinstance(extensions, dict | None):
        raise BadRequest("The request's `extensions` must be an object or null")
    problems = _envelope_problems(query, name, variables, extensions)
    if problems:
        # Fixed text and the path only: the value may be anything, a secret included.
        raise BadRequest(f"The request is refused: {problems[0].message}")
    return Operation(query, variables, name, extensions, document_id)


def _envelope_problems(
    query: str | None, name: str | None, variables: dict[str, Any] | None, extensions: Any
) -> list[FieldError]:
    """What the edge rule refuses in the request's own fields. The variables' values are
    the fields' arguments, checked as such (schema/edge.py) so that errors name them."""
    problems = json_problems(query, "query")
    if name is not None and (problem := string_problem(name, Kind.NAME)) is not None:
        problems.append(FieldError("operationName", f"operationName {problem}"))
    for variable in variables or ():
        if (problem := string_problem(variable, Kind.NAME)) is not None:
            problems.append(FieldError("variables", f"a name in variables {problem}"))
    return problems + json_problems(extensions, "extensions")
