"""The structural rules that keep the hot path fast. Nothing here
times anything; bench/ measures. Each test fails if its rule is broken."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import asyncpg
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


# Session users: every statement that reads or updates them is served by an index, so
# its cost does not grow with the sessions (or people) stored. PostgreSQL is asked with
# everything but index scans and nested loops priced out, so a plan that still has a
# sequential or bitmap scan has no index that serves it (a small table would otherwise
# be scanned, or hashed, because that is cheaper).
USER_STATEMENTS = [
    "SESSION_USER",
    "SESSION_USERS",
    "SESSION_USERS_AFTER",
    "SESSION_USERS_WITH_PREFIX",
    "SESSION_USERS_WITH_PREFIX_AFTER",
    "SESSION_USERS_OF_TAG",
    "SESSION_USERS_OF_TAG_AFTER",
    "SESSION_USERS_OF_TAG_WITH_PREFIX",
    "SESSION_USERS_OF_TAG_WITH_PREFIX_AFTER",
    "TAGS_SEEN_AT_START",
    "USER_SEEN_AT_REFRESH",
    "TAGS_SEEN_AT_REFRESH",
]
# A prefix search may order its matches by last seen (a sort of what the prefix's index
# range found, bounded by how many identifiers start with it) or walk the last-seen index
# and keep the matches, as the planner finds cheaper; everything else is never sorted.
MAY_SORT = {n for n in USER_STATEMENTS if "PREFIX" in n}


async def explain(tessera: Tessera, database_url: str, name: str, values: dict[str, Any]) -> str:
    sql, args = tessera.store.sql.bind(name, values)  # type: ignore[attr-defined]
    if database_url.startswith("sqlite"):
        db = tessera.store._db  # type: ignore[attr-defined]
        # What the statement itself does is at the top (parent 0), its subqueries below.
        rows = db.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
        return "\n".join(("" if row[1] == 0 else "  ") + str(row[-1]) for row in rows)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off; "
            "SET enable_hashjoin = off; SET enable_mergejoin = off"
        )
        return "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args))
    finally:
        await conn.close()


@pytest.mark.parametrize("name", USER_STATEMENTS)
async def test_session_user_statements_use_indexes(
    api: Api, tessera: Tessera, database_url: str, name: str
) -> None:
    for user in ("ann", "bob", "cid"):
        await api.create_session(**SCOPE, data={"userId": user, "details": {}})
    product, config = await tessera.catalog.scope(SCOPE["product"], SCOPE["env"], SCOPE["tag"])
    values: dict[str, Any] = {
        "now": 1.0,
        "product_id": product.id,
        "config_id": config.id,
        "env": SCOPE["env"],
        "identifier": "ann",
        "prefix": "a",
        "below": "a\U0010ffff",
        "after_seen_at": 2e9,
        "after_identifier": "zz",
        "limit": 20,
        "id": "some-session",
        "started_at": 1.0,
    }

    plan = await explain(tessera, database_url, name, values)

    if database_url.startswith("sqlite"):
        # A table is only ever searched or walked along an index (a subquery's few rows,
        # the tags of one person, may be scanned and sorted).
        scans = [line for line in plan.splitlines() if "SCAN " in line and "(subquery" not in line]
        assert all(" USING " in line for line in scans), plan
        assert "\nUSE TEMP B-TREE" not in f"\n{plan}" or name in MAY_SORT, plan
    else:
        assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
        assert "Sort  (" not in plan or name in MAY_SORT, plan
