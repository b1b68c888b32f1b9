"""``make bench``: Tessera against a same-run baseline and floor, over real HTTP, with wrk.

See bench/README.md for what is measured and how to read bench/RESULTS.md. Settings
(environment variables):

- ``BENCH_DURATION`` (``10s``): length of one measured wrk run
- ``BENCH_ROUNDS`` (``3``): rounds; each round runs every operation against both
  targets, alternating which goes first; the tables report medians over rounds
- ``BENCH_GROWTH`` (``10000,1000000``): stored-session counts for the growth runs
  (empty for none)
- ``BENCH_WARMUP`` (``2s``): an unmeasured wrk run per target and operation before the
  rounds (``0`` for none)
- ``BENCH_CONNECTIONS`` (``32,1``), ``BENCH_THREADS`` (``2``): wrk's ``-c`` (each count
  listed is a run of its own; the growth scenarios run only the first) and ``-t`` (at
  most the connections)
- ``BENCH_WORKERS`` (``1,2``): Tessera's worker counts (``tessera serve --workers``);
  each count above 1 is one more target, run in the fresh scenario at the first
  connection count
- ``BENCH_VERIFY_POOL`` (``1000``), ``BENCH_REFRESH_POOL`` (``2000``): sessions created
  up front for verifySession, and afresh before every refreshSession run
- ``BENCH_DATABASES`` (``sqlite,postgresql``): which stores to measure
- ``BENCH_LOG_LEVEL`` (``info``): ``TESSERA_LOG_LEVEL`` of both servers
- ``BENCH_DOCUMENTS`` (``text``): how Tessera's requests carry their documents: ``text``
  (``query``) or ``id`` (``documentId``, the file's SHA-256: a trusted document)
- ``BENCH_OUTPUT`` (``bench/RESULTS.md``)
- ``TESSERA_BENCH_DATABASE_URL``: a PostgreSQL server to use (see bench/postgres.py)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import fixtures, postgres, report, sealing
from service.access import generate_api_key
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "load.lua"
OPERATIONS_DIR = ROOT / "graphql" / "operations"
SENTINEL = "@@BENCH_VALUE@@"


class BenchError(Exception):
    pass


# Operations ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # the GraphQL field
    mode: str  # load.lua's mode
    document: str  # file in graphql/operations/
    operation_name: str
    baseline_path: str
    input: dict[str, Any]  # the input object, with SENTINEL where the value varies


def _scope() -> dict[str, Any]:
    return {"product": fixtures.PRODUCT, "env": fixtures.ENV, "tag": fixtures.TAG}


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "createSession",
        "create",
        "CreateSessionWith.graphql",
        "CreateSessionWith",
        "/create",
        {**_scope(), "data": {"userId": SENTINEL, "details": fixtures.DETAILS}},
    ),
    Operation(
        "verifySession",
        "verify",
        "VerifySession.graphql",
        "VerifySession",
        "/verify",
        {**_scope(), "token": SENTINEL},
    ),
    Operation(
        "refreshSession",
        "refresh",
        "RefreshSession.graphql",
        "RefreshSession",
        "/refresh",
        {**_scope(), "refreshToken": SENTINEL},
    ),
)


# Settings ----------------------------------------------------------------------------------
def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", duration.strip())
    if match is None:
        raise BenchError(f"not a duration: {duration!r} (use e.g. 10s, 1m)")
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[match[2] or "s"]
    return float(match[1]) * scale


def _wrk_duration(duration: str) -> str:
    seconds = _seconds(duration)
    return f"{max(1, round(seconds))}s"


def _int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise BenchError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise BenchError(f"{name} must be at least {minimum}")
    return value


def _int_list_env(name: str, default: str) -> tuple[int, ...]:
    raw = os.environ.get(name, "").strip() or default
    try:
        values = tuple(dict.fromkeys(int(v) for v in raw.split(",") if v.strip()))
    except ValueError:
        raise BenchError(f"{name} must list integers, not {raw!r}") from None
    if not values or min(values) < 1:
        raise BenchError(f"{name} must list integers of at least 1")
    return values


@dataclass(frozen=True, slots=True)
class BenchConfig:
    duration: str
    rounds: int
    warmup: str | None
    growth: tuple[int, ...]
    connections: tuple[int, ...]
    threads: int
    workers: tuple[int, ...]
    verify_pool: int
    refresh_pool: int
    databases: tuple[str, ...]
    log_level: str
    output: Path

    @classmethod
    def from_env(cls) -> BenchConfig:
        env = os.environ.get
        growth_raw = env("BENCH_GROWTH", "10000,1000000")
        try:
            # 0 (or nothing) is no growth run: the fresh scenario always runs.
            counts = (int(g.replace("_", "")) for g in growth_raw.split(",") if g.strip())
            growth = tuple(g for g in counts if g > 0)
        except ValueError:
            raise BenchError(f"BENCH_GROWTH must list integers, not {growth_raw!r}") from None
        warmup = env("BENCH_WARMUP", "2s").strip()
        databases = tuple(
            d.strip() for d in env("BENCH_DATABASES", "sqlite,postgresql").split(",") if d.strip()
        )
        for d in databases:
            if d not in ("sqlite", "postgresql"):
                raise BenchError(f"BENCH_DATABASES: unknown database {d!r}")
        config = cls(
            duration=_wrk_duration(env("BENCH_DURATION", "10s")),
            rounds=_int_env("BENCH_ROUNDS", 3, 1),
            warmup=None if _seconds(warmup) == 0 else _wrk_duration(warmup),
            growth=growth,
            connections=_int_list_env("BENCH_CONNECTIONS", "32,1"),
            threads=_int_env("BENCH_THREADS", 2, 1),
            workers=_int_list_env("BENCH_WORKERS", "1,2"),
            verify_pool=_int_env("BENCH_VERIFY_POOL", 1000, 1),
            refresh_pool=_int_env("BENCH_REFRESH_POOL", 2000, 1),
            databases=databases,
            log_level=env("BENCH_LOG_LEVEL", "info"),
            output=Path(env("BENCH_OUTPUT", str(ROOT / "bench" / "RESULTS.md"))),
        )
        return config


@dataclass(frozen=True, slots=True)
class Keys:
    master: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    admin: str = field(default_factory=generate_api_key)


def tessera_settings(url: str, data_dir: Path, keys: Keys, log_level: str) -> dict[str, str]:
    """The TESSERA_* environment both servers and the in-process fixture run with."""
    return {
        "TESSERA_MODE": "production",
        "TESSERA_HOST": "127.0.0.1",
        "TESSERA_DATA_DIR": str(data_dir),
        "TESSERA_DATABASE_URL": url,
        "TESSERA_MASTER_KEY": keys.master,
        "TESSERA_ADMIN_KEY": keys.admin,
        "TESSERA_LOG_LEVEL": log_level,
        # Rate limits stay at their defaults: they never count a valid key's successful
        # work, which is all the load sends.
    }


def settings_of(env: dict[str, str]) -> Settings:
    values = {k.removeprefix("TESSERA_").lower(): v for k, v in env.items()}
    return Settings.model_validate(values)


# Servers ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Target:
    name: str  # "tessera" | "baseline" | "floor" | "tessera-<n>w" (n workers)
    port: int
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    workers: int = 1

    @property
    def graphql(self) -> bool:
        return self.name.startswith("tessera")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, op: Operation) -> str:
        return self.base + ("/graphql" if self.graphql else op.baseline_path)

    def body(self, op: Operation) -> str:
        if self.graphql:
            document = (OPERATIONS_DIR / op.document).read_text()
            payload: dict[str, Any] = {
                "query": document,
                "operationName": op.operation_name,
                "variables": {"input": op.input},
            }
            if os.environ.get("BENCH_DOCUMENTS", "text") == "id":
                del payload["query"]
                payload["documentId"] = "sha256:" + hashlib.sha256(document.encode()).hexdigest()
        else:
            payload = op.input
        return json.dumps(payload, separators=(",", ":"))


def tessera_command() -> list[str]:
    script = Path(sys.executable).parent / "tessera"
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, str(ROOT / "server.py")]


def start(target: Target, env: dict[str, str], log: Path) -> None:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    child_env.update(env)
    child_env["TESSERA_PORT"] = str(target.port)
    child_env["TESSERA_WORKERS"] = str(target.workers)
    with log.open("ab") as out:
        target.process = subprocess.Popen(
            target.command, cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if target.process.poll() is not None:
            raise BenchError(
                f"{target.name} exited with {target.process.returncode} at start; "
                f"log:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(target.base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise BenchError(f"{target.name} did not answer /healthz within 60 s; log:\n{_tail(log)}")


def stop(target: Target) -> None:
    process = target.process
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# Checks and load -------------------------------------------------------------------------
def looks_ok(op: Operation, body: str) -> bool:
    """The same test load.lua applies to every response."""
    if '"errors"' in body or '"code"' in body:
        return False
    if op.mode == "verify":
        return re.search(r'"valid":\s*true', body) is not None
    return re.search(r'"refreshToken":\s*"[^"]+"', body) is not None


def post(target: Target, op: Operation, value: str, auth: str) -> tuple[int, str]:
    body = target.body(op).replace(SENTINEL, value).encode()
    request = urllib.request.Request(
        target.url(op),
        data=body,
        headers={"Content-Type": "application/json", "Authorization": auth},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@dataclass(frozen=True, slots=True)
class Run:
    """One wrk run."""

    database: str
    scenario: str
    round: int
    target: str
    operation: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    timeouts: int
    app_errors: int
    pool_empty: int
    connections: int = 32

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("bench: wrk is missing; installing the Debian package (apt-get install -y wrk)")
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed and this is not root: apt-get install wrk")
    subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        timeout=600,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on the PATH")
    return found


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


_RESULT = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)


def run_wrk(
    wrk: str,
    config: BenchConfig,
    target: Target,
    op: Operation,
    duration: str,
    template: Path,
    pool: Path | None,
    connections: int,
) -> dict[str, float]:
    threads = min(config.threads, connections)
    command = [
        wrk,
        "-t", str(threads),
        "-c", str(connections),
        "-d", duration,
        "--timeout", "10s",
        "--latency",
        "-s", str(LUA),
        target.url(op),
        "--", op.mode, str(template), str(pool) if pool else "-", str(threads),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_seconds(duration) + 60
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from None
    match = _RESULT.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise BenchError(
            f"wrk failed ({done.returncode}): {' '.join(command)}\n{done.stdout}\n{done.stderr}"
        )
    return {k: float(v) for k, v in (pair.split("=") for pair in match[1].split())}


# Scenarios -------------------------------------------------------------------------------
@dataclass(slots=True)
class Scenario:
    database: str
    label: str  # "fresh", "10k", "1M"
    seeded: int
    seed_seconds: float = 0.0
    stored_before: int = 0
    stored_after: int = 0
    runs: list[Run] = field(default_factory=list)


def scenario_label(count: int) -> str:
    if count == 0:
        return "fresh"
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


@dataclass(slots=True)
class Backend:
    name: str  # "sqlite" | "postgresql"
    new_database: Callable[[str], str]  # label -> URL
    seed: Callable[[str, int, int, int], float]  # url, count, product id, config id
    count: Callable[[str], int]
    version: str


def sqlite_backend(workdir: Path) -> Backend:
    import sqlite3

    def path(url: str) -> Path:
        return Path(url.removeprefix("sqlite:///"))

    def count(url: str) -> int:
        db = sqlite3.connect(path(url))
        try:
            return int(db.execute("SELECT count(*) FROM sessions").fetchone()[0])
        finally:
            db.close()

    return Backend(
        name="sqlite",
        new_database=lambda label: f"sqlite:///{workdir / f'{label}.db'}",
        seed=lambda url, n, pid, cid: fixtures.seed_sqlite(path(url), n, pid, cid),
        count=count,
        version=f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL)",
    )


def postgres_backend(databases: postgres.Databases) -> Backend:
    import asyncio

    return Backend(
        name="postgresql",
        new_database=databases.create,
        seed=lambda url, n, pid, cid: asyncio.run(fixtures.seed_postgres(url, n, pid, cid)),
        count=lambda url: asyncio.run(postgres.count_sessions(url)),
        version=f"PostgreSQL {databases.version()}",
    )


def scenario_targets(config: BenchConfig, *, fresh: bool) -> list[Target]:
    """Tessera, the baseline and the floor, each one worker; in the fresh scenario also
    Tessera with each further count of ``BENCH_WORKERS``."""
    targets = [
        Target("tessera", postgres.free_port(), tessera_command()),
        Target("baseline", postgres.free_port(), [sys.executable, "-m", "bench.baseline"]),
        Target("floor", postgres.free_port(), [sys.executable, "-m", "bench.floor"]),
    ]
    if fresh:
        targets += [
            Target(f"tessera-{n}w", postgres.free_port(), tessera_command(), workers=n)
            for n in config.workers
            if n > 1
        ]
    return targets


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def run_scenario(
    wrk: str, config: BenchConfig, backend: Backend, seeded: int, workdir: Path, keys: Keys
) -> Scenario:
    scenario = Scenario(backend.name, scenario_label(seeded), seeded)
    tag = f"{backend.name}/{scenario.label}"
    print(f"\n== {tag}: preparing", flush=True)
    url = backend.new_database(scenario.label.lower())
    env = tessera_settings(url, workdir, keys, config.log_level)
    fixture = fixtures.Fixture(settings_of(env))
    targets: list[Target] = []
    try:
        fixture.provision()
        if seeded:
            product_id, config_id = fixture.ids()
            print(f"   seeding {seeded:,} sessions ...", flush=True)
            scenario.seed_seconds = backend.seed(url, seeded, product_id, config_id)
            print(f"   seeded in {scenario.seed_seconds:.1f} s", flush=True)
        verify_pool = write_lines(
            workdir / "verify.pool",
            [s.token for s in fixture.sessions(config.verify_pool, "verify")],
        )
        auth = f"Bearer {keys.admin}"
        targets = scenario_targets(config, fresh=not seeded)
        for target in targets:
            start(target, env, workdir / f"{target.name}-{backend.name}-{scenario.label}.log")
        templates = {
            (t.name, op.name): write_lines(
                workdir / f"{t.name}-{op.mode}.template", [auth, *t.body(op).split(SENTINEL)]
            )
            for t in targets
            for op in OPERATIONS
        }

        def pool_for(op: Operation, label: str) -> Path | None:
            if op.mode == "verify":
                return verify_pool
            if op.mode == "refresh":
                issued = fixture.sessions(config.refresh_pool, label)
                return write_lines(workdir / "refresh.pool", [s.refresh_token for s in issued])
            return None

        # One request of each kind through each target must succeed before any load.
        sample = fixture.sessions(len(targets), "check")
        for target, issued in zip(targets, sample, strict=True):
            for op in OPERATIONS:
                value = {"create": "check", "verify": issued.token}.get(
                    op.mode, issued.refresh_token
                )
                status, body = post(target, op, value, auth)
                if status != 200 or not looks_ok(op, body):
                    raise BenchError(
                        f"{target.name} {op.name} check failed: HTTP {status}: {body[:500]}"
                    )

        top = config.connections[0]
        if config.warmup:
            print(f"   warm-up ({config.warmup} per target and operation)", flush=True)
            for target in targets:
                for op in OPERATIONS:
                    run_wrk(
                        wrk,
                        config,
                        target,
                        op,
                        config.warmup,
                        templates[target.name, op.name],
                        pool_for(op, "warmup"),
                        top,
                    )

        scenario.stored_before = backend.count(url)
        levels = config.connections if not seeded else (top,)
        for round_no in range(1, config.rounds + 1):
            for op, connections in ((op, c) for c in levels for op in OPERATIONS):
                # Extra worker counts are about throughput: measured at the top level only.
                measured = [t for t in targets if t.workers == 1 or connections == top]
                order = measured if round_no % 2 else list(reversed(measured))
                for target in order:
                    pool = pool_for(op, f"r{round_no}")
                    raw = run_wrk(
                        wrk, config, target, op, config.duration, templates[target.name, op.name],
                        pool, connections,
                    )  # fmt: skip
                    run = Run(
                        database=backend.name,
                        scenario=scenario.label,
                        round=round_no,
                        target=target.name,
                        operation=op.name,
                        requests=int(raw["requests"]),
                        seconds=raw["duration_us"] / 1e6,
                        p50_ms=raw["p50_us"] / 1000,
                        p90_ms=raw["p90_us"] / 1000,
                        p99_ms=raw["p99_us"] / 1000,
                        max_ms=raw["max_us"] / 1000,
                        non2xx=int(raw["non2xx"]),
                        socket_errors=int(raw["socket_errors"]),
                        timeouts=int(raw["timeouts"]),
                        app_errors=int(raw["app_errors"]),
                        pool_empty=int(raw["pool_empty"]),
                        connections=connections,
                    )
                    scenario.runs.append(run)
                    print(
                        f"   round {round_no} {op.name:<15} c{connections:<3} {target.name:<10} "
                        f"{run.rps:8.0f} req/s  p50 {run.p50_ms:6.2f} ms  "
                        f"p99 {run.p99_ms:6.2f} ms  errors {report.errors_of([run])}",
                        flush=True,
                    )
        scenario.stored_after = backend.count(url)
        for target in targets:
            if target.process is not None and target.process.poll() is not None:
                raise BenchError(f"{target.name} died during the runs")
    finally:
        for target in targets:
            stop(target)
        fixture.close()
    return scenario


@contextmanager
def postgres_server() -> Iterator[tuple[postgres.Databases | None, str | None]]:
    """(databases, None) when PostgreSQL runs can happen, else (None, why not)."""
    reason = postgres.unavailable_reason()
    if reason is not None:
        yield None, reason
        return
    url = os.environ.get("TESSERA_BENCH_DATABASE_URL")
    cluster = None
    if not url:
        cluster = postgres.Cluster()
        print("bench: starting a throwaway PostgreSQL cluster (.ci/postgres.sh)", flush=True)
        try:
            url = cluster.start()
        except (subprocess.SubprocessError, OSError) as exc:
            cluster.stop()
            yield None, f"could not start a PostgreSQL cluster ({exc}); PostgreSQL runs skipped"
            return
    databases = postgres.Databases(url)
    try:
        yield databases, None
    finally:
        databases.close()
        if cluster is not None:
            cluster.stop()


def command_line() -> str:
    settings = [
        f"{k}={os.environ[k]}"
        for k in sorted(os.environ)
        if k.startswith("BENCH_") and k != "BENCH_OUTPUT"
    ]
    if os.environ.get("TESSERA_BENCH_DATABASE_URL"):
        settings.append("TESSERA_BENCH_DATABASE_URL=...")
    invoked = "make bench" if os.environ.get("MAKELEVEL") else "python -m bench"
    return " ".join([*settings, invoked])


def main() -> int:
    # The servers and the fixture get exactly the settings of tessera_settings(); a
    # TESSERA_* left in the caller's environment must not change what is measured.
    for name in [k for k in os.environ if k.startswith("TESSERA_")]:
        if name != "TESSERA_BENCH_DATABASE_URL":
            del os.environ[name]
    try:
        config = BenchConfig.from_env()
        wrk = wrk_binary()
        started = time.monotonic()
        load_before = os.getloadavg()
        notes: list[str] = []
        scenarios: list[Scenario] = []
        versions: dict[str, str] = {"wrk": wrk_version(wrk)}
        keys = Keys()
        sizes = (0, *config.growth)
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
            workdir = Path(tmp)
            if "sqlite" in config.databases:
                backend = sqlite_backend(workdir)
                versions["sqlite"] = backend.version
                for seeded in sizes:
                    scenarios.append(run_scenario(wrk, config, backend, seeded, workdir, keys))
            if "postgresql" in config.databases:
                with postgres_server() as (databases, reason):
                    if databases is None:
                        assert reason is not None
                        print(f"\nbench: {reason}", flush=True)
                        notes.append(reason)
                    else:
                        backend = postgres_backend(databases)
                        versions["postgresql"] = backend.version
                        for seeded in sizes:
                            scenarios.append(
                                run_scenario(wrk, config, backend, seeded, workdir, keys)
                            )
        text = report.render(
            scenarios=scenarios,
            config=report.ConfigView(
                duration=config.duration,
                rounds=config.rounds,
                warmup=config.warmup,
                connections=config.connections,
                threads=config.threads,
                workers=config.workers,
                verify_pool=config.verify_pool,
                refresh_pool=config.refresh_pool,
                log_level=config.log_level,
            ),
            command=command_line(),
            versions=versions,
            notes=notes,
            elapsed=time.monotonic() - started,
            load=(load_before, os.getloadavg()),
            sealing=sealing.measure(),
        )
        config.output.write_text(text)
        print("\n" + report.summary_table(scenarios))
        print(f"\nbench: wrote {config.output} ({time.monotonic() - started:.0f} s)")
        return 0
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        with suppress(Exception):
            print("bench: interrupted", file=sys.stderr)
        return 130
