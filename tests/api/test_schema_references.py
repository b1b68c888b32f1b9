"""Session-config JSON Schemas never reach the network or the file system: every
reference is resolved when the config is saved (created or updated), one that does not
resolve is refused naming its path, and a schema stored before that check is a typed
error for ``createSession``, never a fetch or a 500.

A listener on 127.0.0.1 that serves a valid schema to anyone who asks counts every
connection: if Tessera fetched a reference it would succeed, so only a count of zero
proves nothing was fetched."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from service.tessera import Tessera
from store import ConfigValues
from tests.api.test_catalog import create_config
from tests.conftest import Api

SERVED_SCHEMA = b'{"type": "object"}'


class Listener(ThreadingHTTPServer):
    """Serves ``SERVED_SCHEMA`` for any path; ``connections`` counts every accepted
    connection, whatever is sent on it (plain HTTP, a TLS handshake, ...)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/schema+json")
        self.send_header("content-length", str(len(SERVED_SCHEMA)))
        self.end_headers()
        self.wfile.write(SERVED_SCHEMA)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def schema_file(tmp_path: Path) -> str:
    path = tmp_path / "details.schema.json"
    path.write_bytes(SERVED_SCHEMA)
    return path.as_uri()


# name -> (listener base, file URI) -> (schema, the field error's path)
Case = Callable[[str, str], tuple[dict[str, Any], str]]
UNRESOLVABLE: dict[str, Case] = {
    "http": lambda base, file: ({"$ref": f"{base}/x.json"}, "schema.$ref"),
    "https": lambda base, file: (
        {"properties": {"a": {"$ref": base.replace("http:", "https:") + "/x.json"}}},
        "schema.properties.a.$ref",
    ),
    "file": lambda base, file: ({"$ref": file}, "schema.$ref"),
    "relative-to-remote-id": lambda base, file: (
        {"$id": f"{base}/root.json", "properties": {"a": {"$ref": "x.json"}}},
        "schema.properties.a.$ref",
    ),
    "nested": lambda base, file: (
        {"$ref": "#/$defs/a", "$defs": {"a": {"allOf": [{"type": "object"}, {"$ref": base}]}}},
        "schema.$defs.a.allOf.1.$ref",
    ),
    "dynamic": lambda base, file: ({"$dynamicRef": f"{base}/x.json#meta"}, "schema.$dynamicRef"),
    "behind-unknown-keyword": lambda base, file: (
        {"$ref": "#/x-more", "x-more": {"$ref": f"{base}/x.json"}},
        "schema.x-more.$ref",
    ),
    "relative": lambda base, file: ({"$ref": "x.json"}, "schema.$ref"),
    "dangling-pointer": lambda base, file: ({"$ref": "#/$defs/missing"}, "schema.$ref"),
    "dangling-anchor": lambda base, file: (
        {"properties": {"e": {"$ref": "#mail"}}, "$defs": {"m": {"$anchor": "other"}}},
        "schema.properties.e.$ref",
    ),
    "not-a-schema": lambda base, file: ({"$ref": "#/required", "required": ["a"]}, "schema.$ref"),
}


@pytest.fixture(params=sorted(UNRESOLVABLE))
def unresolvable(
    request: pytest.FixtureRequest, listener: Listener, schema_file: str
) -> tuple[dict[str, Any], str]:
    return UNRESOLVABLE[request.param](listener.base, schema_file)


async def setup_product(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})


async def start_session(api: Api, details: dict[str, Any]) -> dict[str, Any]:
    return await api.create_session(
        product="shop", env="prd", tag="t", data={"userId": "u1", "details": details}
    )


def assert_refused(result: dict[str, Any], field: str) -> None:
    assert result["__typename"] == "InvalidInputError", result
    assert result["code"] == "INVALID_INPUT"
    assert result["field"] == "schema"
    assert [e["field"] for e in result["fieldErrors"]] == [field]


async def store_schema_directly(tessera: Tessera, schema: dict[str, Any]) -> None:
    """What a config saved before references were checked looks like."""
    config = await tessera.catalog.config("shop", "t")
    values = ConfigValues(
        tag=config.tag,
        name=config.name,
        description=config.description,
        selector=config.selector,
        expiry=config.expiry,
        period=config.period,
        refresh_expiry=config.refresh_expiry,
        refresh_period=config.refresh_period,
        idle_timeout=config.idle_timeout,
        refresh_grace_seconds=config.refresh_grace_seconds,
        json_schema=json.dumps(schema),
        token_format=config.token_format,
        signed_details=config.signed_details,
    )
    assert await tessera.store.update_config(config.id, values, tessera.clock.now())


async def test_create_session_config_unresolvable_reference_refused_without_fetching(
    api: Api, listener: Listener, unresolvable: tuple[dict[str, Any], str]
) -> None:
    schema, field = unresolvable
    await setup_product(api)

    assert_refused(
        await create_config(api, product="shop", tag="t", name="T", schema=schema), field
    )
    assert (await api.op("SessionConfig", product="shop", tag="t"))["sessionConfig"] is None
    assert listener.connections == 0


async def test_update_session_config_unresolvable_reference_refused_without_fetching(
    api: Api, listener: Listener, unresolvable: tuple[dict[str, Any], str]
) -> None:
    schema, field = unresolvable
    await setup_product(api)
    kept = {"type": "object", "required": ["email"]}
    await create_config(api, product="shop", tag="t", name="T", schema=kept)

    updated = await api.op(
        "UpdateSessionConfig", input={"product": "shop", "tag": "t", "schema": schema}
    )
    assert_refused(updated["updateSessionConfig"], field)

    config = (await api.op("SessionConfig", product="shop", tag="t"))["sessionConfig"]
    assert config["schema"] == kept
    assert (await start_session(api, {"email": "a@b.co"}))["__typename"] == "SessionTokens"
    assert listener.connections == 0


async def test_create_session_under_stored_unresolvable_schema_is_typed_error(
    api: Api, tessera: Tessera, listener: Listener, unresolvable: tuple[dict[str, Any], str]
) -> None:
    schema, field = unresolvable
    await setup_product(api)
    await create_config(api, product="shop", tag="t", name="T")
    await store_schema_directly(tessera, schema)

    for _ in range(2):  # the verdict is cached with the compiled schema, not retried
        result = await start_session(api, {"email": "a@b.co"})
        assert result["__typename"] == "InvalidInputError", result
        assert result["code"] == "INVALID_INPUT"
        assert result["field"] == "tag"
        assert field in result["message"]
    assert listener.connections == 0

    # Saving the config again checks the schema it keeps: the path is named there too.
    renamed = await api.op(
        "UpdateSessionConfig", input={"product": "shop", "tag": "t", "name": "Renamed"}
    )
    assert_refused(renamed["updateSessionConfig"], field)
    # Replacing the schema repairs the config.
    repaired = await api.op(
        "UpdateSessionConfig", input={"product": "shop", "tag": "t", "schema": {"type": "object"}}
    )
    assert repaired["updateSessionConfig"]["__typename"] == "SessionConfig"
    assert (await start_session(api, {"email": "a@b.co"}))["__typename"] == "SessionTokens"
    assert listener.connections == 0


LOCAL = {
    "$id": "PLACEHOLDER/root.json",  # a remote-looking base: references still stay local
    "$schema": "PLACEHOLDER/meta.json",
    "$defs": {
        "email": {"type": "string", "format": "email"},
        "plan": {"$anchor": "plan", "enum": ["free", "pro"]},
        "tags": {"$id": "tags.json", "type": "array", "items": {"type": "string"}},
    },
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"$ref": "#/$defs/email"},
        "plan": {"$ref": "#plan"},
        "tags": {"$ref": "tags.json"},
        "self": {"$ref": "PLACEHOLDER/root.json#/$defs/plan"},
        "tree": {
            "$dynamicAnchor": "node",
            "type": "object",
            "properties": {"kid": {"$dynamicRef": "#node"}},
        },
    },
}


async def test_local_references_validate_details_without_fetching(
    api: Api, listener: Listener
) -> None:
    schema = json.loads(json.dumps(LOCAL).replace("PLACEHOLDER", listener.base))
    await setup_product(api)
    created = await create_config(api, product="shop", tag="t", name="T", schema=schema)
    assert created["__typename"] == "SessionConfig", created

    bad = await start_session(
        api, {"email": "nope", "plan": "gold", "tags": [1], "self": "x", "tree": {"kid": 1}}
    )
    assert bad["code"] == "SCHEMA_VALIDATION_FAILED"
    assert sorted(e["field"] for e in bad["fieldErrors"]) == [
        "data.details.email",
        "data.details.plan",
        "data.details.self",
        "data.details.tags.0",
        "data.details.tree.kid",
    ]
    good = await start_session(
        api, {"email": "a@b.co", "plan": "pro", "tags": ["x"], "tree": {"kid": {"kid": {}}}}
    )
    assert good["__typename"] == "SessionTokens"
    assert listener.connections == 0
