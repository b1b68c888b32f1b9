"""The structural rules that keep the hot path fast. Nothing here
times anything; bench/ measures. Each test fails if its rule is broken."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from schema import documents, schema
from schema.guards import rules
from schema.policy import OperationPolicy
from service.tessera import Tessera
from tests.conftest import Api
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}


def test_schema_runs_one_extension_with_one_hook() -> None:
    built = [factory() for factory in schema.extensions]
    hooks = ("on_operation", "on_parse", "on_validate", "on_execute", "resolve")

    # Every hook of every extension is wrapped anew on every request (schema/policy.py).
    assert [type(e) for e in built] == [OperationPolicy]
    assert [h for h in hooks if h in vars(OperationPolicy)] == ["on_operation"]


def test_limiter_rules_are_built_once() -> None:
    first = rules(10, 20, 10, True)

    assert rules(10, 20, 10, True) is first
    assert rules(10, 20, 10, False) is rules(10, 20, 10, False)


async def test_repeated_document_is_parsed_and_validated_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.create_session(**SCOPE, data={"userId": "u", "details": {}})
    await api.post(operation("VerifySession"), {"input": {**SCOPE, "token": "web:x.y.z.a.b"}})
    hits, misses = documents.cache_info()
    parses: list[str] = []
    monkeypatch.setattr(documents, "parse", lambda *a, **k: parses.append(a[0]))
    monkeypatch.setattr(documents, "validate_document", lambda *a: parses.append("validate"))

    for _ in range(5):
        body = await api.post(
            operation("VerifySession"), {"input": {**SCOPE, "token": "web:a.b.c.d.e"}}
        )
        assert body["data"]["verifySession"]["valid"] is False

    assert parses == []
    assert documents.cache_info() == (hits + 5, misses)


async def test_key_ring_is_unwrapped_once_per_process(
    api: Api, tessera: Tessera, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = await api.create_session(**SCOPE, data={"userId": "u", "details": {}})
    loads: list[Any] = []
    list_keys = tessera.store.list_keys

    async def counting(*args: Any) -> Any:
        loads.append(args)
        return await list_keys(*args)

    monkeypatch.setattr(tessera.store, "list_keys", counting)
    for _ in range(5):
        assert (await api.verify(**SCOPE, token=tokens["token"]))["valid"] is True
        await api.create_session(**SCOPE, data={"userId": "u", "details": {}})

    assert loads == []


@pytest.mark.parametrize("how", ["apq", "trusted"])
async def test_persisted_document_reads_no_database_and_is_prepared_once(
    api: Api, tessera: Tessera, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # A request by hash must cost what a plain one does (DESIGN.md §7): its text comes
    # from memory, and as the very text the document cache already holds.
    await api.create_session(**SCOPE, data={"userId": "u", "details": {}})
    document = operation("VerifySession")
    hash_ = hashlib.sha256(document.encode()).hexdigest()
    body: dict[str, Any] = {"variables": {"input": {**SCOPE, "token": "web:a.b.c.d.e"}}}
    headers = {"authorization": f"Bearer {api.key}"}
    if how == "apq":
        document = document.replace("query VerifySession", "query Verify")
        hash_ = hashlib.sha256(document.encode()).hexdigest()
        body["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": hash_}}
        await api.client.post("/graphql", json={**body, "query": document}, headers=headers)
    else:
        body["documentId"] = f"sha256:{hash_}"
        await api.client.post("/graphql", json=body, headers=headers)
    reads: list[Any] = []
    get = tessera.store.get_persisted_document

    async def counting(*args: Any) -> Any:
        reads.append(args)
        return await get(*args)

    monkeypatch.setattr(tessera.store, "get_persisted_document", counting)
    hits, misses = documents.cache_info()

    for _ in range(5):
        response = await api.client.post("/graphql", json=body, headers=headers)
        assert response.json()["data"]["verifySession"]["valid"] is False

    assert reads == []
    assert documents.cache_info() == (hits + 5, misses)


# Group commit is the SQLite adapter's; PostgreSQL commits each statement itself.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_concurrent_session_writes_share_commits(api: Api, tessera: Tessera) -> None:
    writer = getattr(tessera.store, "_writer", None)
    assert writer is not None
    batches: list[int] = []
    run = writer._run

    def counting(batch: list[Any]) -> Any:
        batches.append(len(batch))
        return run(batch)

    writer._run = counting
    await asyncio.gather(
        *(api.create_session(**SCOPE, data={"userId": f"u{i}", "details": {}}) for i in range(20))
    )

    assert sum(batches) >= 20
    assert len(batches) < 20  # some commits carried several sessions


def test_name_conversion_is_cached() -> None:
    converter = schema.config.name_converter

    assert converter.apply_naming_config("refresh_token") == "refreshToken"
    assert converter.apply_naming_config("refresh_token") is converter.apply_naming_config(
        "refresh_token"
    )
