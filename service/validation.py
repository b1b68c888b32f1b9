"""Input rules: the edge rule every caller-supplied string and JSON value obeys, and the
shapes the services ask of slugs and names.

The edge rule is checked once, where a value enters Tessera (every field's arguments in
schema/edge.py, the HTTP envelope in web/envelope.py, the command line in cli.py), so nothing
behind it meets a value the databases or the JSON encoder cannot take:

- every string encodes as UTF-8: a lone surrogate does not, and failed deep inside a
  driver (a 500) instead of being refused;
- names and ids hold no control characters (NUL above all, which PostgreSQL text cannot
  hold); free text may hold tabs and line breaks, nothing else of them;
- names and ids are at most ``MAX_STRING_LENGTH`` characters, free text
  ``MAX_TEXT_LENGTH``: one limit on both databases, well under PostgreSQL's limit on an
  index row (an identifier is indexed);
- a JSON value holds encodable keys and strings and finite numbers only: ``NaN`` and
  ``Infinity`` are not JSON, and a stored one made every response carrying it
  unreadable.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Any

from service.errors import FieldError, InvalidInput

MAX_STRING_LENGTH = 256
MAX_TEXT_LENGTH = 2000


class Kind(Enum):
    """What a caller-supplied string is, which decides what the edge rule asks of it."""

    NAME = "name"
    """Names, ids, slugs, selectors, cursors: bounded, no control characters."""
    TEXT = "text"
    """Free text (a description): bounded, line breaks and tabs allowed."""
    JSON = "json"
    """A JSON value: encodable keys and strings, finite numbers. Its strings are content
    (any character may be escaped in JSON); the services bound its serialized size."""
    CREDENTIAL = "credential"
    """A token: its own check answers for it (``valid: false``, ``REFRESH_TOKEN_INVALID``,
    ``UNAUTHENTICATED``), never ``INVALID_INPUT``, and bounds it before parsing."""


_SURROGATE = "[\ud800-\udfff]"
_UNENCODABLE = re.compile(_SURROGATE)
_REFUSED = {
    Kind.NAME: (re.compile(f"[\x00-\x1f\x7f-\x9f]|{_SURROGATE}"), MAX_STRING_LENGTH),
    Kind.TEXT: (re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|{_SURROGATE}"), MAX_TEXT_LENGTH),
    Kind.JSON: (_UNENCODABLE, None),
}
UNENCODABLE = "must be valid Unicode (it holds a lone surrogate)"
CONTROL = "must not contain control characters"


def string_problem(value: str, kind: Kind, *, bounded: bool = True) -> str | None:
    """What is wrong with ``value`` as a string of ``kind``, as a phrase to follow the
    field's name, or ``None``. A credential has no problem here (see ``Kind``)."""
    if kind is Kind.CREDENTIAL:
        return None
    refused, max_length = _REFUSED[kind]
    if bounded and max_length is not None and len(value) > max_length:
        return f"may be at most {max_length} characters"
    if value.isascii() and (kind is Kind.JSON or value.isprintable()):
        return None  # the common case, answered without a search
    found = refused.search(value)
    if found is None:
        return None
    return UNENCODABLE if "\ud800" <= found.group() <= "\udfff" else CONTROL


def json_problems(value: Any, path: str) -> list[FieldError]:
    """Every key, string or number of the JSON ``value`` the edge rule refuses, by its
    dotted path below ``path`` (list items by index). Walked without recursion, so any
    nesting is answered."""
    if _acceptable(value):
        return []
    problems: list[FieldError] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if string_problem(item, Kind.JSON) is not None:
                problems.append(FieldError(where, f"{where} {UNENCODABLE}"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                problems.append(FieldError(where, f"{where} must be a finite number"))
        elif isinstance(item, dict):
            for key, child in item.items():
                if string_problem(key, Kind.JSON) is not None:
                    problems.append(FieldError(where, f"{where} has a key that {UNENCODABLE}"))
                else:
                    stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}.{i}") for i, child in enumerate(item))
    return sorted(problems, key=lambda p: p.field)


def _acceptable(value: Any) -> bool:
    """Whether the JSON ``value`` has no problem at all: the common case, walked without
    building the path of every item."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _UNENCODABLE.search(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            if any(not key.isascii() and _UNENCODABLE.search(key) for key in item):
                return False
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def require(value: str, kind: Kind, field: str) -> str:
    """``value`` if the edge rule accepts it as a string of ``kind``, else
    ``InvalidInput`` for ``field``: for a string that enters elsewhere than through
    GraphQL (the command line), or that a service derives from JSON to become a name or
    an id (the value a selector picks)."""
    problem = string_problem(value, kind)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", field=field)
    return value


# Shapes the services ask of values that passed the edge ---------------------------------

SLUG = re.compile(r"[a-z0-9_-]{1,64}")
MAX_NAME_LENGTH = 200
MAX_USER_ID_LENGTH = MAX_STRING_LENGTH


def slug(value: str, field: str) -> str:
    """Return ``value`` if it is a valid slug, else raise ``InvalidInput`` for ``field``."""
    if not SLUG.fullmatch(value):
        raise InvalidInput(
            f"{field} must be 1-64 lower-case letters, digits, '-' or '_'", field=field
        )
    return value


def name(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{field} must be 1-{MAX_NAME_LENGTH} characters", field=field)
    return text(value, field)


def text(value: str, field: str) -> str:
    """``value`` unless the edge rule refuses it as free text, its length aside. The
    services keep this check for their callers that pass no edge (the benchmark's
    baseline calls them directly)."""
    problem = string_problem(value, Kind.TEXT, bounded=False)
    if problem is not None:
        raise InvalidInput(f"{field} {problem}", field=field)
    return value
