"""The Federation 2 entities: ``Session`` by its ``id`` (schema/sessions.py) and
``SessionUser``, the person whose sessions another subgraph can show, by
``product env identifier``.

``_entities`` is a root field like any other (its policy is in schema/__init__.py); its
representations are checked and turned into typed keys by ``RepresentationKeys`` where
every field's arguments are checked (schema/edge.py): before anything else runs,
authentication included."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.extensions import FieldExtension

from resolvers import sessions as session_resolvers
from schema.arguments import After, First
from schema.context import Info
from schema.scalars import JSON
from schema.sessions import Session, SessionConnection
from service.errors import FieldError, InvalidInput
from service.validation import Kind, string_problem

MAX_REPRESENTATIONS = 100
"""Entities one ``_entities`` call may ask for: each is a lookup, and a query plan asks
for one per item of a list a subgraph returned (a page of at most 100 here)."""


async def _sessions(
    root: SessionUser, info: Info, first: First = None, after: After = None
) -> SessionConnection:
    return await session_resolvers.user_sessions(
        info, root.product, root.env, root.identifier, root.readable_tag, first, after
    )


@strawberry.federation.type(
    keys=["product env identifier"],
    description="A person, as Tessera knows them: the `identifier` the session configs' "
    "selectors picked, in one product's env. The identifier alone is not unique: the "
    "same user id or email can be a user of several products and envs.",
)
class SessionUser:
    product: str = strawberry.field(description="The product's tag.")
    env: str = strawberry.field(description="The product's environment.")
    identifier: str = strawberry.field(
        description="The person's identifier: what the configs' selectors picked (a user "
        "id by default, or e.g. an email)."
    )
    sessions: SessionConnection = strawberry.field(
        resolver=_sessions,
        description="Their live sessions of every session config, newest first; with an "
        "end user's session token, those of its config only, as `mySessions`. `first` is "
        "at most 100.",
    )
    # The one config the caller may read these sessions in; None: every one.
    readable_tag: strawberry.Private[str | None]
    first_seen_at: datetime | None = strawberry.field(
        default=None,
        description="When their first session started. Like every field below, null "
        "when not asked through `sessionUsers` or `sessionUser`.",
    )
    last_seen_at: datetime | None = strawberry.field(
        default=None,
        description="When a session of theirs was last started or refreshed (verifying a "
        "token does not count).",
    )
    live_sessions: int | None = strawberry.field(
        default=None, description="Their sessions neither revoked nor expired, now."
    )
    total_sessions: int | None = strawberry.field(
        default=None,
        description="Every session started for them, ended ones included (also after "
        "they were deleted).",
    )
    tags: list[str] | None = strawberry.field(
        default=None,
        description="The session configs (tags) their sessions were started with, alphabetically.",
    )
    user_id: str | None = strawberry.field(
        default=None, description="`data.userId` of their latest session."
    )
    details: JSON | None = strawberry.field(
        default=None,
        description="`data.details` of their latest session; null also if the stored "
        "copy cannot be decrypted (the row was altered outside Tessera).",
    )


Entity = Annotated[
    Session | SessionUser,
    strawberry.union(
        "_Entity",
        description="Federation: the entities Tessera resolves, `Session` and `SessionUser`.",
    ),
]


@dataclass(frozen=True, slots=True)
class SessionKey:
    id: str


@dataclass(frozen=True, slots=True)
class SessionUserKey:
    product: str
    env: str
    identifier: str


EntityKey = SessionKey | SessionUserKey

# The key fields of each entity, in the order their problems are listed.
_KEYS: dict[str, tuple[str, ...]] = {
    "Session": ("id",),
    "SessionUser": ("product", "env", "identifier"),
}


def _key(representation: Any, path: str, problems: list[FieldError]) -> EntityKey | None:
    if not isinstance(representation, Mapping):
        problems.append(FieldError(path, f"{path} must be an object"))
        return None
    typename = representation.get("__typename")
    fields = _KEYS.get(typename) if isinstance(typename, str) else None
    if fields is None:
        where = f"{path}.__typename"
        problems.append(FieldError(where, f"{where} must be one of {', '.join(_KEYS)}"))
        return None
    if len(representation) > len(fields) + 1:
        # Named by position only: an unknown field's name may be anything at all.
        known = ", ".join(fields)
        problems.append(FieldError(path, f"{path} may hold only __typename and {known}"))
        return None
    values: list[str] = []
    for name in fields:
        value, where = representation.get(name), f"{path}.{name}"
        if not isinstance(value, str):
            problems.append(FieldError(where, f"{where} must be a string"))
        elif (problem := string_problem(value, Kind.NAME)) is not None:
            problems.append(FieldError(where, f"{where} {problem}"))
        else:
            values.append(value)
    if len(values) < len(fields):
        return None
    return SessionKey(*values) if typename == "Session" else SessionUserKey(*values)


def entity_keys(representations: Any) -> list[EntityKey]:
    """The typed keys of ``representations``, or ``InvalidInput`` naming every
    representation (``representations.2.id``) that is not one of an entity's keys."""
    if len(representations) > MAX_REPRESENTATIONS:
        raise InvalidInput(
            f"representations may hold at most {MAX_REPRESENTATIONS} entities",
            field="representations",
        )
    problems: list[FieldError] = []
    keys = [_key(r, f"representations.{i}", problems) for i, r in enumerate(representations)]
    if problems:
        raise InvalidInput(
            problems[0].message, field=problems[0].field, field_errors=tuple(problems)
        )
    return [key for key in keys if key is not None]


class RepresentationKeys(FieldExtension):
    """``_entities``'s representations as typed keys (``entity_keys``), for its
    permission check and resolver."""

    def map_arguments(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, "representations": entity_keys(kwargs["representations"])}
