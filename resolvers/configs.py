from __future__ import annotations

from schema.configs import (
    CreateSessionConfigInput,
    DeleteSessionConfigInput,
    DeleteSessionConfigResult,
    SessionConfig,
    SessionConfigResult,
    UpdateSessionConfigInput,
)
from schema.context import Info


async def create_session_config(info: Info, input: CreateSessionConfigInput) -> SessionConfigResult:
    record = await info.context.tessera.catalog.create_config(
        input.product, input.spec(), origin=info.context.origin()
    )
    return SessionConfig.of(input.product, record)


async def update_session_config(info: Info, input: UpdateSessionConfigInput) -> SessionConfigResult:
    record = await info.context.tessera.catalog.update_config(
        input.product, input.tag, input.patch(), origin=info.context.origin()
    )
    return SessionConfig.of(input.product, record)


async def delete_session_config(
    info: Info, input: DeleteSessionConfigInput
) -> DeleteSessionConfigResult:
    record = await info.context.tessera.catalog.delete_config(
        input.product, input.tag, origin=info.context.origin()
    )
    return SessionConfig.of(input.product, record)


async def session_configs(info: Info, product: str) -> list[SessionConfig]:
    records = await info.context.tessera.catalog.configs(product)
    return [SessionConfig.of(product, r) for r in records]


async def session_config(info: Info, product: str, tag: str) -> SessionConfig | None:
    record = await info.context.tessera.catalog.find_config(product, tag)
    return None if record is None else SessionConfig.of(product, record)
