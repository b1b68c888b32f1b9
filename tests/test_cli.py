"""The ``tessera`` command's key management, as an operator runs it."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

from service.access import generate_api_key
from service.tessera import Tessera
from tests.conftest import make_settings

BIN = Path(sys.executable).parent


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    return subprocess.run(
        [str(BIN / "tessera"), *args],
        cwd=tmp_path,
        env={**base, "TESSERA_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


async def test_cli_create_keys_store_working_keys(tmp_path: Path) -> None:
    master = base64.b64encode(os.urandom(32)).decode()
    env = {"TESSERA_MASTER_KEY": master, "TESSERA_ADMIN_KEY": generate_api_key()}
    settings = make_settings(tmp_path, master_key=master, admin_key=env["TESSERA_ADMIN_KEY"])
    tessera = await Tessera.start(settings)
    await tessera.catalog.create_product("shop", "Shop")
    await tessera.close()

    admin = run(tmp_path, "create-admin-key", "--name", "ops", **env)
    product = run(tmp_path, "create-api-key", "--product", "shop", "--env", "prd", **env)
    missing = run(tmp_path, "create-api-key", "--product", "ghost", **env)

    assert admin.returncode == 0 and product.returncode == 0, admin.stderr + product.stderr
    assert missing.returncode == 2 and "ghost" in missing.stderr
    tessera = await Tessera.start(settings)
    try:
        admin_principal = await tessera.access.authenticate(admin.stdout.strip())
        product_principal = await tessera.access.authenticate(product.stdout.strip())
    finally:
        await tessera.close()
    assert admin_principal is not None and admin_principal.is_admin
    assert product_principal is not None
    assert (product_principal.product, product_principal.envs) == ("shop", ("prd",))
