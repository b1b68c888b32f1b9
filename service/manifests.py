"""Manifests of trusted documents, in the formats the tools emit, read into one shape:
each document's id (the SHA-256 of its text, lower-case hex) to its text.

- Apollo's persisted query manifest (``@apollo/generate-persisted-query-manifest``):
  ``{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id": ..., "name": ..., "type": ..., "body": ...}]}``;
- GraphQL Code Generator's ``persisted-documents.json`` (the client preset's
  ``persistedDocuments``, with ``hashAlgorithm: 'sha256'``): ``{"<id>": "<document>"}``.

An id must be the SHA-256 of its document's text: then an id names exactly one text,
whoever registered it, and Tessera checks every id itself. A manifest with any problem
is refused whole, every problem named."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from service.errors import FieldError, InvalidInput
from service.validation import Kind, string_problem

APOLLO_FORMAT = "apollo-persisted-query-manifest"
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
SHA256_PREFIX = "sha256:"


def document_id(text: str) -> str:
    """The id of a document: the SHA-256 of its text as UTF-8, in lower-case hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(manifest: Any, *, max_bytes: int, field: str = "manifest") -> dict[str, str]:
    """The documents of ``manifest`` by id; ``InvalidInput`` naming every problem (under
    ``field``) if it is not a manifest of either format, an id is not the SHA-256 of its
    document, or a document is not text of at most ``max_bytes`` bytes."""
    if isinstance(manifest, dict) and "format" in manifest:
        entries, problems = _apollo(manifest, field)
    elif isinstance(manifest, dict):
        entries, problems = list(_codegen(manifest, field)), []
    else:
        raise InvalidInput(
            f"{field} must be an Apollo persisted query manifest or a persisted-documents "
            "object (id to document)",
            field=field,
        )
    documents: dict[str, str] = {}
    for where, given, body in entries:
        problem = _document_problem(body, max_bytes)
        if problem is not None:
            problems.append(FieldError(where, f"the document {problem}"))
            continue
        assert isinstance(body, str)
        id_ = _normalized(given)
        if id_ is None:
            problems.append(
                FieldError(
                    where,
                    "the id must be the document's SHA-256 as 64 hexadecimal digits "
                    "(GraphQL Code Generator: persistedDocuments.hashAlgorithm 'sha256')",
                )
            )
        elif id_ != document_id(body):
            problems.append(FieldError(where, "the id is not the SHA-256 of the document"))
        else:
            documents[id_] = body
    if problems:
        raise InvalidInput(
            f"{field} is refused: {problems[0].message}"
            + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""),
            field=field,
            field_errors=tuple(problems),
        )
    return documents


_Entry = tuple[str, Any, Any]  # (path, id as given, document as given)


def _apollo(manifest: dict[str, Any], field: str) -> tuple[list[_Entry], list[FieldError]]:
    if manifest.get("format") != APOLLO_FORMAT or manifest.get("version") != 1:
        raise InvalidInput(
            f"{field} must be format {APOLLO_FORMAT!r}, version 1", field=f"{field}.format"
        )
    operations = manifest.get("operations")
    if not isinstance(operations, list):
        raise InvalidInput(f"{field}.operations must be a list", field=f"{field}.operations")
    entries: list[_Entry] = []
    problems: list[FieldError] = []
    for i, operation in enumerate(operations):
        where = f"{field}.operations.{i}"
        if not isinstance(operation, dict):
            problems.append(FieldError(where, "an operation must be an object with id and body"))
        else:
            entries.append((where, operation.get("id"), operation.get("body")))
    return entries, problems


def _codegen(manifest: dict[str, Any], field: str) -> list[_Entry]:
    return [(f"{field}.{key}", key, body) for key, body in manifest.items()]


def _normalized(given: Any) -> str | None:
    """A SHA-256 id as given (bare or ``sha256:``-prefixed hex), lower-cased; ``None``
    if it is not one."""
    if not isinstance(given, str):
        return None
    hex_digits = given.removeprefix(SHA256_PREFIX)
    return hex_digits.lower() if SHA256_HEX.fullmatch(hex_digits) else None


def _document_problem(body: Any, max_bytes: int) -> str | None:
    if not isinstance(body, str) or not body.strip():
        return "must be a non-empty string"
    # No larger than a request could carry it, and text a GraphQL parser takes.
    if len(body.encode(errors="surrogatepass")) > max_bytes:
        return f"may be at most {max_bytes} bytes"
    problem = string_problem(body, Kind.TEXT, bounded=False)
    return None if problem is None else problem
