"""The media types ``/graphql`` answers in, negotiated from ``Accept`` as GraphQL over
HTTP says, and the status a result gets under each.

- ``application/graphql-response+json``: the specification's own type. A response under
  it is a GraphQL response whatever its status, so a request error (the document does
  not parse or validate, a limit, variables that do not coerce: nothing was executed)
  is answered ``400`` without a ``data`` entry, and a request the server failed before
  executing with ``500``/``503``.
- ``application/json``: the legacy type, for clients that name no other. Every GraphQL
  response under it is a ``200`` (an intermediary's error page may be JSON too), exactly
  as before this type existed.

Both are UTF-8, and say so. Tessera's own refusals of a request that is not one
operation (``BAD_REQUEST``, web/refusals.py) are ``400`` under either."""

from __future__ import annotations

from enum import Enum
from functools import lru_cache

from graphql import GraphQLError

from service.errors import RequestErrorCode


class Media(Enum):
    """A media type ``/graphql`` answers in; ``content_type`` is its header value."""

    GRAPHQL_RESPONSE = "application/graphql-response+json"
    JSON = "application/json"

    def __init__(self, media_type: str) -> None:
        self.content_type = f"{media_type}; charset=utf-8"


NOT_ACCEPTABLE = (
    "Accept application/graphql-response+json or application/json: /graphql answers in nothing else"
)
"""The text of a ``406``."""

# How closely a media range names a type: its q-value is the most specific one's.
_ANY, _SUBTYPES, _EXACT = 1, 2, 3
_UTF8 = frozenset({"utf-8", "utf8"})


def negotiate(accept: str | None) -> Media | None:
    """The media type to answer a request with this ``Accept`` header in (several
    headers joined with commas); ``None`` when it accepts neither (a ``406``).

    No header (or a blank one) is ``application/json``: the specification's default for
    legacy clients, which GraphQL-over-HTTP audits still expect. Otherwise RFC 9110:
    each type takes the q-value of the most specific range that matches it (``q=0``
    excludes); the higher q-value wins; at equal q-values a type the header names
    itself beats one a wildcard covers, and of two named alike
    ``application/graphql-response+json`` wins as the specification recommends — but
    of two only a wildcard (``*/*``, ``application/*``) covers, ``application/json``,
    which is what such generic clients have always got. A ``charset`` other than UTF-8
    makes a range match neither; other parameters are ignored, as neither type has any."""
    if accept is None or not accept.strip():
        return Media.JSON
    return _negotiated(accept)


@lru_cache(maxsize=256)
def _negotiated(accept: str) -> Media | None:
    # Clients send a handful of distinct headers: each is parsed once.
    ranges = [r for r in map(_media_range, accept.split(",")) if r is not None]
    best: tuple[float, int, bool] | None = None
    chosen: Media | None = None
    for media in Media:
        kind, subtype = media.value.split("/")
        quality, specificity = 0.0, 0
        for range_type, range_subtype, q in ranges:
            if range_type == "*" and range_subtype == "*":
                match = _ANY
            elif range_type == kind and range_subtype == "*":
                match = _SUBTYPES
            elif range_type == kind and range_subtype == subtype:
                match = _EXACT
            else:
                continue
            if match > specificity:
                quality, specificity = q, match
            elif match == specificity:
                quality = max(quality, q)
        if quality <= 0:
            continue
        preferred = (media is Media.GRAPHQL_RESPONSE) == (specificity == _EXACT)
        rank = (quality, specificity, preferred)
        if best is None or rank > best:
            best, chosen = rank, media
    return chosen


def _media_range(text: str) -> tuple[str, str, float] | None:
    """``(type, subtype, q)`` of one element of ``Accept``; ``None`` for an empty or
    malformed one, and for one whose charset is not UTF-8 (it matches nothing here)."""
    name, *parameters = text.split(";")
    kind, slash, subtype = name.strip().lower().partition("/")
    if not slash or not kind or not subtype or (kind == "*" and subtype != "*"):
        return None
    quality = 1.0
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if key == "q":
            try:
                quality = float(value)
            except ValueError:
                return None
            if not 0 <= quality <= 1:
                return None
            break  # what follows the weight are accept-extensions, none of them ours
        if key == "charset" and value not in _UTF8:
            return None
    return kind, subtype, quality


# A request error the server itself caused is not the client's 400.
_SERVER_FAULTS: dict[object, int] = {
    RequestErrorCode.INTERNAL_SERVER_ERROR: 500,
    RequestErrorCode.SERVICE_UNAVAILABLE: 503,
}


def request_error_status(data: object, errors: list[GraphQLError] | None) -> int | None:
    """The status of a result under ``application/graphql-response+json`` that is a
    request error (answered without ``data``), or ``None`` for one that was executed
    (a ``200``, whatever its field errors). A request error is a result without data
    whose errors all lack a ``path``: a field error always has one, even when it nulls
    the whole of ``data``, and so does an access error, raised by its root field."""
    if data is not None or not errors or any(e.path is not None for e in errors):
        return None
    codes = [(e.extensions or {}).get("code") for e in errors]
    return max((_SERVER_FAULTS.get(code, 400) for code in codes), default=400)
