"""Master-key rotation: with the new key as TESSERA_MASTER_KEY and the old one as
TESSERA_MASTER_KEY_PREVIOUS every token, refresh token and stored detail of before stays
valid; ``rotate_master_key`` re-wraps everything so the old key can go; the data keys are
stored wrapped, never derived again, so nothing needs re-encrypting."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3

import asyncpg
import pytest
from pydantic import SecretStr

from cli import main
from service import datakeys
from service.catalog import ConfigSpec, TokenFormat
from service.clock import FrozenClock
from service.errors import StartupError
from service.sessions import IssuedTokens
from service.settings import Settings
from service.tessera import Tessera

SCOPE = ("shop", "prd", "web")
SIGNED_SCOPE = ("shop", "prd", "signed")


def b64key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def keyed(settings: Settings, master: str, previous: str | None = None) -> Settings:
    return settings.model_copy(
        update={
            "master_key": SecretStr(master),
            "master_key_previous": None if previous is None else SecretStr(previous),
        }
    )


async def start(settings: Settings, clock: FrozenClock) -> Tessera:
    return await Tessera.start(settings, clock=clock, announce=lambda key: None)


async def sessions_of_before(tessera: Tessera) -> list[tuple[tuple[str, str, str], IssuedTokens]]:
    await tessera.catalog.create_product("shop", "Shop", ["prd"])
    await tessera.catalog.create_config("shop", ConfigSpec("web"))
    await tessera.catalog.create_config(
        "shop", ConfigSpec("signed", token_format=TokenFormat.SIGNED)
    )
    return [
        (scope, await tessera.sessions.create(*scope, "u1", {"email": "a@example.com"}))
        for scope in (SCOPE, SIGNED_SCOPE)
    ]


async def still_valid(
    tessera: Tessera, issued: list[tuple[tuple[str, str, str], IssuedTokens]]
) -> list[tuple[tuple[str, str, str], IssuedTokens]]:
    """Each token verifies with its details, each refresh token refreshes; the
    successors (the refresh tokens to use next)."""
    successors = []
    for scope, tokens in issued:
        verified = await tessera.sessions.verify(*scope, tokens.token)
        assert verified.valid and verified.details == {"email": "a@example.com"}
        listed = await tessera.sessions.active(*scope)
        assert [s.details for s in listed.sessions] == [{"email": "a@example.com"}]
        successors.append((scope, await tessera.sessions.refresh(*scope, tokens.refresh_token)))
    return successors


async def test_rotate_master_key_keeps_every_token_valid_then_drops_the_old_key(
    settings: Settings, clock: FrozenClock
) -> None:
    old, new = b64key(), b64key()
    first = await start(keyed(settings, old), clock)
    issued = await sessions_of_before(first)
    await first.close()

    # Rolling out: the new key, and the old one still accepted.
    rolling = await start(keyed(settings, new, old), clock)
    issued = await still_valid(rolling, issued)
    assert await rolling.rotate_master_key() > 0
    assert await rolling.rotate_master_key() == 0  # all done: a second run changes nothing
    await rolling.close()

    # Rolled out: the new key alone.
    done = await start(keyed(settings, new), clock)
    await still_valid(done, issued)
    await done.close()

    with pytest.raises(StartupError, match="does not match"):
        await start(keyed(settings, old), clock)


async def test_rollout_before_the_rewrap_leaves_the_old_key_working(
    settings: Settings, clock: FrozenClock
) -> None:
    old, new = b64key(), b64key()
    first = await start(keyed(settings, old), clock)
    issued = await sessions_of_before(first)
    await first.close()

    rolling = await start(keyed(settings, new, old), clock)
    await rolling.close()

    # An instance not rolled yet still starts and serves: nothing was re-wrapped.
    lagging = await start(keyed(settings, old), clock)
    await still_valid(lagging, issued)
    await lagging.close()


async def forget_data_keys(url: str) -> None:
    """Delete the stored data keys, as in a database of a version that derived them."""
    names = [k.meta_key for k in datakeys.DATA_KEYS]
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.executemany("DELETE FROM meta WHERE key = ?", [(n,) for n in names])
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DELETE FROM meta WHERE key = ANY($1::text[])", names)
    finally:
        await conn.close()


async def test_database_of_before_the_stored_data_keys_keeps_its_data_through_a_rotation(
    settings: Settings, clock: FrozenClock
) -> None:
    """A database from a version that derived its data keys on every start: they are
    derived from the key it was created with — the previous one, mid-rotation."""
    old, new = b64key(), b64key()
    first = await start(keyed(settings, old), clock)
    issued = await sessions_of_before(first)
    await first.close()
    await forget_data_keys(settings.resolved_database_url)

    rolling = await start(keyed(settings, new, old), clock)
    issued = await still_valid(rolling, issued)
    await rolling.rotate_master_key()
    await rolling.close()

    done = await start(keyed(settings, new), clock)
    await still_valid(done, issued)
    await done.close()


def environment(monkeypatch: pytest.MonkeyPatch, settings: Settings, **keys: str) -> None:
    monkeypatch.setenv("TESSERA_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TESSERA_DATA_DIR", str(settings.data_dir))
    for name, value in keys.items():
        monkeypatch.setenv(f"TESSERA_{name.upper()}", value)


async def test_rotate_master_key_command_says_what_it_did_and_never_a_key(
    settings: Settings,
    clock: FrozenClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = b64key(), b64key()
    first = await start(keyed(settings, old), clock)
    await sessions_of_before(first)
    await first.close()

    environment(monkeypatch, settings, master_key=new)
    assert await asyncio.to_thread(main, ["rotate-master-key"]) == 2
    refused = capsys.readouterr()
    assert "TESSERA_MASTER_KEY_PREVIOUS" in refused.err

    environment(monkeypatch, settings, master_key=new, master_key_previous=old)
    assert await asyncio.to_thread(main, ["rotate-master-key"]) == 0
    done = capsys.readouterr()
    assert done.out.startswith("re-wrapped ")
    for secret in (old, new):
        assert secret not in done.out + done.err
