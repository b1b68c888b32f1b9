"""Manifests of trusted documents read into one shape, id to text, every id checked."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from service.errors import InvalidInput
from service.manifests import document_id, read_manifest

A = "query A { products { tag } }"
B = "query B {\n  products {\n    name\n  }\n}\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_document_id_is_the_sha256_of_the_text() -> None:
    assert document_id(B) == sha(B)
    assert document_id("query Ü { a }") == hashlib.sha256("query Ü { a }".encode()).hexdigest()


def test_apollo_manifest_is_read_by_id() -> None:
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha(A), "name": "A", "type": "query", "body": A},
            {"id": sha(B).upper(), "name": "B", "type": "query", "body": B},
        ],
    }

    assert read_manifest(manifest, max_bytes=1000) == {sha(A): A, sha(B): B}


def test_codegen_persisted_documents_are_read_by_id() -> None:
    manifest = {sha(A): A, f"sha256:{sha(B)}": B}

    assert read_manifest(manifest, max_bytes=1000) == {sha(A): A, sha(B): B}


def test_empty_manifest_holds_no_document() -> None:
    assert read_manifest({}, max_bytes=1000) == {}


def test_every_problem_is_named_and_nothing_read() -> None:
    manifest: dict[str, Any] = {
        sha(A): A,
        sha(A) + "0": B,
        sha(B): A,
        sha("x" * 50): "x" * 50,
        sha("\x00"): "\x00",
        "k": None,
    }

    with pytest.raises(InvalidInput) as refused:
        read_manifest(manifest, max_bytes=40, field="m")

    assert [(e.field, e.message) for e in refused.value.field_errors] == [
        (
            f"m.{sha(A)}0",
            "the id must be the document's SHA-256 as 64 hexadecimal digits "
            "(GraphQL Code Generator: persistedDocuments.hashAlgorithm 'sha256')",
        ),
        (f"m.{sha(B)}", "the id is not the SHA-256 of the document"),
        (f"m.{sha('x' * 50)}", "the document may be at most 40 bytes"),
        (f"m.{sha(chr(0))}", "the document must not contain control characters"),
        ("m.k", "the document must be a non-empty string"),
    ]
    assert refused.value.message.endswith("(and 4 more problems)")


@pytest.mark.parametrize(
    "manifest",
    [
        [A],
        "manifest",
        {"format": "apollo-persisted-query-manifest", "version": 2, "operations": []},
        {"format": "something-else", "version": 1, "operations": []},
        {"format": "apollo-persisted-query-manifest", "version": 1, "operations": {}},
        {"format": "apollo-persisted-query-manifest", "version": 1, "operations": ["x"]},
    ],
    ids=["list", "string", "version-2", "other-format", "operations-object", "operation-string"],
)
def test_what_is_no_manifest_is_refused(manifest: Any) -> None:
    with pytest.raises(InvalidInput):
        read_manifest(manifest, max_bytes=1000)
