"""Input rules shared by the services."""

from __future__ import annotations

import re

from service.errors import InvalidInput

SLUG = re.compile(r"[a-z0-9_-]{1,64}")
# Control characters (NUL above all, which PostgreSQL text cannot hold) never belong in
# names, ids or descriptions.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_NAME_LENGTH = 200
MAX_USER_ID_LENGTH = 256


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
    """``value`` unless it holds control characters or unpaired surrogates."""
    if CONTROL.search(value):
        raise InvalidInput(f"{field} must not contain control characters", field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} must be valid Unicode", field=field) from None
    return value
