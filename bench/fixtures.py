"""What a benchmark scenario needs in the database: the product and session config,
pools of live sessions for verify/refresh, and many stored sessions for the growth runs.

Product, config and pools go through the service (``Tessera.start`` on the same
settings as the servers); the growth rows are written straight into the ``sessions``
table of store/migrations.py, in one statement, because a million service calls would
take longer than the benchmark itself."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from service.catalog import ConfigSpec, Period
from service.details import KEY_ID, DetailsCipher
from service.sessions import IssuedTokens
from service.settings import Settings
from service.tessera import Tessera

PRODUCT = "bench"
ENV = "prd"
TAG = "bench-session"
DETAILS: dict[str, Any] = {"username": "johndoe", "email": "john@example.com", "plan": "pro"}
DETAILS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "maxLength": 64},
        "email": {"type": "string", "format": "email"},
        "plan": {"enum": ["free", "pro"]},
    },
    "required": ["username"],
}
# Seeded sessions: live (so the sweeper leaves them alone) for this long.
SEED_LIFETIME_SECONDS = 30 * 86_400
SEED_DETAILS = '{"username":"seeded","email":"seeded@example.com","plan":"free"}'
# As Tessera stores details: sealed (the same length and alphabet as a real row's).
# Sealed for no seeded row's id, so these would not open; the bench never lists them.
SEED_STORED_DETAILS = DetailsCipher({KEY_ID: os.urandom(32)}, KEY_ID).seal("seed", SEED_DETAILS)
CREATE_BATCH = 64


class Fixture:
    """An in-process ``Tessera`` on the scenario's database, on its own event loop."""

    def __init__(self, settings: Settings) -> None:
        self._runner = asyncio.Runner()
        self.tessera: Tessera = self._runner.run(Tessera.start(settings, announce=lambda key: None))

    def close(self) -> None:
        try:
            self._runner.run(self.tessera.close())
        finally:
            self._runner.close()

    def provision(self) -> None:
        """The product and session config every request names, and the key ring."""

        async def go() -> None:
            catalog = self.tessera.catalog
            await catalog.create_product(PRODUCT, "Benchmark", [ENV])
            await catalog.create_config(
                PRODUCT,
                ConfigSpec(
                    tag=TAG,
                    name="Benchmark session",
                    expiry=1,
                    period=Period.HOURS,
                    refresh_expiry=30,
                    refresh_period=Period.DAYS,
                    schema=DETAILS_SCHEMA,
                ),
            )
            # Mints the (product, env) key ring now, before any server starts.
            await self.tessera.sessions.create(PRODUCT, ENV, TAG, "warmup", DETAILS)

        self._runner.run(go())

    def sessions(self, count: int, label: str) -> list[IssuedTokens]:
        """``count`` new sessions through ``tessera.sessions.create``."""

        async def go() -> list[IssuedTokens]:
            create = self.tessera.sessions.create
            issued: list[IssuedTokens] = []
            # Concurrent, so the store can share commits between them.
            for start in range(0, count, CREATE_BATCH):
                issued += await asyncio.gather(
                    *(
                        create(PRODUCT, ENV, TAG, f"{label}-{i}", DETAILS)
                        for i in range(start, min(start + CREATE_BATCH, count))
                    )
                )
            return issued

        return self._runner.run(go())

    def ids(self) -> tuple[int, int]:
        """(product id, config id) of the benchmark's product and config."""

        async def go() -> tuple[int, int]:
            config = await self.tessera.catalog.config(PRODUCT, TAG)
            return config.product_id, config.id

        return self._runner.run(go())


def seed_sqlite(path: Path, count: int, product_id: int, config_id: int) -> float:
    """Insert ``count`` live sessions in one transaction; returns the seconds taken."""
    started = time.perf_counter()
    now = time.time()
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO sessions (id, product_id, env, config_id, identifier, user_id, "
            "details, started_at, expires_at, refresh_expires_at, last_seen_at, "
            "last_refresh_at, revoked_at, revoked_reason, refresh_generation, refresh_hash, "
            "refresh_salt, rotated_at) "
            "SELECT lower(hex(randomblob(11))), ?, ?, ?, 'seed-' || i, 'seed-' || i, ?, "
            "? - (i % 86400), ? - (i % 86400) + 3600, ? - (i % 86400) + ?, ? - (i % 86400), "
            "? - (i % 86400), "
            "NULL, NULL, 0, randomblob(32), randomblob(16), NULL FROM n",
            (
                count,
                product_id,
                ENV,
                config_id,
                SEED_STORED_DETAILS,
                now,
                now,
                now,
                SEED_LIFETIME_SECONDS,
                now,
                now,
            ),
        )
        db.execute("COMMIT")
        db.execute("ANALYZE")
    finally:
        db.close()
    return time.perf_counter() - started


async def seed_postgres(url: str, count: int, product_id: int, config_id: int) -> float:
    """Insert ``count`` live sessions with ``generate_series``; returns the seconds taken."""
    import asyncpg

    started = time.perf_counter()
    now = time.time()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO sessions (id, product_id, env, config_id, identifier, user_id, "
            "details, started_at, expires_at, refresh_expires_at, last_seen_at, "
            "last_refresh_at, revoked_at, revoked_reason, refresh_generation, refresh_hash, "
            "refresh_salt, rotated_at) "
            "SELECT left(md5(random()::text || g::text), 22), $2::bigint, $3::text, $4::bigint, "
            "'seed-' || g, 'seed-' || g, $5::text, $6::float8 - (g % 86400), "
            "$6::float8 - (g % 86400) + 3600, $6::float8 - (g % 86400) + $7::float8, "
            "$6::float8 - (g % 86400), $6::float8 - (g % 86400), NULL, NULL, 0, "
            "sha256(g::text::bytea), decode(md5(random()::text), 'hex'), NULL "
            "FROM generate_series(1, $1::bigint) AS g",
            count,
            product_id,
            ENV,
            config_id,
            SEED_STORED_DETAILS,
            now,
            float(SEED_LIFETIME_SECONDS),
        )
        await conn.execute("ANALYZE sessions")
    finally:
        await conn.close()
    return time.perf_counter() - started
