"""Products and their environments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.errors import AlreadyExistsError, InvalidInputError
from schema.inputs import input_type
from schema.scalars import utc
from store import ProductRecord


@strawberry.type
class Product:
    tag: str
    name: str
    envs: list[str]
    created_at: datetime

    @classmethod
    def of(cls, record: ProductRecord) -> Product:
        return cls(
            tag=record.tag,
            name=record.name,
            envs=list(record.envs),
            created_at=utc(record.created_at),
        )


@input_type
class CreateProductInput:
    tag: str
    name: str
    envs: list[str] | None = strawberry.field(
        default=None, description='Defaults to ["dev", "staging", "prd"].'
    )


CreateProductResult = Annotated[
    Product | AlreadyExistsError | InvalidInputError, strawberry.union("CreateProductResult")
]
