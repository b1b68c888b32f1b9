"""Keys derived from the master key, kept wrapped in the store: the details-at-rest key
and the refresh-token key, and the check value that tells whether a master key is the
database's.

Each data key is derived once (HKDF of the master key the database was created with,
the key every earlier version derived on every start) and stored wrapped by the master
key. From then on it is read, never derived again: a master-key rotation re-wraps it
(``rotate``) and the data it protects — sealed details, refresh tokens already issued —
stays valid, with nothing to re-encrypt."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from service.crypto import MasterKey, UnwrapFailed
from service.errors import StartupError
from store import Store

CHECK_KEY = "master_key_check"
CHECK_AAD = b"tessera:master-key-check"
CHECK_PLAINTEXT = b"tessera master key check v1"


@dataclass(frozen=True, slots=True)
class DataKey:
    """A data key's meta row and the HKDF info it was first derived with."""

    meta_key: str
    info: bytes

    @property
    def aad(self) -> bytes:
        return f"tessera-data-key:{self.meta_key}".encode()


DETAILS = DataKey("details_key", b"tessera session details v1")
REFRESH = DataKey("refresh_key", b"tessera refresh tokens v1")
DATA_KEYS = (DETAILS, REFRESH)


async def database_master(store: Store, master: MasterKey, setting: str) -> MasterKey:
    """The master key this database's check value opens with: ``master`` itself, or its
    previous key while a rotation is under way. A key that opens neither is refused
    rather than minting with new keys and orphaning every issued token. ``setting``:
    where the key came from."""
    candidate = base64.b64encode(master.wrap(CHECK_PLAINTEXT, CHECK_AAD)).decode()
    stored = base64.b64decode(await store.put_meta_if_absent(CHECK_KEY, candidate))
    try:
        master.unwrap(stored, CHECK_AAD)
    except UnwrapFailed:
        raise StartupError(
            setting, "the master key does not match the one this database was created with"
        ) from None
    if master.previous is not None and master.rewrap(stored, CHECK_AAD) is not None:
        return master.previous
    return master


async def load(store: Store, master: MasterKey, origin: MasterKey, key: DataKey) -> bytes:
    """The data key ``key``, stored (wrapped by ``master``) the first time, derived from
    ``origin``, the database's own master key."""
    stored = await store.get_meta(key.meta_key)
    if stored is None:
        # Every instance derives the same key, so whichever stores first stores it.
        candidate = base64.b64encode(master.wrap(origin.derive(key.info), key.aad)).decode()
        stored = await store.put_meta_if_absent(key.meta_key, candidate)
    try:
        return master.unwrap(base64.b64decode(stored), key.aad)
    except UnwrapFailed:
        raise StartupError(
            "TESSERA_MASTER_KEY", f"the stored {key.meta_key} does not open with the master key"
        ) from None


async def rotate(store: Store, master: MasterKey) -> int:
    """Re-wrap the data keys, then the check value, under ``master``'s current key; the
    number re-wrapped. The check value goes last: until it moves, an instance that only
    has the previous key still starts."""
    rewrapped = 0
    for meta_key, aad in [*((k.meta_key, k.aad) for k in DATA_KEYS), (CHECK_KEY, CHECK_AAD)]:
        stored = await store.get_meta(meta_key)
        if stored is None:
            continue
        new = master.rewrap(base64.b64decode(stored), aad)
        if new is not None and await store.replace_meta(
            meta_key, stored, base64.b64encode(new).decode()
        ):
            rewrapped += 1
    return rewrapped
