"""Two Tessera processes on one PostgreSQL database behave as one service.

What each caches (products, configs, API keys) follows a change on the other within a
second: the pair never rechecks the database's change version on its own (its interval
is an hour), so only PostgreSQL's notifications can tell it in time; a third process,
which does not listen, shows the version check doing it alone."""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from service.access import generate_api_key
from tests.databases import fresh_postgres_database
from tests.operations import operation
from tests.processes import Server, graphql

SCOPE = {"env": "prd", "tag": "web"}
# A change on one instance takes effect on another within this (the promise).
WITHIN = 1.0


@dataclass
class Pair:
    a: Server
    b: Server
    admin_key: str
    database_url: str
    client: httpx.Client
    env: dict[str, str]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    database_url = asyncio.run(fresh_postgres_database())
    tmp = tmp_path_factory.mktemp("instances")
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
            "TESSERA_RATE_LIMIT_REFRESH_PER_SESSION": "",
            "TESSERA_RATE_LIMIT_REFRESH_PER_IP": "",
            # Only notifications can make a change seen within WITHIN.
            "TESSERA_CACHE_RECHECK_SECONDS": "3600",
        }
    )
    servers = [Server(env, tmp, tmp / f"server-{name}.log") for name in "ab"]
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        try:
            for server in servers:
                server.wait_ready(client)
            yield Pair(servers[0], servers[1], admin_key, database_url, client, env)
        finally:
            for server in servers:
                server.kill()


@pytest.fixture(scope="module")
def deaf(pair: Pair) -> Iterator[Server]:
    """A third instance on the pair's database that does not LISTEN and rechecks the
    change version at the default interval."""
    env = {k: v for k, v in pair.env.items() if k != "TESSERA_CACHE_RECHECK_SECONDS"}
    env["TESSERA_DATABASE_URL"] = (
        pair.database_url + ("&" if "?" in pair.database_url else "?") + "listen=false"
    )
    tmp = Path(env["TESSERA_DATA_DIR"])
    server = Server(env, tmp, tmp / "server-deaf.log")
    try:
        server.wait_ready(pair.client)
        yield server
    finally:
        server.kill()


def setup_product(pair: Pair, product: str, envs: list[str] | None = None) -> None:
    graphql(
        pair.client,
        pair.a,
        pair.admin_key,
        "CreateProduct",
        input={"tag": product, "name": product, "envs": envs or ["prd"]},
    )
    graphql(
        pair.client,
        pair.b,
        pair.admin_key,
        "CreateSessionConfig",
        input={"product": product, "tag": "web", "name": "Web"},
    )


def create(pair: Pair, server: Server, product: str, user: str = "u1") -> dict[str, Any]:
    data = graphql(
        pair.client,
        server,
        pair.admin_key,
        "CreateSessionWith",
        input={"product": product, **SCOPE, "data": {"userId": user, "details": {}}},
    )
    tokens: dict[str, Any] = data["createSession"]
    assert tokens["__typename"] == "SessionTokens", tokens
    return tokens


def verify(pair: Pair, server: Server, product: str, token: str) -> dict[str, Any]:
    data = graphql(
        pair.client,
        server,
        pair.admin_key,
        "VerifySession",
        input={"product": product, **SCOPE, "token": token},
    )
    result: dict[str, Any] = data["verifySession"]
    return result


async def generation(url: str, session_id: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        value: int = await conn.fetchval(
            "SELECT refresh_generation FROM sessions WHERE id = $1", session_id
        )
        return value
    finally:
        await conn.close()


def test_refresh_race_across_instances_yields_one_successor(pair: Pair) -> None:
    setup_product(pair, "race")
    tokens = create(pair, pair.a, "race")
    body = {
        "query": operation("RefreshSession"),
        "variables": {
            "input": {"product": "race", **SCOPE, "refreshToken": tokens["refreshToken"]}
        },
    }

    async def redeem_all() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(trust_env=False, timeout=20.0) as client:
            responses = await asyncio.gather(
                *(
                    client.post(f"{(pair.a if i % 2 else pair.b).url}/graphql", json=body)
                    for i in range(50)
                )
            )
        return [r.json()["data"]["refreshSession"] for r in responses]

    results = asyncio.run(redeem_all())

    assert {r["__typename"] for r in results} == {"SessionTokens"}, results
    assert len({r["refreshToken"] for r in results}) == 1
    assert asyncio.run(generation(pair.database_url, tokens["sessionId"])) == 1


def test_revoke_on_one_instance_is_seen_by_the_other_at_once(pair: Pair) -> None:
    setup_product(pair, "revoke")
    tokens = create(pair, pair.a, "revoke")
    assert verify(pair, pair.b, "revoke", tokens["token"])["valid"] is True

    graphql(
        pair.client,
        pair.a,
        pair.admin_key,
        "RevokeSession",
        input={"product": "revoke", **SCOPE, "sessionId": tokens["sessionId"]},
    )

    assert verify(pair, pair.b, "revoke", tokens["token"])["reason"] == "REVOKED"


def eventually(check: Callable[[], bool], within: float) -> float:
    """Seconds until ``check()`` held, polling; fails if it did not within ``within``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            pytest.fail(f"not within {within} s")
        time.sleep(0.01)
    return time.monotonic() - start


def new_key(pair: Pair, product: str) -> dict[str, Any]:
    created: dict[str, Any] = graphql(
        pair.client, pair.a, pair.admin_key, "CreateApiKey", input={"product": product, "name": "k"}
    )["createApiKey"]
    return created


def refused(pair: Pair, server: Server, product: str, key: str) -> bool:
    """Whether ``server`` refuses ``key``; a key it accepts lists the product's configs."""
    body = pair.client.post(
        f"{server.url}/graphql",
        json={"query": operation("SessionConfigs"), "variables": {"product": product}},
        headers={"authorization": f"Bearer {key}"},
    ).json()
    if "errors" in body:
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body
        return True
    return False


def lifetime(pair: Pair, server: Server, product: str) -> float:
    """Seconds the next session ``server`` creates for ``product`` lives."""
    expires = datetime.fromisoformat(create(pair, server, product)["expiresAt"])
    return expires.timestamp() - time.time()


def test_api_key_revoked_on_one_instance_fails_on_the_other(pair: Pair) -> None:
    setup_product(pair, "keys")
    created = new_key(pair, "keys")
    assert not refused(pair, pair.b, "keys", created["key"])

    graphql(pair.client, pair.a, pair.admin_key, "RevokeApiKey", id=created["apiKey"]["id"])

    eventually(lambda: refused(pair, pair.b, "keys", created["key"]), WITHIN)


def test_config_changed_on_one_instance_mints_on_the_other(pair: Pair) -> None:
    setup_product(pair, "expiry")
    assert lifetime(pair, pair.b, "expiry") > 3000  # the default: an hour

    graphql(
        pair.client,
        pair.a,
        pair.admin_key,
        "UpdateSessionConfig",
        input={"product": "expiry", "tag": "web", "expiry": 5, "period": "MINUTES"},
    )

    eventually(lambda: lifetime(pair, pair.b, "expiry") <= 300, WITHIN)


def test_config_deleted_on_one_instance_is_gone_on_the_other(pair: Pair) -> None:
    setup_product(pair, "gone")
    create(pair, pair.b, "gone")

    deleted = graphql(
        pair.client,
        pair.a,
        pair.admin_key,
        "DeleteSessionConfig",
        input={"product": "gone", "tag": "web"},
    )["deleteSessionConfig"]
    assert deleted["__typename"] == "SessionConfig"

    def gone() -> bool:
        result = graphql(
            pair.client,
            pair.b,
            pair.admin_key,
            "CreateSessionWith",
            input={"product": "gone", **SCOPE, "data": {"userId": "u", "details": {}}},
        )["createSession"]
        if result["__typename"] == "SessionTokens":
            return False
        assert result["code"] == "SESSION_CONFIG_NOT_FOUND", result
        return True

    eventually(gone, WITHIN)


def test_without_notifications_a_change_is_seen_within_the_recheck_interval(
    pair: Pair, deaf: Server
) -> None:
    setup_product(pair, "deaf")
    created = new_key(pair, "deaf")
    assert not refused(pair, deaf, "deaf", created["key"])

    graphql(pair.client, pair.a, pair.admin_key, "RevokeApiKey", id=created["apiKey"]["id"])

    # The version is read at most once a second: by the first request a second after
    # the last read, so within a second and one request's time.
    eventually(lambda: refused(pair, deaf, "deaf", created["key"]), WITHIN + 0.5)


def test_first_use_key_ring_creation_races_to_one_ring(pair: Pair) -> None:
    setup_product(pair, "ring", envs=["prd"])
    body = {
        "query": operation("CreateSessionWith"),
        "variables": {
            "input": {"product": "ring", **SCOPE, "data": {"userId": "u", "details": {}}}
        },
    }

    async def create_on_both() -> list[dict[str, Any]]:
        headers = {"authorization": f"Bearer {pair.admin_key}"}
        async with httpx.AsyncClient(trust_env=False, timeout=20.0, headers=headers) as client:
            responses = await asyncio.gather(
                *(client.post(f"{s.url}/graphql", json=body) for s in [pair.a, pair.b] * 4)
            )
        return [r.json()["data"]["createSession"] for r in responses]

    created = asyncio.run(create_on_both())

    async def active_keys() -> int:
        conn = await asyncpg.connect(pair.database_url)
        try:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM signing_keys k JOIN products p ON p.id = k.product_id "
                "WHERE p.tag = 'ring' AND k.env = 'prd'"
            )
            return count
        finally:
            await conn.close()

    assert asyncio.run(active_keys()) == 1
    for tokens in created:
        for server in (pair.a, pair.b):
            assert verify(pair, server, "ring", tokens["token"])["valid"] is True


def test_instances_share_nothing_on_disk(pair: Pair) -> None:
    # Production with an explicit URL: no SQLite file and no generated key file.
    data_dir = Path(pair.a.log).parent
    assert not list(data_dir.glob("*.db")) and not (data_dir / "master.key").exists()


def rotate(pair: Pair, server: Server, product: str, *, retire_previous: bool = False) -> None:
    rotated = graphql(
        pair.client,
        server,
        pair.admin_key,
        "RotateKeys",
        input={"product": product, "env": "prd", "retirePrevious": retire_previous},
    )["rotateKeys"]
    assert rotated["__typename"] == "KeyRing", rotated


@pytest.mark.parametrize("token_format", ["ENCRYPTED", "SIGNED"])
def test_key_rotation_on_one_instance_keeps_tokens_valid_on_both_until_retired(
    pair: Pair, token_format: str
) -> None:
    product = f"rotate-{token_format.lower()}"
    setup_product(pair, product)
    graphql(
        pair.client,
        pair.a,
        pair.admin_key,
        "UpdateSessionConfig",
        input={"product": product, "tag": "web", "tokenFormat": token_format},
    )
    before = create(pair, pair.a, product)
    assert verify(pair, pair.b, product, before["token"])["valid"] is True  # b caches the ring

    rotate(pair, pair.b, product)
    # Both mint with the new keys at once, and both still verify the old key's token.
    after_a, after_b = create(pair, pair.a, product), create(pair, pair.b, product)
    for server in (pair.a, pair.b):
        for tokens in (before, after_a, after_b):
            assert verify(pair, server, product, tokens["token"])["valid"] is True

    rotate(pair, pair.b, product, retire_previous=True)
    # Retired on b: a, which caches the ring, stops verifying within a second.
    for token in (before["token"], after_a["token"]):

        def refused_on_a(token: str = token) -> bool:
            return bool(verify(pair, pair.a, product, token)["reason"] == "INVALID")

        eventually(refused_on_a, WITHIN)
        assert verify(pair, pair.b, product, token)["reason"] == "INVALID"
    latest = create(pair, pair.a, product)
    assert verify(pair, pair.b, product, latest["token"])["valid"] is True
