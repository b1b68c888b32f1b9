"""Process-wide logging: one plain format, and none of the record fields it never
prints looked up.

The one reach into the standard library's internals is here
(``_skip_unprinted_fields``); Strawberry's are all in schema/engine.py, which service/
must not import."""

from __future__ import annotations

import logging

FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    """Log records at ``level`` and above to stderr, as ``LEVEL logger: message``."""
    _skip_unprinted_fields()
    logging.basicConfig(level=level.upper(), format=FORMAT)


def _skip_unprinted_fields() -> None:
    """Tell the logging module not to find what ``FORMAT`` never prints.

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
