"""The persisted documents table: client registrations stored once and bounded, trusted
documents stored all or none and never evicted, on both databases."""

from __future__ import annotations

import hashlib

import pytest

from store import Conflict, PersistedDocumentRecord, Store
from tests.store.conftest import OpenStore


def record(body: str, source: str = "apq", at: float = 1000.0) -> PersistedDocumentRecord:
    return PersistedDocumentRecord(hashlib.sha256(body.encode()).hexdigest(), body, source, at)


async def test_registration_stores_a_document_once(store: Store) -> None:
    document = record("{ a }")

    first = await store.register_apq_document(document, keep=10)
    again = await store.register_apq_document(record("{ a }", at=2000.0), keep=10)

    assert (first, again) == (True, False)
    assert await store.get_persisted_document(document.hash) == document


async def test_registration_is_seen_by_another_instance(open_migrated: OpenStore) -> None:
    a, b = await open_migrated(), await open_migrated()
    document = record("{ a }")

    await a.register_apq_document(document, keep=10)

    assert await b.get_persisted_document(document.hash) == document


@pytest.mark.parametrize("same_time", [False, True], ids=["times-differ", "same-time"])
async def test_registration_keeps_the_newest_and_evicts_the_rest(
    store: Store, same_time: bool
) -> None:
    documents = [record(f"{{ a{i} }}", at=1000.0 if same_time else 1000.0 + i) for i in range(6)]

    for document in documents:
        await store.register_apq_document(document, keep=3)

    kept = [await store.get_persisted_document(d.hash) is not None for d in documents]
    assert sum(kept) == 3
    if not same_time:
        assert kept == [False, False, False, True, True, True]


async def test_eviction_spares_trusted_and_builtin_documents(store: Store) -> None:
    trusted = [record("{ t }", "trusted", at=1.0), record("{ b }", "builtin", at=1.0)]
    await store.put_trusted_documents(trusted)

    for i in range(4):
        await store.register_apq_document(record(f"{{ a{i} }}", at=100.0 + i), keep=1)

    assert [await store.get_persisted_document(d.hash) for d in trusted] == trusted
    apq = [await store.get_persisted_document(record(f"{{ a{i} }}").hash) for i in range(4)]
    assert [d is not None for d in apq] == [False, False, False, True]


async def test_trusting_a_registered_document_makes_it_trusted(store: Store) -> None:
    registered = record("{ a }")
    await store.register_apq_document(registered, keep=10)

    await store.put_trusted_documents([record("{ a }", "trusted", at=5.0)])

    stored = await store.get_persisted_document(registered.hash)
    assert stored is not None and stored.source == "trusted"
    # Trusted now, so it no longer counts against (nor is evicted by) the bound.
    await store.register_apq_document(record("{ b }", at=2000.0), keep=0)
    assert await store.get_persisted_document(registered.hash) is not None


async def test_trusted_and_builtin_documents_keep_their_source(store: Store) -> None:
    builtin = record("{ b }", "builtin")
    await store.put_trusted_documents([builtin])

    await store.put_trusted_documents([record("{ b }", "trusted")])
    await store.register_apq_document(record("{ b }"), keep=10)

    assert await store.get_persisted_document(builtin.hash) == builtin


async def test_trusted_documents_are_stored_all_or_none(store: Store) -> None:
    good = record("{ good }", "trusted")
    broken = PersistedDocumentRecord("f" * 64, None, "trusted", 1.0)  # type: ignore[arg-type]

    with pytest.raises(Conflict):
        await store.put_trusted_documents([good, broken])

    assert await store.get_persisted_document(good.hash) is None


async def test_unknown_hash_is_none(store: Store) -> None:
    assert await store.get_persisted_document("0" * 64) is None
    assert await store.get_persisted_document("nul\x00") is None
