from __future__ import annotations

import json
import logging
import re
import sys

import pytest

from service import logs

RFC3339_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def record(name: str, level: int, message: str, *args: object) -> logging.LogRecord:
    """A record as a logger makes it, stamped by the handler's filter as it would be."""
    made = logging.getLogger(name).makeRecord(name, level, __file__, 1, message, args, None)
    logs.RequestIdFilter().filter(made)
    return made


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
    line = logging.root.handlers[0].format(record)
    stamp, _, rest = line.partition(" ")
    assert RFC3339_MS.fullmatch(stamp), line
    assert rest == "INFO tessera.test.logs: hello world"


def test_timestamp_is_rfc3339_utc_with_milliseconds() -> None:
    assert logs.timestamp(1_800_000_000.0) == "2027-01-15T08:00:00.000Z"
    assert logs.timestamp(1_800_000_000.0429) == "2027-01-15T08:00:00.042Z"
    assert logs.timestamp(0.999) == "1970-01-01T00:00:00.999Z"


def test_json_line_has_time_level_logger_and_message() -> None:
    line = logs.JsonFormatter().format(record("tessera.x", logging.WARNING, "a %s b", '"q"'))

    parsed = json.loads(line)
    assert RFC3339_MS.fullmatch(parsed.pop("time"))
    assert isinstance(parsed.pop("pid"), int)
    assert parsed == {"level": "WARNING", "logger": "tessera.x", "message": 'a "q" b'}
    assert "\n" not in line


def test_json_line_carries_the_request_id_of_the_request_being_served() -> None:
    token = logs.REQUEST_ID.set("abc123")
    try:
        inside = json.loads(logs.JsonFormatter().format(record("tessera", logging.ERROR, "x")))
        text = logs.TextFormatter().format(record("tessera", logging.ERROR, "x"))
    finally:
        logs.REQUEST_ID.reset(token)
    outside = json.loads(logs.JsonFormatter().format(record("tessera", logging.ERROR, "x")))

    assert inside["request_id"] == "abc123"
    assert text.endswith("ERROR tessera: x request_id=abc123")
    assert "request_id" not in outside


def test_json_line_of_an_exception_keeps_the_traceback_in_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        made = logging.getLogger("tessera").makeRecord(
            "tessera", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = logs.JsonFormatter().format(made)

    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed"
    assert "RuntimeError: boom" in parsed["exception"]


def test_json_audit_line_is_one_flat_object() -> None:
    payload = {"event": "operation", "outcome": "ok", "request_id": "r1"}
    made = record("tessera.audit", logging.INFO, json.dumps(payload))

    parsed = json.loads(logs.JsonFormatter().format(made))

    assert parsed["level"] == "INFO" and parsed["logger"] == "tessera.audit"
    assert {k: parsed[k] for k in payload} == payload
    assert "message" not in parsed


def test_configure_json_writes_json_lines_to_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(logging.root, "level", logging.root.level)
    monkeypatch.setattr(logging.root, "handlers", [])
    logs.configure("info", "json")
    logging.getLogger("tessera.test.json").info("hello")
    logging.getLogger("tessera.test.json").debug("not at info")

    [line] = capsys.readouterr().err.splitlines()
    assert json.loads(line)["message"] == "hello"
