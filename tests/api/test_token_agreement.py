"""``verifySession`` and RFC 7662 introspection agree on every token: one table of token
states (rows: case builders) for every kind of token Tessera mints (``KINDS``). A token
``verifySession`` finds valid introspects as active with the same session, user and
expiry; any other introspects as exactly ``{"active": false}``.

New token kinds (a signed format) and states (rotated, retired keys) are one entry in
``KINDS`` or ``CASES`` each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from service.clock import FrozenClock
from service.tessera import Tessera
from tests.api.oauth import INACTIVE, INTROSPECT, OTHER, SHOP, SHOP_DEV, Client, World, world
from tests.conftest import Api


@dataclass(frozen=True)
class Case:
    """A token, who asks about it (introspection's client, verifySession's key) and
    what that caller's ``verifySession`` names; ``reason`` is verifySession's answer
    (``None``: valid)."""

    token: str
    client: Client
    scope: dict[str, str]
    reason: str | None


Kind = Callable[[World], Awaitable[None]]
"""Prepares the world so that the sessions created next mint tokens of this kind."""
CaseBuilder = Callable[[World], Awaitable[Case]]


async def encrypted(w: World) -> None:
    """The default: ``<tag>:<JWE>``."""


KINDS: dict[str, Kind] = {"encrypted": encrypted}


async def valid(w: World) -> Case:
    return Case((await w.create())["token"], w.shop, SHOP, None)


async def expired(w: World) -> Case:
    token = (await w.create())["token"]
    w.clock.advance(3601)
    return Case(token, w.shop, SHOP, "EXPIRED")


async def revoked(w: World) -> Case:
    created = await w.create()
    await w.api.op("RevokeSession", input={**SHOP, "sessionId": created["sessionId"]})
    return Case(created["token"], w.shop, SHOP, "REVOKED")


async def forged(w: World) -> Case:
    tag, _, compact = (await w.create())["token"].partition(":")
    segments = compact.split(".")
    middle = len(segments[3]) // 2
    flipped = "A" if segments[3][middle] != "A" else "B"
    segments[3] = segments[3][:middle] + flipped + segments[3][middle + 1 :]
    return Case(f"{tag}:{'.'.join(segments)}", w.shop, SHOP, "INVALID")


async def malformed(w: World) -> Case:
    await w.create()
    return Case("web:this-is-not-a-token", w.shop, SHOP, "MALFORMED")


async def cross_product(w: World) -> Case:
    """Another product's live token, asked about by this product's key."""
    return Case((await w.create(OTHER))["token"], w.shop, SHOP, "WRONG_SESSION")


async def cross_env(w: World) -> Case:
    """A live token of the product's dev env, asked about by a key for prd only."""
    return Case((await w.create(SHOP_DEV))["token"], w.shop_prd, SHOP, "WRONG_SESSION")


CASES: dict[str, CaseBuilder] = {
    "valid": valid,
    "expired": expired,
    "revoked": revoked,
    "forged": forged,
    "malformed": malformed,
    "cross-product": cross_product,
    "cross-env": cross_env,
}


def epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES)
async def test_verify_session_and_introspection_agree(
    api: Api, tessera: Tessera, clock: FrozenClock, kind: str, case: str
) -> None:
    w = await world(api, tessera, clock)
    await KINDS[kind](w)
    built = await CASES[case](w)

    verified = (
        await api.op(
            "VerifySession", key=built.client.key, input={**built.scope, "token": built.token}
        )
    )["verifySession"]
    response = await api.client.post(
        INTROSPECT, data={"token": built.token}, headers=built.client.bearer()
    )

    assert verified["reason"] == built.reason
    assert response.status_code == 200
    if built.reason is not None:
        assert verified["valid"] is False
        assert response.content == INACTIVE
        return
    introspected = response.json()
    assert verified["valid"] is True and introspected["active"] is True
    assert introspected["sid"] == verified["sessionId"]
    assert introspected["sub"] == verified["data"]["userId"]
    assert introspected["exp"] == epoch(verified["expiresAt"])
    assert introspected["aud"] == f"{built.scope['product']}:{built.scope['env']}"
    assert introspected["tag"] == built.scope["tag"]
