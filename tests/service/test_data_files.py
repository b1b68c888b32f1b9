"""What a development start writes to disk is private to its user, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from service.access import generate_api_key
from service.settings import Settings
from service.tessera import Tessera

SEED: dict[str, Any] = {
    "product": "my-app",
    "env": "prd",
    "tag": "user-session",
    "user_id": "user_123",
    "details": {"email": "john@example.com"},
}


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_start_development_creates_private_data_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    for name in list(os.environ):
        if name.startswith("TESSERA_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "fresh" / ".tessera"
    settings = Settings(
        mode="development", data_dir=data_dir, admin_key=SecretStr(generate_api_key())
    )
    previous = os.umask(umask)
    try:
        tessera = await Tessera.start(settings, announce=lambda key: None)
        try:
            await tessera.sessions.create(**SEED)
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in data_dir.iterdir()}
        finally:
            await tessera.close()
    finally:
        os.umask(previous)

    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert {"master.key", "tessera.db", "tessera.db-wal", "tessera.db-shm"} <= set(modes)
    assert modes == dict.fromkeys(modes, 0o600)
