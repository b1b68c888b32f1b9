"""The ``tessera`` command's key management, as an operator runs it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from service.access import generate_api_key
from service.tessera import Tessera
from store.migrations import HEAD
from tests.conftest import make_settings
from tests.processes import Server

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


def test_cli_bad_argument_is_refused_by_the_edge_rule(tmp_path: Path) -> None:
    env = {"TESSERA_ADMIN_KEY": generate_api_key()}
    # Bytes that are not UTF-8 reach Python's argv as lone surrogates.
    cases = {
        "--product": ["create-api-key", "--product", "sh\udcffop"],
        "--env": ["create-api-key", "--product", "shop", "--env", "e" * 300],
        "--name": ["create-admin-key", "--name", "ops\x01"],
    }

    results = {flag: run(tmp_path, *args, **env) for flag, args in cases.items()}

    for flag, result in results.items():
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"tessera: {flag} "), result.stderr
        assert "Traceback" not in result.stderr


def test_cli_migrate_creates_the_configured_database(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere" / "t.db"

    result = run(tmp_path, "migrate", TESSERA_DATABASE_URL=f"sqlite:///{database}")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"database at schema version {HEAD}"
    with sqlite3.connect(database) as db:
        applied = [v for (v,) in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        assert applied == list(range(1, HEAD + 1))


def production_env(tmp_path: Path, database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "production",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_DATABASE_URL": f"sqlite:///{database}",
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": generate_api_key(),
        }
    )
    return env


def test_python_server_py_honours_the_settings(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    database = tmp_path / "db" / "served.db"
    env = production_env(tmp_path, database)
    server_py = Path(__file__).resolve().parents[1] / "server.py"
    server = Server(env, tmp_path, tmp_path / "log", command=[sys.executable, str(server_py)])
    servers.append(server)
    server.wait_ready(client)

    # Served on TESSERA_PORT, in production (no GraphiQL), on TESSERA_DATABASE_URL.
    assert client.get(f"{server.url}/readyz").status_code == 200
    assert "graphiql" not in client.get(f"{server.url}/graphql").text.lower()
    assert database.exists()
    assert not (tmp_path / "data" / "master.key").exists()


def test_serve_logs_one_line_per_request_access_log_only_when_asked(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    env = production_env(tmp_path, tmp_path / "served.db")
    quiet = Server(env, tmp_path, tmp_path / "quiet.log")
    loud = Server({**env, "TESSERA_ACCESS_LOG": "true"}, tmp_path, tmp_path / "loud.log")
    servers += [quiet, loud]
    for server in (quiet, loud):
        server.wait_ready(client)
        client.post(f"{server.url}/graphql", json={"query": "{ __typename }"})

    def lines(server: Server, text: str) -> int:
        return sum(text in line for line in server.output().splitlines())

    assert lines(quiet, "tessera.audit:") == lines(loud, "tessera.audit:") == 1
    assert lines(quiet, '"POST /graphql HTTP/1.1"') == 0
    assert lines(loud, '"POST /graphql HTTP/1.1"') == 1


def test_cli_register_documents_reads_both_manifest_formats(tmp_path: Path) -> None:
    env = production_env(tmp_path, tmp_path / "docs.db")
    documents = ["query A { products { tag } }", "query B { products { name } }"]
    ids = [hashlib.sha256(d.encode()).hexdigest() for d in documents]
    apollo = tmp_path / "persisted-query-manifest.json"
    apollo.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": ids[0], "name": "A", "type": "query", "body": documents[0]}],
            }
        )
    )
    codegen = tmp_path / "persisted-documents.json"
    codegen.write_text(json.dumps({ids[1]: documents[1]}))

    results = [run(tmp_path, "register-documents", str(f), **env) for f in (apollo, codegen)]

    assert [(r.returncode, r.stdout.strip()) for r in results] == [
        (0, "registered 1 trusted documents")
    ] * 2, [r.stderr for r in results]
    with sqlite3.connect(tmp_path / "docs.db") as db:
        stored = dict(db.execute("SELECT hash, source FROM persisted_documents"))
    assert [stored.get(i) for i in ids] == ["trusted", "trusted"]


def test_cli_register_documents_refuses_a_bad_manifest_whole(tmp_path: Path) -> None:
    env = production_env(tmp_path, tmp_path / "docs.db")
    good = "query A { products { tag } }"
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(
        json.dumps({hashlib.sha256(good.encode()).hexdigest(): good, "0" * 64: "{ b }", "a": 1})
    )
    not_json = tmp_path / "broken.json"
    not_json.write_text("{")

    refused = run(tmp_path, "register-documents", str(manifest), **env)
    unreadable = run(tmp_path, "register-documents", str(not_json), **env)
    missing = run(tmp_path, "register-documents", str(tmp_path / "nope.json"), **env)

    assert refused.returncode == 2
    assert refused.stderr.startswith("tessera: persisted-documents.json is refused: ")
    assert "\n  persisted-documents.json.0000" in refused.stderr
    assert "\n  persisted-documents.json.a: the document must be a non-empty string" in (
        refused.stderr
    )
    assert (unreadable.returncode, unreadable.stderr.strip()) == (
        2,
        f"tessera: {not_json} is not JSON",
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert "Traceback" not in refused.stderr + unreadable.stderr + missing.stderr
    with sqlite3.connect(tmp_path / "docs.db") as db:
        sources = [s for (s,) in db.execute("SELECT DISTINCT source FROM persisted_documents")]
    assert sources == ["builtin"]
