from __future__ import annotations

from typing import Annotated

import strawberry

from schema.arguments import ProductTag
from schema.context import Info
from schema.products import CreateProductInput, CreateProductResult, Product


async def create_product(
    info: Info,
    input: Annotated[CreateProductInput, strawberry.argument(description="The product to create.")],
) -> CreateProductResult:
    catalog = info.context.tessera.catalog
    record = await catalog.create_product(
        input.tag, input.name, input.envs, origin=info.context.origin()
    )
    return Product.of(record)


async def products(info: Info) -> list[Product]:
    return [Product.of(p) for p in await info.context.tessera.catalog.products()]


async def product(info: Info, tag: ProductTag) -> Product | None:
    record = await info.context.tessera.catalog.find_product(tag)
    return None if record is None else Product.of(record)
