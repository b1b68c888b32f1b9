"""The edge rule (service/validation.py) on every field's arguments, before anything else
sees them: permission checks, resolvers and services all get strings that encode, name
things without control characters, are bounded, and JSON with finite numbers only.

``guard`` gives each field that takes a string (or JSON) a ``FieldExtension`` holding a
plan — which argument paths carry which kind of string — worked out once, when the
schema is assembled. Strawberry calls the extension's ``map_arguments`` while it converts
the arguments, inside the resolver call: a field whose result union has
``InvalidInputError`` answers with it (``field`` and ``fieldErrors`` naming the paths, as
``data.details.email``), any other field with a top-level ``INVALID_INPUT`` error. The
extension maps arguments only, so it joins no resolve chain. ``map_arguments`` is
Strawberry's public hook for this (0.341, the lower bound in pyproject.toml); should a
version stop calling it, tests/api/test_edge.py fails on every path.

A string is a ``NAME`` unless its field says otherwise in its metadata (``TEXT``,
``CREDENTIAL``); the ``JSON`` scalar is known by its type. Variables and inline literals
are checked alike: both are argument values by the time they are converted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from strawberry import ID
from strawberry.extensions import FieldExtension
from strawberry.schema.name_converter import NameConverter
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.field import StrawberryField
from strawberry.types.maybe import Some

from schema.scalars import JSON
from service.errors import FieldError, InvalidInput
from service.validation import Kind, json_problems, string_problem

EDGE = "edge"
TEXT: dict[str, Any] = {EDGE: Kind.TEXT}
"""Field metadata: free text."""
CREDENTIAL: dict[str, Any] = {EDGE: Kind.CREDENTIAL}
"""Field metadata: a token, which its own check answers for."""


@dataclass(frozen=True, slots=True)
class _Leaf:
    kind: Kind


@dataclass(frozen=True, slots=True)
class _List:
    item: _Node


@dataclass(frozen=True, slots=True)
class _Input:
    # (Python name, GraphQL name, plan) of each field that carries a string.
    fields: tuple[tuple[str, str, _Node], ...]


_Node = _Leaf | _List | _Input


@dataclass(frozen=True, slots=True)
class _Argument:
    python_name: str
    # Where its problems are reported: an input object's fields by their own path
    # ("data.userId", as the services report theirs), any other argument by its name.
    path: str
    node: _Node


def _plan(type_: Any, metadata: Mapping[str, Any], names: NameConverter) -> _Node | None:
    """What to check in a value of ``type_``; ``None`` when it holds no string."""
    if isinstance(type_, StrawberryOptional):  # Maybe[...] too
        return _plan(type_.of_type, metadata, names)
    if isinstance(type_, StrawberryList):
        item = _plan(type_.of_type, metadata, names)
        return None if item is None else _List(item)
    if type_ is JSON:
        return _Leaf(Kind.JSON)
    if type_ is str or type_ is ID:  # an ID is a string on its way in too
        kind = metadata.get(EDGE, Kind.NAME)
        return None if kind is Kind.CREDENTIAL else _Leaf(kind)
    definition = get_object_definition(type_)
    if definition is None or not definition.is_input:
        return None  # numbers, booleans, enums
    fields = []
    for field in definition.fields:
        node = _plan(field.resolve_type(type_definition=definition), field.metadata, names)
        if node is not None:
            fields.append((field.python_name, names.from_field(field), node))
    return _Input(tuple(fields)) if fields else None


def _check(value: Any, node: _Node, path: str, problems: list[FieldError]) -> None:
    if isinstance(value, Some):
        value = value.value
    if value is None:
        return
    if isinstance(node, _Leaf):
        if node.kind is Kind.JSON:
            problems.extend(json_problems(value, path))
        elif (problem := string_problem(value, node.kind)) is not None:
            problems.append(FieldError(path, f"{path} {problem}"))
    elif isinstance(node, _List):
        for i, item in enumerate(value):
            _check(item, node.item, f"{path}.{i}", problems)
    else:
        for python_name, graphql_name, child in node.fields:
            where = f"{path}.{graphql_name}" if path else graphql_name
            _check(getattr(value, python_name), child, where, problems)


class EdgeCheck(FieldExtension):
    """The edge rule on one field's converted arguments."""

    def __init__(self, arguments: tuple[_Argument, ...]) -> None:
        self.arguments = arguments

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        problems: list[FieldError] = []
        for argument in self.arguments:
            if argument.python_name in kwargs:
                _check(kwargs[argument.python_name], argument.node, argument.path, problems)
        if problems:
            raise InvalidInput(
                problems[0].message, field=problems[0].field, field_errors=tuple(problems)
            )
        return kwargs


def guard(*types: type, names: NameConverter) -> None:
    """Give every field of ``types`` that takes a string its ``EdgeCheck``; to be called
    before the schema is built from them."""
    for type_ in types:
        for field in get_object_definition(type_, strict=True).fields:
            arguments = _arguments(field, names)
            if arguments:
                field.extensions.append(EdgeCheck(arguments))


def _arguments(field: StrawberryField, names: NameConverter) -> tuple[_Argument, ...]:
    planned = []
    for argument in field.arguments:
        node = _plan(argument.type, argument.metadata, names)
        if node is not None:
            assert argument.python_name is not None
            path = "" if isinstance(node, _Input) else names.from_argument(argument)
            planned.append(_Argument(argument.python_name, path, node))
    return tuple(planned)
