"""Crash durability over real HTTP: a token that left the server belongs to a session
that survives ``kill -9``."""

from __future__ import annotations

import base64
import os
import signal
from pathlib import Path
from typing import Any

import httpx

from service.access import generate_api_key
from tests.api.test_seed import SEED_EXAMPLES
from tests.processes import Server, graphql


def test_sessions_after_kill_9_still_verify(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    admin_key = generate_api_key()
    master_key = base64.b64encode(os.urandom(32)).decode()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "development",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'tessera.db'}",
            "TESSERA_MASTER_KEY": master_key,
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "warning",
        }
    )
    log = tmp_path / "server.log"

    first = Server(env, tmp_path, log)
    servers.append(first)
    first.wait_ready(client)
    created: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for example in [*SEED_EXAMPLES, SEED_EXAMPLES[0]]:
        result = graphql(client, first, admin_key, "CreateSessionWith", input=example)
        tokens = result["createSession"]
        assert tokens["__typename"] == "SessionTokens", tokens
        created.append((example, tokens))
    first.kill()  # right after the last response

    assert first.process.returncode == -signal.SIGKILL
    second = Server(env, tmp_path, log)
    servers.append(second)
    second.wait_ready(client)

    assert len({tokens["sessionId"] for _, tokens in created}) == len(created)
    for example, tokens in created:
        scope = {k: example[k] for k in ("product", "env", "tag")}
        verified = graphql(
            client, second, admin_key, "VerifySession", input={**scope, "token": tokens["token"]}
        )["verifySession"]
        assert verified["valid"] is True, (example, verified)
        assert verified["sessionId"] == tokens["sessionId"]
        assert verified["data"] == example["data"]
    second.kill()

    # Neither run (they share one log) wrote a secret or a token into its output.
    output = first.output()
    tokens_out = [t[field] for _, t in created for field in ("token", "refreshToken")]
    for secret in (admin_key, master_key, *tokens_out):
        assert secret not in output
