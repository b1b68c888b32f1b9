"""Scalars: ``JSON`` for free-form details, and ``DateTime`` in one format, RFC 3339 UTC
with milliseconds (``2027-01-15T08:00:00.000Z``), for every time in the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

__all__ = ["JSON", "SCALARS", "format_datetime", "parse_datetime", "utc"]


def utc(timestamp: float) -> datetime:
    """A Unix timestamp as an aware UTC ``datetime``, as every ``DateTime`` field takes."""
    return datetime.fromtimestamp(timestamp, tz=UTC)


def format_datetime(value: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ``, whatever the instant's offset: the fraction cut to
    milliseconds, never rounded up past the instant."""
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            # A naive datetime has no instant: a bug in the caller, not a format choice.
            raise ValueError("a DateTime needs a timezone")
        value = value.astimezone(UTC)
    # isoformat is C code: of the ways tried, the cheapest (verifySession's hot path
    # returns expiresAt); for UTC it always ends with "+00:00".
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


# RFC 3339 section 5.6 date-time: a full date, "T", a time with optional fraction and a
# mandatory offset. (datetime.fromisoformat alone also takes dates without a time, week
# dates and times without an offset.)
_RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def parse_datetime(value: object) -> datetime:
    """An RFC 3339 date-time with any offset, as an aware UTC ``datetime``."""
    text = value.upper() if isinstance(value, str) else ""
    if _RFC_3339.fullmatch(text):
        try:
            return datetime.fromisoformat(text).astimezone(UTC)
        except ValueError:  # e.g. month 13, or a leap second
            pass
    raise ValueError("a DateTime is RFC 3339 with an offset, e.g. 2027-01-15T08:00:00.000Z")


DATETIME = strawberry.scalar(
    name="DateTime",
    description="An instant, always in one shape: RFC 3339 in UTC with milliseconds, "
    "`2027-01-15T08:00:00.000Z`. As input, any RFC 3339 date-time with an offset.",
    serialize=format_datetime,
    parse_value=parse_datetime,
)

# Every ``datetime`` of every schema type is served as ``DateTime``.
SCALARS: dict[object, Any] = {datetime: DATETIME}
