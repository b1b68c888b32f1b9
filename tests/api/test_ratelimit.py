"""Rate limits over GraphQL. They count what an attacker would send — failures: bad
credentials per client address, malformed or forged tokens per API key, forged refresh
tokens — and the refreshes of callers without a key. A valid key's successful work is
never counted, and no failure counter ever refuses a genuine credential, so neither a
sprayer behind the same gateway nor a backend's own users can lock a backend out.

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
from service.ratelimit import Bucket
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
BAD_KEY = "tsk_" + "x" * 43
PEER = "10.0.0.5"
# Every limit at 3 a minute: far below what the tests drive through them.
TIGHT = {
    "rate_limit_failed_auth_per_ip": "3/minute",
    "rate_limit_failed_tokens_per_credential": "3/minute",
    "rate_limit_refresh_per_ip": "3/minute",
    "rate_limit_refresh_per_session": "3/minute",
}
FORGED_TOKENS = ["web:a.b.c.d.e", "garbage", "web:" + "x" * 40, "web:eyJhbGciOiJkaXIifQ..a.b.c"]


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
    tessera: Tessera
    clock: FrozenClock
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

    async def verify(
        self, token: str = FORGED_TOKENS[0], *, key: str | None = None, **where: Any
    ) -> dict[str, Any]:
        variables = {"input": {**SCOPE, "token": token}}
        return await self.post(
            operation("VerifySession"), variables, key=key or self.product_key, **where
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
    clock = FrozenClock()
    service = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(service.close)
        limited = Limited(
            create_app(settings, tessera=service),
            service,
            clock,
            settings.admin_key.get_secret_value(),
            stack,
        )
        await limited.op("CreateProduct", input={"tag": "shop", "name": "Shop", "envs": ["prd"]})
        for tag in ("web", "mobile"):
            await limited.op(
                "CreateSessionConfig", input={"product": "shop", "tag": tag, "name": tag}
            )
        limited.product_key = await limited.create_key("backend")
        yield limited


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def assert_rate_limited(body: dict[str, Any]) -> None:
    assert codes(body) == ["RATE_LIMITED"], body
    assert body["data"] is None
    retry_after = body["errors"][0]["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= 60


def assert_ok(body: dict[str, Any]) -> None:
    assert "errors" not in body, body


def reason(body: dict[str, Any]) -> str | None:
    assert_ok(body)
    verification: dict[str, Any] = body["data"]["verifySession"]
    return None if verification["valid"] else verification["reason"]


def refreshed(body: dict[str, Any]) -> str:
    assert_ok(body)
    typename: str = body["data"]["refreshSession"]["__typename"]
    if typename == "SessionTokens":
        return typename
    code: str = body["data"]["refreshSession"]["code"]
    return code


# A backend is never refused -------------------------------------------------------------


async def test_backend_key_far_past_every_limit_is_never_rate_limited(
    tmp_path: Path, database_url: str, wall: WallTime
) -> None:
    # Every limit is tiny, and a sprayer on the same address (a gateway) uses up both the
    # address's and its own key's failures; the backend's work is never counted.
    async with running(tmp_path, database_url=database_url, **TIGHT) as api:
        sprayer_key = await api.create_key("sprayer")
        stale = await api.start_session("stale")
        api.clock.advance(2 * 3600)
        revoked = await api.start_session("gone")
        await api.op("RevokeSession", input={**SCOPE, "sessionId": revoked["sessionId"]})
        live = [await api.start_session(f"u{i}") for i in range(3)]
        backend: list[str | None] = []
        sprayed: list[list[str]] = []
        for i in range(60):
            sprayed.append(codes(await api.post(operation("Products"), key=BAD_KEY, peer=PEER)))
            sprayed.append(codes(await api.verify(FORGED_TOKENS[i % 4], key=sprayer_key)))
            backend.append(reason(await api.verify(live[i % 3]["token"], peer=PEER)))
            # Everyday failures of a busy backend: not counted either.
            backend.append(reason(await api.verify(stale["token"], peer=PEER)))
            backend.append(reason(await api.verify(revoked["token"], peer=PEER)))
            backend.append(
                reason(
                    await api.post(
                        operation("VerifySession"),
                        {"input": {**SCOPE, "tag": "mobile", "token": live[0]["token"]}},
                        key=api.product_key,
                        peer=PEER,
                    )
                )
            )
        admin = await api.verify(live[0]["token"], key=api.admin_key, peer=PEER)

    assert backend == [None, "EXPIRED", "REVOKED", "WRONG_SESSION"] * 60
    assert reason(admin) is None
    assert sprayed[:6] == [
        ["UNAUTHENTICATED"],
        [],
        ["UNAUTHENTICATED"],
        [],
        ["UNAUTHENTICATED"],
        [],
    ]
    assert all(c == ["RATE_LIMITED"] for c in sprayed[6:]), sprayed


async def test_backend_key_default_settings_count_no_successful_verification(
    tmp_path: Path, wall: WallTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(tmp_path) as api:
        token = (await api.start_session())["token"]
        counted: list[Bucket] = []
        hit = api.tessera.rate_limits.hit

        def counting(bucket: Bucket, key: str) -> None:
            counted.append(bucket)
            hit(bucket, key)

        monkeypatch.setattr(api.tessera.rate_limits, "hit", counting)
        answers = [reason(await api.verify(token)) for _ in range(200)]
        forged = reason(await api.verify(FORGED_TOKENS[0]))

    assert answers == [None] * 200
    # Only the failure was counted, against the key.
    assert counted == [Bucket.FAILED_TOKENS_PER_CREDENTIAL]
    assert forged == "INVALID"


# Forged or malformed tokens, per API key ------------------------------------------------


async def test_failed_tokens_per_credential_fourth_forgery_is_rate_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, **TIGHT) as api:
        other_key = await api.create_key("other")
        token = (await api.start_session())["token"]
        allowed = [reason(await api.verify(t)) for t in FORGED_TOKENS[:3]]
        refused = await api.verify(FORGED_TOKENS[3])
        genuine = await api.verify(token)
        other = await api.verify(FORGED_TOKENS[0], key=other_key)
        elsewhere = await api.verify(FORGED_TOKENS[0], peer="192.0.2.9")
        wall.advance(61)
        later = await api.verify(FORGED_TOKENS[0])

    assert allowed == ["INVALID", "MALFORMED", "MALFORMED"]
    assert_rate_limited(refused)
    assert reason(genuine) is None
    assert reason(other) == "INVALID"
    # A key's budget is its own wherever it comes from.
    assert_rate_limited(elsewhere)
    assert reason(later) == "INVALID"


async def test_failed_tokens_per_credential_aliases_count_separately(
    tmp_path: Path, wall: WallTime
) -> None:
    fields = " ".join(f"v{i}: verifySession(input: $input) {{ valid }}" for i in range(4))
    document = f"query Aliased($input: VerifySessionInput!) {{ {fields} }}"
    variables = {"input": {**SCOPE, "token": "web:a.b.c.d.e"}}
    async with running(tmp_path, **TIGHT) as api:
        body = await api.post(document, variables, key=api.product_key)
        after = await api.verify()

    assert "RATE_LIMITED" in codes(body), body
    assert_rate_limited(after)


async def test_verify_per_credential_quota_when_set_counts_every_verification(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, rate_limit_verify_per_credential="2/minute") as api:
        other_key = await api.create_key("other")
        token = (await api.start_session())["token"]
        first = [await api.verify(token, peer=f"192.0.2.{i}") for i in range(3)]
        other = await api.verify(token, key=other_key)

    assert [reason(b) for b in first[:2]] == [None, None]
    assert_rate_limited(first[2])
    assert reason(other) is None


# Failed authentication, per client address ----------------------------------------------


async def test_failed_auth_bad_key_sprayer_never_locks_out_genuine_credentials(
    tmp_path: Path, database_url: str, wall: WallTime
) -> None:
    products = operation("Products")
    async with running(tmp_path, database_url=database_url, **TIGHT) as api:
        fresh_key = await api.create_key("first use")
        token = (await api.start_session())["token"]
        failures = [await api.post(products, key=BAD_KEY, peer=PEER) for _ in range(5)]
        admin = await api.post(products, key=api.admin_key, peer=PEER)
        product = await api.verify(token, key=fresh_key, peer=PEER)
        end_user = await api.post(operation("CurrentSession"), key=token, peer=PEER)
        forged_bearer = await api.post(
            operation("CurrentSession"), key=token[:-4] + "AAAA", peer=PEER
        )
        elsewhere = await api.post(products, key=BAD_KEY, peer="192.0.2.2")
        wall.advance(61)
        later = await api.post(products, key=BAD_KEY, peer=PEER)

    assert [codes(b) for b in failures[:3]] == [["UNAUTHENTICATED"]] * 3
    for body in failures[3:]:
        assert_rate_limited(body)
    assert_ok(admin)
    assert reason(product) is None
    assert_ok(end_user)
    # The limit is the address's, whatever the credential: a forged session token from
    # there is refused too.
    assert_rate_limited(forged_bearer)
    assert codes(elsewhere) == ["UNAUTHENTICATED"]
    assert codes(later) == ["UNAUTHENTICATED"]


async def test_failed_auth_counts_once_per_request(tmp_path: Path, wall: WallTime) -> None:
    fields = " ".join(f"p{i}: products {{ tag }}" for i in range(5))
    async with running(tmp_path, rate_limit_failed_auth_per_ip="2/minute") as api:
        many = await api.post(f"{{ {fields} }}", key=BAD_KEY)
        second = await api.post(operation("Products"), key=BAD_KEY)
        third = await api.post(operation("Products"), key=BAD_KEY)

    assert set(codes(many)) == {"UNAUTHENTICATED"}
    assert codes(second) == ["UNAUTHENTICATED"]
    assert_rate_limited(third)


async def test_failed_auth_production_admin_over_the_limit_address_is_still_admin(
    tmp_path: Path, wall: WallTime
) -> None:
    # Introspection is for admins only in production, and asks who the caller is before
    # execution: the admin key is checked, not refused for the sprayer's failures.
    async with running(
        tmp_path, mode="production", rate_limit_failed_auth_per_ip="1/minute"
    ) as api:
        for _ in range(3):
            await api.post("{ __typename }", key=BAD_KEY)
        schema = await api.post("{ __schema { queryType { name } } }", key=api.admin_key)
        sprayer = await api.post("{ __schema { queryType { name } } }", key=BAD_KEY)

    assert schema == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert sprayer["errors"] and "Query" not in str(sprayer)


async def test_failed_auth_ended_session_bearer_is_not_counted(
    tmp_path: Path, wall: WallTime
) -> None:
    # An expired or revoked session token is a client's everyday state before it
    # refreshes, not an attacker's: it is UNAUTHENTICATED every time, never limited.
    async with running(tmp_path, rate_limit_failed_auth_per_ip="2/minute") as api:
        revoked = await api.start_session("gone")
        await api.op("RevokeSession", input={**SCOPE, "sessionId": revoked["sessionId"]})
        expired = await api.start_session("old")
        api.clock.advance(2 * 3600)
        answers = [
            await api.post(operation("CurrentSession"), key=token)
            for token in [expired["token"], revoked["token"]] * 3
        ]
        forged = [await api.post(operation("CurrentSession"), key="web:x.y") for _ in range(3)]

    assert [codes(b) for b in answers] == [["UNAUTHENTICATED"]] * 6
    assert "expired or was revoked" in answers[0]["errors"][0]["message"]
    assert [codes(b) for b in forged[:2]] == [["UNAUTHENTICATED"]] * 2
    assert_rate_limited(forged[2])


async def test_failed_auth_stale_session_bearer_on_refresh_is_not_counted(
    tmp_path: Path, wall: WallTime, caplog: pytest.LogCaptureFixture
) -> None:
    # Clients attach their (expired) session token to every request, refreshSession
    # included, where it is ignored: it must not count against the address. The audit
    # line is on, as in a deployment, since it too asks who the caller is.
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
        forged = [await api.post(operation("Products"), key=BAD_KEY) for _ in range(3)]

    assert [codes(b) for b in forged[:2]] == [["UNAUTHENTICATED"]] * 2
    assert_rate_limited(forged[2])
    assert any('"refreshSession"' in r.getMessage() for r in caplog.records)


# refreshSession -------------------------------------------------------------------------


async def test_refresh_without_key_per_ip_fourth_attempt_is_rate_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, rate_limit_refresh_per_ip="3/minute") as api:
        sessions = [await api.start_session(f"u{i}") for i in range(5)]
        allowed = [refreshed(await api.refresh(s["refreshToken"])) for s in sessions[:3]]
        refused = await api.refresh(sessions[3]["refreshToken"])
        elsewhere = await api.refresh(sessions[4]["refreshToken"], peer="192.0.2.9")

    assert allowed == ["SessionTokens"] * 3
    assert_rate_limited(refused)
    assert refreshed(elsewhere) == "SessionTokens"


async def test_refresh_with_key_is_not_limited_per_ip_or_session(
    tmp_path: Path, database_url: str, wall: WallTime
) -> None:
    async with running(tmp_path, database_url=database_url, **TIGHT) as api:
        sessions = [await api.start_session(f"u{i}") for i in range(3)]
        answers = []
        for _ in range(3):
            for i, session in enumerate(sessions):
                body = await api.refresh(session["refreshToken"], key=api.product_key)
                answers.append(refreshed(body))
                sessions[i] = body["data"]["refreshSession"]

    assert answers == ["SessionTokens"] * 9


async def test_refresh_without_key_per_session_fourth_rotation_is_rate_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, rate_limit_refresh_per_session="3/minute") as api:
        session = await api.start_session("u1")
        other = await api.start_session("u2")
        token = session["refreshToken"]
        for _ in range(3):
            body = await api.refresh(token)
            assert refreshed(body) == "SessionTokens"
            token = body["data"]["refreshSession"]["refreshToken"]

        # The session's budget follows it to any address, and is not the other's.
        refused = await api.refresh(token, peer="192.0.2.7")
        unaffected = await api.refresh(other["refreshToken"])
        wall.advance(61)
        later = await api.refresh(token)

    assert_rate_limited(refused)
    assert refreshed(unaffected) == "SessionTokens"
    assert refreshed(later) == "SessionTokens"


async def test_refresh_without_key_per_session_guesses_from_many_addresses_are_limited(
    tmp_path: Path, wall: WallTime
) -> None:
    # Guessing at one session's secret from many addresses: the session's attempts are
    # limited wherever they come from.
    async with running(tmp_path, rate_limit_refresh_per_session="2/minute") as api:
        session = await api.start_session()
        lookup = session["refreshToken"].split(":")[0]
        guesses = [
            await api.refresh(f"{lookup}:{letter * 43}", peer=f"192.0.2.{i}")
            for i, letter in enumerate("ABC")
        ]

    assert [refreshed(b) for b in guesses[:2]] == ["REFRESH_TOKEN_INVALID"] * 2
    assert_rate_limited(guesses[2])


async def test_refresh_without_key_forged_tokens_count_as_failed_auth(
    tmp_path: Path, database_url: str, wall: WallTime
) -> None:
    attempts = {"rate_limit_refresh_per_ip": "100/minute"}
    async with running(tmp_path, database_url=database_url, **{**TIGHT, **attempts}) as api:
        session = await api.start_session()
        lookup = session["refreshToken"].split(":")[0]
        forged = [
            await api.refresh(value, peer=PEER)
            for value in ["garbage", f"{lookup}:{'A' * 43}", "x.1:" + "B" * 43, "y"]
        ]
        genuine = await api.refresh(session["refreshToken"], peer=PEER)
        bad_key = await api.post(operation("Products"), key=BAD_KEY, peer=PEER)
        elsewhere = await api.refresh("garbage", peer="192.0.2.3")

    assert [refreshed(b) for b in forged[:3]] == ["REFRESH_TOKEN_INVALID"] * 3
    assert_rate_limited(forged[3])
    assert refreshed(genuine) == "SessionTokens"
    assert_rate_limited(bad_key)
    assert refreshed(elsewhere) == "REFRESH_TOKEN_INVALID"


async def test_refresh_with_key_forged_tokens_count_against_the_key(
    tmp_path: Path, database_url: str, wall: WallTime
) -> None:
    async with running(tmp_path, database_url=database_url, **TIGHT) as api:
        other_key = await api.create_key("other")
        session = await api.start_session()
        forged = [
            await api.refresh(f"garbage{i}", key=api.product_key, peer=PEER) for i in range(4)
        ]
        genuine = await api.refresh(session["refreshToken"], key=api.product_key, peer=PEER)
        other = await api.refresh("garbage", key=other_key, peer=PEER)
        keyless = await api.refresh("garbage", peer=PEER)

    assert [refreshed(b) for b in forged[:3]] == ["REFRESH_TOKEN_INVALID"] * 3
    assert_rate_limited(forged[3])
    assert refreshed(genuine) == "SessionTokens"
    assert refreshed(other) == "REFRESH_TOKEN_INVALID"
    # The key's failures are its own, not the address's.
    assert refreshed(keyless) == "REFRESH_TOKEN_INVALID"


# Counters are per instance -----------------------------------------------------------------


async def test_counters_are_per_instance(tmp_path: Path, wall: WallTime) -> None:
    async with (
        running(tmp_path / "one", rate_limit_failed_auth_per_ip="2/minute") as one,
        running(tmp_path / "two", rate_limit_failed_auth_per_ip="2/minute") as two,
    ):
        first = [await one.post(operation("Products"), key=BAD_KEY) for _ in range(3)]
        second = await two.post(operation("Products"), key=BAD_KEY)

    assert_rate_limited(first[2])
    assert codes(second) == ["UNAUTHENTICATED"]


# Which address a request comes from ---------------------------------------------------


async def spray(api: Limited, times: int, **where: Any) -> list[list[str]]:
    """Bad keys from one (apparent) client: a key-less caller, counted per address."""
    return [
        codes(await api.post(operation("Products"), key=BAD_KEY, **where)) for _ in range(times)
    ]


def limited(answers: list[list[str]]) -> bool:
    return answers[-1] == ["RATE_LIMITED"]


@pytest.mark.parametrize("trusted", [[], ["10.1.0.0/16"]], ids=["no-proxies", "other-proxy"])
async def test_forwarded_for_from_untrusted_peer_is_ignored(
    tmp_path: Path, wall: WallTime, trusted: list[str]
) -> None:
    async with running(tmp_path, **TIGHT, trusted_proxies=trusted) as api:
        for i in range(3):
            assert not limited(await spray(api, 1, peer=PEER, forwarded_for=f"203.0.113.{i}"))

        assert limited(await spray(api, 1, peer=PEER, forwarded_for="203.0.113.99"))
        assert limited(await spray(api, 1, peer=PEER))


async def test_forwarded_for_from_trusted_peer_gives_each_client_its_budget(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, **TIGHT, trusted_proxies=["10.0.0.0/8"]) as api:
        assert limited(await spray(api, 4, peer=PEER, forwarded_for="203.0.113.1"))
        other_client = await spray(api, 1, peer=PEER, forwarded_for="203.0.113.2")
        proxy_itself = await spray(api, 1, peer=PEER)

    assert other_client == [["UNAUTHENTICATED"]]
    assert proxy_itself == [["UNAUTHENTICATED"]]


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
    async with running(tmp_path, **TIGHT, trusted_proxies=["10.0.0.0/8"]) as api:
        assert not limited(await spray(api, 3, peer=PEER, forwarded_for="203.0.113.9"))

        spoofed = await spray(api, 1, peer=PEER, forwarded_for=chain)
        spoofer = await spray(api, 1, peer=PEER, forwarded_for=chain.split(",")[0])

    assert limited(spoofed)
    assert spoofer == [["UNAUTHENTICATED"]]


async def test_forwarded_for_repeated_header_lines_are_read_in_order(
    tmp_path: Path, wall: WallTime
) -> None:
    # The client sent its own line; the proxy added the real address as another line.
    async with running(tmp_path, **TIGHT, trusted_proxies=["10.0.0.0/8"]) as api:
        for i in range(3):
            lines = [f"198.51.100.{i}", "203.0.113.9"]
            assert not limited(await spray(api, 1, peer=PEER, forwarded_for=lines))

        refused = await spray(api, 1, peer=PEER, forwarded_for=["198.51.100.99", "203.0.113.9"])

    assert limited(refused)
