from __future__ import annotations

from typing import Annotated

import strawberry

from schema.arguments import After, ConfigTag, Env, First, Identifier, ProductTag
from schema.context import Info
from schema.sessions import (
    CreateSessionInput,
    CreateSessionResult,
    RefreshSessionInput,
    RefreshSessionResult,
    RevokedSessions,
    RevokeSessionInput,
    RevokeSessionResult,
    SessionConnection,
    SessionTokens,
    SessionVerification,
    VerifySessionInput,
)


async def create_session(
    info: Info,
    input: Annotated[
        CreateSessionInput,
        strawberry.argument(description="Where the session belongs and the user's data."),
    ],
) -> CreateSessionResult:
    issued = await info.context.tessera.sessions.create(
        input.product,
        input.env,
        input.tag,
        input.data.user_id,
        input.data.details,
        origin=info.context.origin(),
    )
    return SessionTokens.of(issued)


async def verify_session(
    info: Info,
    input: Annotated[
        VerifySessionInput,
        strawberry.argument(description="The token and the config it must belong to."),
    ],
) -> SessionVerification:
    tessera = info.context.tessera
    verification = await tessera.sessions.verify(
        input.product,
        input.env,
        input.tag,
        input.token,
        on_forgery=info.context.count_failed_token,
    )
    return SessionVerification.of(verification, tessera.clock.now())


async def refresh_session(
    info: Info,
    input: Annotated[
        RefreshSessionInput,
        strawberry.argument(description="The refresh token and the config it belongs to."),
    ],
) -> RefreshSessionResult:
    issued = await info.context.tessera.sessions.refresh(
        input.product,
        input.env,
        input.tag,
        input.refresh_token,
        on_forgery=info.context.count_failed_token,
        origin=info.context.origin(),
    )
    return SessionTokens.of(issued)


async def revoke_session(
    info: Info,
    input: Annotated[
        RevokeSessionInput,
        strawberry.argument(description="The config and which of its sessions to revoke."),
    ],
) -> RevokeSessionResult:
    session_id, identifier = input.selected()
    count = await info.context.tessera.sessions.revoke(
        input.product,
        input.env,
        input.tag,
        session_id=session_id,
        identifier=identifier,
        origin=info.context.origin(),
    )
    return RevokedSessions(count=count)


async def active_sessions(
    info: Info,
    product: ProductTag,
    env: Env,
    tag: ConfigTag,
    identifier: Identifier = None,
    first: First = None,
    after: After = None,
) -> SessionConnection:
    tessera = info.context.tessera
    page = await tessera.sessions.active(
        product, env, tag, identifier=identifier, first=first, after=after
    )
    return SessionConnection.of(page, tessera.clock.now())


async def user_sessions(
    info: Info,
    product: str,
    env: str,
    identifier: str,
    tag: str | None,
    first: int | None = None,
    after: str | None = None,
) -> SessionConnection:
    """``SessionUser.sessions``: its ``_entities`` resolution has authorized the caller,
    and set the one config (``tag``) it may read them in, if only one."""
    tessera = info.context.tessera
    page = await tessera.sessions.of_user(
        product, env, identifier, tag=tag, first=first, after=after
    )
    return SessionConnection.of(page, tessera.clock.now())
