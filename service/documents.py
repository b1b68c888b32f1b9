"""Persisted documents: GraphQL documents a request names by id instead of sending them.

Two protocols name them, both by the SHA-256 of the document's text (``manifests``):

- Apollo's automatic persisted queries (``extensions.persistedQuery``, version 1): a
  client sends the hash alone; an unknown one is answered ``PersistedQueryNotFound`` and
  the client sends the query with its hash, which is checked against the text, run, and
  stored once it validated, for every instance (``apq`` documents, the oldest registered
  evicted beyond ``max_registered``: by registration, not use, which would be a write on
  every hit; an evicted one that is still in use is sent again once, as the protocol
  does for any unknown hash);
- trusted documents (GraphQL over HTTP's ``documentId``, ``sha256:<hex>`` or bare hex,
  or the same hash in ``extensions.persistedQuery``): registered by an operator from a
  manifest, plus every file of graphql/operations/ at startup.

``TrustedDocuments`` says what runs: ``off``, documents sent as text only; ``allow``
(the default), also documents by id; ``require``, for callers other than admins only
trusted documents, by id.

An LRU of hash to text in front of the store answers a known hash without reading the
database. A hash names one text forever, so no entry can be stale but for one bit:
whether the document is trusted, which only ever turns from no to yes (a manifest naming
a client-registered text), so it is read from the store again before a caller is refused
for it."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from service import manifests
from service.clock import Clock
from service.errors import (
    BadDocumentRequest,
    DocumentsUnavailable,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    TrustedDocumentRequired,
)
from service.manifests import SHA256_HEX, SHA256_PREFIX, read_manifest
from store import PersistedDocumentRecord, Store
from store.errors import StoreUnavailable

log = logging.getLogger("tessera")

TEXTS = 1024
"""Documents kept in memory by hash; bounded, as the parsed documents they lead to
(schema/documents.py)."""
APQ_VERSION = 1


class TrustedDocuments(StrEnum):
    """``TESSERA_TRUSTED_DOCUMENTS``."""

    OFF = "off"
    ALLOW = "allow"
    REQUIRE = "require"


class Source(StrEnum):
    """Who stored a document."""

    APQ = "apq"
    TRUSTED = "trusted"
    BUILTIN = "builtin"


@dataclass(frozen=True, slots=True)
class Document:
    """The document a request named by id: its text, its id, whether it is trusted, and
    whether it is yet to be stored (a client's registration, stored once it validates)."""

    text: str
    id: str
    trusted: bool
    register: bool


@dataclass(frozen=True, slots=True)
class _Known:
    text: str
    trusted: bool


def builtin_documents(directory: Path) -> dict[str, str]:
    """Every ``*.graphql`` file of ``directory`` by id, its text exactly as written
    (none if the directory is not there, as in an installation without the sources)."""
    if not directory.is_dir():
        return {}
    texts = (path.read_bytes().decode() for path in sorted(directory.glob("*.graphql")))
    return {manifests.document_id(text): text for text in texts}


class PersistedDocuments:
    """The documents requests may name by id, stored and cached."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        mode: TrustedDocuments,
        max_registered: int,
        max_bytes: int,
    ) -> None:
        self.mode = mode
        self._store = store
        self._clock = clock
        self._max_registered = max_registered
        self._max_bytes = max_bytes
        self._texts: OrderedDict[str, _Known] = OrderedDict()

    async def resolve(
        self,
        query: str | None,
        document_id: Any,
        persisted_query: Any,
        *,
        admin: Callable[[], Awaitable[bool]],
    ) -> Document | None:
        """The document a request names by ``document_id`` (its ``documentId``) or
        ``persisted_query`` (its ``extensions.persistedQuery``), or ``None`` when it names
        none and runs its ``query`` as sent. ``admin`` tells whether the caller is an
        admin, asked only where the answer matters (``require``). Raises a
        ``DocumentRefused``: an unknown id, a malformed one, a query its hash does not
        match, persisted documents ``off``, under ``require`` a document that is not
        trusted from a caller who is not an admin, or a store that cannot be read."""
        if document_id is None and persisted_query is None:
            if self.mode is TrustedDocuments.REQUIRE and not await admin():
                raise TrustedDocumentRequired(_REQUIRED)
            return None
        if self.mode is TrustedDocuments.OFF:
            if query is not None:
                return None  # runs as sent, as with any server without persisted queries
            raise PersistedQueryNotSupported("PersistedQueryNotSupported")
        id_ = _requested_id(document_id, persisted_query)
        if query is not None and manifests.document_id(query) != id_:
            raise BadDocumentRequest("provided sha does not match query")
        known = await self._find(id_)
        if query is not None:
            # Only Apollo's protocol registers what a client sends.
            register = known is None and persisted_query is not None
            document = Document(
                known.text if known else query, id_, known is not None and known.trusted, register
            )
        elif known is None:
            raise PersistedQueryNotFound("PersistedQueryNotFound")
        else:
            document = Document(known.text, id_, known.trusted, register=False)
        if (
            self.mode is TrustedDocuments.REQUIRE
            and not document.trusted
            and not await admin()
            # Unknown to the store a moment ago: not trusted since either.
            and not (known is not None and await self._trusted_since(id_))
        ):
            raise TrustedDocumentRequired(_REQUIRED)
        return document

    async def register(self, document: Document) -> None:
        """Store a document a client registered, once it is known to be valid, for every
        instance; beyond ``max_registered`` the oldest registered are evicted. A database
        that is unavailable only loses the registration: the client sends the document
        again when its id is not found."""
        if not document.register or len(document.text.encode()) > self._max_bytes:
            return
        record = PersistedDocumentRecord(document.id, document.text, Source.APQ, self._clock.now())
        try:
            await self._store.register_apq_document(record, self._max_registered)
        except StoreUnavailable:
            log.warning("a persisted query was not stored: the database is unavailable")
            return
        self._remember(document.id, _Known(document.text, trusted=False))

    async def register_manifest(self, manifest: Any, *, field: str = "manifest") -> int:
        """Store every document of a manifest (``service.manifests``) as trusted, all or
        none; the number of documents it holds, each trusted now."""
        documents = read_manifest(manifest, max_bytes=self._max_bytes, field=field)
        await self._trust(documents, Source.TRUSTED)
        return len(documents)

    async def register_builtin(self, documents: Mapping[str, str]) -> None:
        """Store Tessera's own documents (``builtin_documents``) as trusted."""
        await self._trust(documents, Source.BUILTIN)

    async def _trust(self, documents: Mapping[str, str], source: Source) -> None:
        now = self._clock.now()
        await self._store.put_trusted_documents(
            [PersistedDocumentRecord(id_, text, source, now) for id_, text in documents.items()]
        )
        for id_, text in documents.items():
            if id_ in self._texts:
                self._texts[id_] = _Known(text, trusted=True)

    async def _find(self, id_: str) -> _Known | None:
        known = self._texts.get(id_)
        if known is not None:
            self._texts.move_to_end(id_)
            return known
        record = await self._stored(id_)
        if record is None:
            return None
        known = _Known(record.body, trusted=record.source != Source.APQ)
        self._remember(id_, known)
        return known

    async def _trusted_since(self, id_: str) -> bool:
        """Whether the store says the document became trusted since it was cached (by a
        manifest registered through another instance)."""
        record = await self._stored(id_)
        if record is None or record.source == Source.APQ:
            return False
        self._remember(id_, _Known(record.body, trusted=True))
        return True

    async def _stored(self, id_: str) -> PersistedDocumentRecord | None:
        try:
            return await self._store.get_persisted_document(id_)
        except StoreUnavailable:
            raise DocumentsUnavailable("the database is unavailable; retry later") from None

    def _remember(self, id_: str, known: _Known) -> None:
        self._texts[id_] = known
        self._texts.move_to_end(id_)
        if len(self._texts) > TEXTS:
            self._texts.popitem(last=False)


_REQUIRED = (
    "Only trusted documents run here: send the id of a registered document "
    "(documentId, or extensions.persistedQuery.sha256Hash)"
)


def _requested_id(document_id: Any, persisted_query: Any) -> str:
    """The id a request names, lower-cased; ``BadDocumentRequest`` for anything else.
    Never quotes what the request sent."""
    if document_id is not None and persisted_query is not None:
        raise BadDocumentRequest("Send documentId or extensions.persistedQuery, not both")
    if document_id is not None:
        if isinstance(document_id, str):
            hex_digits = document_id.removeprefix(SHA256_PREFIX)
            if SHA256_HEX.fullmatch(hex_digits):
                return hex_digits.lower()
        raise BadDocumentRequest("documentId must be sha256:<64 hexadecimal digits>")
    if not isinstance(persisted_query, dict):
        raise BadDocumentRequest("extensions.persistedQuery must be an object")
    if persisted_query.get("version") != APQ_VERSION:
        raise BadDocumentRequest("Unsupported persisted query version")
    hash_ = persisted_query.get("sha256Hash")
    if not isinstance(hash_, str) or not SHA256_HEX.fullmatch(hash_):
        raise BadDocumentRequest(
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits"
        )
    return hash_.lower()
