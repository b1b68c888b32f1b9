from __future__ import annotations

from schema.context import Info
from schema.sessions import (
    CreateSessionInput,
    CreateSessionResult,
    SessionTokens,
    SessionVerification,
    VerifySessionInput,
)


async def create_session(info: Info, input: CreateSessionInput) -> CreateSessionResult:
    issued = await info.context.tessera.sessions.create(
        input.product, input.env, input.tag, input.data.user_id, input.data.details
    )
    return SessionTokens.of(issued)


async def verify_session(info: Info, input: VerifySessionInput) -> SessionVerification:
    tessera = info.context.tessera
    verification = await tessera.sessions.verify(input.product, input.env, input.tag, input.token)
    return SessionVerification.of(verification, tessera.clock.now())
