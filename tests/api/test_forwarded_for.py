"""Whose ``X-Forwarded-For`` is believed, on a real server process: only a peer listed in
``TESSERA_TRUSTED_PROXIES`` — never one the ASGI server trusts by its own default
(uvicorn believes 127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path

import httpx
import pytest

from service.access import generate_api_key
from tests.processes import BIN, Server

ROOT = Path(__file__).resolve().parents[2]
SERVE = [str(BIN / "tessera"), "serve"]
SERVER_PY = [sys.executable, str(ROOT / "server.py")]
# Another ASGI server loading the module-level app, as uvicorn's documentation says to.
UVICORN = ["sh", "-c", f'exec {BIN / "uvicorn"} server:app --port "$TESSERA_PORT"']


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    # uvicorn's own switch, which must not matter either.
    env.pop("FORWARDED_ALLOW_IPS", None)
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp_path),
            "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'tessera.db'}",
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": generate_api_key(),
            "TESSERA_RATE_LIMIT_FAILED_AUTH_PER_IP": "2/minute",
            **settings,
        }
    )
    return env


def failed_authentication(client: httpx.Client, server: Server, forwarded_for: str) -> str:
    """Send a bad key with ``X-Forwarded-For``; the top-level error's code."""
    response = client.post(
        f"{server.url}/graphql",
        json={"query": "{ products { tag } }"},
        headers={"authorization": f"Bearer {generate_api_key()}", "x-forwarded-for": forwarded_for},
    )
    assert response.status_code == 200, response.text
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


def audited_clients(server: Server) -> list[str]:
    """The ``client`` of each audit line (production logs JSON lines)."""
    lines = [line for line in server.output().splitlines() if line.startswith("{")]
    audit = [json.loads(line) for line in lines]
    return [line["client"] for line in audit if line["logger"] == "tessera.audit"]


def start(
    servers: list[Server],
    client: httpx.Client,
    tmp_path: Path,
    env: dict[str, str],
    command: list[str],
) -> Server:
    server = Server(env, ROOT, tmp_path / "server.log", command=command)
    servers.append(server)
    server.wait_ready(client)
    return server


@pytest.mark.parametrize(
    "command",
    [SERVE, SERVER_PY, [*UVICORN[:2], UVICORN[2] + " --no-proxy-headers"]],
    ids=["tessera-serve", "python-server-py", "uvicorn-no-proxy-headers"],
)
def test_forwarded_for_from_loopback_without_trusted_proxies_is_ignored(
    tmp_path: Path, servers: list[Server], client: httpx.Client, command: list[str]
) -> None:
    server = start(servers, client, tmp_path, environment(tmp_path), command)

    # Each attempt claims another address; all of them are the one loopback peer.
    codes = [failed_authentication(client, server, f"203.0.113.{i}") for i in range(1, 4)]

    assert codes == ["UNAUTHENTICATED", "UNAUTHENTICATED", "RATE_LIMITED"]
    assert audited_clients(server) == ["127.0.0.1"] * 3


def test_forwarded_for_from_a_trusted_proxy_is_believed(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    env = environment(tmp_path, TESSERA_TRUSTED_PROXIES='["127.0.0.1"]')
    server = start(servers, client, tmp_path, env, SERVE)

    codes = [failed_authentication(client, server, f"203.0.113.{i}") for i in range(1, 4)]
    # The same forwarded client again and again is limited as itself.
    codes += [failed_authentication(client, server, "198.51.100.7") for _ in range(3)]

    assert codes == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"]
    assert audited_clients(server) == [
        "203.0.113.1",
        "203.0.113.2",
        "203.0.113.3",
        *["198.51.100.7"] * 3,
    ]


def test_forwarded_for_rewritten_by_uvicorn_itself_is_refused(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    # Plain `uvicorn server:app` believes X-Forwarded-For from 127.0.0.1 before Tessera
    # sees the request; the peer's address is gone, so the request cannot be served.
    server = start(servers, client, tmp_path, environment(tmp_path), UVICORN)

    response = client.post(
        f"{server.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"x-forwarded-for": "203.0.113.9:4711"},
    )
    plain = client.post(f"{server.url}/graphql", json={"query": "{ __typename }"})

    assert response.status_code == 500
    assert "tessera serve" in response.text and "--no-proxy-headers" in response.text
    assert plain.status_code == 200 and plain.json() == {"data": {"__typename": "Query"}}
    assert audited_clients(server) == ["unknown", "127.0.0.1"]
