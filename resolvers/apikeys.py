from __future__ import annotations

import strawberry

from schema.apikeys import (
    ApiKey,
    CreateApiKeyInput,
    CreateApiKeyResult,
    CreatedApiKey,
    RevokeApiKeyResult,
)
from schema.context import Info


async def create_api_key(info: Info, input: CreateApiKeyInput) -> CreateApiKeyResult:
    key, record = await info.context.tessera.access.create_api_key(
        input.product, input.envs, input.name
    )
    return CreatedApiKey(key=key, api_key=ApiKey.of(record))


async def revoke_api_key(info: Info, id: strawberry.ID) -> RevokeApiKeyResult:
    return ApiKey.of(await info.context.tessera.access.revoke_api_key(id))


async def api_keys(info: Info, product: str | None = None) -> list[ApiKey]:
    return [ApiKey.of(r) for r in await info.context.tessera.access.api_keys(product)]
