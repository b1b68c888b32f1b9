"""Liveness and readiness endpoints for load balancers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api


async def test_healthz_is_ok(api: Api) -> None:
    response = await api.client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_ready_with_a_migrated_database(api: Api) -> None:
    response = await api.client.get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_when_the_store_is_not_ready(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = api.client._transport.app.state.tessera.store  # type: ignore[attr-defined]

    async def not_ready(*args: Any) -> bool:
        return False

    monkeypatch.setattr(store, "ready", not_ready)
    response = await api.client.get("/readyz")

    assert response.status_code == 503
