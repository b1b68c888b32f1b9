"""Automatic persisted queries, Apollo's protocol: a hash alone runs a known document,
an unknown one is answered in the shape Apollo's clients read to send the query, and a
query is stored under its hash only when the hash is its own and the document is valid;
stored for every instance, and bounded."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from service.clock import FrozenClock
from service.settings import Settings
from service.tessera import Tessera
from tests.api.persisted import NOT_FOUND, apq, instance, persisted, send, sha256
from tests.conftest import Api, make_settings
from tests.operations import operation

PRODUCTS = operation("Products")
# Not a file of graphql/operations/: those are registered (trusted) at every start.
PRODUCT_TAGS = "query ProductTags { products { tag } }"


async def test_unknown_hash_is_answered_not_found_in_apollos_shape(api: Api) -> None:
    response = await send(api, {"extensions": persisted(sha256(PRODUCT_TAGS))})

    assert response.status_code == 200
    assert response.json() == NOT_FOUND


async def test_query_with_its_hash_runs_then_the_hash_alone_runs_it(api: Api) -> None:
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    hash_ = sha256(PRODUCT_TAGS)

    registering = await send(api, {"query": PRODUCT_TAGS, "extensions": persisted(hash_)})
    hash_only = await send(api, {"extensions": persisted(hash_)})

    assert registering.status_code == hash_only.status_code == 200
    assert registering.json() == hash_only.json() == {"data": {"products": [{"tag": "shop"}]}}


async def test_hash_is_read_in_either_case(api: Api) -> None:
    await apq(api, PRODUCT_TAGS)

    response = await send(api, {"extensions": persisted(sha256(PRODUCT_TAGS).upper())})

    assert response.json() == {"data": {"products": []}}


async def test_hash_alone_takes_variables_and_operation_name(api: Api) -> None:
    document = operation("Product")
    await api.op("CreateProduct", input={"tag": "shop", "name": "Shop"})

    body = {"variables": {"tag": "shop"}, "operationName": "Product"}
    response = await send(api, {**body, "extensions": persisted(sha256(document))})

    assert response.json()["data"]["product"]["tag"] == "shop"


@pytest.mark.parametrize(
    "sent",
    [
        sha256(PRODUCTS),  # another document's hash
        sha256(PRODUCT_TAGS + " "),  # the hash of other text of the same document
        sha256(PRODUCT_TAGS)[:-1] + ("1" if sha256(PRODUCT_TAGS)[-1] == "0" else "0"),
    ],
    ids=["other-document", "other-text", "altered"],
)
async def test_query_with_a_hash_not_its_own_is_refused_and_not_stored(
    api: Api, tessera: Tessera, sent: str
) -> None:
    response = await send(api, {"query": PRODUCT_TAGS, "extensions": persisted(sent)})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"message": "provided sha does not match query", "extensions": {"code": "BAD_REQUEST"}}
    ]
    # Nothing ran, and the hash still names what it named before (or nothing).
    stored = await tessera.store.get_persisted_document(sent.lower())
    assert stored is None or stored.body != PRODUCT_TAGS


@pytest.mark.parametrize(
    ("extensions", "message"),
    [
        (persisted(sha256(PRODUCT_TAGS), version=2), "Unsupported persisted query version"),
        (persisted(sha256(PRODUCT_TAGS), version=None), "Unsupported persisted query version"),
        (persisted("abc"), "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits"),
        (persisted("g" * 64), "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits"),
        ({"persistedQuery": {"version": 1}}, "sha256Hash must be 64 hexadecimal digits"),
        ({"persistedQuery": "x"}, "extensions.persistedQuery must be an object"),
    ],
    ids=["version-2", "no-version", "short", "not-hex", "no-hash", "not-object"],
)
async def test_malformed_persisted_query_is_a_400(
    api: Api, extensions: dict[str, Any], message: str
) -> None:
    for body in ({"extensions": extensions}, {"extensions": extensions, "query": PRODUCT_TAGS}):
        response = await send(api, body)

        assert response.status_code == 400, body
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "BAD_REQUEST"}
        assert message in error["message"]


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("{ products { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ products { tag ", "GRAPHQL_PARSE_FAILED"),
        ("{ products { " + " ".join(f"a{i}: tag" for i in range(25)) + " } }", "BAD_REQUEST"),
        ("{ " + "products { " * 12 + "tag" + " }" * 13, "BAD_REQUEST"),
    ],
    ids=["invalid", "unparsable", "too-many-aliases", "too-deep"],
)
async def test_document_that_fails_validation_or_a_limit_is_never_stored(
    api: Api, tessera: Tessera, document: str, code: str
) -> None:
    hash_ = sha256(document)

    sent = await send(api, {"query": document, "extensions": persisted(hash_)})
    again = await send(api, {"extensions": persisted(hash_)})

    assert code in [e["extensions"]["code"] for e in sent.json()["errors"]]
    assert again.json() == NOT_FOUND
    assert await tessera.store.get_persisted_document(hash_) is None


async def test_document_refused_for_the_caller_is_still_stored_when_valid(api: Api) -> None:
    # Validity is the document's; who may run it is decided on every request.
    hash_ = sha256(PRODUCT_TAGS)
    sent = await send(api, {"query": PRODUCT_TAGS, "extensions": persisted(hash_)}, key=None)

    again = await send(api, {"extensions": persisted(hash_)})

    assert sent.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert again.json() == {"data": {"products": []}}


async def test_mutation_runs_by_hash_once_stored(api: Api) -> None:
    document = "mutation AddProduct($tag: String!) { createProduct(input: {tag: $tag, name: $tag}) { __typename } }"  # noqa: E501

    first = await apq(api, document, {"tag": "one"})
    second = await send(
        api, {"variables": {"tag": "two"}, "extensions": persisted(sha256(document))}
    )

    assert first.json()["data"]["createProduct"]["__typename"] == "Product"
    assert second.json()["data"]["createProduct"]["__typename"] == "Product"
    assert [p["tag"] for p in (await api.op("Products"))["products"]] == ["one", "two"]


async def test_registration_is_shared_by_every_instance(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    # Two processes on one database: what one stored, the other runs by hash.
    async with instance(settings, clock) as a, instance(settings, clock) as b:
        await apq(a, PRODUCT_TAGS)

        response = await send(b, {"extensions": persisted(sha256(PRODUCT_TAGS))})

    assert response.json() == {"data": {"products": []}}


async def test_stored_queries_are_bounded_oldest_evicted(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(tmp_path, database_url=database_url, max_persisted_queries=3)
    documents = [f"query Q{i} {{ products {{ tag }} }}" for i in range(5)]
    async with instance(settings, clock) as api:
        for document in documents:
            clock.advance(1)
            assert "errors" not in (await apq(api, document)).json()
        stored = [await api.tessera.store.get_persisted_document(sha256(d)) for d in documents]

    assert [s is not None for s in stored] == [False, False, True, True, True]
    # Another instance (nothing in its memory) finds the newest, not the evicted.
    async with instance(settings, clock) as fresh:
        answers = [
            (await send(fresh, {"extensions": persisted(sha256(d))})).json() for d in documents
        ]
    assert answers[:2] == [NOT_FOUND, NOT_FOUND]
    assert answers[2:] == [{"data": {"products": []}}] * 3


async def test_trusted_and_builtin_documents_are_never_evicted(
    tmp_path: Path, database_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(tmp_path, database_url=database_url, max_persisted_queries=1)
    manifest = {sha256(PRODUCT_TAGS): PRODUCT_TAGS}
    async with instance(settings, clock) as api:
        await api.tessera.documents.register_manifest(manifest)
        for i in range(3):
            await apq(api, f"query Q{i} {{ products {{ tag }} }}")
        store = api.tessera.store
        assert await store.get_persisted_document(sha256(PRODUCT_TAGS)) is not None
        assert await store.get_persisted_document(sha256(PRODUCTS)) is not None


async def test_not_found_leaves_one_audit_line(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tessera.audit"):
        await send(api, {"extensions": persisted(sha256(PRODUCT_TAGS))})

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert [(line["event"], line["status"], line["reason"]) for line in lines] == [
        ("refused", 200, "PersistedQueryNotFound")
    ]


@pytest.mark.parametrize(
    "document",
    [
        'query V { verifySession(input: {product: "p", env: "e", tag: "t", token: "web:x"}) '
        "{ valid } }",
        'query V($t: String! = "web:x") { verifySession(input: {product: "p", env: "e", '
        'tag: "t", token: $t}) { valid } }',
        'query V($i: VerifySessionInput! = {product: "p", env: "e", tag: "t", token: "web:x"}) '
        "{ verifySession(input: $i) { valid } }",
        'mutation R { refreshSession(input: {product: "p", env: "e", tag: "t", '
        'refreshToken: "abc"}) { __typename } }',
    ],
    ids=["token-literal", "token-default", "input-default", "refresh-token-literal"],
)
async def test_document_with_a_credential_written_into_it_runs_but_is_not_stored(
    api: Api, tessera: Tessera, document: str
) -> None:
    hash_ = sha256(document)

    sent = await send(api, {"query": document, "extensions": persisted(hash_)})

    assert "data" in sent.json() and sent.json()["data"] is not None, sent.json()
    assert await tessera.store.get_persisted_document(hash_) is None


async def test_document_passing_credentials_as_variables_is_stored(
    api: Api, tessera: Tessera
) -> None:
    document = operation("VerifySession")
    variables = {"input": {"product": "p", "env": "e", "tag": "t", "token": "web:x"}}

    await apq(api, document, variables)

    assert await tessera.store.get_persisted_document(sha256(document)) is not None
