"""Opaque page cursors: a short JSON array, unpadded base64url. Each listing decides
what its array holds and checks the shape of what ``open`` gives back."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any


def seal(key: list[Any]) -> str:
    """The cursor of a listing position ``key`` (JSON-encodable scalars)."""
    raw = json.dumps(key, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def open_(cursor: str, max_length: int) -> Any:
    """What ``seal`` put in ``cursor``, or ``None`` when it is longer than
    ``max_length`` or not base64url JSON at all. The caller checks the shape."""
    if len(cursor) > max_length:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):  # bad UTF-8 is a ValueError
        return None
