from __future__ import annotations

from typing import Any

import strawberry

from schema.configs import (
    CreateSessionConfigInput,
    DeleteSessionConfigInput,
    DeleteSessionConfigResult,
    SessionConfig,
    SessionConfigResult,
    UpdateSessionConfigInput,
)
from schema.context import Info
from service.catalog import ConfigPatch, ConfigSpec


def _given(value: strawberry.Maybe[Any]) -> tuple[Any, bool]:
    """``(value, clear)`` of a Maybe field: absent -> (None, False), null -> (None, True)."""
    if value is None:
        return None, False
    return value.value, value.value is None


async def create_session_config(info: Info, input: CreateSessionConfigInput) -> SessionConfigResult:
    spec = ConfigSpec(
        tag=input.tag,
        name=input.name,
        description=input.description,
        selector=input.selector,
        expiry=input.expiry,
        period=input.period,
        refresh_expiry=input.refresh_expiry,
        refresh_period=input.refresh_period,
        idle_timeout=input.idle_timeout,
        refresh_grace_seconds=input.refresh_grace_seconds,
        schema=input.schema,
    )
    record = await info.context.tessera.catalog.create_config(input.product, spec)
    return SessionConfig.of(input.product, record)


async def update_session_config(info: Info, input: UpdateSessionConfigInput) -> SessionConfigResult:
    idle_timeout, clear_idle = _given(input.idle_timeout)
    schema, clear_schema = _given(input.schema)
    patch = ConfigPatch(
        name=input.name,
        description=input.description,
        selector=input.selector,
        expiry=input.expiry,
        period=input.period,
        refresh_expiry=input.refresh_expiry,
        refresh_period=input.refresh_period,
        idle_timeout=idle_timeout,
        refresh_grace_seconds=input.refresh_grace_seconds,
        schema=schema,
        clear_schema=clear_schema,
        clear_idle_timeout=clear_idle,
    )
    record = await info.context.tessera.catalog.update_config(input.product, input.tag, patch)
    return SessionConfig.of(input.product, record)


async def delete_session_config(
    info: Info, input: DeleteSessionConfigInput
) -> DeleteSessionConfigResult:
    record = await info.context.tessera.catalog.delete_config(input.product, input.tag)
    return SessionConfig.of(input.product, record)


async def session_configs(info: Info, product: str) -> list[SessionConfig]:
    records = await info.context.tessera.catalog.configs(product)
    return [SessionConfig.of(product, r) for r in records]


async def session_config(info: Info, product: str, tag: str) -> SessionConfig | None:
    record = await info.context.tessera.catalog.find_config(product, tag)
    return None if record is None else SessionConfig.of(product, record)
