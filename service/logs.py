"""Process-wide logging: one plain format, and none of the record fields it never
prints looked up."""

from __future__ import annotations

import logging

FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    """Log records at ``level`` and above to stderr, as ``LEVEL logger: message``.

    The format names no source line, thread or process, so the logging module is told
    not to find them: it would walk the stack for the caller and ask the threading and
    multiprocessing modules on every record, which was more than a quarter of the cost
    of each operation's audit line (callgrind, verifySession at INFO). These switches
    are the ones the logging HOWTO lists under "Optimization"."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.basicConfig(level=level.upper(), format=FORMAT)
