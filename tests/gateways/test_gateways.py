"""Tessera behind real GraphQL gateways: Apollo Gateway (``IntrospectAndCompose``, and a
supergraph composed from the committed SDL), Hive Gateway (federation and proxy) and
graphql-tools stitching (from introspection and from the SDL file), each with a second
subgraph (tests/gateways/accounts.mjs) joining an account to its person's sessions.

Tessera runs as a real ``tessera serve`` process in production mode (introspection and
``_service`` admin-only), on SQLite and PostgreSQL; each gateway runs in a Node process
(tests/gateways/run.mjs) with the pinned packages of tests/package.json, which
``make test`` installs (.ci/node.sh, with Node 22 itself when need be). Without them the
tests are skipped, except under ``CI=true``, where they fail."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.access import generate_api_key
from tests.operations import operation
from tests.processes import Server, graphql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SDL = ROOT / "graphql" / "schema.graphql"
NODE_MODULES = ROOT / "tests" / "node_modules"
README = ROOT / "README.md"
NODE_TIMEOUT = 120.0
# What the pinned packages need (@graphql-tools/executor's dependencies ask 22.15).
NODE_VERSION = (22, 15)
LOCAL_NODE = ROOT / "tests" / ".node" / "bin" / "node"
CLIENT = "203.0.113.7"  # what a load balancer in front of the gateway reported
SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
GATEWAYS = [
    "apollo-gateway",
    "apollo-supergraph",
    "hive-federation",
    "hive-proxy",
    "stitching-introspection",
    "stitching-sdl",
]
ACCOUNT_SESSIONS = (HERE / "AccountSessions.graphql").read_text()


def node() -> str:
    """A ``node`` binary new enough, with the packages installed; skips (fails on CI)
    otherwise. ``make test`` (.ci/node.sh) fetches one into tests/.node/ if need be."""
    candidates = [str(LOCAL_NODE), shutil.which("node")]
    found = next((c for c in candidates if c and Path(c).exists() and _new_enough(c)), None)
    missing = None
    if found is None:
        missing = f"no Node.js {'.'.join(map(str, NODE_VERSION))} or later"
    elif not (NODE_MODULES / ".package-lock.json").exists():
        missing = "tests/node_modules is missing (run `.ci/node.sh`)"
    if missing is None:
        assert found is not None
        return found
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true but {missing}: the gateway tests must run on CI", pytrace=False)
    pytest.skip(f"gateway tests: {missing} (`make test` installs them when npm exists)")


def _new_enough(binary: str) -> bool:
    version = subprocess.run(
        [binary, "-p", "process.versions.node"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    parts = version.split(".")
    return all(p.isdigit() for p in parts) and tuple(map(int, parts[:2])) >= NODE_VERSION


def run_node(config: dict[str, Any], tmp_path: Path) -> Any:
    """Run tests/gateways/run.mjs with ``config``; its JSON output."""
    binary = node()
    output = tmp_path / "node-output.json"
    config_file = tmp_path / "node-config.json"
    config_file.write_text(json.dumps({**config, "output": str(output)}))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    completed = subprocess.run(
        [binary, str(HERE / "run.mjs"), str(config_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # Kept for a failing test's report: what the gateway logged.
    (tmp_path / "node.log").write_text(completed.stdout + completed.stderr)
    return json.loads(output.read_text())


@dataclass
class Tessera:
    server: Server
    admin_key: str
    keys: dict[str, str]
    token: str
    session_id: str
    refresh_token: str


@pytest.fixture
def tessera(
    database_url: str, tmp_path: Path, servers: list[Server], client: httpx.Client
) -> Iterator[Tessera]:
    """``tessera serve`` in production behind a gateway on loopback: products "shop" and
    "other" (env prd, config web), a key of each, and a session of alice in shop and
    of bob in other."""
    admin_key = generate_api_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp_path),
            "TESSERA_DATABASE_URL": database_url,
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": admin_key,
            "TESSERA_LOG_LEVEL": "info",
            "TESSERA_TRUSTED_PROXIES": '["127.0.0.1"]',
        }
    )
    server = Server(env, tmp_path, tmp_path / "tessera.log")
    servers.append(server)
    server.wait_ready(client)
    keys = {}
    for product in ("shop", "other"):
        graphql(client, server, admin_key, "CreateProduct", input={"tag": product, "name": product})
        graphql(
            client,
            server,
            admin_key,
            "CreateSessionConfig",
            input={"product": product, "tag": "web", "name": "Web"},
        )
        created = graphql(
            client, server, admin_key, "CreateApiKey", input={"product": product, "name": "gw"}
        )
        keys[product] = created["createApiKey"]["key"]
    sessions = {}
    for user, product in (("alice", "shop"), ("bob", "other")):
        data = {"userId": user, "details": {"name": user.title()}}
        sessions[user] = graphql(
            client,
            server,
            keys[product],
            "CreateSessionWith",
            input={**SCOPE, "product": product, "data": data},
        )["createSession"]
    alice = sessions["alice"]
    yield Tessera(
        server, admin_key, keys, alice["token"], alice["sessionId"], alice["refreshToken"]
    )


ACCOUNTS = [
    {
        "id": "acc-alice",
        "name": "Alice",
        "user": {"product": "shop", "env": "prd", "identifier": "alice"},
    },
    {
        "id": "acc-bob",
        "name": "Bob",
        "user": {"product": "other", "env": "prd", "identifier": "bob"},
    },
]


def bearer(key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key is not None else {}


CASE_NAMES = (
    "create",
    "verify",
    "not-found",
    "unauthenticated",
    "forbidden",
    "join",
    "join-forbidden",
    "join-end-user",
    "end-user",
    "refresh-without-key",
    "revoke",
    "revoke-both",
)


@dataclass(frozen=True)
class Case:
    """One request a client sends through the gateway."""

    key: str | None
    query: str
    variables: dict[str, Any]


def cases(t: Tessera) -> dict[str, Case]:
    """What a client sends through the gateway, by name."""
    shop, create, revoke = (
        t.keys["shop"],
        operation("CreateSessionWith"),
        operation("RevokeSession"),
    )
    carol = {"input": {**SCOPE, "data": {"userId": "carol", "details": {"plan": "pro"}}}}
    named = {
        "create": Case(shop, create, carol),
        "verify": Case(shop, operation("VerifySession"), {"input": {**SCOPE, "token": t.token}}),
        "not-found": Case(shop, create, {"input": {**carol["input"], "tag": "ghost"}}),
        "unauthenticated": Case(None, create, carol),
        "forbidden": Case(t.keys["other"], create, carol),
        "join": Case(shop, ACCOUNT_SESSIONS, {"id": "acc-alice"}),
        "join-forbidden": Case(shop, ACCOUNT_SESSIONS, {"id": "acc-bob"}),
        "join-end-user": Case(t.token, ACCOUNT_SESSIONS, {"id": "acc-alice"}),
        "end-user": Case(t.token, operation("MySessions"), {}),
        # No Authorization at all must reach Tessera: an empty one is refused.
        "refresh-without-key": Case(
            None,
            operation("RefreshSession"),
            {"input": {**SCOPE, "refreshToken": t.refresh_token}},
        ),
        # RevokeSessionTarget is @oneOf: carol's one session (made by "create"), and a
        # target with both selectors, which the gateway or Tessera refuses unrun.
        "revoke": Case(shop, revoke, {"input": {**SCOPE, "target": {"identifier": "carol"}}}),
        "revoke-both": Case(
            shop,
            revoke,
            {"input": {**SCOPE, "target": {"sessionId": t.session_id, "identifier": "alice"}}},
        ),
    }
    assert tuple(named) == CASE_NAMES
    return named


def through(gateway: str, t: Tessera, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Every case sent through ``gateway``; {name: response body}."""
    named = cases(t)
    config = {
        "gateway": gateway,
        "tesseraUrl": f"{t.server.url}/graphql",
        "sdlPath": str(SDL),
        "adminKey": t.admin_key,
        "accounts": ACCOUNTS,
        "cases": [
            {
                "headers": {**bearer(case.key), "x-forwarded-for": CLIENT},
                "query": case.query,
                "variables": case.variables,
            }
            for case in named.values()
        ],
    }
    results = run_node(config, tmp_path)
    for name, result in zip(named, results, strict=True):
        # A request that does not validate may be a 400 (GraphQL over HTTP).
        assert result["status"] == 200 or (name, result["status"]) == ("revoke-both", 400), (
            name,
            result,
        )
    return {name: result["body"] for name, result in zip(named, results, strict=True)}


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_gateway_serves_tessera(gateway: str, tessera: Tessera, tmp_path: Path) -> None:
    # One run of the gateway per database: starting it is most of the cost.
    seeded = len(tessera.server.output())
    bodies = through(gateway, tessera, tmp_path)

    assert_operations(bodies, tessera)
    assert_join(gateway, bodies, tessera)
    assert_client_address(tessera.server.output()[seeded:])


def assert_operations(bodies: dict[str, dict[str, Any]], tessera: Tessera) -> None:
    created = bodies["create"]["data"]["createSession"]
    assert created["__typename"] == "SessionTokens" and created["token"].startswith("web:")
    verified = bodies["verify"]["data"]["verifySession"]
    assert (verified["valid"], verified["sessionId"], verified["data"]) == (
        True,
        tessera.session_id,
        {"userId": "alice", "details": {"name": "Alice"}},
    )
    missing = bodies["not-found"]["data"]["createSession"]
    assert (missing["__typename"], missing["code"], missing["field"]) == (
        "NotFoundError",
        "SESSION_CONFIG_NOT_FOUND",
        "tag",
    )
    assert codes(bodies["unauthenticated"]) == ["UNAUTHENTICATED"], bodies["unauthenticated"]
    assert codes(bodies["forbidden"]) == ["FORBIDDEN"], bodies["forbidden"]
    mine = bodies["end-user"]["data"]["mySessions"]
    assert [e["node"]["id"] for e in mine["edges"]] == [tessera.session_id]
    revoked = bodies["revoke"]["data"]["revokeSession"]
    assert (revoked["__typename"], revoked["count"]) == ("RevokedSessions", 1), revoked
    refused = bodies["revoke-both"]
    assert not (refused.get("data") or {}).get("revokeSession"), refused
    # Refused by the gateway (graphql-js names the type) or by Tessera (with its code).
    assert set(codes(refused)) <= {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", None}, refused
    assert [e for e in refused["errors"] if "RevokeSessionTarget" in e["message"]], refused
    refreshed = bodies["refresh-without-key"]["data"]["refreshSession"]
    assert (refreshed["__typename"], refreshed["sessionId"]) == (
        "SessionTokens",
        tessera.session_id,
    )


def assert_join(gateway: str, bodies: dict[str, dict[str, Any]], tessera: Tessera) -> None:
    if gateway == "hive-proxy":
        # One subgraph, nothing to join: the gateway validates against Tessera's SDL,
        # which has no accounts.
        assert set(codes(bodies["join"])) == {"GRAPHQL_VALIDATION_FAILED"}, bodies["join"]
        return
    # With the product key, and with alice's own session token (she may see her own).
    for name in ("join", "join-end-user"):
        assert "errors" not in bodies[name], bodies[name]
        account = bodies[name]["data"]["account"]
        assert (account["id"], account["user"]["identifier"]) == ("acc-alice", "alice")
        assert account["user"]["sessions"] == {
            "totalCount": 1,
            "edges": [
                {"node": {"id": tessera.session_id, "active": True, "data": {"userId": "alice"}}}
            ],
        }
    # bob is a user of "other": shop's key may not see his sessions.
    refused = bodies["join-forbidden"]
    assert "FORBIDDEN" in codes(refused), refused
    assert "sessions" not in json.dumps(refused.get("data")), refused


def assert_client_address(log: str) -> None:
    # Production logs JSON lines.
    parsed = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    lines = [line for line in parsed if line["logger"] == "tessera.audit"]
    # The gateway's own schema loading aside, every operation it forwarded is its
    # client's, at the address the load balancer in front of the gateway reported.
    forwarded = [
        line
        for line in lines
        if line["event"] == "operation"
        and line["caller"] != "key:env-admin"
        and line["fields"] not in (["_service"], ["__schema"])
    ]
    # The proxy cannot join; a gateway may refuse "revoke-both" itself.
    assert len(forwarded) >= len(CASE_NAMES) - 4
    assert {line["client"] for line in forwarded} == {CLIENT}


def test_committed_sdl_composes_without_errors_or_mistaken_hints(tmp_path: Path) -> None:
    # The subgraph SDL in graphql/ with the accounts subgraph, by Apollo's composition.
    composed = run_node(
        {"gateway": "compose", "tesseraUrl": "http://tessera.test/graphql", "sdlPath": str(SDL)},
        tmp_path,
    )

    assert composed["errors"] == []
    # The one hint is by design: RequestErrorCode lists the codes of top-level errors'
    # `extensions.code`, which no field returns (schema/errors.py). The supergraph
    # keeps it, which is what it is there for.
    assert [(h["code"], h["message"].split('"')[1]) for h in composed["hints"]] == [
        ("UNUSED_ENUM_TYPE", "RequestErrorCode")
    ]


# The README's snippets are the tested configuration, word for word ------------------------

SNIPPET = re.compile(r"^ *// README: (\S+)\n(.*?)^ *// END README$", re.MULTILINE | re.DOTALL)


def readme_snippets() -> dict[str, str]:
    found = {}
    # tests/api/verify_jose.mjs: the README's local verification in Node.
    for path in [*HERE.glob("*.mjs"), *(HERE.parent / "api").glob("*.mjs")]:
        for name, body in SNIPPET.findall(path.read_text()):
            found[name] = textwrap.dedent(body).strip()
    return found


def test_readme_gateway_snippets_are_the_tested_configuration() -> None:
    readme = README.read_text()
    blocks = [textwrap.dedent(b).strip() for b in re.findall(r"```js\n(.*?)```", readme, re.S)]
    snippets = readme_snippets()

    assert len(snippets) >= 10
    # Every tested snippet is shown, and every js block of the README is tested.
    assert {name for name, text in snippets.items() if text not in blocks} == set()
    assert [b for b in blocks if b not in snippets.values()] == []
