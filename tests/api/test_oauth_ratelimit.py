"""The OAuth endpoints under the GraphQL operations' rate limits, sharing their counters:
forged tokens per API key, failed authentications per client address, the optional
verification quota. Refusals are ``429`` with ``Retry-After``."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.oauth import FORM, INACTIVE, INTROSPECT, REVOKE
from tests.api.test_ratelimit import (
    BAD_KEY,
    FORGED_TOKENS,
    PEER,
    TIGHT,
    Limited,
    WallTime,
    assert_rate_limited,
    codes,
    reason,
    running,
    wall,
)
from tests.operations import operation

__all__ = ["wall"]  # the fixture

REFRESH_SHAPED = [f"AAAAAAAAAAAAAAA{i}.0:" + "A" * 43 for i in range(10)]


async def form(
    api: Limited, path: str, token: str, *, key: str | None = None, peer: str = "127.0.0.1"
) -> httpx.Response:
    client = await api.client(peer)
    headers = {"authorization": f"Bearer {key or api.product_key}", "content-type": FORM}
    return await client.post(path, content=f"token={token}".encode(), headers=headers)


def assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert 0 < int(response.headers["retry-after"]) <= 60


async def test_forged_tokens_count_per_key_with_verify_session(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, **TIGHT) as api:
        other_key = await api.create_key("other")
        token = (await api.start_session())["token"]
        verified = [reason(await api.verify(t)) for t in FORGED_TOKENS[:2]]
        third = await form(api, INTROSPECT, FORGED_TOKENS[2])
        refused = [await form(api, path, FORGED_TOKENS[3]) for path in (INTROSPECT, REVOKE)]
        graphql = await api.verify(FORGED_TOKENS[0])
        genuine = await form(api, INTROSPECT, token)
        other = await form(api, INTROSPECT, FORGED_TOKENS[0], key=other_key)
        wall.advance(61)
        later = await form(api, INTROSPECT, FORGED_TOKENS[0])

    assert verified == ["INVALID", "MALFORMED"]
    assert (third.status_code, third.content) == (200, INACTIVE)
    for response in refused:
        assert_429(response)
    assert_rate_limited(graphql)
    assert genuine.json()["active"] is True
    assert other.content == INACTIVE
    assert later.content == INACTIVE


async def test_forged_refresh_tokens_count_in_revocation_not_in_introspection(
    tmp_path: Path, wall: WallTime
) -> None:
    """Introspection never looks a refresh token up (it is never active), so there is
    nothing to guess at; revocation does, and counts forgeries as refreshSession does."""
    async with running(tmp_path, **TIGHT) as api:
        introspected = [await form(api, INTROSPECT, t) for t in REFRESH_SHAPED]
        revoked = [await form(api, REVOKE, t) for t in REFRESH_SHAPED[:4]]

    assert [r.content for r in introspected] == [INACTIVE] * len(REFRESH_SHAPED)
    assert [r.status_code for r in revoked[:3]] == [200, 200, 200]
    assert_429(revoked[3])


async def test_failed_client_authentication_counts_per_address_with_graphql(
    tmp_path: Path, wall: WallTime
) -> None:
    async with running(tmp_path, **TIGHT) as api:
        token = (await api.start_session())["token"]
        graphql = [await api.post(operation("Products"), key=BAD_KEY, peer=PEER) for _ in range(2)]
        third = await form(api, INTROSPECT, token, key=BAD_KEY, peer=PEER)
        refused = await form(api, REVOKE, token, key=BAD_KEY, peer=PEER)
        genuine = await form(api, INTROSPECT, token, peer=PEER)
        elsewhere = await form(api, INTROSPECT, token, key=BAD_KEY, peer="192.0.2.9")
        over = await api.post(operation("Products"), key=BAD_KEY, peer=PEER)

    assert [codes(b) for b in graphql] == [["UNAUTHENTICATED"]] * 2
    assert third.status_code == 401
    assert_429(refused)
    assert genuine.json()["active"] is True
    assert elsewhere.status_code == 401
    assert_rate_limited(over)


async def test_verify_quota_when_set_counts_introspections(tmp_path: Path, wall: WallTime) -> None:
    async with running(tmp_path, rate_limit_verify_per_credential="2/minute") as api:
        token = (await api.start_session())["token"]
        first = await form(api, INTROSPECT, token)
        second = await api.verify(token)
        third = await form(api, INTROSPECT, token)
        revoke = await form(api, REVOKE, "garbage")

    assert first.json()["active"] is True
    assert reason(second) is None
    assert_429(third)
    # Revocation is not a verification: not under that quota.
    assert revoke.status_code == 200
