"""Input object types that build themselves from their GraphQL values.

``input_type`` declares a type exactly like ``strawberry.input`` and gives it a
conversion plan, made once per type instead of resolving each field's type annotation
again on every request (``schema.engine.plan_inputs``, where what this replaces and
gains is told). The schema and its validation are unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, overload

import strawberry

from schema.engine import plan_inputs

T = TypeVar("T", bound=type)


@overload
def input_type(cls: T, /) -> T: ...
@overload
def input_type(
    *, description: str | None = None, one_of: bool | None = None
) -> Callable[[T], T]: ...
def input_type(
    cls: T | None = None, /, *, description: str | None = None, one_of: bool | None = None
) -> T | Callable[[T], T]:
    """``strawberry.input`` with the conversion plan attached; ``one_of``: a ``@oneOf``
    input, of which a value gives exactly one field, not null (GraphQL validates it)."""

    def decorate(cls: T) -> T:
        decorated = strawberry.input(cls, description=description, one_of=one_of)
        plan_inputs(decorated)
        return decorated

    return decorate if cls is None else decorate(cls)
