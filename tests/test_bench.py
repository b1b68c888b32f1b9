"""The benchmark's pieces that decide what its numbers mean: the baseline must answer
what Tessera answers, the load's success check must accept exactly that, and the report
must take medians and ratios as bench/README.md says. (bench/ itself is never run here.)"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bench import baseline, fixtures, report, sealing
from bench.run import OPERATIONS, SENTINEL, Run, Scenario, Target, looks_ok
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


def _run(target: str, rps: float, p99: float = 10.0, app_errors: int = 0) -> Run:
    return Run("sqlite", "fresh", 1, target, "verifySession", int(rps * 10), 10.0,
               5.0, 8.0, p99, 20.0, 0, 0, 0, app_errors, 0)  # fmt: skip


def test_bench_report_takes_medians_and_tessera_over_baseline() -> None:
    scenario = Scenario("sqlite", "fresh", 0, stored_before=5)
    scenario.runs = [
        _run("tessera", 600), _run("tessera", 900), _run("tessera", 650, app_errors=2),
        _run("baseline", 1000), _run("baseline", 1300), _run("baseline", 50),
    ]  # fmt: skip

    [row] = report.summary_table([scenario]).splitlines()[2:]

    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:6] == ["verifySession", "650", "1,000", "0.65"]
    assert cells[-2:] == ["0/0/2", "0/0/0"]


def test_bench_sealing_measures_the_bench_details_and_the_cap() -> None:
    costs = sealing.measure(iterations=3, repeats=1)

    assert [(c.label, c.plain_bytes) for c in costs] == [
        ("bench details", len(json.dumps(fixtures.DETAILS, separators=(",", ":")))),
        ("4 KiB cap", 4096),
    ]
    assert all(c.stored_bytes > c.plain_bytes and c.seal_us > 0 and c.open_us > 0 for c in costs)
    assert len(sealing.table(costs).splitlines()) == 2 + len(costs)
