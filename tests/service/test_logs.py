from __future__ import annotations

import logging

import pytest

from service import logs


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_logs_configured_records_skip_caller_thread_and_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    # pytest's capture handlers are on the root logger while the test runs, and
    # basicConfig leaves a logger that has handlers alone.
    monkeypatch.setattr(logging.root, "handlers", [])
    logs.configure("info")
    collected = _Records()
    logger = logging.getLogger("tessera.test.logs")
    logger.addHandler(collected)
    try:
        logger.info("hello %s", "world")
    finally:
        logger.removeHandler(collected)

    [record] = collected.records
    assert logging.root.level == logging.INFO
    assert record.funcName == "(unknown function)"  # the stack was not walked
    assert record.threadName is None and record.processName is None
    assert logging.root.handlers[0].format(record) == "INFO tessera.test.logs: hello world"
