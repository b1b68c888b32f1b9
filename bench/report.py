"""bench/RESULTS.md: medians per (store, stored sessions, operation, target), the
Tessera/baseline ratios, the machine and versions, every single run."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.run import Run, Scenario
    from bench.sealing import SealingCost

LIBRARIES = ("strawberry-graphql", "starlette", "uvicorn", "joserfc", "cryptography", "asyncpg")
OPERATION_ORDER = ("createSession", "verifySession", "refreshSession")


@dataclass(frozen=True, slots=True)
class ConfigView:
    duration: str
    rounds: int
    warmup: str | None
    connections: int
    threads: int
    verify_pool: int
    refresh_pool: int
    log_level: str


@dataclass(frozen=True, slots=True)
class Median:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: str
    error_total: int


def errors_of(runs: Sequence[Run]) -> str:
    """``non-2xx/socket/GraphQL`` summed over runs (timeouts count as socket errors)."""
    non2xx = sum(r.non2xx for r in runs)
    socket = sum(r.socket_errors + r.timeouts for r in runs)
    app = sum(r.app_errors for r in runs)
    return f"{non2xx}/{socket}/{app}"


def median_of(runs: Sequence[Run]) -> Median:
    return Median(
        rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        errors=errors_of(runs),
        error_total=sum(r.non2xx + r.socket_errors + r.timeouts + r.app_errors for r in runs),
    )


def _rows(scenario: Scenario) -> list[tuple[str, Median, Median]]:
    rows = []
    for op in OPERATION_ORDER:
        t = [r for r in scenario.runs if r.operation == op and r.target == "tessera"]
        b = [r for r in scenario.runs if r.operation == op and r.target == "baseline"]
        if t and b:
            rows.append((op, median_of(t), median_of(b)))
    return rows


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def summary_table(scenarios: Sequence[Scenario]) -> str:
    header = (
        "| store | stored sessions | operation | Tessera req/s | baseline req/s | "
        "req/s ratio | Tessera p50 | baseline p50 | Tessera p99 | baseline p99 | "
        "p50 ratio | errors Tessera | errors baseline |\n"
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    )
    lines = [header]
    for s in scenarios:
        stored = f"{s.label} ({s.stored_before:,})"
        for op, t, b in _rows(s):
            lines.append(
                f"| {s.database} | {stored} | {op} | {t.rps:,.0f} | {b.rps:,.0f} | "
                f"{_ratio(t.rps, b.rps)} | {t.p50_ms:.2f} ms | {b.p50_ms:.2f} ms | "
                f"{t.p99_ms:.2f} ms | {b.p99_ms:.2f} ms | {_ratio(t.p50_ms, b.p50_ms)} | "
                f"{t.errors} | {b.errors} |"
            )
    return "\n".join(lines)


def growth_table(scenarios: Sequence[Scenario]) -> str:
    """Tessera's medians per operation as the store grows, relative to the fresh store."""
    out: list[str] = []
    for database in dict.fromkeys(s.database for s in scenarios):
        group = [s for s in scenarios if s.database == database]
        if len(group) < 2:
            continue
        if out:
            out.append("")
        out.append(
            "| store | operation | target | "
            + " | ".join(f"{s.label} ({s.stored_before:,}) req/s, p99" for s in group)
            + " | last / first req/s |"
        )
        out.append("|---|---|---|" + "--:|" * len(group) + "--:|")
        for op in OPERATION_ORDER:
            for target in ("tessera", "baseline"):
                medians = []
                for s in group:
                    runs = [r for r in s.runs if r.operation == op and r.target == target]
                    medians.append(median_of(runs) if runs else None)
                if any(m is None for m in medians):
                    continue
                cells = [f"{m.rps:,.0f}, {m.p99_ms:.2f} ms" for m in medians if m is not None]
                first, last = medians[0], medians[-1]
                assert first is not None and last is not None
                out.append(
                    f"| {database} | {op} | {target} | "
                    + " | ".join(cells)
                    + f" | {_ratio(last.rps, first.rps)} |"
                )
    return "\n".join(out)


def runs_table(scenarios: Sequence[Scenario]) -> str:
    lines = [
        "| store | stored | round | operation | target | requests | req/s | p50 | p90 | "
        "p99 | max | non-2xx | socket | timeouts | GraphQL/app errors |",
        "|---|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        for r in s.runs:
            lines.append(
                f"| {r.database} | {s.label} | {r.round} | {r.operation} | {r.target} | "
                f"{r.requests:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | "
                f"{r.p99_ms:.2f} | {r.max_ms:.2f} | {r.non2xx} | {r.socket_errors} | "
                f"{r.timeouts} | {r.app_errors} |"
            )
    return "\n".join(lines)


def machine() -> str:
    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                memory = f"{kib / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPUs (nproc), {model}, {memory} RAM, "
        f"{platform.system()} {platform.release()} {platform.machine()}"
    )


def software(extra: dict[str, str]) -> str:
    parts = [f"Python {platform.python_version()}"]
    for name in LIBRARIES:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    parts += extra.values()
    return ", ".join(parts)


def render(
    *,
    scenarios: Sequence[Scenario],
    config: ConfigView,
    command: str,
    versions: dict[str, str],
    notes: Sequence[str],
    elapsed: float,
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
    sealing: Sequence[SealingCost] = (),
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    warmup = config.warmup or "none"
    seeding = [
        f"{s.database} {s.label}: {s.seeded:,} rows in {s.seed_seconds:.1f} s"
        for s in scenarios
        if s.seeded
    ]
    sections = [
        "# Benchmark results",
        "",
        "Written by `make bench` (bench/run.py); bench/README.md says how to read it.",
        "",
        f"- **Date:** {now} (the whole run took {elapsed / 60:.1f} min)",
        f"- **Machine:** {machine()}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in load[0])} at the start, "
        f"{'/'.join(f'{x:.2f}' for x in load[1])} at the end (anything else running "
        "competes with the servers and wrk)",
        f"- **Versions:** {software(versions)}",
        f"- **Command:** `{command}`",
        f"- **Load:** wrk `-t {config.threads} -c {config.connections} -d {config.duration} "
        f"--latency`, {config.rounds} round(s), warm-up {warmup} per target and operation; "
        f"Tessera and the baseline alternate (odd rounds Tessera first, even rounds baseline "
        f"first); figures are medians over rounds, errors are sums.",
        f"- **Servers:** one uvicorn worker each, `TESSERA_MODE=production`, default rate "
        f"limits, `TESSERA_LOG_LEVEL={config.log_level}`, each writing one log line per "
        f"request (Tessera its audit line, with uvicorn's access log off as by default; the "
        f"baseline uvicorn's access line); the client, both servers and the database share "
        f"this machine.",
        f"- **Pools:** {config.verify_pool:,} sessions for verifySession; "
        f"{config.refresh_pool:,} fresh sessions before every refreshSession run.",
    ]
    if seeding:
        sections.append(f"- **Seeding:** {'; '.join(seeding)}")
    for note in notes:
        sections.append(f"- **Note:** {note}")
    sections += [
        "",
        "## Tessera vs. baseline",
        "",
        "`req/s ratio` = Tessera / baseline throughput (1.00 = no overhead; lower is "
        "slower); `p50 ratio` = Tessera / baseline median latency (higher is slower). "
        "Errors are `non-2xx/socket/GraphQL-or-app`, summed over the rounds. "
        "`stored sessions` is the row count when the measured rounds began.",
        "",
        summary_table(scenarios),
        "",
    ]
    growth = growth_table(scenarios)
    if growth:
        sections += [
            "## Growth",
            "",
            "The same medians as the store grows (req/s, p99). `last / first` near 1.00 "
            "means the cost does not grow with the number of stored sessions.",
            "",
            growth,
            "",
        ]
    if sealing:
        from bench.sealing import table

        sections += [
            "## Details at rest",
            "",
            "Sealing `details` (AES-256-GCM) in-process, per call: `createSession` seals "
            "once, `refreshSession` and every listed session open once, `verifySession` "
            "never does (the token carries the details). The baseline pays the same, so "
            "the ratios above cannot show it.",
            "",
            table(list(sealing)),
            "",
        ]
    sections += [
        "## Every run",
        "",
        "Latencies in ms.",
        "",
        runs_table(scenarios),
        "",
    ]
    return "\n".join(sections)
