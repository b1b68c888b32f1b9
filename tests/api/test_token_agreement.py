"""``verifySession``, RFC 7662 introspection and local verification agree on every token:
one table of token states (rows: case builders) for every kind of token Tessera mints
(``KINDS``). A token ``verifySession`` finds valid introspects as active with the same
session, user and expiry; any other introspects as exactly ``{"active": false}``.

Local verification is what a backend holding only the issuer's discovery metadata and
JWKS makes of a token (PyJWT, as the README shows). It accepts exactly the SIGNED tokens
``verifySession`` finds valid, with one documented exception: a revoked session's token
still verifies locally until it expires (the revocation lag). An ENCRYPTED token cannot be
verified locally at all: the JWKS never holds a key for its ``kid``.

New token kinds and states are one entry in ``KINDS`` or ``CASES`` each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
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


@dataclass(frozen=True)
class Kind:
    """``prepare`` readies the world so that the sessions created next mint tokens of
    this kind; ``local``: whether anyone can verify them from the JWKS."""

    prepare: Callable[[World], Awaitable[None]]
    local: bool


CaseBuilder = Callable[[World], Awaitable[Case]]


async def encrypted(w: World) -> None:
    """The default: ``<tag>:<JWE>``."""


async def signed(w: World) -> None:
    """``<tag>:<JWS>``: both products' ``web`` config is SIGNED before any session."""
    for product in ("shop", "other"):
        created = await w.api.op(
            "CreateSessionConfig",
            input={"product": product, "tag": "web", "name": "Web", "tokenFormat": "SIGNED"},
        )
        assert created["createSessionConfig"]["tokenFormat"] == "SIGNED", created


KINDS: dict[str, Kind] = {
    "encrypted": Kind(encrypted, local=False),
    "signed": Kind(signed, local=True),
}


async def rotate(w: World, *, retire_previous: bool = False) -> list[dict[str, Any]]:
    """Rotate the keys of shop/prd (the ring of the table's tokens); the ring's keys."""
    rotated = (
        await w.api.op(
            "RotateKeys",
            input={"product": "shop", "env": "prd", "retirePrevious": retire_previous},
        )
    )["rotateKeys"]
    assert rotated["__typename"] == "KeyRing", rotated
    keys: list[dict[str, Any]] = rotated["keys"]
    return keys


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


async def rotated(w: World) -> Case:
    """Minted before a rotation, checked after: its key is verify-only, still valid."""
    token = (await w.create())["token"]
    keys = await rotate(w)
    assert {k["state"] for k in keys} == {"ACTIVE", "VERIFY_ONLY"}, keys
    return Case(token, w.shop, SHOP, None)


async def retired(w: World) -> Case:
    """Minted, then its key retired at once (``retirePrevious``: a compromised key)."""
    token = (await w.create())["token"]
    keys = await rotate(w, retire_previous=True)
    assert {k["state"] for k in keys} == {"ACTIVE", "RETIRED"}, keys
    return Case(token, w.shop, SHOP, "INVALID")


async def retired_on_schedule(w: World) -> Case:
    """Minted, rotated, and the clock past the demoted keys' ``retireAt``, swept: the
    key verifies nothing any more (checked before expiry, so ``INVALID``)."""
    token = (await w.create())["token"]
    keys = await rotate(w)
    (retire_at,) = {k["retireAt"] for k in keys if k["state"] == "VERIFY_ONLY"}
    w.clock.t = epoch(retire_at)
    assert await w.tessera.sweeper.tend_keys() > 0
    return Case(token, w.shop, SHOP, "INVALID")


async def forged(w: World) -> Case:
    """One character changed in what the token says: a JWE's ciphertext, a JWS's
    payload (the second segment from the end, in both)."""
    tag, _, compact = (await w.create())["token"].partition(":")
    segments = compact.split(".")
    middle = len(segments[-2]) // 2
    flipped = "A" if segments[-2][middle] != "A" else "B"
    segments[-2] = segments[-2][:middle] + flipped + segments[-2][middle + 1 :]
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
    "rotated": rotated,
    "retired": retired,
    "retired-on-schedule": retired_on_schedule,
    "forged": forged,
    "malformed": malformed,
    "cross-product": cross_product,
    "cross-env": cross_env,
}


def epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).timestamp())


@dataclass(frozen=True)
class Local:
    """What a verifier holding only the JWKS of the issuer it trusts makes of a token:
    whether the JWKS has a key for the token's ``kid`` at all, and the claims PyJWT
    verified (``None``: refused)."""

    published: bool
    claims: dict[str, Any] | None


async def verify_locally(w: World, token: str, scope: dict[str, str], now: float) -> Local:
    """Verify ``token`` as a backend trusting ``scope``'s issuer would, configured from
    its RFC 8414 metadata and JWKS, fetched from the app over HTTP."""
    metadata_path = f"/.well-known/oauth-authorization-server/products/{scope['product']}"
    metadata = (await w.api.client.get(f"{metadata_path}/{scope['env']}")).json()
    response = await w.api.client.get(metadata["jwks_uri"])
    assert response.status_code == 200, response.text
    jwks = response.json()
    compact = token.partition(":")[2]
    try:
        kid = jwt.get_unverified_header(compact).get("kid")
    except jwt.PyJWTError:
        return Local(published=False, claims=None)
    keys = {k["kid"]: k for k in jwks["keys"]}
    if kid not in keys:
        return Local(published=False, claims=None)
    try:
        claims: dict[str, Any] = jwt.decode(
            compact,
            jwt.PyJWK(keys[kid]).key,
            algorithms=["ES256"],
            audience=f"{scope['product']}:{scope['env']}",
            issuer=metadata["issuer"],
            # PyJWT checks exp, iat and nbf against the wall clock, and its leeway is a
            # margin on both sides, not a way to move "now". The tokens here were
            # minted on the test's frozen clock (ahead of the wall clock: every iat
            # would be in PyJWT's future), so those checks are made against the frozen
            # clock below instead; the claims are still required.
            options={
                "require": ["exp", "iat", "iss", "aud", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError:
        return Local(published=True, claims=None)
    # PyJWT's own rule for exp (expired once ``exp <= now``) and iat (not in the future),
    # with no leeway, on the frozen clock.
    if not claims["iat"] <= now < claims["exp"]:
        return Local(published=True, claims=None)
    return Local(published=True, claims=claims)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES)
async def test_verify_session_introspection_and_local_verification_agree(
    api: Api, tessera: Tessera, clock: FrozenClock, kind: str, case: str
) -> None:
    w = await world(api, tessera, clock)
    await KINDS[kind].prepare(w)
    built = await CASES[case](w)

    verified = (
        await api.op(
            "VerifySession", key=built.client.key, input={**built.scope, "token": built.token}
        )
    )["verifySession"]
    response = await api.client.post(
        INTROSPECT, data={"token": built.token}, headers=built.client.bearer()
    )
    local = await verify_locally(w, built.token, built.scope, clock.now())

    assert verified["reason"] == built.reason
    assert response.status_code == 200
    if not KINDS[kind].local:
        # Nothing could verify it locally: no key the JWKS publishes is its key.
        assert local == Local(published=False, claims=None)
    elif built.reason == "REVOKED":
        # Not an agreement but the README's documented revocation lag: local
        # verification cannot see a revocation, so the token verifies locally until it
        # expires, and from then on not.
        assert local.claims is not None
        clock.t = local.claims["exp"]
        assert (await verify_locally(w, built.token, built.scope, clock.now())).claims is None
    else:
        assert (local.claims is not None) == (built.reason is None)
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
    if local.claims is not None:
        # The token says what introspection answers (its members but two are claims).
        members = {k: v for k, v in introspected.items() if k not in ("active", "token_type")}
        assert {k: local.claims.get(k) for k in members} == members
