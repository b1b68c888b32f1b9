"""Every place Tessera reaches into Strawberry's internals, and nowhere else.

Each piece below does some of Strawberry's work its own way, through attributes, hooks
or module functions that Strawberry uses internally or documents only for its own
integrations. Each says what it replaces, why, and what it gained (mostly callgrind
instruction counts of in-process requests, which do not depend on the machine's noise;
bench/README.md). Everything else Tessera uses of Strawberry is its public API:
``SchemaExtension`` hooks and the ``ExecutionContext`` fields Strawberry's own
extensions set (``validation_rules``, ``parse_options``), permission classes, exception
handlers, ``FieldExtension.map_arguments``, ``StrawberryConfig``, ``Schema.execute`` and
``Schema.process_errors``, the type definitions. tests/schema/test_engine.py keeps any
other import from Strawberry, and any use of a private attribute, in this module.

Verified against strawberry-graphql 0.341.2 with graphql-core 3.3.2, which is why
pyproject.toml bounds both from above. Before raising a bound, run
tests/web/test_differential.py, which sends every document of graphql/operations/ and
every bad request through Strawberry's own ASGI view (with the document cache, the input
plans and the name cache switched off) and through Tessera's endpoint, and requires the
same answers; tests/schema/test_engine.py, which checks that Strawberry takes what is
handed to it as meant; and tests/schema/test_inputs.py.

The one reach into the standard library (logging's record fields) is in
service/logs.py: service/ must not import anything from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import strawberry
from graphql import DocumentNode, GraphQLError, GraphQLSchema
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.execution import ExecutionContext

__all__ = [
    "REQUEST_ERRORS",
    "CachedNameConverter",
    "UnknownOperation",
    "described_enum",
    "graphql_schema",
    "http_refusal",
    "plan_inputs",
    "response_payload",
    "use_document",
    "validate_document",
]


# The document cache (schema/documents.py, schema/policy.py) ---------------------------
#
# Replaces Strawberry's parsing and validation of each request's document, and its
# ParserCache and ValidationCache extensions: those would be two more extensions, whose
# hooks Strawberry wraps anew on every request, and the validation cache hashes the
# parsed document, which graphql-core does by walking every node of it. Gain: one
# extension with one hook, each document prepared once per text: 6 % of the instructions
# of a verifySession request.


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built, which it keeps private; documents are
    validated against it."""
    return schema._schema


# ``validate_document`` (imported above) is how Strawberry validates: graphql-core's
# ``validate`` with the rules given plus Strawberry's own (Maybe nulls, @oneOf). Called
# once per document text instead of once per request.


def use_document(
    execution_context: ExecutionContext, document: DocumentNode, errors: list[GraphQLError]
) -> str | None:
    """Hand Strawberry the prepared ``document`` and its validation ``errors`` (none: an
    empty list), from an ``on_operation`` hook: it parses only while it has no document
    and validates only while it has no errors (``None``). Returns the ``operationName``
    the request sent: Strawberry's public ``operation_name`` falls back to the
    document's first operation, which would run the first of several when the request
    names none (GraphQL over HTTP: a request error)."""
    execution_context.graphql_document = document
    execution_context.pre_execution_errors = errors
    return execution_context._provided_operation_name


class UnknownOperation(CannotGetOperationTypeError):
    """The request names an operation its document does not have, or names none while
    the document has several. Raised from the operation hook as Strawberry's own error
    of that kind, so that Strawberry's view and Tessera's endpoint both answer it as
    they answer Strawberry's: with a 400 (``http_refusal``)."""

    def as_http_error_reason(self) -> str:
        if self.operation_name is None:
            return "Name the operation to run in operationName: the document has not exactly one"
        return super().as_http_error_reason()


# The input plans (schema/inputs.py) ----------------------------------------------------
#
# Replaces Strawberry's conversion of an input object field by field, which resolves
# each field's type annotation again on every request. ``from_input`` is the hook
# Strawberry documents for integrations that make their own type definitions
# (strawberry.pydantic); the plan relies on its conversion of a scalar being the value
# graphql-core already coerced. Gain: 8 % of the instructions of a verifySession, 9 % of
# a createSession.


@dataclass(frozen=True, slots=True)
class _Field:
    graphql_name: str
    python_name: str
    type: Any
    leaf: bool


@dataclass(frozen=True, slots=True)
class _Plan:
    fields: tuple[_Field, ...]
    # Fields without a default start as None, as in Strawberry's own conversion;
    # validation has already refused a missing required one.
    implicit: tuple[tuple[str, None], ...]


_plans: dict[type, _Plan] = {}


def _plan(cls: type, context: InputContext) -> _Plan:
    definition = get_object_definition(cls, strict=True)
    fields: list[_Field] = []
    for field in definition.fields:
        type_ = field.resolve_type(type_definition=definition)
        bare = type_.of_type if type(type_) is StrawberryOptional else type_
        leaf = bare is not GlobalID and is_scalar(bare, context.scalar_registry)
        graphql_name = context.config.name_converter.from_field(field)
        fields.append(_Field(graphql_name, field.python_name, type_, leaf))
    implicit = tuple(
        (field.python_name, None)
        for field in definition.fields
        if field.default_value is MISSING and field.default_factory is MISSING
    )
    return _Plan(tuple(fields), implicit)


def _build(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
    plan = _plans.get(cls)
    if plan is None:
        plan = _plans[cls] = _plan(cls, context)
    kwargs: dict[str, Any] = dict(plan.implicit)
    for field in plan.fields:
        if field.graphql_name in value:
            item = value[field.graphql_name]
            kwargs[field.python_name] = (
                item if field.leaf else context.convert(item, field.type, field.graphql_name)
            )
    return cls(**kwargs)


def plan_inputs(cls: type) -> None:
    """Have Strawberry build the input type ``cls`` through a plan made once, on its first
    value: leaf fields (scalars) taken as graphql-core coerced them, everything else
    (nested inputs, enums, lists, global ids) through Strawberry's own conversion."""
    get_object_definition(cls, strict=True).from_input = _build


# Names converted once (schema/__init__.py) ---------------------------------------------
#
# Replaces Strawberry's conversion of names to camelCase on every request: argument
# conversion converts the name of each argument of each field it runs (input objects'
# fields are named once, by their plans); the names are the schema's own fixed set.
# Gain, measured with the plans in place: one conversion per argument per request (one
# for verifySession and createSession, six for activeSessions) at about 1.9 µs each
# (timeit, to_camel_case), about 0.1 % of a verifySession.


class CachedNameConverter(NameConverter):
    """Strawberry's name converter, each name converted once."""

    @cache  # noqa: B019 - one converter lives as long as the schema
    def apply_naming_config(self, name: str) -> str:
        return super().apply_naming_config(name)


# The lean endpoint (web/endpoint.py) ---------------------------------------------------
#
# Replaces Strawberry's HTTP view (strawberry.asgi.GraphQL), which also serves what
# Tessera does not (subscriptions, multipart uploads, batches, incremental delivery,
# queries over GET); that generality was 7 % of the instructions of a verifySession
# request (callgrind, 300 requests). The endpoint runs ``Schema.execute`` itself and
# takes from the view what makes its answers the view's: the JSON of a result, and the
# 400s for the errors ``execute`` raises instead of answering.

response_payload = process_result
"""The response body of an execution result, exactly as Strawberry's view makes it."""

REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)
"""What ``Schema.execute`` raises, instead of returning a result, for a request its
views answer with a 400: no query, an unknown or ambiguous operation
(``UnknownOperation`` too), an operation type the request may not run."""


def http_refusal(exc: Exception, method: str) -> tuple[str, str]:
    """``(reason, text)`` for one of ``REQUEST_ERRORS``: ``text`` is what Strawberry's view
    answers; ``reason`` says the same without quoting the request (for the log)."""
    if isinstance(exc, CannotGetOperationTypeError):
        return "Unknown or ambiguous operation", exc.as_http_error_reason()
    if isinstance(exc, InvalidOperationTypeError):
        text = exc.as_http_error_reason(method)
        return text, text
    return "No GraphQL query found in the request", "No GraphQL query found in the request"


# Enumerations the service owns (schema/errors.py, schema/configs.py, schema/sessions.py)
#
# Replaces ``strawberry.enum_value(..., description=...)`` as the members' values, which
# would make the service import Strawberry: the service defines its enumerations, the
# schema registers those very classes and documents each value here. Gain: no list of
# codes written twice, and every value described in GraphQL's documentation explorer.

E = TypeVar("E", bound=type[Enum])


def described_enum(
    cls: E, *, description: str, values: Mapping[str, str], name: str | None = None
) -> E:
    """``strawberry.enum(cls, ...)``, with the description ``values`` gives each member
    (by its name); a member ``values`` does not name stays undescribed, which
    tests/schema/test_descriptions.py reports."""
    registered = strawberry.enum(cls, name=name, description=description)
    definition: StrawberryEnumDefinition = registered.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:
        value.description = values.get(value.name)
    return registered
