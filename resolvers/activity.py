"""Session activity: pages of the event log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.activity import SessionEventConnection
from schema.arguments import Env, ProductTag
from schema.context import Info
from service.events import ActivityFilter, EventType

First = Annotated[
    int | None,
    strawberry.argument(description="Page size: how many events to return, 1-100. Omitted: 20."),
]
After = Annotated[
    str | None,
    strawberry.argument(description="An event's `cursor`: the page starts at the next older one."),
]
Types = Annotated[
    list[EventType] | None,
    strawberry.argument(description="Only events of these types (default: all)."),
]
Since = Annotated[
    datetime | None, strawberry.argument(description="Only events at or after this time.")
]
Until = Annotated[datetime | None, strawberry.argument(description="Only events before this time.")]


def _seconds(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


async def session_activity(
    info: Info,
    product: ProductTag,
    env: Env,
    tag: Annotated[
        str | None, strawberry.argument(description="Only this session config's events.")
    ] = None,
    identifier: Annotated[
        str | None, strawberry.argument(description="Only the sessions of this identifier.")
    ] = None,
    session_id: Annotated[
        strawberry.ID | None, strawberry.argument(description="Only this session's events.")
    ] = None,
    types: Types = None,
    since: Since = None,
    until: Until = None,
    first: First = None,
    after: After = None,
) -> SessionEventConnection:
    narrow = ActivityFilter(
        tag=tag,
        identifier=identifier,
        session_id=session_id,
        types=None if types is None else tuple(types),
        since=_seconds(since),
        until=_seconds(until),
    )
    page = await info.context.tessera.events.page(product, env, narrow, first=first, after=after)
    return SessionEventConnection.of(page)


async def my_activity(
    info: Info,
    types: Types = None,
    since: Since = None,
    until: Until = None,
    first: First = None,
    after: After = None,
) -> SessionEventConnection:
    principal = await info.context.principal()
    # EndUserOnly has already refused every other caller.
    assert principal is not None and principal.end_user is not None
    me = principal.end_user
    narrow = ActivityFilter(
        tag=me.tag,
        identifier=me.session.identifier,
        types=None if types is None else tuple(types),
        since=_seconds(since),
        until=_seconds(until),
    )
    page = await info.context.tessera.events.page(
        me.product, me.env, narrow, first=first, after=after
    )
    return SessionEventConnection.of(page)
