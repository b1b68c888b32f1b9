"""Products and their environments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.errors import AlreadyExistsError, InvalidInputError
from schema.inputs import input_type
from schema.scalars import utc
from store import ProductRecord


@strawberry.type(description="A product of yours whose users have sessions, with its environments.")
class Product:
    tag: str = strawberry.field(
        description="Its unique tag, which every operation names it by (e.g. `my-app`)."
    )
    name: str = strawberry.field(description="Its display name.")
    envs: list[str] = strawberry.field(
        description="Its environments (e.g. `dev`, `staging`, `prd`): each has its own "
        "sessions, keys and signing keys."
    )
    created_at: datetime = strawberry.field(description="When `createProduct` made it.")

    @classmethod
    def of(cls, record: ProductRecord) -> Product:
        return cls(
            tag=record.tag,
            name=record.name,
            envs=list(record.envs),
            created_at=utc(record.created_at),
        )


@input_type(description="A product to create.")
class CreateProductInput:
    tag: str = strawberry.field(
        description="Its tag, fixed for good: 1-64 lower-case letters, digits, `-` or `_`."
    )
    name: str = strawberry.field(description="Its display name, 1-200 characters.")
    envs: list[str] | None = strawberry.field(
        default=None,
        description='Its environments, 1-32 tags like the product\'s. Defaults to ["dev", '
        '"staging", "prd"].',
    )


CreateProductResult = Annotated[
    Product | AlreadyExistsError | InvalidInputError,
    strawberry.union(
        "CreateProductResult",
        description="The new product, or why none was created (the tag is taken, bad input).",
    ),
]
