"""``/metrics``: Prometheus's text format that moves with real requests, labels from
fixed sets only, and who may read it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from schema import schema
from schema.metrics import OUTCOMES, root_fields
from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from store.sqlite import SqliteStore
from tests.api.metrics import label_values, parse, value
from tests.conftest import Api, make_settings
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
TOKEN = "m" * 24


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[Any, float]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return parse(response.text)


async def test_metrics_move_with_real_requests(
    api: Api, tessera: Tessera, clock: FrozenClock
) -> None:
    before = await scrape(api.client)
    created = await api.create_session(**SCOPE, data={"userId": "u1", "details": {}})
    await api.verify(**SCOPE, token=created["token"])
    await api.verify(**SCOPE, token="web:nope")
    await api.verify(**SCOPE, token=created["token"] + "x")
    spent = created["refreshToken"]
    await api.op("RefreshSession", key=None, input={**SCOPE, "refreshToken": spent})
    clock.advance(60)
    # The spent refresh token after the grace window: theft, the session is revoked.
    await api.op("RefreshSession", key=None, input={**SCOPE, "refreshToken": spent})
    second = await api.create_session(**SCOPE, data={"userId": "u2", "details": {}})
    await api.op("RevokeSession", input={**SCOPE, "sessionId": second["sessionId"]})
    await api.client.post("/graphql", content=b"x" * 100_000)
    await api.post("{ nope }")
    after = await scrape(api.client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ops = "tessera_graphql_operations_total"
    assert moved(ops, operation="createSession", outcome="ok") == 2
    assert moved(ops, operation="verifySession", outcome="ok") == 3
    assert moved(ops, operation="refreshSession", outcome="ok") == 1
    assert moved(ops, operation="refreshSession", outcome="REFRESH_TOKEN_REUSED") == 1
    assert moved(ops, operation="revokeSession", outcome="ok") == 1
    assert moved(ops, operation="other", outcome="GRAPHQL_VALIDATION_FAILED") == 1
    latency = "tessera_graphql_operation_duration_seconds"
    assert moved(f"{latency}_count", operation="createSession", outcome="ok") == 2
    assert moved(f"{latency}_bucket", operation="createSession", outcome="ok", le="+Inf") == 2
    assert moved(f"{latency}_sum", operation="createSession", outcome="ok") > 0
    assert moved("tessera_sessions_created_total") == 2
    assert moved("tessera_sessions_refreshed_total") == 1
    assert moved("tessera_sessions_revoked_total", cause="refresh_token_reused") == 1
    assert moved("tessera_sessions_revoked_total", cause="revoked") == 1
    assert moved("tessera_verifications_total", result="valid") == 1
    assert moved("tessera_verifications_total", result="MALFORMED") == 1
    assert moved("tessera_verifications_total", result="INVALID") == 1
    assert moved("tessera_http_refused_total", status="413") == 1
    if isinstance(tessera.store, SqliteStore):
        # Every write of the SQLite store is a group commit.
        assert moved("tessera_group_commit_batch_size_count") >= 4
        assert moved("tessera_group_commit_batch_size_sum") >= 4
    else:
        assert value(after, "tessera_db_pool_connections") >= 1
        assert value(after, "tessera_db_pool_max_connections") == 10
        in_use = value(after, "tessera_db_pool_connections_in_use")
        assert 0 <= in_use <= value(after, "tessera_db_pool_connections")
    assert value(after, "tessera_subscriptions_open") >= 0


async def test_rate_limit_refusals_are_counted_by_bucket(tessera: Tessera) -> None:
    settings = tessera.settings.model_copy(update={"rate_limit_failed_auth_per_ip": "2/minute"})
    limited = await Tessera.start(settings, announce=lambda key: None)
    try:
        async with client_of(create_app(settings, tessera=limited)) as client:
            before = await scrape(client)
            for _ in range(4):
                await client.post(
                    "/graphql",
                    json={"query": operation("Products")},
                    headers={"authorization": "Bearer tsk_" + "w" * 43},
                )
            after = await scrape(client)
    finally:
        await limited.close()

    name, bucket = "tessera_rate_limited_total", "failed-auth-ip"
    assert value(after, name, bucket=bucket) - value(before, name, bucket=bucket) == 2


async def test_metric_labels_never_carry_what_clients_send(api: Api) -> None:
    marker = uuid.uuid4().hex
    documents = [
        # A client's own operation name, aliases, unknown fields, several root fields.
        f"query Op_{marker} {{ products {{ tag }} }}",
        f"query {{ a_{marker}: products {{ tag }} }}",
        f"{{ f_{marker} }}",
        '{ products { tag } sessionConfigs(product: "p") { tag } }',
        "{ __typename }",
        "{ __schema { queryType { name } } }",
        f'mutation M_{marker} {{ createProduct(input: {{tag: "{marker[:8]}", name: "x"}}) '
        "{ __typename } }",
        "not graphql",
    ]
    for document in documents:
        await api.client.post(
            "/graphql",
            json={"query": document, "operationName": None},
            headers={"authorization": f"Bearer {api.key}", "x-request-id": marker},
        )
    response = await api.client.get("/metrics")

    assert marker not in response.text and marker[:8] not in response.text
    samples = parse(response.text)
    allowed = root_fields(schema) | {"multiple", "introspection", "other"}
    assert label_values(samples, "tessera_graphql_", "operation") <= allowed
    assert label_values(samples, "tessera_graphql_", "outcome") <= OUTCOMES
    assert {"multiple", "introspection", "other", "products"} <= label_values(
        samples, "tessera_graphql_", "operation"
    )


def client_of(app: Any, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://tessera.test")


@pytest.fixture
async def apps(tessera: Tessera, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    url = tessera.settings.resolved_database_url
    yield {
        "default": create_app(make_settings(tmp_path, database_url=url), tessera=tessera),
        "token": create_app(
            make_settings(tmp_path, database_url=url, metrics_token=TOKEN), tessera=tessera
        ),
        "proxied": create_app(
            make_settings(tmp_path, database_url=url, trusted_proxies=("127.0.0.1",)),
            tessera=tessera,
        ),
    }


@pytest.mark.parametrize(
    ("app", "peer", "headers", "status"),
    [
        ("default", "127.0.0.1", {}, 200),
        ("default", "::1", {}, 200),
        ("default", "203.0.113.9", {}, 403),
        ("default", "10.0.0.2", {}, 403),
        # A proxy on this machine that is not listed forwards someone else.
        ("default", "127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, 403),
        ("default", "127.0.0.1", {"forwarded": "for=203.0.113.9"}, 403),
        ("default", "127.0.0.1", {"x-real-ip": "203.0.113.9"}, 403),
        # A token is no use while none is configured.
        ("default", "203.0.113.9", {"authorization": f"Bearer {TOKEN}"}, 403),
        # A listed proxy: its client's address decides.
        ("proxied", "127.0.0.1", {"x-forwarded-for": "203.0.113.9"}, 403),
        ("proxied", "127.0.0.1", {"x-forwarded-for": "127.0.0.1"}, 200),
        ("proxied", "127.0.0.1", {}, 200),
        ("token", "203.0.113.9", {"authorization": f"Bearer {TOKEN}"}, 200),
        ("token", "203.0.113.9", {"authorization": f"bearer {TOKEN}"}, 200),
        ("token", "203.0.113.9", {"authorization": f"Bearer {TOKEN}x"}, 403),
        ("token", "203.0.113.9", {"authorization": f"Bearer {TOKEN[:-1]}"}, 403),
        ("token", "203.0.113.9", {"authorization": TOKEN}, 403),
        ("token", "203.0.113.9", {}, 403),
        ("token", "127.0.0.1", {}, 200),
    ],
)
async def test_metrics_access(
    apps: dict[str, Any], app: str, peer: str, headers: dict[str, str], status: int
) -> None:
    async with client_of(apps[app], peer) as client:
        response = await client.get("/metrics", headers=headers)

    assert response.status_code == status, response.text
    if status == 200:
        assert ("tessera_sessions_created_total", frozenset()) in parse(response.text)
    else:
        assert "tessera_" not in response.text
        assert TOKEN not in response.text


def test_metrics_token_too_short_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TESSERA_METRICS_TOKEN"):
        make_settings(tmp_path, metrics_token="short")
