"""The ``tessera`` command's key management, as an operator runs it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from service.access import generate_api_key
from service.tessera import Tessera
from store.migrations import HEAD, MIGRATIONS
from tests.conftest import make_settings
from tests.databases import fresh_postgres_database, postgres_test_url
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
        assert applied == [m.version for m in MIGRATIONS]


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

    def lines(server: Server, logger: str, text: str = "") -> int:
        """Production logs JSON lines: those of ``logger`` whose message has ``text``."""
        parsed = [json.loads(line) for line in server.output().splitlines()]
        return sum(p["logger"] == logger and text in p.get("message", "") for p in parsed)

    assert lines(quiet, "tessera.audit") == lines(loud, "tessera.audit") == 1
    assert lines(quiet, "uvicorn.access") == 0
    assert lines(loud, "uvicorn.access", '"POST /graphql HTTP/1.1"') == 1


# Misconfiguration: one line naming the setting, exit status 2 --------------------------

PASSWORD = "pw-7Hq2xZ-never-shown"
SERVE = ("serve",)
MIGRATE = ("migrate",)
ADMIN_KEY = ("create-admin-key",)
API_KEY = ("create-api-key", "--product", "shop")
# Every command that opens the database; those that also load the master key.
OPENS_STORE = (SERVE, MIGRATE, ADMIN_KEY, API_KEY)
LOADS_MASTER_KEY = (SERVE, ADMIN_KEY, API_KEY)


class FakePostgres:
    """A TCP listener on 127.0.0.1 standing in for a PostgreSQL server in a state the
    test cluster (which trusts loopback) cannot be put in: each connection gets
    ``reply`` after its startup message, or, with ``reply=None``, no answer at all."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def error(sqlstate: str, message: str) -> bytes:
        fields = f"SFATAL\0VFATAL\0C{sqlstate}\0M{message}\0\0".encode()
        return b"E" + struct.pack("!I", 4 + len(fields)) + fields

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(conn)
            if self.reply is not None:
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)  # the startup message
            conn.sendall(self.reply or b"")

    def close(self) -> None:
        self.listener.close()
        for conn in self.held:
            conn.close()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cluster_url(*, user: str = "postgres", database: str | None = None) -> str:
    """The test cluster's URL as ``user`` (with a password the cluster ignores)."""
    parts = urlsplit(postgres_test_url())
    netloc = f"{user}:{PASSWORD}@{parts.hostname}:{parts.port}"
    path = f"/{database}" if database else parts.path
    return urlunsplit(parts._replace(netloc=netloc, path=path))


async def unprivileged_role_url(*, schema_usage: bool) -> str:
    """A role that may log in to the (emptied) test database but not create tables in
    it; with ``schema_usage`` it may at least see the ``public`` schema."""
    url = await fresh_postgres_database()
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(
            "DO $$ BEGIN CREATE ROLE tessera_unprivileged LOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        if schema_usage:
            await conn.execute("GRANT USAGE ON SCHEMA public TO tessera_unprivileged")
    finally:
        await conn.close()
    return cluster_url(user="tessera_unprivileged")


@dataclass(frozen=True)
class Misconfiguration:
    setting: str
    cause: str  # a fragment of what the line must say
    commands: tuple[tuple[str, ...], ...]
    env: Callable[[Path, contextlib.ExitStack], dict[str, str]]


def url(value: str) -> Callable[[Path, contextlib.ExitStack], dict[str, str]]:
    return lambda tmp_path, stack: {"TESSERA_DATABASE_URL": value}


def fake_postgres(reply: bytes | None, query: str = "") -> Callable[..., dict[str, str]]:
    def env(tmp_path: Path, stack: contextlib.ExitStack) -> dict[str, str]:
        fake = FakePostgres(reply)
        stack.callback(fake.close)
        value = f"postgresql://tessera:{PASSWORD}@127.0.0.1:{fake.port}/tessera?{query}"
        return {"TESSERA_DATABASE_URL": value}

    return env


def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a directory\n")
    return path


def master_key_is_a_directory(tmp_path: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    (tmp_path / "data" / "master.key").mkdir(parents=True)
    return {"TESSERA_MASTER_KEY": ""}


def data_dir_in_a_file(tmp_path: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    return {"TESSERA_DATA_DIR": str(a_file(tmp_path) / "data"), "TESSERA_MASTER_KEY": ""}


def master_key_uncreatable(tmp_path: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    return {
        **data_dir_in_a_file(tmp_path, stack),
        "TESSERA_DATABASE_URL": f"sqlite:///{tmp_path / 'tessera.db'}",
    }


def port_in_use(tmp_path: Path, stack: contextlib.ExitStack) -> dict[str, str]:
    taken = stack.enter_context(socket.create_server(("127.0.0.1", 0)))
    return {"TESSERA_PORT": str(taken.getsockname()[1])}


MISCONFIGURATIONS = {
    "url-scheme": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "unsupported database URL scheme",
        OPENS_STORE,
        url(f"mysql://tessera:{PASSWORD}@localhost/tessera"),
    ),
    "url-port": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "port in the database URL",
        OPENS_STORE,
        url(f"postgresql://tessera:{PASSWORD}@localhost:54x2/tessera"),
    ),
    # Without its "@" the password is where a port would be: never quoted back.
    "url-password-as-port": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "port in the database URL",
        OPENS_STORE,
        url(f"postgresql://tessera:{PASSWORD}/tessera"),
    ),
    "url-pool-parameter": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "max_size",
        OPENS_STORE,
        url(f"postgresql://tessera:{PASSWORD}@localhost/tessera?max_size=abc"),
    ),
    "url-connection-parameter": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "sslmode",
        OPENS_STORE,
        url(f"postgresql://tessera:{PASSWORD}@localhost/tessera?sslmode=bogus"),
    ),
    "postgres-refused": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "connection refused",
        OPENS_STORE,
        lambda tmp_path, stack: url(
            f"postgresql://tessera:{PASSWORD}@127.0.0.1:{unused_port()}/tessera"
        )(tmp_path, stack),
    ),
    "postgres-unknown-host": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "cannot resolve the host name",
        OPENS_STORE,
        url(f"postgresql://tessera:{PASSWORD}@no-such-host.invalid/tessera"),
    ),
    "postgres-timeout": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "no answer within 0.5 s",
        OPENS_STORE,
        fake_postgres(None, "connect_timeout=0.5&sslmode=disable"),
    ),
    "postgres-wrong-password": Misconfiguration(
        "TESSERA_DATABASE_URL",
        'password authentication failed for user "tessera"',
        OPENS_STORE,
        fake_postgres(
            FakePostgres.error("28P01", 'password authentication failed for user "tessera"'),
            "sslmode=disable",
        ),
    ),
    "postgres-unknown-role": Misconfiguration(
        "TESSERA_DATABASE_URL",
        'role "no_such_role" does not exist',
        OPENS_STORE,
        lambda tmp_path, stack: url(cluster_url(user="no_such_role"))(tmp_path, stack),
    ),
    "postgres-unknown-database": Misconfiguration(
        "TESSERA_DATABASE_URL",
        'database "no_such_database" does not exist',
        OPENS_STORE,
        lambda tmp_path, stack: url(cluster_url(database="no_such_database"))(tmp_path, stack),
    ),
    "postgres-role-without-schema": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "no schema has been selected",
        OPENS_STORE,
        lambda tmp_path, stack: url(asyncio.run(unprivileged_role_url(schema_usage=False)))(
            tmp_path, stack
        ),
    ),
    "postgres-role-without-create": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "permission denied for schema public",
        OPENS_STORE,
        lambda tmp_path, stack: url(asyncio.run(unprivileged_role_url(schema_usage=True)))(
            tmp_path, stack
        ),
    ),
    "sqlite-directory-is-a-file": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "is not a directory",
        OPENS_STORE,
        lambda tmp_path, stack: url(f"sqlite:///{a_file(tmp_path) / 'tessera.db'}")(
            tmp_path, stack
        ),
    ),
    "sqlite-file-is-a-directory": Misconfiguration(
        "TESSERA_DATABASE_URL",
        "unable to open database file",
        OPENS_STORE,
        lambda tmp_path, stack: url(f"sqlite:///{tmp_path}")(tmp_path, stack),
    ),
    # The default database lives in the data dir, so that is the setting to fix.
    "sqlite-default-in-a-file": Misconfiguration(
        "TESSERA_DATA_DIR", "not a directory", OPENS_STORE, data_dir_in_a_file
    ),
    "master-key-file-unreadable": Misconfiguration(
        "TESSERA_DATA_DIR",
        "cannot read the master key file",
        LOADS_MASTER_KEY,
        master_key_is_a_directory,
    ),
    "master-key-file-uncreatable": Misconfiguration(
        "TESSERA_DATA_DIR",
        "cannot create the master key file",
        LOADS_MASTER_KEY,
        master_key_uncreatable,
    ),
    "setting-not-a-number": Misconfiguration(
        "TESSERA_PORT",
        "valid integer",
        OPENS_STORE,
        lambda tmp_path, stack: {"TESSERA_PORT": "abc"},
    ),
    "setting-not-json": Misconfiguration(
        "TESSERA_TRUSTED_PROXIES",
        "not valid JSON",
        OPENS_STORE,
        lambda tmp_path, stack: {"TESSERA_TRUSTED_PROXIES": "10.0.0.1"},
    ),
    "setting-invalid-item": Misconfiguration(
        "TESSERA_TRUSTED_PROXIES",
        "does not appear to be an IPv4 or IPv6 network",
        OPENS_STORE,
        lambda tmp_path, stack: {"TESSERA_TRUSTED_PROXIES": '["proxy.internal"]'},
    ),
    "port-in-use": Misconfiguration("TESSERA_PORT", "already in use", (SERVE,), port_in_use),
    "host-unknown": Misconfiguration(
        "TESSERA_HOST",
        "cannot resolve",
        (SERVE,),
        lambda tmp_path, stack: {"TESSERA_HOST": "no-such-host.invalid"},
    ),
    "host-not-local": Misconfiguration(
        "TESSERA_HOST",
        "not an address of this machine",
        (SERVE,),
        lambda tmp_path, stack: {"TESSERA_HOST": "192.0.2.1"},  # TEST-NET-1
    ),
}


def start_command(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    base.update(
        {
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "TESSERA_ADMIN_KEY": generate_api_key(),
            "TESSERA_HOST": "127.0.0.1",
            # Should a case start serving by mistake, it must not take port 8000.
            "TESSERA_PORT": str(unused_port()),
        }
    )
    base.update(env)
    return subprocess.Popen(
        [str(BIN / "tessera"), *args],
        cwd=tmp_path,
        env={k: v for k, v in base.items() if v},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("case", MISCONFIGURATIONS.values(), ids=MISCONFIGURATIONS.keys())
def test_cli_misconfiguration_exits_with_one_line_naming_the_setting(
    tmp_path: Path, case: Misconfiguration
) -> None:
    with contextlib.ExitStack() as stack:
        env = case.env(tmp_path, stack)
        # The commands run at once: each must fail fast, without a traceback.
        running = {args: start_command(tmp_path, args, env) for args in case.commands}
        results = {args: process.communicate(timeout=30) for args, process in running.items()}

    for args, (stdout, stderr) in results.items():
        command = " ".join(args)
        assert running[args].returncode == 2, (command, stdout, stderr)
        assert "Traceback" not in stderr, (command, stderr)
        assert len(stderr.splitlines()) == 1, (command, stderr)
        assert stderr.startswith(f"tessera: cannot start: {case.setting}: "), (command, stderr)
        assert case.cause in stderr, (command, stderr)
        assert PASSWORD not in stdout + stderr, command


# `tessera serve`, instrumented: every run of the service's startup says so on stderr.
COUNTED_SERVE = """
import sys
from service.tessera import Tessera
start = Tessera.start.__func__
async def counted(cls, *args, **kwargs):
    print("Tessera.start ran", file=sys.stderr, flush=True)
    return await start(cls, *args, **kwargs)
Tessera.start = classmethod(counted)
import cli
sys.exit(cli.main(["serve"]))
"""
BANNER = "Tessera development admin key"


def development_env(tmp_path: Path) -> dict[str, str]:
    """A first start in development: no master key, no admin key, no database yet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    return {**env, "TESSERA_MODE": "development", "TESSERA_DATA_DIR": str(tmp_path / "data")}


def test_serve_starts_the_service_once_and_shows_the_admin_key_once(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    command = [sys.executable, "-c", COUNTED_SERVE]
    server = Server(development_env(tmp_path), tmp_path, tmp_path / "log", command=command)
    servers.append(server)
    server.wait_ready(client)

    output = server.output()
    assert output.count("Tessera.start ran") == 1, output
    assert output.count(BANNER) == 1, output
    [key] = [line.strip() for line in output.splitlines() if line.strip().startswith("tsk_")]
    products = client.post(
        f"{server.url}/graphql",
        json={"query": "{ products { tag } }"},
        headers={"authorization": f"Bearer {key}"},
    )
    assert products.json() == {"data": {"products": []}}
    assert f"Tessera serving on {server.url}" in output


def test_serve_port_in_use_exits_before_starting_the_service(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {**development_env(tmp_path), "TESSERA_PORT": str(port)}
        result = subprocess.run(
            [sys.executable, "-c", COUNTED_SERVE],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert result.returncode == 2
    # One line, so the startup never ran (it would have said so): no key, no database.
    assert result.stderr.splitlines() == [
        f"tessera: cannot start: TESSERA_PORT: port {port} is already in use on 127.0.0.1"
    ]
    assert BANNER not in result.stdout
    assert not (tmp_path / "data").exists()


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
