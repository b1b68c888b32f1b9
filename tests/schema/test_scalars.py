"""The ``DateTime`` scalar: one output format, RFC 3339 UTC with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schema.scalars import format_datetime, parse_datetime, utc

FORMAT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


@pytest.mark.parametrize(
    ("timestamp", "text"),
    [
        (1_800_000_000.0, "2027-01-15T08:00:00.000Z"),  # no fraction: still three digits
        (1_800_000_000.123456, "2027-01-15T08:00:00.123Z"),  # microseconds cut
        (1_800_000_000.9999, "2027-01-15T08:00:00.999Z"),  # never rounded to the next second
        (0.0, "1970-01-01T00:00:00.000Z"),
        (253_402_300_799.0, "9999-12-31T23:59:59.000Z"),
    ],
)
def test_format_datetime_is_utc_with_milliseconds(timestamp: float, text: str) -> None:
    assert format_datetime(utc(timestamp)) == text


def test_format_datetime_other_offset_is_normalised_to_utc() -> None:
    paris = datetime(2027, 1, 15, 9, 0, 0, 250_000, tzinfo=timezone(timedelta(hours=1)))

    assert format_datetime(paris) == "2027-01-15T08:00:00.250Z"


def test_format_datetime_naive_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        format_datetime(datetime(2027, 1, 15, 8, 0))


@pytest.mark.parametrize(
    "text",
    [
        "2027-01-15T08:00:00.000Z",
        "2027-01-15T08:00:00Z",
        "2027-01-15t08:00:00.000z",
        "2027-01-15T09:00:00.000+01:00",
        "2027-01-15T03:30:00-04:30",
        "2027-01-15T08:00:00.000000+00:00",
    ],
)
def test_parse_datetime_takes_any_rfc3339_offset_as_utc(text: str) -> None:
    parsed = parse_datetime(text)

    assert parsed == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "2027-01-15T08:00:00",  # no offset: not an instant
        "2027-01-15",
        "2027-W03-5T08:00:00Z",  # ISO week date, not RFC 3339
        "2027-01-15 08:00:00Z",
        "2027-13-15T08:00:00Z",
        "2027-01-15T08:00:60Z",  # leap second: datetime cannot hold it
        "1800000000",
        1_800_000_000,
        None,
    ],
)
def test_parse_datetime_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_datetime(value)


def test_parse_datetime_reads_what_format_datetime_writes() -> None:
    instant = utc(1_800_000_000.5)

    assert parse_datetime(format_datetime(instant)) == instant
