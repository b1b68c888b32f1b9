from __future__ import annotations

from typing import Annotated

import strawberry

from schema.apikeys import (
    ApiKey,
    CreateApiKeyInput,
    CreateApiKeyResult,
    CreatedApiKey,
    RevokeApiKeyResult,
)
from schema.arguments import ApiKeyId, KeyProduct
from schema.context import Info


async def create_api_key(
    info: Info,
    input: Annotated[
        CreateApiKeyInput, strawberry.argument(description="The product key to create.")
    ],
) -> CreateApiKeyResult:
    key, record = await info.context.tessera.access.create_api_key(
        input.product, input.envs, input.name, origin=info.context.origin()
    )
    return CreatedApiKey(key=key, api_key=ApiKey.of(record))


async def revoke_api_key(info: Info, id: ApiKeyId) -> RevokeApiKeyResult:
    return ApiKey.of(
        await info.context.tessera.access.revoke_api_key(id, origin=info.context.origin())
    )


async def api_keys(info: Info, product: KeyProduct = None) -> list[ApiKey]:
    return [ApiKey.of(r) for r in await info.context.tessera.access.api_keys(product)]
