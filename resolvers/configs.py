from __future__ import annotations

from typing import Annotated

import strawberry

from schema.arguments import ConfigTag, ProductTag
from schema.configs import (
    CreateSessionConfigInput,
    DeleteSessionConfigInput,
    DeleteSessionConfigResult,
    SessionConfig,
    SessionConfigResult,
    UpdateSessionConfigInput,
)
from schema.context import Info


async def create_session_config(
    info: Info,
    input: Annotated[
        CreateSessionConfigInput,
        strawberry.argument(description="The config to create; unset fields take their defaults."),
    ],
) -> SessionConfigResult:
    record = await info.context.tessera.catalog.create_config(
        input.product, input.spec(), origin=info.context.origin()
    )
    return SessionConfig.of(input.product, record)


async def update_session_config(
    info: Info,
    input: Annotated[
        UpdateSessionConfigInput,
        strawberry.argument(description="The config to change and the fields to change."),
    ],
) -> SessionConfigResult:
    record = await info.context.tessera.catalog.update_config(
        input.product, input.tag, input.patch(), origin=info.context.origin()
    )
    return SessionConfig.of(input.product, record)


async def delete_session_config(
    info: Info,
    input: Annotated[
        DeleteSessionConfigInput, strawberry.argument(description="The config to delete.")
    ],
) -> DeleteSessionConfigResult:
    record = await info.context.tessera.catalog.delete_config(
        input.product, input.tag, origin=info.context.origin()
    )
    return SessionConfig.of(input.product, record)


async def session_configs(info: Info, product: ProductTag) -> list[SessionConfig]:
    records = await info.context.tessera.catalog.configs(product)
    return [SessionConfig.of(product, r) for r in records]


async def session_config(info: Info, product: ProductTag, tag: ConfigTag) -> SessionConfig | None:
    record = await info.context.tessera.catalog.find_config(product, tag)
    return None if record is None else SessionConfig.of(product, record)
