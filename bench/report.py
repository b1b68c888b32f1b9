"""bench/RESULTS.md: medians per (store, stored sessions, operation, connections,
target), the Tessera/baseline and Tessera/floor ratios, the scaling over workers, the
machine and versions, every single run."""

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
    connections: tuple[int, ...]
    threads: int
    workers: tuple[int, ...]
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


REFERENCES = ("baseline", "floor")


def _connection_levels(scenario: Scenario) -> list[int]:
    return sorted({r.connections for r in scenario.runs}, reverse=True)


def _medians(scenario: Scenario, op: str, connections: int, target: str) -> Median | None:
    runs = [
        r
        for r in scenario.runs
        if r.operation == op and r.connections == connections and r.target == target
    ]
    return median_of(runs) if runs else None


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _cell(m: Median | None, value: str) -> str:
    return "-" if m is None else value


def summary_table(scenarios: Sequence[Scenario]) -> str:
    """Tessera beside its two references, per (store, scenario, operation, connections):
    ``T/baseline`` and ``T/floor`` are Tessera's req/s over theirs; ``p50 T/...`` Tessera's
    median latency over theirs."""
    header = (
        "| store | stored sessions | operation | conns | Tessera req/s | baseline req/s | "
        "floor req/s | T/baseline | T/floor | Tessera p50 | baseline p50 | floor p50 | "
        "p50 T/baseline | p50 T/floor | Tessera p99 | floor p99 | errors T/b/f |\n"
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    )
    lines = [header]
    for s in scenarios:
        stored = f"{s.label} ({s.stored_before:,})"
        for connections in _connection_levels(s):
            for op in OPERATION_ORDER:
                t = _medians(s, op, connections, "tessera")
                if t is None:
                    continue
                b, f = (_medians(s, op, connections, ref) for ref in REFERENCES)
                lines.append(
                    f"| {s.database} | {stored} | {op} | {connections} | {t.rps:,.0f} | "
                    + " | ".join(
                        [
                            _cell(b, f"{b.rps:,.0f}" if b else ""),
                            _cell(f, f"{f.rps:,.0f}" if f else ""),
                            _cell(b, _ratio(t.rps, b.rps) if b else ""),
                            _cell(f, _ratio(t.rps, f.rps) if f else ""),
                            f"{t.p50_ms:.2f} ms",
                            _cell(b, f"{b.p50_ms:.2f} ms" if b else ""),
                            _cell(f, f"{f.p50_ms:.2f} ms" if f else ""),
                            _cell(b, _ratio(t.p50_ms, b.p50_ms) if b else ""),
                            _cell(f, _ratio(t.p50_ms, f.p50_ms) if f else ""),
                            f"{t.p99_ms:.2f} ms",
                            _cell(f, f"{f.p99_ms:.2f} ms" if f else ""),
                            "/".join(m.errors if m else "-" for m in (t, b, f)),
                        ]
                    )
                    + " |"
                )
    return "\n".join(lines)


def scaling_table(scenarios: Sequence[Scenario]) -> str:
    """Tessera's req/s with each worker count over one worker (``tessera-<n>w``)."""
    lines: list[str] = []
    for s in scenarios:
        extra = sorted(
            {r.target for r in s.runs if r.target.startswith("tessera-")},
            key=lambda name: int(name.removeprefix("tessera-").removesuffix("w")),
        )
        if not extra:
            continue
        connections = _connection_levels(s)[0]
        if not lines:
            lines = [
                "| store | operation | conns | 1 worker req/s | "
                + " | ".join(f"{n.removeprefix('tessera-')} req/s, vs 1 worker" for n in extra)
                + " | errors |",
                "|---|---|--:|--:|" + "--:|" * len(extra) + "--:|",
            ]
        for op in OPERATION_ORDER:
            one = _medians(s, op, connections, "tessera")
            many = [_medians(s, op, connections, name) for name in extra]
            if one is None or any(m is None for m in many):
                continue
            cells = [f"{m.rps:,.0f}, {_ratio(m.rps, one.rps)}" for m in many if m is not None]
            errors = "/".join(m.errors for m in [one, *many] if m is not None)
            lines.append(
                f"| {s.database} | {op} | {connections} | {one.rps:,.0f} | "
                + " | ".join(cells)
                + f" | {errors} |"
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
            for target in ("tessera", *REFERENCES):
                medians = [_medians(s, op, _connection_levels(s)[0], target) for s in group]
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
        "| store | stored | round | operation | conns | target | requests | req/s | p50 | "
        "p90 | p99 | max | non-2xx | socket | timeouts | GraphQL/app errors |",
        "|---|---|--:|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in scenarios:
        for r in s.runs:
            lines.append(
                f"| {r.database} | {s.label} | {r.round} | {r.operation} | {r.connections} | "
                f"{r.target} | "
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
        f"- **Load:** wrk `-t {config.threads} -c "
        f"{'/'.join(str(c) for c in config.connections)} -d {config.duration} --latency` "
        f"(`-t` at most `-c`; growth scenarios at `-c {config.connections[0]}` only), "
        f"{config.rounds} round(s), warm-up {warmup} per target and operation; the targets "
        f"alternate (odd rounds Tessera first, even rounds the floor first); figures are "
        f"medians over rounds, errors are sums.",
        f"- **Servers:** Tessera, the baseline and the floor, one uvicorn worker each "
        f"(and, in the fresh scenarios, Tessera with "
        f"{', '.join(str(w) for w in config.workers if w > 1) or 'no other'} workers), "
        f"`TESSERA_MODE=production`, default rate limits, "
        f"`TESSERA_LOG_LEVEL={config.log_level}`; Tessera writes its audit line per "
        f"request (uvicorn's access log off as by default), the baseline uvicorn's access "
        f"line, the floor nothing; the client, the servers and the database share this "
        f"machine.",
        f"- **Pools:** {config.verify_pool:,} sessions for verifySession; "
        f"{config.refresh_pool:,} fresh sessions before every refreshSession run.",
    ]
    if seeding:
        sections.append(f"- **Seeding:** {'; '.join(seeding)}")
    for note in notes:
        sections.append(f"- **Note:** {note}")
    sections += [
        "",
        "## Tessera vs. baseline and floor",
        "",
        "`T/baseline`, `T/floor` = Tessera's throughput over the reference's (1.00 = as "
        "fast; lower is slower); `p50 T/...` = Tessera's median latency over the reference's "
        "(higher is slower). `conns` = wrk's connections. Errors are "
        "`non-2xx/socket/GraphQL-or-app` of Tessera/baseline/floor, summed over the "
        "rounds. `stored sessions` is the row count when the measured rounds began.",
        "",
        summary_table(scenarios),
        "",
    ]
    scaling = scaling_table(scenarios)
    if scaling:
        sections += [
            "## Workers",
            "",
            "Tessera's throughput with `tessera serve --workers N` over one worker, same "
            "run. wrk and the database run on the same CPUs (see the machine line), so "
            "this shows what another core gives on this machine, not on a dedicated one.",
            "",
            scaling,
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
    profile = Path(__file__).with_name("profile.md")
    if profile.exists():
        sections += [profile.read_text().strip(), ""]
    sections += [
        "## Every run",
        "",
        "Latencies in ms.",
        "",
        runs_table(scenarios),
        "",
    ]
    return "\n".join(sections)
