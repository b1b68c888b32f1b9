"""Rows to records and records to statement arguments, for both drivers.

A row is whatever the driver returns — an sqlite3 tuple or an asyncpg ``Record`` —
indexed by position in the order of ``store.columns``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any, Protocol

from store.columns import (
    API_KEY_COLUMNS,
    CONFIG_FIELDS,
    KEY_COLUMNS,
    NEW_EVENT_FIELDS,
    NEW_SESSION_FIELDS,
    PERSISTED_DOCUMENT_COLUMNS,
)
from store.records import (
    ApiKeyRecord,
    ConfigValues,
    EventRecord,
    KeyRecord,
    NewEvent,
    NewSession,
    PersistedDocumentRecord,
    ProductRecord,
    SessionConfigRecord,
    SessionRecord,
    SessionUserRecord,
)


class Row(Protocol):
    def __getitem__(self, index: int, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


Args = tuple[object, ...]

# API keys store their envs as a JSON list and is_admin as 0/1 (portable types).
_ENVS = API_KEY_COLUMNS.index("envs")
_IS_ADMIN = API_KEY_COLUMNS.index("is_admin")

# Records to statement arguments, in the order of their {..._params} (store.columns).
_config_values: Callable[[ConfigValues], Args] = attrgetter(*CONFIG_FIELDS)
# Flags are stored as 0/1 (portable types).
_SIGNED_DETAILS = CONFIG_FIELDS.index("signed_details")
new_session_args: Callable[[NewSession], Args] = attrgetter(*NEW_SESSION_FIELDS)
key_args: Callable[[KeyRecord], Args] = attrgetter(*KEY_COLUMNS)
_api_key_values: Callable[[ApiKeyRecord], Args] = attrgetter(*API_KEY_COLUMNS)
new_event_args: Callable[[NewEvent], Args] = attrgetter(*NEW_EVENT_FIELDS)
_EVENT_SESSION = NEW_EVENT_FIELDS.index("session_id")
_EVENT_IDENTIFIER = NEW_EVENT_FIELDS.index("identifier")
persisted_document_args: Callable[[PersistedDocumentRecord], Args] = attrgetter(
    *PERSISTED_DOCUMENT_COLUMNS
)


def product(row: Row) -> ProductRecord:
    # Env slugs cannot contain ",", so the aggregate ({env_list}) splits back exactly.
    envs = tuple(row[4].split(",")) if row[4] else ()
    return ProductRecord(row[0], row[1], row[2], envs, row[3])


def config_args(values: ConfigValues) -> Args:
    args = list(_config_values(values))
    args[_SIGNED_DETAILS] = int(values.signed_details)
    return tuple(args)


def config(row: Row) -> SessionConfigRecord:
    values = list(row)
    values[_SIGNED_DETAILS] = bool(values[_SIGNED_DETAILS])
    return SessionConfigRecord(*values)


def session(row: Row) -> SessionRecord:
    return SessionRecord(*row)


def new_session_values(session: NewSession) -> dict[str, object]:
    """A new session's columns by name (``Statements.bind``)."""
    return dict(zip(NEW_SESSION_FIELDS, new_session_args(session), strict=True))


def session_user(row: Row) -> SessionUserRecord:
    # Tags are slugs, which cannot contain ",": the aggregate ({user_tags}) splits back.
    values: list[Any] = list(row)
    values[-2] = int(values[-2])
    values[-1] = tuple(values[-1].split(",")) if values[-1] else ()
    return SessionUserRecord(*values)


def key(row: Row) -> KeyRecord:
    return KeyRecord(*row)


def api_key(row: Row) -> ApiKeyRecord:
    values = list(row)
    envs = values[_ENVS]
    values[_ENVS] = None if envs is None else tuple(json.loads(envs))
    values[_IS_ADMIN] = bool(values[_IS_ADMIN])
    return ApiKeyRecord(*values)


def api_key_args(key: ApiKeyRecord) -> Args:
    values = list(_api_key_values(key))
    values[_ENVS] = None if key.envs is None else json.dumps(list(key.envs))
    values[_IS_ADMIN] = int(key.is_admin)
    return tuple(values)


def persisted_document(row: Row) -> PersistedDocumentRecord:
    return PersistedDocumentRecord(*row)


def event(row: Row) -> EventRecord:
    return EventRecord(*row)


def event_args_for(event: NewEvent, session_id: object, identifier: object) -> Args:
    """``event``'s arguments with the session id and identifier of the row it is for."""
    values = list(new_event_args(event))
    values[_EVENT_SESSION] = session_id
    values[_EVENT_IDENTIFIER] = identifier
    return tuple(values)
