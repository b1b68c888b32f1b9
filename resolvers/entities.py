"""``_entities``: each representation resolved under the access rules of the root fields
that reach its entity (``service.access.authorize_user``)."""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Annotated, cast

import strawberry
from strawberry.federation.schema import FederationAny

from schema.context import Info
from schema.entities import Entity, EntityKey, SessionKey, SessionUser, SessionUserKey
from schema.sessions import Session
from service.access import Principal, authorize_user, may_read


async def entities(
    info: Info,
    representations: Annotated[
        list[FederationAny],
        strawberry.argument(
            description='Up to 100 entity references, each `{__typename: "Session", id}` or '
            '`{__typename: "SessionUser", product, env, identifier}`: as a gateway\'s query '
            "plan sends them."
        ),
    ],
) -> list[Entity | None]:
    principal = await info.context.principal()
    keys = cast(list[EntityKey], representations)  # made keys by RepresentationKeys
    # One awaitable per entity, which graphql-core completes on its own: an entity the
    # caller may not read fails alone, at its own path (`_entities.3`), as federation
    # expects.
    resolving: list[Awaitable[Entity | None]] = [
        _session(info, principal, key) if isinstance(key, SessionKey) else _user(principal, key)
        for key in keys
    ]
    return cast(list[Entity | None], resolving)


async def _session(info: Info, principal: Principal | None, key: SessionKey) -> Session | None:
    tessera = info.context.tessera
    found = await tessera.sessions.find(key.id, visible=partial(may_read, principal))
    return None if found is None else Session.of(found.record, found.details, tessera.clock.now())


async def _user(principal: Principal | None, key: SessionUserKey) -> SessionUser:
    tag = authorize_user(principal, key.product, key.env, key.identifier)
    return SessionUser(
        product=key.product, env=key.env, identifier=key.identifier, readable_tag=tag
    )
