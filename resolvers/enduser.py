"""End-user operations: the caller is the session whose token is the bearer."""

from __future__ import annotations

from schema.arguments import After, First
from schema.context import Info
from schema.sessions import RevokedSessions, Session, SessionConnection
from service.access import EndUser
from service.events import RevocationCause


async def _me(info: Info) -> EndUser:
    principal = await info.context.principal()
    # EndUserOnly has already refused every other caller.
    assert principal is not None and principal.end_user is not None
    return principal.end_user


async def current_session(info: Info) -> Session:
    me = await _me(info)
    return Session.of(me.session, me.details, info.context.tessera.clock.now())


async def my_sessions(info: Info, first: First = None, after: After = None) -> SessionConnection:
    me = await _me(info)
    tessera = info.context.tessera
    page = await tessera.sessions.active(
        me.product, me.env, me.tag, identifier=me.session.identifier, first=first, after=after
    )
    return SessionConnection.of(page, tessera.clock.now())


async def logout(info: Info) -> RevokedSessions:
    me = await _me(info)
    count = await info.context.tessera.sessions.revoke(
        me.product,
        me.env,
        me.tag,
        session_id=me.session.id,
        origin=info.context.origin(),
        cause=RevocationCause.END_USER,
    )
    return RevokedSessions(count=count)


async def logout_other_sessions(info: Info) -> RevokedSessions:
    me = await _me(info)
    count = await info.context.tessera.sessions.revoke_others(
        me.product,
        me.env,
        me.tag,
        me.session.identifier,
        keep=me.session.id,
        origin=info.context.origin(),
    )
    return RevokedSessions(count=count)
