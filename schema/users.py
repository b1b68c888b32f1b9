"""Session users: the people a product's sessions belong to, as ``SessionUser``
(schema/entities.py) with what Tessera records of them, and their connection."""

from __future__ import annotations

import strawberry

from schema.entities import SessionUser
from schema.scalars import utc
from schema.sessions import PageInfo
from service.users import SessionUser as FoundUser
from service.users import SessionUserPage


def as_session_user(found: FoundUser) -> SessionUser:
    """``found`` as the ``SessionUser`` entity, its sessions readable in every config
    (only admins and the product's keys reach it)."""
    record = found.record
    return SessionUser(
        product=found.product,
        env=found.env,
        identifier=record.identifier,
        readable_tag=None,
        first_seen_at=utc(record.first_seen_at),
        last_seen_at=utc(record.last_seen_at),
        live_sessions=record.live_sessions,
        total_sessions=record.total_sessions,
        tags=list(record.tags),
        user_id=record.user_id,
        details=found.details,
    )


@strawberry.type(description="A session user and where they are in the listing.")
class SessionUserEdge:
    cursor: str = strawberry.field(description="Pass as `after` to list the users after this one.")
    node: SessionUser = strawberry.field(
        description="The session user at this position of the listing."
    )


@strawberry.type(
    description="One page of session users, last seen latest first (ties by identifier)."
)
class SessionUserConnection:
    edges: list[SessionUserEdge] = strawberry.field(description="The users of this page.")
    page_info: PageInfo = strawberry.field(description="Whether more follow, and from where.")

    @classmethod
    def of(cls, page: SessionUserPage) -> SessionUserConnection:
        edges = [
            SessionUserEdge(cursor=SessionUserPage.cursor(u.record), node=as_session_user(u))
            for u in page.users
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
