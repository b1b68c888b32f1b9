"""Process-wide logging: one line per record, as JSON or as plain text, each with an
RFC 3339 timestamp (UTC, milliseconds), the level, the logger and the id of the request
it was written for; and none of the record fields it never prints looked up.

The one reach into the standard library's internals is here
(``_skip_unprinted_fields``); Strawberry's are all in schema/engine.py, which service/
must not import."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Literal, TextIO

LogFormat = Literal["json", "text"]

REQUEST_ID: ContextVar[str | None] = ContextVar("tessera_request_id", default=None)
"""The id of the request being served (web/requestid.py sets it), for every line logged
while serving it."""

# The audit logger's messages are JSON objects already: in JSON lines their fields are
# spliced in beside the line's own rather than quoted as one string.
AUDIT_LOGGER = "tessera.audit"


def timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) in RFC 3339, UTC, with milliseconds:
    ``2027-01-15T08:00:00.000Z``."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request it was logged for (or ``None``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """``<time> LEVEL logger: message``, then `` request_id=<id>`` while serving one."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{timestamp(record.created)} {record.levelname} {record.name}: "
        line += record.getMessage()
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line += f" request_id={request_id}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``pid``, the
    ``message`` (or, for an audit line, its own fields), ``request_id`` while serving a
    request, and ``exception`` when one is logged."""

    def format(self, record: logging.LogRecord) -> str:
        head: dict[str, object] = {
            "time": timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "pid": os.getpid(),
        }
        if record.exc_info:
            head["exception"] = self.formatException(record.exc_info)
        message = record.getMessage()
        if record.name == AUDIT_LOGGER and message.startswith("{") and len(message) > 2:
            # The audit line's own JSON object (its request_id included), with the
            # line's fields in front.
            return json.dumps(head, separators=(",", ":"))[:-1] + "," + message[1:]
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            head["request_id"] = request_id
        head["message"] = message
        return json.dumps(head, separators=(",", ":"))


def handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing ``log_format`` lines to ``stream`` (stderr), request ids
    included."""
    out = logging.StreamHandler(stream or sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    out.addFilter(RequestIdFilter())
    return out


def configure(level: str, log_format: LogFormat = "text") -> None:
    """Log records at ``level`` and above to stderr, one ``log_format`` line each
    (nothing changes if the root logger has handlers already, e.g. another server's)."""
    _skip_unprinted_fields()
    logging.basicConfig(level=level.upper(), handlers=[handler(log_format)])


def _skip_unprinted_fields() -> None:
    """Tell the logging module not to find what the formats never print.

    A reach into the standard library: ``logging._srcfile`` is a private name (the three
    switches beside it are public). Replaces what the logging module does for every
    record: walk the stack for the caller's source line, and ask the threading and
    multiprocessing modules for the thread and process. Gain: more than a quarter of the
    cost of each operation's audit line (callgrind, verifySession at INFO). The logging
    HOWTO lists these switches under "Optimization"; verified on CPython 3.11, and
    tests/service/test_logs.py fails should a version stop honouring them."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
