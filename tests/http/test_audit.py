"""The GraphQL-over-HTTP specification's own audit suite (``serverAudits`` of the
``graphql-http`` package, pinned in tests/http/package.json) against a real ``tessera
serve``: not one failed MUST (an error) nor SHOULD (a warning).

The only audits left failing are MAYs about GET, which Tessera refuses for operations
(tokens would sit in URLs and access logs); they stay notices, named here so that any
other notice shows up too.

The audits send no credential. In development that is all they need; in production only
an admin may introspect, and some audits ask for ``__type``, so there every request
carries the admin key (audit.mjs's ``fetchFn``)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access import generate_api_key
from tests.processes import Server

HERE = Path(__file__).resolve().parent
# GET /graphql serves GraphiQL or a 405, never an operation.
GET_NOTICES = {"5A70", "D6D5", "6A70"}


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _node() -> str:
    """The node binary, with the audit suite installed; skips (fails on CI) without."""
    node = shutil.which("node")
    if node is not None and (HERE / "node_modules" / "graphql-http").is_dir():
        return node
    missing = "node" if node is None else "tests/http/node_modules"
    message = (
        f"the GraphQL-over-HTTP audit needs {missing}: install Node.js and run "
        "`npm ci --prefix tests/http` (.ci/run does)"
    )
    if _on_ci():
        pytest.fail(f"CI=true but {message}", pytrace=False)
    pytest.skip(message)


def audit(node: str, url: str, key: str | None) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_")}
    env["AUDIT_URL"] = url
    if key is not None:
        env["AUDIT_KEY"] = key
    done = subprocess.run(
        [node, str(HERE / "audit.mjs")],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


@pytest.mark.parametrize("mode", ["development", "production"])
def test_audit_suite_finds_no_error_and_no_warning(
    mode: str, tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    node = _node()
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": mode,
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    server = Server(env, tmp_path, tmp_path / "server.log")
    servers.append(server)
    server.wait_ready(client)

    results = audit(node, f"{server.url}/graphql", admin_key if mode == "production" else None)

    failed = {r["id"]: r for r in results if r["status"] != "ok"}
    shown = json.dumps(list(failed.values()), indent=1)
    assert {i for i, r in failed.items() if r["status"] in ("error", "warn")} == set(), shown
    assert set(failed) == GET_NOTICES, shown
    assert len(results) - len(failed) >= 50  # the suite ran, not just the GET audits
