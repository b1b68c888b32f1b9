"""Errors the store raises; the service translates them into domain errors."""

from __future__ import annotations


class Conflict(Exception):
    """A uniqueness constraint refused the write."""


class StoreUnavailable(Exception):
    """The database cannot be reached or used right now."""


# Conflict's message where a caller names nothing better. Never the driver's own
# message: it quotes the conflicting values.
CONFLICT = "a uniqueness constraint refused the write"
