"""Settings and modes: what Tessera refuses to start with, what it generates in
development, and that a restart never invalidates what it issued."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from server import create_app
from service.access import generate_api_key
from service.clock import FrozenClock
from service.crypto import MasterKey
from service.errors import StartupError, Unauthenticated
from service.settings import Settings
from service.tessera import Tessera
from store import open_store
from tests.operations import operation

BIN = Path(sys.executable).parent

SEED: dict[str, Any] = {
    "product": "my-app",
    "env": "prd",
    "tag": "user-session",
    "user_id": "user_123",
    "details": {"username": "johndoe", "email": "john@example.com"},
}


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built here see only what each test passes, never the runner's env."""
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)


def run_tessera(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``tessera serve`` as an operator runs it; every case here must fail fast."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    base.update(
        {
            "TESSERA_DATA_DIR": str(cwd / "data"),
            # Should a case start serving by mistake, it must not take port 8000.
            "TESSERA_PORT": str(free_port()),
            "TESSERA_HOST": "127.0.0.1",
        }
    )
    base.update(env)
    return subprocess.run(
        [str(BIN / "tessera"), "serve"],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure: a non-zero exit with exactly one line on stderr."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def dev_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"mode": "development", "data_dir": data_dir}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# Production requires its secrets ------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ((), ("TESSERA_MASTER_KEY", "TESSERA_ADMIN_KEY")),
        (("TESSERA_ADMIN_KEY",), ("TESSERA_MASTER_KEY",)),
        (("TESSERA_MASTER_KEY",), ("TESSERA_ADMIN_KEY",)),
    ],
    ids=["both-missing", "master-missing", "admin-missing"],
)
def test_serve_production_missing_secrets_exits_with_one_line(
    tmp_path: Path, given: tuple[str, ...], missing: tuple[str, ...]
) -> None:
    secrets_given = {
        "TESSERA_MASTER_KEY": new_master_key(),
        "TESSERA_ADMIN_KEY": generate_api_key(),
    }
    env = {name: secrets_given[name] for name in given}

    result = run_tessera(tmp_path, TESSERA_MODE="production", **env)

    line = one_line(result)
    for name in missing:
        assert name in line
    for name in set(secrets_given) - set(missing):
        assert name not in line
    for value in env.values():
        assert value not in result.stdout + result.stderr
    # Production never falls back to generating secrets.
    assert not (tmp_path / "data" / "master.key").exists()


async def test_start_production_missing_secrets_raises_startup_error(tmp_path: Path) -> None:
    settings = Settings(
        mode="production", data_dir=tmp_path, master_key=SecretStr(new_master_key())
    )

    with pytest.raises(StartupError, match="TESSERA_ADMIN_KEY"):
        await Tessera.start(settings, announce=lambda key: None)
    assert not (tmp_path / "tessera.db").exists()


# Admin key strength ---------------------------------------------------------------


WEAK_ADMIN_KEYS = {
    "no-prefix": "sk_" + secrets.token_urlsafe(32),
    "repeated": "tsk_" + "a" * 36,
    "short": "tsk_short",
    "low-variety": "tsk_" + "ab" * 40,
}


@pytest.mark.parametrize("key", WEAK_ADMIN_KEYS.values(), ids=WEAK_ADMIN_KEYS.keys())
def test_serve_weak_admin_key_exits_without_echoing_it(tmp_path: Path, key: str) -> None:
    result = run_tessera(tmp_path, TESSERA_ADMIN_KEY=key, TESSERA_MASTER_KEY=new_master_key())

    line = one_line(result)
    assert "TESSERA_ADMIN_KEY" in line
    output = result.stdout + result.stderr
    assert key not in output
    assert key.removeprefix("tsk_").removeprefix("sk_") not in output


@pytest.mark.parametrize("key", WEAK_ADMIN_KEYS.values(), ids=WEAK_ADMIN_KEYS.keys())
def test_settings_weak_admin_key_rejected(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        dev_settings(tmp_path, admin_key=key)

    problems = caught.value.errors(include_input=False, include_url=False)
    assert [e["loc"] for e in problems] == [("admin_key",)]
    assert key not in str(problems)


def test_settings_generated_admin_key_accepted(tmp_path: Path) -> None:
    for _ in range(50):
        key = generate_api_key()
        settings = dev_settings(tmp_path, admin_key=key)
        assert settings.admin_key is not None
        assert settings.admin_key.get_secret_value() == key


def test_generate_key_with_rejected_env_prints_accepted_key(tmp_path: Path) -> None:
    # The rejection message points here, so it must work while the env is still bad.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    result = subprocess.run(
        [str(BIN / "tessera"), "generate-key"],
        cwd=tmp_path,
        env={**env, "TESSERA_ADMIN_KEY": "tsk_short", "TESSERA_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    [key] = result.stdout.split()
    settings = dev_settings(tmp_path, admin_key=key)
    assert settings.admin_key is not None
    assert not list(tmp_path.iterdir())  # printed only: no database, no key file


def test_serve_bad_master_key_exits_without_echoing_it(tmp_path: Path) -> None:
    bad = base64.b64encode(os.urandom(16)).decode()  # 16 bytes, not 32

    result = run_tessera(tmp_path, TESSERA_MASTER_KEY=bad, TESSERA_ADMIN_KEY=generate_api_key())

    assert "TESSERA_MASTER_KEY" in one_line(result)
    assert bad not in result.stdout + result.stderr


# Secrets never in repr ----------------------------------------------------------------


async def test_repr_never_shows_master_or_admin_key(tmp_path: Path) -> None:
    master, admin = new_master_key(), generate_api_key()
    settings = dev_settings(tmp_path, master_key=master, admin_key=admin)
    raw = base64.b64decode(master)
    tessera = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    try:
        issued = await tessera.sessions.create(**SEED)
        texts = [
            repr(settings),
            str(settings),
            f"{settings}",
            settings.model_dump_json(),
            repr(tessera),
            str(tessera),
            repr(MasterKey(raw)),
            str(MasterKey(raw)),
            repr(tessera.access),
            repr(tessera.sessions),
            repr(issued),
            str(issued),
        ]
    finally:
        await tessera.close()

    for text in texts:
        for secret in (master, admin, admin.removeprefix("tsk_"), repr(raw), raw.hex()):
            assert secret not in text, text
        assert issued.token not in text
        assert issued.refresh_token not in text
        assert issued.refresh_token.partition(":")[2] not in text


# Development: generated master key --------------------------------------------------


async def test_start_development_no_master_key_generates_file_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dev_settings(tmp_path / "data", admin_key=generate_api_key())
    clock = FrozenClock()
    path = tmp_path / "data" / "master.key"

    with caplog.at_level(logging.WARNING, logger="tessera"):
        first = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    try:
        issued = await first.sessions.create(**SEED)
    finally:
        await first.close()

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert len(base64.b64decode(content.strip(), validate=True)) == 32
    warnings = [r for r in caplog.records if "master key" in r.getMessage()]
    assert len(warnings) == 1
    assert content.strip() not in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tessera"):
        second = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    try:
        verified = await second.sessions.verify("my-app", "prd", "user-session", issued.token)
    finally:
        await second.close()

    assert path.read_text() == content
    assert not [r for r in caplog.records if "master key" in r.getMessage()]
    assert verified.valid, verified.reason


async def test_start_development_corrupt_master_key_file_raises(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("not a key\n")
    settings = dev_settings(tmp_path, admin_key=generate_api_key())

    with pytest.raises(StartupError, match="master key"):
        await Tessera.start(settings, announce=lambda key: None)
    assert (tmp_path / "master.key").read_text() == "not a key\n"


# Development: generated admin key ---------------------------------------------------


async def test_start_development_no_admin_key_announces_once_and_key_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dev_settings(tmp_path, master_key=new_master_key())
    announced: list[str] = []

    with caplog.at_level(logging.DEBUG):
        first = await Tessera.start(settings, announce=announced.append)
    try:
        assert len(announced) == 1
        key = announced[0]
        assert key.startswith("tsk_")
        principal = await first.access.authenticate(key)
        assert principal is not None and principal.is_admin

        # ... and as a bearer over HTTP.
        app = create_app(settings, tessera=first)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t.test") as client:
            ok = await client.post(
                "/graphql",
                json={"query": operation("Products")},
                headers={"authorization": f"Bearer {key}"},
            )
            wrong = await client.post(
                "/graphql",
                json={"query": operation("Products")},
                headers={"authorization": f"Bearer {generate_api_key()}"},
            )
    finally:
        await first.close()

    assert ok.status_code == 200 and ok.json() == {"data": {"products": []}}, ok.text
    assert wrong.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert key not in caplog.text

    second = await Tessera.start(settings, announce=announced.append)
    try:
        assert announced == [key]
        principal = await second.access.authenticate(key)
        assert principal is not None and principal.is_admin
        with pytest.raises(Unauthenticated):
            await second.access.authenticate(generate_api_key())
    finally:
        await second.close()


async def test_start_development_with_admin_key_announces_nothing(tmp_path: Path) -> None:
    admin = generate_api_key()
    settings = dev_settings(tmp_path, master_key=new_master_key(), admin_key=admin)
    announced: list[str] = []

    tessera = await Tessera.start(settings, announce=announced.append)
    try:
        principal = await tessera.access.authenticate(admin)
    finally:
        await tessera.close()

    assert announced == []
    assert principal is not None and principal.is_admin


# Wrong master key ---------------------------------------------------------------------


async def test_start_wrong_master_key_raises_without_minting(tmp_path: Path) -> None:
    right = dev_settings(tmp_path, master_key=new_master_key(), admin_key=generate_api_key())
    tessera = await Tessera.start(right, clock=FrozenClock(), announce=lambda key: None)
    try:
        issued = await tessera.sessions.create(**SEED)
    finally:
        await tessera.close()
    store = open_store(right.resolved_database_url)
    try:
        product = await store.get_product("my-app")
        assert product is not None
        keys_before = await store.list_keys(product.id, "prd")
        check_before = await store.get_meta("master_key_check")
    finally:
        await store.close()

    wrong_key = new_master_key()
    wrong = right.model_copy(update={"master_key": SecretStr(wrong_key)})
    announced: list[str] = []
    with pytest.raises(StartupError) as caught:
        await Tessera.start(wrong, clock=FrozenClock(), announce=announced.append)

    assert "master key" in str(caught.value)
    assert wrong_key not in str(caught.value)
    assert announced == []
    store = open_store(right.resolved_database_url)
    try:
        assert await store.list_keys(product.id, "prd") == keys_before
        assert await store.get_meta("master_key_check") == check_before
    finally:
        await store.close()

    # The right key still opens the database and the token still verifies.
    again = await Tessera.start(right, clock=FrozenClock(), announce=lambda key: None)
    try:
        verified = await again.sessions.verify("my-app", "prd", "user-session", issued.token)
    finally:
        await again.close()
    assert verified.valid, verified.reason


async def test_serve_wrong_master_key_exits_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = dev_settings(data, master_key=new_master_key(), admin_key=generate_api_key())
    tessera = await Tessera.start(settings, announce=lambda key: None)
    await tessera.close()
    wrong = new_master_key()

    result = run_tessera(
        tmp_path,
        TESSERA_MASTER_KEY=wrong,
        TESSERA_ADMIN_KEY=generate_api_key(),
        TESSERA_MODE="production",
    )

    assert "master key does not match" in one_line(result)
    assert wrong not in result.stdout + result.stderr


# Restart --------------------------------------------------------------------------------


async def test_restart_same_master_key_keeps_tokens_valid(tmp_path: Path) -> None:
    settings = dev_settings(tmp_path, master_key=new_master_key(), admin_key=generate_api_key())
    clock = FrozenClock()
    first = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    try:
        issued = [
            await first.sessions.create(**SEED),
            await first.sessions.create(**{**SEED, "env": "dev", "user_id": "user_456"}),
            await first.sessions.create(**{**SEED, "product": "ecommerce", "tag": "checkout"}),
        ]
    finally:
        await first.close()

    clock.advance(60)
    second = await Tessera.start(settings, clock=clock, announce=lambda key: None)
    try:
        results = [
            await second.sessions.verify("my-app", "prd", "user-session", issued[0].token),
            await second.sessions.verify("my-app", "dev", "user-session", issued[1].token),
            await second.sessions.verify("ecommerce", "prd", "checkout", issued[2].token),
        ]
    finally:
        await second.close()

    for tokens, result in zip(issued, results, strict=True):
        assert result.valid, result.reason
        assert result.session is not None and result.session.id == tokens.session_id
