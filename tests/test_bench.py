"""The benchmark's pieces that decide what its numbers mean: the baseline must answer
what Tessera answers, the load's success check must accept exactly that, and the report
must take medians and ratios as bench/README.md says. (bench/ itself is never run here.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench import baseline, fixtures, floor, report, sealing
from bench.run import OPERATIONS, SENTINEL, Run, Scenario, Target, looks_ok
from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.conftest import Api

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
OP = {op.mode: op for op in OPERATIONS}


@pytest.fixture
async def bare(settings: Settings, tessera: Tessera, api: Api) -> AsyncIterator[Any]:
    app = baseline.create_app(settings)
    app.state.tessera = tessera  # the lifespan would start its own; share the test's
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://baseline.test") as c:

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = await c.post(path, json=body, headers={"authorization": f"Bearer {api.key}"})
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

        yield post


async def test_bench_baseline_answers_what_tessera_answers(api: Api, bare: Any) -> None:
    data = {"userId": "u1", "details": {"email": "u1@x.io"}}
    tessera_created = await api.create_session(**SCOPE, data=data)
    baseline_created = await bare("/create", {**SCOPE, "data": data})
    token = baseline_created["token"]

    baseline_verified = await bare("/verify", {**SCOPE, "token": token})
    tessera_verified = await api.verify(**SCOPE, token=token)
    refresh_input = {**SCOPE, "refreshToken": baseline_created["refreshToken"]}
    baseline_refreshed = await bare("/refresh", refresh_input)
    tessera_refreshed = (
        await api.op(
            "RefreshSession",
            input={**SCOPE, "refreshToken": tessera_created["refreshToken"]},
        )
    )["refreshSession"]

    assert baseline_verified == tessera_verified
    assert baseline_verified["valid"] is True
    assert set(baseline_created) == set(tessera_created)
    assert set(baseline_refreshed) == set(tessera_refreshed)
    for mode, body in (
        ("create", baseline_created),
        ("verify", baseline_verified),
        ("refresh", baseline_refreshed),
    ):
        assert looks_ok(OP[mode], httpx.Response(200, json=body).text)


@pytest.mark.parametrize("documents", ["text", "id"])
async def test_bench_requests_run_with_documents_as_text_and_by_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, documents: str
) -> None:
    monkeypatch.setenv("BENCH_DOCUMENTS", documents)
    target = Target("tessera", 0, [])
    headers = {"authorization": f"Bearer {api.key}", "content-type": "application/json"}

    async def run(mode: str, value: str) -> dict[str, Any]:
        body = target.body(OP[mode])
        assert ('"query"' in body) is (documents == "text")
        response = await api.client.post(
            "/graphql", content=body.replace(SENTINEL, value), headers=headers
        )
        assert looks_ok(OP[mode], response.text), response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    created = (await run("create", "u1"))["createSession"]
    await run("verify", created["token"])
    await run("refresh", created["refreshToken"])


async def test_bench_baseline_bad_token_is_data_not_success(api: Api, bare: Any) -> None:
    verified = await bare("/verify", {**SCOPE, "token": "web:a.b.c.d.e"})

    assert verified == await api.verify(**SCOPE, token="web:a.b.c.d.e")
    assert not looks_ok(OP["verify"], httpx.Response(200, json=verified).text)


def _run(
    target: str, rps: float, p99: float = 10.0, app_errors: int = 0, connections: int = 32
) -> Run:
    return Run("sqlite", "fresh", 1, target, "verifySession", int(rps * 10), 10.0,
               5.0, 8.0, p99, 20.0, 0, 0, 0, app_errors, 0, connections)  # fmt: skip


def test_bench_report_takes_medians_and_tessera_over_baseline_and_floor() -> None:
    scenario = Scenario("sqlite", "fresh", 0, stored_before=5)
    scenario.runs = [
        _run("tessera", 600), _run("tessera", 900), _run("tessera", 650, app_errors=2),
        _run("baseline", 1000), _run("baseline", 1300), _run("baseline", 50),
        _run("floor", 2600), _run("floor", 2000), _run("floor", 1000),
        _run("tessera", 100, connections=1), _run("floor", 400, connections=1),
    ]  # fmt: skip

    rows = report.summary_table([scenario]).splitlines()[2:]

    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert [c[2:9] for c in cells] == [
        ["verifySession", "32", "650", "1,000", "2,000", "0.65", "0.33"],
        ["verifySession", "1", "100", "-", "400", "-", "0.25"],
    ]
    assert [c[-1] for c in cells] == ["0/0/2/0/0/0/0/0/0", "0/0/0/-/0/0/0"]


def test_bench_report_scales_workers_over_one() -> None:
    scenario = Scenario("sqlite", "fresh", 0, stored_before=5)
    scenario.runs = [
        _run("tessera", 600),
        _run("tessera-2w", 900),
        _run("tessera", 1, connections=1),
    ]

    [row] = report.scaling_table([scenario]).splitlines()[2:]

    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == ["verifySession", "32", "600", "900, 1.50"]


async def test_bench_floor_answers_what_the_load_accepts(
    settings: Settings, tessera: Tessera, api: Api, clock: FrozenClock
) -> None:
    clock.t = time.time()  # the floor reads the real clock
    await api.op("CreateProduct", input={"tag": fixtures.PRODUCT, "name": "B", "envs": ["prd"]})
    await api.op(
        "CreateSessionConfig",
        input={"product": fixtures.PRODUCT, "tag": fixtures.TAG, "name": "B"},
    )
    scope = {"product": fixtures.PRODUCT, "env": fixtures.ENV, "tag": fixtures.TAG}
    issued = await tessera.sessions.create(
        fixtures.PRODUCT, fixtures.ENV, fixtures.TAG, "u1", fixtures.DETAILS
    )
    app = floor.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://floor.test") as c:

            async def post(mode: str, body: dict[str, Any]) -> dict[str, Any]:
                response = await c.post(f"/{mode}", json={**scope, **body})
                assert looks_ok(OP[mode], response.text), response.text
                answer: dict[str, Any] = response.json()
                return answer

            created = await post("create", {"data": {"userId": "u2", "details": {"a": 1}}})
            # The floor's tokens are Tessera's, and Tessera's the floor's.
            verified = await api.verify(**scope, token=created["token"])
            assert verified["valid"] is True
            assert verified["data"] == {"userId": "u2", "details": {"a": 1}}
            assert (await post("verify", {"token": issued.token}))["data"]["userId"] == "u1"
            refreshed = await post("refresh", {"refreshToken": issued.refresh_token})
            again = await post("refresh", {"refreshToken": refreshed["refreshToken"]})
            assert (await api.verify(**scope, token=again["token"]))["valid"] is True
            spent = await c.post("/refresh", json={**scope, "refreshToken": issued.refresh_token})
            assert not looks_ok(OP["refresh"], spent.text)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="the harness test needs wrk")
def test_bench_harness_runs_every_target_without_errors(tmp_path: Path) -> None:
    # Short and on SQLite only: this checks the harness (servers, load, report), never
    # how fast anything is.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESSERA_", "BENCH_"))}
    output = tmp_path / "RESULTS.md"
    env.update(
        {
            "BENCH_DURATION": "1s",
            "BENCH_ROUNDS": "1",
            "BENCH_WARMUP": "0",
            "BENCH_GROWTH": "",
            "BENCH_DATABASES": "sqlite",
            "BENCH_CONNECTIONS": "4,1",
            "BENCH_WORKERS": "1,2",
            "BENCH_VERIFY_POOL": "50",
            "BENCH_REFRESH_POOL": "200",
            "BENCH_LOG_LEVEL": "warning",
            "BENCH_OUTPUT": str(output),
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "bench"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    text = output.read_text()
    runs = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.partition("## Every run")[2].splitlines()
        if line.startswith("| sqlite")
    ]
    # (target, connections) of every run: each reference at each level, and the
    # two-worker Tessera at the first level only.
    assert sorted((r[5], r[4]) for r in runs) == sorted(
        [(t, c) for t in ("tessera", "baseline", "floor") for c in ("4", "1")] * 3
        + [("tessera-2w", "4")] * 3
    )
    assert all(int(r[6].replace(",", "")) > 0 for r in runs), runs
    assert all(r[-4:] == ["0", "0", "0", "0"] for r in runs), runs
    assert "## Workers" in text


def test_bench_sealing_measures_the_bench_details_and_the_cap() -> None:
    costs = sealing.measure(iterations=3, repeats=1)

    assert [(c.label, c.plain_bytes) for c in costs] == [
        ("bench details", len(json.dumps(fixtures.DETAILS, separators=(",", ":")))),
        ("4 KiB cap", 4096),
    ]
    assert all(c.stored_bytes > c.plain_bytes and c.seal_us > 0 and c.open_us > 0 for c in costs)
    assert len(sealing.table(costs).splitlines()) == 2 + len(costs)
