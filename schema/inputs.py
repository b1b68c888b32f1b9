"""Input object types that build themselves from their GraphQL values.

Strawberry converts an input object field by field, resolving each field's type
annotation again on every request. ``input_type`` declares a type exactly like
``strawberry.input`` and gives it a conversion plan, made once per type: leaf fields
(scalars, as graphql-core already coerced them) are taken as they are, everything else
(nested inputs, enums, lists) goes through Strawberry's own conversion. It plugs in
through Strawberry's ``from_input`` hook, so the schema and its validation are
unchanged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any, TypeVar, overload

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryOptional, get_object_definition

T = TypeVar("T", bound=type)


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


@overload
def input_type(cls: T, /) -> T: ...
@overload
def input_type(*, description: str | None = None) -> Callable[[T], T]: ...
def input_type(cls: T | None = None, /, *, description: str | None = None) -> T | Callable[[T], T]:
    """``strawberry.input`` with the conversion plan attached."""

    def decorate(cls: T) -> T:
        decorated = strawberry.input(cls, description=description)
        get_object_definition(decorated, strict=True).from_input = _build
        return decorated

    return decorate if cls is None else decorate(cls)
