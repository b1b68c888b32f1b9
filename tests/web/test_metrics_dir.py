"""The multiprocess directory prepared before workers start."""

from __future__ import annotations

from pathlib import Path

import pytest

from web import metrics


def test_prepare_workers_without_a_directory_makes_a_private_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_DIR, raising=False)

    directory = metrics.prepare_workers()
    try:
        assert directory.is_dir() and not list(directory.iterdir())
        assert (directory.stat().st_mode & 0o777) == 0o700
        assert metrics.multiprocess_dir() == str(directory)
    finally:
        directory.rmdir()
        monkeypatch.delenv(metrics.MULTIPROC_DIR)


def test_prepare_workers_empties_the_operators_directory_of_an_earlier_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    given = tmp_path / "mp"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"old")
    (given / "gauge_livesum_123.db").write_bytes(b"old")
    (given / "keep.txt").write_text("not ours")
    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(given))

    assert metrics.prepare_workers() == given
    assert sorted(p.name for p in given.iterdir()) == ["keep.txt"]


def test_worker_exited_drops_its_live_gauges_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("counter_7.db", "gauge_livesum_7.db", "gauge_livesum_8.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(tmp_path))

    metrics.worker_exited(7)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_7.db", "gauge_livesum_8.db"]
