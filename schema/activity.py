"""Session activity: the event log as a Relay connection."""

from __future__ import annotations

from datetime import datetime

import strawberry

from schema.engine import described_enum
from schema.scalars import utc
from schema.sessions import PageInfo
from service.events import EventPage, EventType, RevocationCause, cursor
from store import EventRecord

# The service owns these enums; registering them here exposes them unchanged.
described_enum(
    EventType,
    name="SessionEventType",
    description="What a session event records: a session created, refreshed (its refresh "
    "token rotated), a spent refresh token reused (theft: the session is revoked too), "
    "revoked, or expired and removed by the sweeper; a session config, key, API key or "
    "product created or changed.",
    values={
        "SESSION_CREATED": "A session was created (`createSession`).",
        "SESSION_REFRESHED": "The session's refresh token was rotated (`refreshSession`); a "
        "redemption inside the grace window that returns the same successor records none.",
        "REFRESH_REUSED": "A spent refresh token of the session came back after the grace "
        "window: theft. A `SESSION_REVOKED` event with cause `THEFT` follows.",
        "SESSION_REVOKED": "The session was revoked; `cause` says why.",
        "SESSION_EXPIRED": "The sweeper deleted the session, past its absolute lifetime "
        "and the retention period.",
        "CONFIG_CREATED": "A session config was created (`tag` names it).",
        "CONFIG_UPDATED": "A session config was changed (`updateSessionConfig`).",
        "CONFIG_DELETED": "A session config was deleted, with every session minted under it.",
        "KEY_CREATED": "A key of the (product, env) ring was made on first need; its `kid` "
        "is the `subject`.",
        "KEY_ROTATED": "A rotation made a new active key of the ring (one event per new key, "
        "its `kid` the `subject`); the previous keys verify until their `retireAt`.",
        "API_KEY_CREATED": "An API key was created; its id is the `subject`.",
        "API_KEY_REVOKED": "An API key was revoked; its id is the `subject`.",
        "PRODUCT_CREATED": "A product was created, with its environments.",
    },
)
described_enum(
    RevocationCause,
    name="RevocationCause",
    description="Why a session was revoked: by an API key (`revokeSession`), by the end "
    "user (`logout`), by another of the user's sessions (`logoutOtherSessions`), or on a "
    "reused refresh token (theft).",
    values={
        "API_KEY": "An API key revoked it (`revokeSession`, or the OAuth revocation endpoint).",
        "END_USER": "The end user logged out of it (`logout`).",
        "LOGOUT_OTHERS": "Another session of the same user logged out the others "
        "(`logoutOtherSessions`).",
        "THEFT": "A spent refresh token of it was reused: it is taken as stolen.",
    },
)


@strawberry.type(
    description="One entry of the session event log, written in the same "
    "transaction as the change it records. It never holds a token or a secret."
)
class SessionEvent:
    id: strawberry.ID = strawberry.field(description="The event's id in the log.")
    cursor: str = strawberry.field(
        description="The event's position in the log: pass it as `after` to read on from it "
        "(`sessionActivity`: older events; `sessionEvents`: newer ones)."
    )
    type: EventType = strawberry.field(description="What happened.")
    at: datetime = strawberry.field(description="When it happened.")
    product: str | None = strawberry.field(
        description="The product's tag; null for an admin API key's events."
    )
    env: str | None = strawberry.field(description="The environment, for session and key events.")
    tag: str | None = strawberry.field(description="The session config's tag.")
    session_id: strawberry.ID | None = strawberry.field(
        description="The session, for session events."
    )
    identifier: str | None = strawberry.field(
        description="The session's identifier (its config's selector's value)."
    )
    cause: RevocationCause | None = strawberry.field(
        description="Why the session was revoked (`SESSION_REVOKED` only)."
    )
    actor: str = strawberry.field(
        description="Who made the change: `key:<API key id>`, `session:<session id>` (the "
        "session's own refresh token or session token) or `system` (the sweeper, start-up)."
    )
    client_address: str | None = strawberry.field(
        description="The client's IP address, for changes made over a request."
    )
    user_agent: str | None = strawberry.field(
        description="The client's `User-Agent`, for changes made over a request (at most 256 "
        "characters)."
    )
    subject: str | None = strawberry.field(
        description="What a change that is not to a session is about: the API key's id, the "
        "signing key's `kid`."
    )

    @classmethod
    def of(cls, record: EventRecord) -> SessionEvent:
        return cls(
            id=strawberry.ID(str(record.id)),
            cursor=cursor(record),
            type=EventType(record.type),
            at=utc(record.at),
            product=record.product,
            env=record.env,
            tag=record.tag,
            session_id=None if record.session_id is None else strawberry.ID(record.session_id),
            identifier=record.identifier,
            cause=None if record.cause is None else RevocationCause(record.cause),
            actor=record.actor,
            client_address=record.client_address,
            user_agent=record.user_agent,
            subject=record.subject,
        )


@strawberry.type(description="An event and its cursor.")
class SessionEventEdge:
    cursor: str = strawberry.field(description="The event's cursor.")
    node: SessionEvent = strawberry.field(
        description="The event at this position of the log, newest first."
    )


@strawberry.type(description="A page of session events, newest first.")
class SessionEventConnection:
    edges: list[SessionEventEdge] = strawberry.field(description="The page's events.")
    page_info: PageInfo = strawberry.field(
        description="Whether older events follow, and the cursor to read them after."
    )

    @classmethod
    def of(cls, page: EventPage) -> SessionEventConnection:
        edges = [SessionEventEdge(cursor=cursor(e), node=SessionEvent.of(e)) for e in page.events]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
