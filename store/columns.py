"""Column lists, derived from the records: a table's columns are its record's fields, in
their order, so ``Record(*row)`` works on either database and a column is declared once
(as its record's field) besides the migration that adds it.

``WORDS`` offers the lists to the statements (``store.statements``) as ``{name}``
markers: ``{x_columns}`` is a select list, ``{x_params}`` the matching ``:name``
parameters, ``{config_assignments}`` the ``SET`` list of a config update."""

from __future__ import annotations

from dataclasses import fields

from store.records import (
    ApiKeyRecord,
    ConfigValues,
    EventRecord,
    KeyRecord,
    NewEvent,
    NewSession,
    PersistedDocumentRecord,
    SessionConfigRecord,
    SessionRecord,
    SessionUserRecord,
)


def _names(record: type, *, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(f.name for f in fields(record) if f.name not in exclude)


def _list(names: tuple[str, ...], form: str = "{}") -> str:
    return ", ".join(form.format(name) for name in names)


CONFIG_FIELDS = _names(ConfigValues)
CONFIG_COLUMNS = _names(SessionConfigRecord)
SESSION_COLUMNS = _names(SessionRecord)
NEW_SESSION_FIELDS = _names(NewSession)
KEY_COLUMNS = _names(KeyRecord)
# ``product`` is the owning product's tag, joined on reads: not a column of api_keys.
API_KEY_COLUMNS = _names(ApiKeyRecord, exclude=("product",))
PERSISTED_DOCUMENT_COLUMNS = _names(PersistedDocumentRecord)
NEW_EVENT_FIELDS = _names(NewEvent)
EVENT_COLUMNS = _names(EventRecord)
# The last two are worked out on reads (store.statements), not stored.
SESSION_USER_COLUMNS = _names(SessionUserRecord, exclude=("live_sessions", "tags"))

WORDS: dict[str, str] = {
    "config_columns": _list(CONFIG_COLUMNS),
    "config_fields": _list(CONFIG_FIELDS),
    "config_params": _list(CONFIG_FIELDS, ":{}"),
    "config_assignments": _list(CONFIG_FIELDS, "{0} = :{0}"),
    "session_columns": _list(SESSION_COLUMNS),
    "new_session_fields": _list(NEW_SESSION_FIELDS),
    "new_session_params": _list(NEW_SESSION_FIELDS, ":{}"),
    "key_columns": _list(KEY_COLUMNS),
    "key_params": _list(KEY_COLUMNS, ":{}"),
    "api_key_columns": _list(API_KEY_COLUMNS),
    "api_key_params": _list(API_KEY_COLUMNS, ":{}"),
    # Read with the product's tag last (ApiKeyRecord.product), so scope checks need no
    # second query.
    "api_key_select": _list(API_KEY_COLUMNS, "k.{}") + ", p.tag",
    "persisted_document_columns": _list(PERSISTED_DOCUMENT_COLUMNS),
    "persisted_document_params": _list(PERSISTED_DOCUMENT_COLUMNS, ":{}"),
    "event_columns": _list(EVENT_COLUMNS),
    "new_event_fields": _list(NEW_EVENT_FIELDS),
    "new_event_params": _list(NEW_EVENT_FIELDS, ":{}"),
    "session_user_columns": _list(SESSION_USER_COLUMNS),
    "session_user_select": _list(SESSION_USER_COLUMNS, "u.{}"),
}
