"""Key rotation in the store: one transaction demotes the active keys and inserts the new
ones; racing rotations never leave two active keys of an algorithm; retiring erases
material; re-wrapping is conditional."""

from __future__ import annotations

import math
import os
from dataclasses import replace

import pytest

from store import Conflict, KeyRecord, Store
from tests.databases import race_instances
from tests.store.test_sqlite import ENVS, NOW, key_record

SIGNING = "ES256"


def signing_record(product_id: int, kid: str) -> KeyRecord:
    return replace(key_record(product_id, kid=kid), alg=SIGNING)


async def ring_of(store: Store, product_id: int) -> dict[str, KeyRecord]:
    return {k.kid: k for k in await store.list_keys(product_id, "prd")}


async def test_rotate_keys_demotes_active_keys_and_inserts_new_ones(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(key_record(product.id, kid="old-enc"))
    await store.insert_active_key(signing_record(product.id, "old-sig"))
    new = [key_record(product.id, kid="new-enc"), signing_record(product.id, "new-sig")]

    await store.rotate_keys(product.id, "prd", new, NOW + 3600, NOW + 1)

    ring = await ring_of(store, product.id)
    assert {k: (r.state, r.retire_at) for k, r in ring.items()} == {
        "old-enc": ("verify_only", NOW + 3600),
        "old-sig": ("verify_only", NOW + 3600),
        "new-enc": ("active", None),
        "new-sig": ("active", None),
    }
    assert ring["old-enc"].wrapped  # verify-only keys keep their material
    # Other rings are untouched.
    assert await store.list_keys(product.id, "dev") == []


async def test_rotate_keys_retire_previous_retires_every_key_and_erases_it(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(key_record(product.id, kid="k1"))
    await store.rotate_keys(product.id, "prd", [key_record(product.id, kid="k2")], NOW + 60, NOW)

    await store.rotate_keys(product.id, "prd", [key_record(product.id, kid="k3")], None, NOW + 5)

    ring = await ring_of(store, product.id)
    assert {k: r.state for k, r in ring.items()} == {
        "k1": "retired",
        "k2": "retired",
        "k3": "active",
    }
    assert ring["k1"].wrapped == b"" and ring["k2"].wrapped == b""
    assert [k.kid for k in await store.live_keys()] == ["k3"]


async def test_rotate_keys_failed_insert_changes_nothing(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(key_record(product.id, kid="k1"))
    before = await store.list_keys(product.id, "prd")

    # A key whose kid exists already: the insert fails, so the demotion must not stay.
    with pytest.raises(Conflict):
        await store.rotate_keys(
            product.id, "prd", [key_record(product.id, kid="k1")], NOW + 60, NOW
        )

    assert await store.list_keys(product.id, "prd") == before


async def test_rotate_keys_only_active_before_leaves_a_newer_active_key(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(replace(key_record(product.id, kid="fresh"), created_at=NOW))
    before = await store.list_keys(product.id, "prd")

    # The schedule wants to replace keys older than NOW - 10: another instance did.
    with pytest.raises(Conflict):
        await store.rotate_keys(
            product.id,
            "prd",
            [key_record(product.id, kid="late")],
            NOW + 60,
            NOW,
            active_before=NOW - 10,
        )

    assert await store.list_keys(product.id, "prd") == before
    assert await store.rings_active_since_before(NOW - 10) == []
    assert await store.rings_active_since_before(NOW + 1) == [(product.id, "prd")]


async def test_rotate_keys_concurrent_instances_leave_one_active_key_per_algorithm(
    store: Store, database_url: str
) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(key_record(product.id, kid="k0"))
    racers = 4

    async def rotate(instance: Store, i: int) -> bool:
        keys = [key_record(product.id, kid=f"enc-{i}"), signing_record(product.id, f"sig-{i}")]
        try:
            await instance.rotate_keys(
                product.id, "prd", keys, NOW + 60, NOW, active_before=math.inf
            )
        except Conflict:
            return False
        return True

    won = race_instances(database_url, racers, rotate)

    ring = list((await ring_of(store, product.id)).values())
    active = [k for k in ring if k.state == "active"]
    assert sorted(k.alg for k in active) == ["ES256", "dir+A256GCM"]
    # The winners' keys are all there, the losers' none: each rotation all or nothing.
    assert sum(won) >= 1
    assert len(ring) == 1 + 2 * sum(won)


async def test_retire_expired_keys_retires_only_verify_only_keys_due(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(key_record(product.id, kid="k1"))
    await store.rotate_keys(product.id, "prd", [key_record(product.id, kid="k2")], NOW + 60, NOW)
    await store.rotate_keys(product.id, "prd", [key_record(product.id, kid="k3")], NOW + 90, NOW)

    assert await store.retire_expired_keys(NOW + 59) == 0
    assert await store.retire_expired_keys(NOW + 60) == 1
    assert await store.retire_expired_keys(NOW + 60) == 0

    ring = await ring_of(store, product.id)
    assert {k: r.state for k, r in ring.items()} == {
        "k1": "retired",
        "k2": "verify_only",
        "k3": "active",
    }
    assert ring["k1"].wrapped == b""


async def test_rewrap_keys_replaces_only_unchanged_material(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    k1 = await store.insert_active_key(key_record(product.id, kid="k1"))
    new = os.urandom(60)

    await store.rewrap_keys([("k1", b"not what is stored", os.urandom(60))])
    assert (await ring_of(store, product.id))["k1"].wrapped == k1.wrapped

    await store.rewrap_keys([("k1", k1.wrapped, new)])
    assert (await ring_of(store, product.id))["k1"].wrapped == new


async def test_replace_meta_is_conditional(store: Store) -> None:
    await store.put_meta_if_absent("k", "v1")

    assert not await store.replace_meta("k", "other", "v2")
    assert await store.replace_meta("k", "v1", "v2")
    assert await store.get_meta("k") == "v2"


async def test_retiring_keys_is_announced_only_when_a_key_retired(store: Store) -> None:
    product = await store.insert_product("my-app", "My App", ENVS, NOW)
    await store.insert_active_key(key_record(product.id, kid="k1"))
    await store.rotate_keys(product.id, "prd", [key_record(product.id, kid="k2")], NOW + 60, NOW)
    heard: list[int | None] = []
    await store.subscribe(heard.append)
    before = await store.change_version()

    def versions() -> list[int]:
        # None: PostgreSQL's listener (re)connected, which says nothing of a change.
        return [v for v in heard if v is not None]

    assert await store.retire_expired_keys(NOW + 59) == 0
    assert versions() == [] and await store.change_version() == before
    assert await store.retire_expired_keys(NOW + 60) == 1
    assert await store.change_version() == before + 1
    assert before + 1 in versions()
