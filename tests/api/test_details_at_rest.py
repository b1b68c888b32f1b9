"""Session details are sealed at rest: a raw read of the database shows none of them,
every way Tessera hands details back still shows them, and a sealed value moved to
another row does not open there (the listing shows that session without details, a
refresh refuses it, and nothing is a 500)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.sessions import SEALED_META_KEY
from service.settings import Settings
from service.tessera import Tessera
from store import NewSession
from tests.conftest import Api

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
DETAILS = {"email": "alice.at-rest@example.com", "name": "Zebra Ünïcorn", "plan": "gold-tier"}
SECRET_VALUES = ("alice.at-rest", "Zebra", "nïcorn", "gold-tier")


def sqlite_path(database_url: str) -> Path | None:
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///"))
    return None


async def raw_database(database_url: str) -> bytes:
    """Everything an attacker with a copy of the database gets: the SQLite file with
    its -wal and -shm, or every row of every PostgreSQL table as text."""
    path = sqlite_path(database_url)
    if path is not None:
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        dump = [await conn.fetch(f'SELECT t::text FROM "{table}" t') for table in tables]
    finally:
        await conn.close()
    return "\n".join(str(row[0]) for rows in dump for row in rows).encode()


async def execute(database_url: str, sql: str, *args: Any) -> None:
    """A write behind Tessera's back, in each database's parameter style."""
    path = sqlite_path(database_url)
    if path is not None:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute(sql.replace("$1", "?").replace("$2", "?"), args)
        finally:
            db.close()
        return
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def assert_nothing_readable(raw: bytes) -> None:
    for value in SECRET_VALUES:
        assert value.encode() not in raw, value


async def start(api: Api, user: str, details: dict[str, Any]) -> dict[str, Any]:
    result = await api.create_session(**SCOPE, data={"userId": user, "details": details})
    assert result["__typename"] == "SessionTokens", result
    return result


async def listed(api: Api) -> dict[str, Any]:
    page = (await api.op("ActiveSessions", **SCOPE))["activeSessions"]
    return {e["node"]["id"]: e["node"] for e in page["edges"]}


async def test_details_not_stored_in_clear_yet_returned_everywhere(
    api: Api, database_url: str
) -> None:
    issued = await start(api, "u1", DETAILS)
    assert_nothing_readable(await raw_database(database_url))

    refreshed = (
        await api.op("RefreshSession", input={**SCOPE, "refreshToken": issued["refreshToken"]})
    )["refreshSession"]
    assert refreshed["__typename"] == "SessionTokens", refreshed
    assert_nothing_readable(await raw_database(database_url))

    for token in (issued["token"], refreshed["token"]):
        verified = await api.verify(**SCOPE, token=token)
        assert verified["data"] == {"userId": "u1", "details": DETAILS}
    assert (await listed(api))[issued["sessionId"]]["data"]["details"] == DETAILS
    current = (await api.op("CurrentSession", key=refreshed["token"]))["currentSession"]
    assert current["data"]["details"] == DETAILS
    assert_nothing_readable(await raw_database(database_url))


async def test_details_moved_to_another_row_do_not_open(
    api: Api, tessera: Tessera, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await start(api, "alice", DETAILS)
    bob = await start(api, "bob", {"email": "bob@example.com"})
    bob_row = await tessera.store.get_session(bob["sessionId"])
    alice_row = await tessera.store.get_session(alice["sessionId"])
    assert bob_row is not None and alice_row is not None
    await execute(
        database_url,
        "UPDATE sessions SET details = $1 WHERE id = $2",
        alice_row.details,
        bob["sessionId"],
    )

    with caplog.at_level(logging.WARNING, logger="tessera.sessions"):
        nodes = await listed(api)
        refreshed = (
            await api.op("RefreshSession", input={**SCOPE, "refreshToken": bob["refreshToken"]})
        )["refreshSession"]

    # Still listed, so it can be revoked; only its details are withheld.
    assert nodes[bob["sessionId"]]["data"] == {"userId": "bob", "details": None}
    assert nodes[bob["sessionId"]]["active"] is True
    assert nodes[alice["sessionId"]]["data"]["details"] == DETAILS
    assert refreshed["__typename"] == "SessionError"
    assert refreshed["code"] == "REFRESH_TOKEN_INVALID"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(bob["sessionId"] in w and "do not open" in w for w in warnings)
    assert all(value not in w for w in warnings for value in SECRET_VALUES)

    # The refused refresh spent nothing: with the row restored the same token works.
    await execute(
        database_url,
        "UPDATE sessions SET details = $1 WHERE id = $2",
        bob_row.details,
        bob["sessionId"],
    )
    again = (await api.op("RefreshSession", input={**SCOPE, "refreshToken": bob["refreshToken"]}))[
        "refreshSession"
    ]
    assert again["__typename"] == "SessionTokens", again
    assert (await listed(api))[bob["sessionId"]]["data"]["details"] == {"email": "bob@example.com"}


async def test_details_stored_in_clear_are_read_then_sealed_at_start(
    api: Api, tessera: Tessera, settings: Settings, database_url: str
) -> None:
    """Rows written before details were sealed: listed as they are, sealed by the next
    start (SQLite leaves no copy in free space or the WAL either), once."""
    await start(api, "sealed", {"email": "sealed@example.com"})
    product, config = await tessera.catalog.scope(SCOPE["product"], SCOPE["env"], SCOPE["tag"])
    now = tessera.clock.now()
    plain = '{"email":"alice.at-rest@example.com","name":"Zebra Ünïcorn","plan":"gold-tier"}'
    for i in range(3):
        await tessera.store.insert_session(
            NewSession(
                id=f"legacy-{i}",
                product_id=product.id,
                env=SCOPE["env"],
                config_id=config.id,
                identifier=f"old-{i}",
                user_id=f"old-{i}",
                details=plain,
                started_at=now - 10 + i,
                expires_at=now + 3600,
                refresh_expires_at=now + 86_400,
                refresh_hash=b"h" * 32,
                refresh_salt=b"s" * 16,
            )
        )
    # As a database from before sealing: it has no record of having been sealed.
    await execute(database_url, "DELETE FROM meta WHERE key = $1", SEALED_META_KEY)
    assert b"alice.at-rest" in await raw_database(database_url)
    assert all(
        n["data"]["details"] == DETAILS for i, n in (await listed(api)).items() if "legacy" in i
    )

    restarted = await Tessera.start(settings, announce=lambda key: None)
    try:
        assert await restarted.sessions.seal_stored_details() == 0  # once per database
    finally:
        await restarted.close()

    assert_nothing_readable(await raw_database(database_url))
    nodes = await listed(api)
    assert len(nodes) == 4
    assert [nodes[f"legacy-{i}"]["data"]["details"] for i in range(3)] == [DETAILS] * 3
