"""Scalars: ``JSON`` for free-form details, ``DateTime`` as ISO-8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from strawberry.scalars import JSON

__all__ = ["JSON", "utc"]


def utc(timestamp: float) -> datetime:
    """A Unix timestamp as an aware UTC ``datetime`` (serialized as ISO-8601)."""
    return datetime.fromtimestamp(timestamp, tz=UTC)
