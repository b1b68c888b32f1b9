from __future__ import annotations

from typing import Annotated

import strawberry

from schema.arguments import Env, ProductTag
from schema.context import Info
from schema.keys import KeyRing, RotateKeysInput, RotateKeysResult


async def rotate_keys(
    info: Info,
    input: Annotated[
        RotateKeysInput, strawberry.argument(description="The ring to rotate, and how.")
    ],
) -> RotateKeysResult:
    ring = await info.context.tessera.rotation.rotate(
        input.product,
        input.env,
        retire_previous=input.retire_previous,
        origin=info.context.origin(),
    )
    return KeyRing.of(ring)


async def key_ring(info: Info, product: ProductTag, env: Env) -> KeyRing:
    return KeyRing.of(await info.context.tessera.rotation.ring(product, env))
