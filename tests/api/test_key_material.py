"""Key material never leaves Tessera beyond public keys: not in a log line, a GraphQL
answer, the JWKS, a ``repr``, or the rotation command's output."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey

from cli import main
from service.settings import Settings
from service.tessera import Tessera
from tests.conftest import Api

SIGNED = {"product": "shop", "env": "prd", "tag": "signed"}


def secret_texts(key: OctKey | ECKey) -> list[str]:
    """The forms a key's secret could be written in."""
    if isinstance(key, ECKey):
        d = str(key.as_dict(private=True)["d"])
        pem = key.as_pem(private=True).decode()
        body = "".join(pem.splitlines()[1:-1])
        return [d, body[:40], body[-40:]]
    raw = key.raw_value
    return [
        base64.urlsafe_b64encode(raw).rstrip(b"=").decode(),
        base64.b64encode(raw).decode(),
        raw.hex(),
    ]


async def every_secret(tessera: Tessera) -> list[str]:
    product = await tessera.catalog.product("shop")
    ring = await tessera.keyrings.ring(product.id, "prd")
    assert ring.keys
    return [text for key in ring.keys.values() for text in secret_texts(key.key)]


async def test_no_key_material_in_logs_answers_jwks_or_reprs(
    api: Api, tessera: Tessera, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[Any] = []
    answers.append(await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"}))
    answers.append(
        await api.op(
            "CreateSessionConfig",
            input={"product": "shop", "tag": "signed", "name": "S", "tokenFormat": "SIGNED"},
        )
    )
    answers.append(
        await api.op("CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "W"})
    )
    for tag in ("signed", "web"):
        data = {"userId": "u1", "details": {}}
        answers.append(await api.create_session(**{**SIGNED, "tag": tag}, data=data))
    answers.append(await api.op("RotateKeys", input={"product": "shop", "env": "prd"}))
    answers.append(await api.op("KeyRing", product="shop", env="prd"))
    jwks = (await api.client.get("/products/shop/prd/jwks.json")).text
    product = await tessera.catalog.product("shop")
    ring = await tessera.keyrings.ring(product.id, "prd")
    reprs = [repr(ring), *(repr(k) for k in ring.keys.values()), repr(tessera.keyrings)]
    reprs += [repr(r) for r in await tessera.store.list_keys(product.id, "prd")]
    reprs += [repr(tessera.rotation), repr(await tessera.rotation.ring("shop", "prd"))]
    secrets = await every_secret(tessera)
    await api.op("RotateKeys", input={"product": "shop", "env": "prd", "retirePrevious": True})

    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    for where, text in (
        ("logs", logged),
        ("answers", repr(answers)),
        ("jwks", jwks),
        ("reprs", "\n".join(reprs)),
    ):
        assert [s for s in secrets if s in text] == [], where
    assert len(secrets) >= 12  # two rings' worth: the check itself finds material


async def test_rotate_keys_command_prints_ids_and_states_only(
    tessera: Tessera,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await tessera.catalog.create_product("shop", "Shop", ["prd"])
    await tessera.sessions.create("shop", "prd", "web", "u1", {})  # development: provisions
    assert settings.master_key is not None
    monkeypatch.setenv("TESSERA_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TESSERA_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TESSERA_MASTER_KEY", settings.master_key.get_secret_value())

    code = await asyncio.to_thread(main, ["rotate-keys", "--product", "shop", "--env", "prd"])

    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.startswith("rotated the keys of shop/prd:")
    assert "verify_only until " in out.out and out.out.count("active") == 2
    tessera.keyrings.invalidate()  # the keys the command made, read from the store
    secrets = await every_secret(tessera)
    secrets.append(settings.master_key.get_secret_value())
    assert [s for s in secrets if s in out.out + out.err] == []

    missing = await asyncio.to_thread(main, ["rotate-keys", "--product", "nope", "--env", "prd"])
    assert missing == 2 and "does not exist" in capsys.readouterr().err
