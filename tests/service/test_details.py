"""Sealing session details at rest: what a sealed value reveals and when it opens."""

from __future__ import annotations

import base64
import json
import os

import pytest

from service.crypto import MasterKey
from service.details import KEY_ID, KEY_INFO, DetailsCipher, UnreadableDetails

DETAILS = {"username": "zebra-ünï", "email": "alice.at-rest@example.com", "n": [1, 2.5]}
PLAIN = json.dumps(DETAILS, separators=(",", ":"), ensure_ascii=False)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey(os.urandom(32))


@pytest.fixture
def cipher(master: MasterKey) -> DetailsCipher:
    return DetailsCipher.for_master(master)


def flip(sealed: str, index: int) -> str:
    blob = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    blob[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()


def relabel(sealed: str) -> str:
    blob = bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))
    blob[0] = KEY_ID
    return base64.urlsafe_b64encode(bytes(blob)).rstrip(b"=").decode()


def test_seal_then_open_round_trips(cipher: DetailsCipher) -> None:
    sealed = cipher.seal("sess-1", PLAIN)

    assert cipher.open("sess-1", sealed) == DETAILS


def test_seal_reveals_nothing_and_never_repeats(cipher: DetailsCipher) -> None:
    first, second = cipher.seal("sess-1", PLAIN), cipher.seal("sess-1", PLAIN)

    assert first != second  # a fresh nonce each time
    for sealed in (first, second):
        assert not DetailsCipher.is_plain(sealed)
        decoded = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        for value in ("zebra", "alice.at-rest", "example.com"):
            assert value not in sealed
            assert value.encode() not in decoded
        assert decoded[0] == KEY_ID


def test_open_sealed_for_another_session_fails(cipher: DetailsCipher) -> None:
    sealed = cipher.seal("sess-1", PLAIN)

    with pytest.raises(UnreadableDetails):
        cipher.open("sess-2", sealed)


@pytest.mark.parametrize("index", [1, 12, 13, -1])  # nonce, its last byte, ciphertext, tag
def test_open_tampered_fails(cipher: DetailsCipher, index: int) -> None:
    sealed = cipher.seal("sess-1", PLAIN)

    with pytest.raises(UnreadableDetails):
        cipher.open("sess-1", flip(sealed, index))


@pytest.mark.parametrize("stored", ["", "A", "!!not base64!!", "AQ", "Ag" + "A" * 60])
def test_open_garbage_fails(cipher: DetailsCipher, stored: str) -> None:
    with pytest.raises(UnreadableDetails):
        cipher.open("sess-1", stored)


def test_open_with_another_master_key_fails(cipher: DetailsCipher) -> None:
    other = DetailsCipher.for_master(MasterKey(os.urandom(32)))

    with pytest.raises(UnreadableDetails):
        other.open("sess-1", cipher.seal("sess-1", PLAIN))


def test_open_plain_details_stored_before_sealing(cipher: DetailsCipher) -> None:
    assert DetailsCipher.is_plain(PLAIN)
    assert cipher.open("any", PLAIN) == DETAILS


def test_key_ids_let_a_new_key_seal_while_the_old_one_still_opens(master: MasterKey) -> None:
    old_key, new_key = master.derive(KEY_INFO), os.urandom(32)
    before = DetailsCipher({KEY_ID: old_key}, KEY_ID).seal("sess-1", PLAIN)
    rekeyed = DetailsCipher({KEY_ID: old_key, 2: new_key}, 2)

    after = rekeyed.seal("sess-1", PLAIN)

    assert base64.urlsafe_b64decode(after + "=" * (-len(after) % 4))[0] == 2
    assert rekeyed.open("sess-1", before) == rekeyed.open("sess-1", after) == DETAILS
    with pytest.raises(UnreadableDetails):
        DetailsCipher({KEY_ID: old_key}, KEY_ID).open("sess-1", after)
    # The key id is bound too: relabelled as key 1, the blob does not open under the
    # very key that sealed it.
    with pytest.raises(UnreadableDetails):
        DetailsCipher({KEY_ID: new_key}, KEY_ID).open("sess-1", relabel(after))


def test_repr_hides_the_keys(master: MasterKey, cipher: DetailsCipher) -> None:
    key = master.derive(KEY_INFO)

    for text in (repr(cipher), str(cipher)):
        assert key.hex() not in text
        assert repr(key) not in text
        assert base64.b64encode(key).decode() not in text
