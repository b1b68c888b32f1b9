"""Errors the store raises; the service translates them into domain errors."""

from __future__ import annotations


class Conflict(Exception):
    """A uniqueness constraint refused the write."""


class StoreUnavailable(Exception):
    """The database cannot be reached or used right now."""
