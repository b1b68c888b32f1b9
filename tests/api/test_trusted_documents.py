"""Trusted documents: registered from manifests (the admin mutation here, the CLI in
tests/test_cli.py) and from graphql/operations/ at every start, named by ``documentId``
or ``extensions.persistedQuery``; and ``TESSERA_TRUSTED_DOCUMENTS`` deciding what runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.api.persisted import NOT_FOUND, Instance, apq, instance, persisted, send, sha256
from tests.conftest import Api, make_settings
from tests.operations import OPERATIONS, operation

SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
# A document no file of graphql/operations/ holds, which a product key may run.
CONFIG_TAGS = "query ConfigTags($product: String!) { sessionConfigs(product: $product) { tag } }"
REQUIRED = "TRUSTED_DOCUMENT_REQUIRED"
REGISTER = operation("RegisterTrustedDocuments")


def by_id(name: str, variables: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """A request for graphql/operations/<name>.graphql by its documentId."""
    return {"documentId": f"sha256:{sha256(operation(name))}", "variables": variables, **more}


def apollo_manifest(*documents: str) -> dict[str, Any]:
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha256(d), "name": f"Op{i}", "type": "query", "body": d}
            for i, d in enumerate(documents)
        ],
    }


async def register(api: Api, manifest: Any) -> dict[str, Any]:
    body = await api.post(REGISTER, {"manifest": manifest})
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["registerTrustedDocuments"]
    return result


async def setup_shop(api: Api) -> str:
    """The shop product with its web config, and a product key for it."""
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    await api.op("CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "Web"})
    created = await api.op("CreateApiKey", input={"product": "shop", "name": "backend"})
    key: str = created["createApiKey"]["key"]
    return key


def mode_settings(tmp_path: Path, database_url: str, mode: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url, trusted_documents=mode)


@pytest.fixture
async def required(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> AsyncIterator[Instance]:
    async with instance(mode_settings(tmp_path, database_url, "require"), clock) as api:
        yield api


# Built-in documents -----------------------------------------------------------------


async def test_every_operation_file_is_a_trusted_document_as_written(tessera: Tessera) -> None:
    files = sorted(OPERATIONS.glob("*.graphql"))

    stored = [await tessera.store.get_persisted_document(sha256(f.read_text())) for f in files]

    assert len(files) > 20
    assert [(s.body, s.source) if s else None for s in stored] == [
        (f.read_text(), "builtin") for f in files
    ]


@pytest.mark.parametrize(
    "document_id",
    [f"sha256:{sha256(operation('Products'))}", sha256(operation("Products")).upper()],
    ids=["prefixed", "bare-upper-case"],
)
async def test_document_id_runs_a_trusted_document(api: Api, document_id: str) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})

    response = await send(api, {"documentId": document_id})

    assert response.status_code == 200
    assert [p["tag"] for p in response.json()["data"]["products"]] == ["shop"]


async def test_unknown_document_id_is_not_found(api: Api) -> None:
    response = await send(api, {"documentId": f"sha256:{sha256(CONFIG_TAGS)}"})

    assert (response.status_code, response.json()) == (200, NOT_FOUND)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"documentId": "sha1:" + "a" * 40}, "documentId must be sha256:<64 hexadecimal digits>"),
        ({"documentId": "sha256:xyz"}, "documentId must be sha256:<64 hexadecimal digits>"),
        ({"documentId": 12}, "documentId must be sha256:<64 hexadecimal digits>"),
        (
            {**by_id("Products"), "extensions": persisted(sha256(operation("Products")))},
            "Send documentId or extensions.persistedQuery, not both",
        ),
        (
            {**by_id("Products"), "query": CONFIG_TAGS},
            "provided sha does not match query",
        ),
    ],
    ids=["sha1", "not-hex", "not-a-string", "both-ids", "other-query"],
)
async def test_malformed_document_id_is_a_400(api: Api, body: dict[str, Any], message: str) -> None:
    response = await send(api, body)

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error == {"message": message, "extensions": {"code": "BAD_REQUEST"}}


async def test_document_id_with_its_own_query_runs_and_registers_nothing(
    api: Api, tessera: Tessera
) -> None:
    # GraphQL over HTTP's documentId never registers: only Apollo's protocol does.
    await setup_shop(api)
    body = {"documentId": sha256(CONFIG_TAGS), "query": CONFIG_TAGS}

    response = await send(api, {**body, "variables": {"product": "shop"}})

    assert response.json() == {"data": {"sessionConfigs": [{"tag": "web"}]}}
    assert await tessera.store.get_persisted_document(sha256(CONFIG_TAGS)) is None


# Manifests --------------------------------------------------------------------------


async def test_apollo_manifest_registers_trusted_documents(api: Api, tessera: Tessera) -> None:
    other = "query Tags { products { tag } }"

    result = await register(api, apollo_manifest(CONFIG_TAGS, other))

    assert result == {"__typename": "TrustedDocuments", "count": 2}
    for document in (CONFIG_TAGS, other):
        stored = await tessera.store.get_persisted_document(sha256(document))
        assert stored is not None and (stored.body, stored.source) == (document, "trusted")


async def test_codegen_persisted_documents_register_trusted_documents(
    api: Api, tessera: Tessera
) -> None:
    other = "query Tags { products { tag } }"
    manifest = {sha256(CONFIG_TAGS): CONFIG_TAGS, f"sha256:{sha256(other)}": other}

    result = await register(api, manifest)

    assert result == {"__typename": "TrustedDocuments", "count": 2}
    response = await send(api, {"documentId": sha256(other)})
    assert response.json() == {"data": {"products": []}}


async def test_registering_a_manifest_again_changes_nothing(api: Api) -> None:
    manifest = apollo_manifest(CONFIG_TAGS)

    first, second = await register(api, manifest), await register(api, manifest)

    assert first == second == {"__typename": "TrustedDocuments", "count": 1}


@pytest.mark.parametrize(
    ("manifest", "fields"),
    [
        (
            {
                **apollo_manifest(CONFIG_TAGS, "query A { products { tag } }"),
                "operations": [
                    *apollo_manifest(CONFIG_TAGS)["operations"],
                    {"id": sha256(CONFIG_TAGS), "body": "query A { products { tag } }"},
                    {"id": "sha256:" + "0" * 64, "body": "query B { products { tag } }"},
                ],
            },
            ["manifest.operations.1", "manifest.operations.2"],
        ),
        (
            {sha256(CONFIG_TAGS): CONFIG_TAGS, sha256("x"): "query C { products { tag } }"},
            [f"manifest.{sha256('x')}"],
        ),
    ],
    ids=["apollo", "codegen"],
)
async def test_manifest_with_a_wrong_id_registers_nothing(
    api: Api, tessera: Tessera, manifest: dict[str, Any], fields: list[str]
) -> None:
    result = await register(api, manifest)

    assert result["__typename"] == "InvalidInputError"
    assert result["code"] == "INVALID_INPUT"
    assert [e["field"] for e in result["fieldErrors"]] == fields
    assert {e["message"] for e in result["fieldErrors"]} == {
        "the id is not the SHA-256 of the document"
    }
    # All or nothing: the good document of the manifest is not registered either.
    assert await tessera.store.get_persisted_document(sha256(CONFIG_TAGS)) is None


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"a" * 40: CONFIG_TAGS}, "hashAlgorithm 'sha256'"),
        ({sha256(""): ""}, "the document must be a non-empty string"),
        ({sha256("{ a\x01 }"): "{ a\x01 }"}, "must not contain control characters"),
        ({"format": "apollo-persisted-query-manifest", "version": 2}, "version 1"),
        ({"format": "apollo-persisted-query-manifest", "version": 1}, "operations must be a list"),
        ([CONFIG_TAGS], "must be an Apollo persisted query manifest"),
    ],
    ids=["sha1-ids", "empty", "control-character", "version-2", "no-operations", "a-list"],
)
async def test_manifest_that_is_not_one_is_refused(api: Api, manifest: Any, message: str) -> None:
    result = await register(api, manifest)

    assert result["__typename"] == "InvalidInputError"
    assert message in result["message"]


async def test_only_admins_register_manifests(api: Api) -> None:
    key = await setup_shop(api)

    body = await api.post(REGISTER, {"manifest": apollo_manifest(CONFIG_TAGS)}, key=key)

    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# TESSERA_TRUSTED_DOCUMENTS=require ---------------------------------------------------


async def test_require_refuses_text_from_every_caller_but_admins(required: Instance) -> None:
    key = await setup_shop(required)
    tokens = (
        await required.op(
            "CreateSessionWith", input={**SCOPE, "data": {"userId": "u", "details": {}}}
        )
    )["createSession"]
    callers = {"product key": key, "no credential": None, "session token": tokens["token"]}
    callers["bad key"] = "tsk_" + "x" * 43
    create = {
        "query": operation("CreateSessionWith"),
        "variables": {"input": {**SCOPE, "data": {"userId": "u2", "details": {}}}},
    }

    answers = {who: await send(required, create, key=k) for who, k in callers.items()}

    for who, response in answers.items():
        assert response.status_code == 400, who
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": REQUIRED}, who
        assert "documentId" in error["message"]
    # Nothing ran: only the admin's session exists.
    sessions = await required.op("ActiveSessions", **SCOPE)
    assert sessions["activeSessions"]["totalCount"] == 1


async def test_require_runs_trusted_documents_by_id_for_every_caller(required: Instance) -> None:
    key = await setup_shop(required)
    create = {"input": {**SCOPE, "data": {"userId": "u", "details": {}}}}

    created = await send(required, by_id("CreateSessionWith", create), key=key)
    tokens = created.json()["data"]["createSession"]
    refresh = {"input": {**SCOPE, "refreshToken": tokens["refreshToken"]}}
    refreshed = await send(required, by_id("RefreshSession", refresh), key=None)
    mine = await send(
        required,
        {"extensions": persisted(sha256(operation("CurrentSession")))},
        key=refreshed.json()["data"]["refreshSession"]["token"],
    )

    assert tokens["__typename"] == "SessionTokens"
    assert refreshed.json()["data"]["refreshSession"]["__typename"] == "SessionTokens"
    assert mine.json()["data"]["currentSession"]["id"] == tokens["sessionId"]


async def test_require_lets_admins_send_any_document(required: Instance) -> None:
    await required.op("CreateProduct", input={"tag": "shop", "name": "Shop"})

    body = await required.post("{ products { tag } }")

    assert body == {"data": {"products": [{"tag": "shop"}]}}


async def test_require_refuses_client_registered_documents_until_trusted(
    required: Instance,
) -> None:
    key = await setup_shop(required)
    variables = {"product": "shop"}
    assert "errors" not in (await apq(required, CONFIG_TAGS, variables)).json()  # as admin
    by_hash = {"variables": variables, "extensions": persisted(sha256(CONFIG_TAGS))}

    before = await send(required, by_hash, key=key)
    sent = await send(required, {**by_hash, "query": CONFIG_TAGS}, key=key)
    await register(required, apollo_manifest(CONFIG_TAGS))
    after = await send(required, by_hash, key=key)

    for refused in (before, sent):
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == REQUIRED
    assert after.json() == {"data": {"sessionConfigs": [{"tag": "web"}]}}


async def test_require_sees_a_document_trusted_through_another_instance(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    settings = mode_settings(tmp_path, database_url, "require")
    by_hash = {"variables": {"product": "shop"}, "extensions": persisted(sha256(CONFIG_TAGS))}
    async with instance(settings, clock) as a, instance(settings, clock) as b:
        key = await setup_shop(a)
        await apq(a, CONFIG_TAGS, {"product": "shop"})
        refused = await send(a, by_hash, key=key)  # a now holds it as not trusted

        await register(b, apollo_manifest(CONFIG_TAGS))
        after = await send(a, by_hash, key=key)

    assert refused.json()["errors"][0]["extensions"]["code"] == REQUIRED
    assert after.json() == {"data": {"sessionConfigs": [{"tag": "web"}]}}


# TESSERA_TRUSTED_DOCUMENTS=off -------------------------------------------------------


NOT_SUPPORTED = {
    "errors": [
        {
            "message": "PersistedQueryNotSupported",
            "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        }
    ]
}


async def test_off_answers_ids_not_supported_and_runs_text(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    document = "query Tags { products { tag } }"
    async with instance(mode_settings(tmp_path, database_url, "off"), clock) as api:
        by_hash = await send(api, {"extensions": persisted(sha256(operation("Products")))})
        by_document_id = await send(api, by_id("Products"))
        with_query = await send(api, {"query": document, "extensions": persisted(sha256(document))})
        stored = await api.tessera.store.get_persisted_document(sha256(document))

    assert (by_hash.status_code, by_hash.json()) == (200, NOT_SUPPORTED)
    assert (by_document_id.status_code, by_document_id.json()) == (200, NOT_SUPPORTED)
    assert with_query.json() == {"data": {"products": []}}
    assert stored is None


def test_default_is_allow_in_both_modes(tmp_path: Path) -> None:
    for mode in ("development", "production"):
        assert make_settings(tmp_path, mode=mode).trusted_documents == "allow"


async def test_allow_runs_text_and_ids_alike(api: Api, settings: Settings) -> None:
    key = await setup_shop(api)

    text = await api.post(CONFIG_TAGS, {"product": "shop"}, key=key)
    named = await send(api, by_id("SessionConfigs", {"product": "shop"}), key=key)

    assert settings.trusted_documents == "allow"
    assert text == {"data": {"sessionConfigs": [{"tag": "web"}]}}
    assert named.json()["data"]["sessionConfigs"][0]["tag"] == "web"
