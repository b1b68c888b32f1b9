"""The session event log: what each state change records, and reading it back.

Every change writes its event in its own transaction (the store's ``event``/``events``
arguments), so the log holds exactly the changes that committed. An event names its
product, env, config tag, session and identifier by value, who did it (``actor``: an
API key's id, ``session:<id>``, or ``system``) and, where the change came over a
request, the client's address and user agent. Never a token, refresh token or key.

A position in the log is ``(tx, id)`` (see ``store.dialects``); its text form, the
cursor clients hold, is opaque and checked strictly before it reaches the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from service import cursors
from service.errors import InvalidInput
from service.validation import text
from store import EXPIRED_EVENT, SYSTEM_ACTOR, EventRecord, EventScope, NewEvent, Store

MAX_CURSOR_LENGTH = 128
MAX_POSITION = 2**63 - 1
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# A user agent is the client's word: kept for reading, bounded, on one line.
MAX_USER_AGENT_LENGTH = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class EventType(StrEnum):
    """What happened. The values are stored: never rename one."""

    SESSION_CREATED = "session_created"
    SESSION_REFRESHED = "session_refreshed"
    REFRESH_REUSED = "refresh_reused"
    SESSION_REVOKED = "session_revoked"
    SESSION_EXPIRED = EXPIRED_EVENT
    CONFIG_CREATED = "config_created"
    CONFIG_UPDATED = "config_updated"
    CONFIG_DELETED = "config_deleted"
    KEY_CREATED = "key_created"
    KEY_ROTATED = "key_rotated"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    PRODUCT_CREATED = "product_created"


SESSION_EVENTS = frozenset(
    {
        EventType.SESSION_CREATED,
        EventType.SESSION_REFRESHED,
        EventType.REFRESH_REUSED,
        EventType.SESSION_REVOKED,
        EventType.SESSION_EXPIRED,
    }
)


class RevocationCause(StrEnum):
    """Why a session was revoked (``session_revoked`` events)."""

    API_KEY = "api_key"
    END_USER = "end_user"
    LOGOUT_OTHERS = "logout_others"
    THEFT = "theft"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who made a change and from where. ``actor`` ``None``: the credential was the
    session's own (a refresh token, an end user's token), named by the change."""

    actor: str | None = None
    client_address: str | None = None
    user_agent: str | None = None

    @staticmethod
    def of_request(actor: str | None, client_address: str | None, user_agent: str | None) -> Origin:
        """An origin from a request's values, the user agent bounded and on one line."""
        if user_agent is not None:
            user_agent = _CONTROL.sub(" ", user_agent)[:MAX_USER_AGENT_LENGTH]
        return Origin(actor, client_address, user_agent)


SYSTEM = Origin(SYSTEM_ACTOR)


def event(
    type: EventType,
    at: float,
    origin: Origin,
    product: str | None,
    env: str | None = None,
    tag: str | None = None,
    *,
    session_id: str | None = None,
    identifier: str | None = None,
    cause: RevocationCause | None = None,
    subject: str | None = None,
) -> NewEvent:
    """The event a change records. A session change that names no ``session_id`` is
    recorded for each session it touches (the store fills them in)."""
    actor = origin.actor
    if actor is None:
        actor = f"session:{session_id}" if session_id is not None else SYSTEM_ACTOR
    return NewEvent(
        type=type.value,
        at=at,
        actor=actor,
        product=product,
        env=env,
        tag=tag,
        session_id=session_id,
        identifier=identifier,
        cause=None if cause is None else cause.value,
        client_address=origin.client_address,
        user_agent=origin.user_agent,
        subject=subject,
    )


def cursor(record: EventRecord) -> str:
    """The opaque cursor of an event's position."""
    return cursors.seal([record.tx, record.id])


def parse_cursor(value: str, field: str = "after") -> tuple[int, int]:
    """The position a cursor of ``cursor`` holds; anything else is ``InvalidInput``."""
    decoded = cursors.open_(value, MAX_CURSOR_LENGTH)
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or not all(type(n) is int and 0 <= n <= MAX_POSITION for n in decoded)
    ):
        raise InvalidInput(f"{field} is not a cursor of the event log", field=field)
    return decoded[0], decoded[1]


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page of events, newest first."""

    events: list[EventRecord]
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class ActivityFilter:
    """What ``sessionActivity`` narrows to, beyond its (product, env)."""

    tag: str | None = None
    identifier: str | None = None
    session_id: str | None = None
    types: tuple[EventType, ...] | None = None
    since: float | None = None
    until: float | None = None


class EventLog:
    """Reading the log: activity pages (the access check is the caller's)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def page(
        self,
        product: str,
        env: str,
        narrow: ActivityFilter,
        *,
        first: int | None = None,
        after: str | None = None,
    ) -> EventPage:
        """Events of (product, env) under ``narrow``, newest first, after the cursor
        ``after`` (an event's ``cursor``)."""
        limit = DEFAULT_PAGE_SIZE if first is None else first
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"first must be between 1 and {MAX_PAGE_SIZE}", field="first")
        before = None if after is None else parse_cursor(after)
        for value, field in (
            (narrow.tag, "tag"),
            (narrow.identifier, "identifier"),
            (narrow.session_id, "sessionId"),
        ):
            if value is not None:
                text(value, field)
        if narrow.types is not None and not narrow.types:
            raise InvalidInput("types must name at least one event type", field="types")
        if narrow.since is not None and narrow.until is not None and narrow.since >= narrow.until:
            raise InvalidInput("since must be before until", field="since")
        scope = EventScope(
            product,
            env,
            tag=narrow.tag,
            identifier=narrow.identifier,
            session_id=narrow.session_id,
            types=None if narrow.types is None else tuple(t.value for t in narrow.types),
            since=narrow.since,
            until=narrow.until,
        )
        found = await self._store.list_events(scope, before=before, limit=limit + 1)
        return EventPage(found[:limit], len(found) > limit)
