"""Key rotation: tokens minted before a rotation verify after it until their key retires
(at the last moment a token it made can expire), on every instance; retirement is exact
whether or not the sweeper has run; a retired key's material is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from joserfc.jwk import ECKey

from service import tokens
from service.catalog import MAX_ACCESS_SECONDS, ConfigPatch, ConfigSpec, Period, TokenFormat
from service.clock import FrozenClock
from service.errors import EnvNotFound, ProductNotFound
from service.keyring import ENCRYPTION, SIGNING
from service.rotation import CLOCK_SKEW_SECONDS
from service.settings import Settings
from service.tessera import Tessera
from service.tokens import Reason, unverified_kid

SCOPE = ("shop", "prd", "web")
FORMATS = pytest.mark.parametrize("token_format", list(TokenFormat))


async def shop(tessera: Tessera, token_format: TokenFormat, expiry_minutes: int = 10) -> None:
    await tessera.catalog.create_product("shop", "Shop", ["prd", "dev"])
    await tessera.catalog.create_config(
        "shop",
        ConfigSpec("web", expiry=expiry_minutes, period=Period.MINUTES, token_format=token_format),
    )


async def product_id(tessera: Tessera) -> int:
    return (await tessera.catalog.product("shop")).id


@FORMATS
async def test_rotate_tokens_minted_before_verify_after_and_new_ones_use_the_new_key(
    tessera: Tessera, token_format: TokenFormat
) -> None:
    await shop(tessera, token_format)
    before = await tessera.sessions.create(*SCOPE, "u1", {"a": 1})

    ring = await tessera.rotation.rotate("shop", "prd")
    after = await tessera.sessions.create(*SCOPE, "u2", {"a": 2})

    active = {k.alg: k.kid for k in ring.keys if k.state == "active"}
    assert sorted(active) == sorted([ENCRYPTION, SIGNING])
    assert (await tessera.sessions.verify(*SCOPE, before.token)).valid
    verified = await tessera.sessions.verify(*SCOPE, after.token)
    assert verified.valid and verified.details == {"a": 2}
    alg = SIGNING if token_format == TokenFormat.SIGNED else ENCRYPTION
    assert unverified_kid(after.token.split(":", 1)[1]) == active[alg]
    assert unverified_kid(before.token.split(":", 1)[1]) != active[alg]


@FORMATS
async def test_demoted_key_verifies_until_retire_at_then_never_even_before_the_sweep(
    tessera: Tessera, clock: FrozenClock, token_format: TokenFormat
) -> None:
    await shop(tessera, token_format, expiry_minutes=10)
    issued = await tessera.sessions.create(*SCOPE, "u1", {})
    rotated_at = clock.now()
    ring = await tessera.rotation.rotate("shop", "prd")
    margin = CLOCK_SKEW_SECONDS + 1  # and the recheck interval, 1 s
    demoted = [k for k in ring.keys if k.state == "verify_only"]
    assert demoted and {k.retire_at for k in demoted} == {rotated_at + 600 + margin}
    # What a lagging instance could still have minted with the demoted key just before
    # it heard of the rotation: a token living past the key's retirement.
    alg = SIGNING if token_format == TokenFormat.SIGNED else ENCRYPTION
    (old,) = [
        k
        for k in (await tessera.keyrings.ring(await product_id(tessera), "prd")).keys.values()
        if k.state == "verify_only" and k.alg == alg
    ]
    claims = {
        "iss": "http://127.0.0.1:8000/products/shop/prd",
        "aud": "shop:prd",
        "sub": "u1",
        "sid": issued.session_id,
        "tag": "web",
        "typ": "session",
        "iat": int(rotated_at),
        "exp": int(rotated_at) + 7200,
    }
    late = (
        tokens.sign("web", old.kid, old.key, claims)
        if isinstance(old.key, ECKey)
        else tokens.encode("web", old.kid, old.key, claims)
    )

    clock.t = rotated_at + 600 + margin - 1
    assert (await tessera.sessions.verify(*SCOPE, late)).valid
    clock.t = rotated_at + 600 + margin  # retire_at; the sweeper has not run
    assert (await tessera.sessions.verify(*SCOPE, late)).reason == Reason.INVALID


async def test_retired_key_refuses_a_token_that_has_not_expired(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await shop(tessera, TokenFormat.SIGNED, expiry_minutes=10)
    issued = await tessera.sessions.create(*SCOPE, "u1", {})

    await tessera.rotation.rotate("shop", "prd", retire_previous=True)

    assert (await tessera.sessions.verify(*SCOPE, issued.token)).reason == Reason.INVALID
    ring = await tessera.rotation.ring("shop", "prd")
    retired = [k for k in ring.keys if k.state == "retired"]
    assert retired and all(k.wrapped == b"" for k in retired)
    # The session itself lives on: a refresh mints with the new key.
    refreshed = await tessera.sessions.refresh(*SCOPE, issued.refresh_token)
    assert (await tessera.sessions.verify(*SCOPE, refreshed.token)).valid


async def test_sweeper_retires_due_keys_and_erases_their_material(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await shop(tessera, TokenFormat.ENCRYPTED, expiry_minutes=1)
    await tessera.sessions.create(*SCOPE, "u1", {})
    ring = await tessera.rotation.rotate("shop", "prd")
    (retire_at,) = {k.retire_at for k in ring.keys if k.state == "verify_only"}
    assert retire_at is not None

    assert await tessera.sweeper.tend_keys() == 0
    clock.t = retire_at
    assert await tessera.sweeper.tend_keys() == 1

    states = {k.kid: k for k in (await tessera.rotation.ring("shop", "prd")).keys}
    retired = [k for k in states.values() if k.state == "retired"]
    assert len(retired) == 1 and retired[0].wrapped == b""


async def test_retire_at_counts_the_longest_expiry_and_recent_updates(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await shop(tessera, TokenFormat.ENCRYPTED, expiry_minutes=10)
    await tessera.catalog.create_config("shop", ConfigSpec("mobile", expiry=2, period=Period.HOURS))
    pid, now = await product_id(tessera), clock.now()
    margin = CLOCK_SKEW_SECONDS + 1

    assert await tessera.rotation.retire_at(pid, now) == now + 7200 + margin

    # Shortened just now: tokens minted under the old settings may live up to a day.
    clock.advance(1)
    await tessera.catalog.update_config("shop", "mobile", ConfigPatch(expiry=1))
    assert (
        await tessera.rotation.retire_at(pid, clock.now()) == now + 1 + MAX_ACCESS_SECONDS + margin
    )


async def test_rotate_unknown_product_or_env_is_not_found(tessera: Tessera) -> None:
    await shop(tessera, TokenFormat.ENCRYPTED)
    with pytest.raises(ProductNotFound):
        await tessera.rotation.rotate("nope", "prd")
    with pytest.raises(EnvNotFound):
        await tessera.rotation.rotate("shop", "qa")


async def test_rotation_rings_are_per_env(tessera: Tessera) -> None:
    await shop(tessera, TokenFormat.ENCRYPTED)
    dev = await tessera.sessions.create("shop", "dev", "web", "u1", {})

    await tessera.rotation.rotate("shop", "prd", retire_previous=True)

    assert (await tessera.sessions.verify("shop", "dev", "web", dev.token)).valid


async def test_scheduled_rotation_rotates_old_rings_once(
    tessera: Tessera, clock: FrozenClock
) -> None:
    await shop(tessera, TokenFormat.ENCRYPTED)
    await tessera.sessions.create(*SCOPE, "u1", {})
    assert await tessera.rotation.rotate_due(86_400) == 0

    clock.advance(86_401)
    assert await tessera.rotation.rotate_due(86_400) == 1
    assert await tessera.rotation.rotate_due(86_400) == 0
    ring = await tessera.rotation.ring("shop", "prd")
    assert sorted(k.state for k in ring.keys) == ["active", "active", "verify_only"]


@pytest.fixture
async def second(settings: Settings) -> AsyncIterator[tuple[Tessera, FrozenClock]]:
    """Another instance on the test's database, with its own clock."""
    clock = FrozenClock()
    other = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    yield other, clock
    await other.close()


@FORMATS
async def test_rotation_on_one_instance_is_followed_by_another(
    tessera: Tessera,
    clock: FrozenClock,
    second: tuple[Tessera, FrozenClock],
    token_format: TokenFormat,
) -> None:
    other, other_clock = second
    await shop(tessera, token_format)
    issued = await tessera.sessions.create(*SCOPE, "u1", {})
    assert (await other.sessions.verify(*SCOPE, issued.token)).valid  # other caches the ring

    await tessera.rotation.rotate("shop", "prd")
    minted_elsewhere = await tessera.sessions.create(*SCOPE, "u2", {})
    # A kid other has not seen is loaded on the first token naming it.
    assert (await other.sessions.verify(*SCOPE, minted_elsewhere.token)).valid
    assert (await other.sessions.verify(*SCOPE, issued.token)).valid

    await tessera.rotation.rotate("shop", "prd", retire_previous=True)
    # Within the recheck interval (1 s; sooner on PostgreSQL, which notifies) other
    # drops the ring it had, retired keys with it.
    other_clock.advance(1.5)
    assert (await other.sessions.verify(*SCOPE, issued.token)).reason == Reason.INVALID
    assert (await other.sessions.verify(*SCOPE, minted_elsewhere.token)).reason == Reason.INVALID
    # And other mints with the new keys.
    fresh = await other.sessions.create(*SCOPE, "u3", {})
    assert (await tessera.sessions.verify(*SCOPE, fresh.token)).valid
