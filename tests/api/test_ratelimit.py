"""Rate limits over GraphQL: verification per client address and per credential,
refresh per address and per session, failed authentication per address, and which
address a request comes from (``X-Forwarded-For`` only from trusted proxies).

The limits' windows run on wall time; ``wall`` freezes and advances it."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import limits.storage.memory
import pytest

import service.ratelimit
from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
BAD_KEY = "tsk_" + "x" * 43
PEER = "10.0.0.5"


class WallTime:
    """Stands in for the ``time`` module where the rate limiter reads the wall clock."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> WallTime:
    fake = WallTime()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(service.ratelimit, "time", fake)
    return fake


@dataclass
class Limited:
    """One app, reachable from any peer address, with product "shop" and a key for it."""

    app: Any
    admin_key: str
    stack: AsyncExitStack
    product_key: str = ""
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    async def client(self, peer: str = "127.0.0.1") -> httpx.AsyncClient:
        if peer not in self.clients:
            transport = httpx.ASGITransport(app=self.app, client=(peer, 1234))
            self.clients[peer] = await self.stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://tessera.test")
            )
        return self.clients[peer]

    async def post(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        peer: str = "127.0.0.1",
        forwarded_for: str | list[str] | None = None,
    ) -> dict[str, Any]:
        headers = [("authorization", f"Bearer {key}")] if key is not None else []
        if isinstance(forwarded_for, str):
            forwarded_for = [forwarded_for]
        headers += [("x-forwarded-for", line) for line in forwarded_for or []]
        client = await self.client(peer)
        response = await client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def op(self, name: str, **variables: Any) -> dict[str, Any]:
        body = await self.post(operation(name), variables, key=self.admin_key)
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def verify(self, *, key: str | None = None, **where: Any) -> dict[str, Any]:
        variables = {"input": {**SCOPE, "token": "web:a.b.c.d.e"}}
        return await self.post(
            operation("VerifySession"), variables, key=key or self.admin_key, **where
        )

    async def start_session(self, user: str = "u1") -> dict[str, Any]:
        created = await self.op(
            "CreateSessionWith", input={**SCOPE, "data": {"userId": user, "details": {}}}
        )
        tokens: dict[str, Any] = created["createSession"]
        assert tokens["__typename"] == "SessionTokens", tokens
        return tokens

    async def refresh(self, refresh_token: str, **where: Any) -> dict[str, Any]:
        variables = {"input": {**SCOPE, "refreshToken": refresh_token}}
        return await self.post(operation("RefreshSession"), variables, **where)

    async def create_key(self, name: str) -> str:
        created = await self.op("CreateApiKey", input={"product": "shop", "name": name})
        key: str = created["createApiKey"]["key"]
        return key


@asynccontextmanager
async def running(tmp_path: Path, **overrides: Any) -> AsyncIterator[Limited]:
    settings = make_settings(tmp_path, **overrides)
    assert settings.admin_key is not None
    service = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(service.close)
        limited = Limited(
            create_app(settings, tessera=service), settings.admin_key.get_secret_value(), stack
        )
        await limited.op("CreateProduct", input={"tag": "shop", "name": "Shop", "envs": ["prd"]})
        await limited.op(
            "CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"}
        )
        limited.product_key = await limited.create_key("backend")
        yield limited


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def assert_rate_limited(body: dict[str, Any]) -> None:
    assert "RATE_LIMITED" in codes(body), body
    for error in body["errors"]:
        if error["extensions"]["code"] == "RATE_LIMITED":
            retry_after = error["extensions"]["retryAfter"]
            assert isinstance(retry_after, int)
            assert 0 < retry_after <= 60


def assert_ok(body: dict[str, Any]) -> None:
    assert "errors" not in body, body


# verifySession per client address -----------------------------------------------------


async def test_verify_per_ip_fourth_attempt_is_rate_limited(tmp_path: Path, wall: WallTime) -> None:
    async with running(tmp_path, rate_limit_verify_per_ip="3/minute") as api:
        allowed = [await api.verify() for _ in range(3)]
        refused = await api.verify()

    for body in allowed:
        assert_ok(body)
        assert body["data"]["verifySession"]["valid"] is False
    assert_rate_limited(refused)
    assert refused["data"] is None
    assert codes(refused) == ["RATE_LIMITED"]


async def test_verify_per_ip_after_window_is_allowed_again(tmp_path: Path, wall: WallTime) -> None:
    async with running(tmp_path, rate_limit_verify_per_ip="3/minute") as api:
        for _ in range(3):
            assert_ok(await api.verify())
        assert_rate_limited(await api.verify())
        wall.advance(61)

        assert_ok(await api.verify())


async def test_verify_per_ip_other_address_is_unaffected(tmp_path: Path, wall: WallTime) -> None:
    async with running(tmp_path, rate_limit_verify_per_ip="3/minute") as api:
        for _ in range(4):
            await api.verify(peer="192.0.2.1")

        assert_ok(await api.verify(peer="192.0.2.2"))


async def test_verify_aliases_in_one_request_count_separately(
    tmp_path: Path, wall: WallTime
) -> None:
    fields = " ".join(f"v{i}: verifySession(input: $input) {{ valid }}" for i in range(4))
    document = f"query Aliased($input: VerifySessionInput!) {{ {fields} }}"
    variables = {"input": {**SCOPE, "token": "web:a.b.c.d.e"}}
    async with running(tmp_path, rate_limit_verify_per_ip="3/minute") as api:
        body = await api.post(document, variables, key=api.admin_key)

    assert_rate_limited(body)


async def test_verify_aliases_use_up_the_budget_of_later_requests(
    tmp_path: Path, wall: WallTime
) -> None:
    fields = " ".join(f"v{i}: verifySession(input: $input) {{ valid }}" for i in range(3))
    document = f"query Aliased($input: VerifySessionInput!) {{ {fields} }}"
    variables = {"input": {**SCOPE, "token": "web:a.b.c.d.e"}}
    async with running(tmp_path, rate_limit_verify_per_ip="3/minute") as api:
        assert_ok(await api.post(document, variables, key=api.admin_key))

        assert_rate_limited(await api.verify())


# verifySession per credential ---------------------------------------------------------


async def test_verify_per_credential_each_key_has_its_own_budget(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(
        tmp_path,
        rate_limit_verify_per_ip="1000/minute",
        rate_limit_verify_per_credential="2/minute",
    ) as api:
        other_key = await api.create_key("other")
        first = [await api.verify(key=api.product_key) for _ in range(3)]
        second = [await api.verify(key=other_key) for _ in range(2)]
        admin = await api.verify(key=api.admin_key)

    assert_ok(first[0])
    assert_ok(first[1])
    assert_rate_limited(first[2])
    for body in [*second, admin]:
        assert_ok(body)


async def test_verify_per_credential_counts_across_addresses(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(
        tmp_path,
        rate_limit_verify_per_ip="1000/minute",
        rate_limit_verify_per_credential="2/minute",
    ) as api:
        assert_ok(await api.verify(key=api.product_key, peer="192.0.2.1"))
        assert_ok(await api.verify(key=api.product_key, peer="192.0.2.2"))

        assert_rate_limited(await api.verify(key=api.product_key, peer="192.0.2.3"))


# refreshSession per address and per session -------------------------------------------


async def test_refresh_per_ip_fourth_attempt_is_rate_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, rate_limit_refresh_per_ip="3/minute") as api:
        sessions = [await api.start_session(f"u{i}") for i in range(5)]
        allowed = [await api.refresh(s["refreshToken"]) for s in sessions[:3]]
        refused = await api.refresh(sessions[3]["refreshToken"])
        elsewhere = await api.refresh(sessions[4]["refreshToken"], peer="192.0.2.9")

    for body in allowed:
        assert body["data"]["refreshSession"]["__typename"] == "SessionTokens", body
    assert_rate_limited(refused)
    assert elsewhere["data"]["refreshSession"]["__typename"] == "SessionTokens", elsewhere


async def test_refresh_per_ip_counts_invalid_refresh_tokens(tmp_path: Path, wall: WallTime) -> None:
    async with running(tmp_path, rate_limit_refresh_per_ip="3/minute") as api:
        session = await api.start_session()
        for _ in range(3):
            body = await api.refresh("garbage")
            assert body["data"]["refreshSession"]["__typename"] == "SessionError", body

        assert_rate_limited(await api.refresh(session["refreshToken"]))


async def test_refresh_per_session_third_rotation_is_rate_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, rate_limit_refresh_per_session="2/minute") as api:
        session = await api.start_session("u1")
        other = await api.start_session("u2")
        token = session["refreshToken"]
        for _ in range(2):
            body = await api.refresh(token)
            tokens = body["data"]["refreshSession"]
            assert tokens["__typename"] == "SessionTokens", body
            token = tokens["refreshToken"]

        # The session's budget follows it to any address, and is not the other's.
        refused = await api.refresh(token, peer="192.0.2.7")
        unaffected = await api.refresh(other["refreshToken"])
        wall.advance(61)
        later = await api.refresh(token)

    assert_rate_limited(refused)
    assert unaffected["data"]["refreshSession"]["__typename"] == "SessionTokens", unaffected
    assert later["data"]["refreshSession"]["__typename"] == "SessionTokens", later


async def test_refresh_per_session_guessed_secrets_are_rate_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, rate_limit_refresh_per_session="2/minute") as api:
        session = await api.start_session()
        lookup = session["refreshToken"].split(":")[0]
        guesses = [
            await api.refresh(f"{lookup}:{letter * 43}", peer=f"192.0.2.{i}")
            for i, letter in enumerate("ABC")
        ]
        genuine = await api.refresh(session["refreshToken"])

    for body in guesses[:2]:
        assert body["data"]["refreshSession"]["code"] == "REFRESH_TOKEN_INVALID", body
    assert_rate_limited(guesses[2])
    assert_rate_limited(genuine)


# Failed authentication per address ----------------------------------------------------


async def test_failed_auth_per_ip_locks_out_even_the_admin_key(
    tmp_path: Path, wall: WallTime
) -> None:
    products = operation("Products")
    async with running(tmp_path, rate_limit_failed_auth_per_ip="3/minute") as api:
        failures = [await api.post(products, key=BAD_KEY, peer="192.0.2.1") for _ in range(3)]
        locked = await api.post(products, key=api.admin_key, peer="192.0.2.1")
        bad_again = await api.post(products, key=BAD_KEY, peer="192.0.2.1")
        elsewhere = await api.post(products, key=api.admin_key, peer="192.0.2.2")
        wall.advance(61)
        later = await api.post(products, key=api.admin_key, peer="192.0.2.1")

    for body in failures:
        assert codes(body) == ["UNAUTHENTICATED"]
    assert_rate_limited(locked)
    assert locked["data"] is None
    assert codes(bad_again) == ["RATE_LIMITED"]
    assert_ok(elsewhere)
    assert_ok(later)


async def test_failed_auth_per_ip_counts_once_per_request(tmp_path: Path, wall: WallTime) -> None:
    fields = " ".join(f"p{i}: products {{ tag }}" for i in range(5))
    async with running(tmp_path, rate_limit_failed_auth_per_ip="2/minute") as api:
        body = await api.post(f"{{ {fields} }}", key=BAD_KEY)
        after = await api.post(operation("Products"), key=api.admin_key)

    assert set(codes(body)) == {"UNAUTHENTICATED"}
    assert_ok(after)


async def test_failed_auth_per_ip_production_locks_out_the_admin_key(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(
        tmp_path, mode="production", rate_limit_failed_auth_per_ip="2/minute"
    ) as api:
        for _ in range(2):
            await api.post("{ __typename }", key=BAD_KEY)
        locked = await api.post(operation("Products"), key=api.admin_key)

    assert_rate_limited(locked)


async def test_failed_auth_stale_session_bearer_on_refresh_is_not_counted(
    tmp_path: Path, wall: WallTime, caplog: pytest.LogCaptureFixture
) -> None:
    # Clients attach their (expired) session token to every request, refreshSession
    # included, where it is ignored: it must not lock the address out. The audit line
    # is on, as in a deployment, since it too asks who the caller is.
    caplog.set_level(logging.INFO, logger="tessera.audit")
    async with running(
        tmp_path, mode="production", rate_limit_failed_auth_per_ip="2/minute"
    ) as api:
        tokens = await api.start_session()
        stale = tokens["token"][:-4] + "AAAA"
        for _ in range(3):
            body = await api.refresh(tokens["refreshToken"], key=stale)
            tokens = body["data"]["refreshSession"]
            assert tokens["__typename"] == "SessionTokens", body
        own_session = await api.post(operation("CurrentSession"), key=tokens["token"])
        admin = await api.post(operation("Products"), key=api.admin_key)

    assert_ok(own_session)
    assert_ok(admin)
    assert any('"refreshSession"' in r.getMessage() for r in caplog.records)


# Which address a request comes from ---------------------------------------------------


@pytest.mark.parametrize("trusted", [[], ["10.1.0.0/16"]], ids=["no-proxies", "other-proxy"])
async def test_forwarded_for_from_untrusted_peer_is_ignored(
    tmp_path: Path, wall: WallTime, trusted: list[str]
) -> None:
    async with running(
        tmp_path, rate_limit_verify_per_ip="3/minute", trusted_proxies=trusted
    ) as api:
        for i in range(3):
            assert_ok(await api.verify(peer=PEER, forwarded_for=f"203.0.113.{i}"))

        assert_rate_limited(await api.verify(peer=PEER, forwarded_for="203.0.113.99"))
        assert_rate_limited(await api.verify(peer=PEER))


async def test_forwarded_for_from_trusted_peer_gives_each_client_its_budget(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(
        tmp_path, rate_limit_verify_per_ip="3/minute", trusted_proxies=["10.0.0.0/8"]
    ) as api:
        for _ in range(3):
            assert_ok(await api.verify(peer=PEER, forwarded_for="203.0.113.1"))
        refused = await api.verify(peer=PEER, forwarded_for="203.0.113.1")
        other_client = await api.verify(peer=PEER, forwarded_for="203.0.113.2")
        proxy_itself = await api.verify(peer=PEER)

    assert_rate_limited(refused)
    assert_ok(other_client)
    assert_ok(proxy_itself)


@pytest.mark.parametrize(
    "chain",
    [
        "198.51.100.7, 203.0.113.9",
        "198.51.100.8,203.0.113.9, 10.0.0.6",
        "unknown, 203.0.113.9, 10.9.9.9",
    ],
    ids=["spoofed-first-hop", "second-trusted-proxy", "garbage-first-hop"],
)
async def test_forwarded_for_spoofed_chain_resolves_to_first_untrusted_hop_from_right(
    tmp_path: Path, wall: WallTime, chain: str
) -> None:
    async with running(
        tmp_path, rate_limit_verify_per_ip="3/minute", trusted_proxies=["10.0.0.0/8"]
    ) as api:
        for _ in range(3):
            assert_ok(await api.verify(peer=PEER, forwarded_for="203.0.113.9"))

        spoofed = await api.verify(peer=PEER, forwarded_for=chain)
        spoofer = await api.verify(peer=PEER, forwarded_for=chain.split(",")[0])

    assert_rate_limited(spoofed)
    assert_ok(spoofer)


async def test_forwarded_for_repeated_header_lines_are_read_in_order(
    tmp_path: Path, wall: WallTime
) -> None:
    # The client sent its own line; the proxy added the real address as another line.
    async with running(
        tmp_path, rate_limit_verify_per_ip="3/minute", trusted_proxies=["10.0.0.0/8"]
    ) as api:
        for i in range(3):
            lines = [f"198.51.100.{i}", "203.0.113.9"]
            assert_ok(await api.verify(peer=PEER, forwarded_for=lines))

        refused = await api.verify(peer=PEER, forwarded_for=["198.51.100.99", "203.0.113.9"])

    assert_rate_limited(refused)
