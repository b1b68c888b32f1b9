"""What changes rarely, kept in memory: products, session configs and API keys, which
every request reads and only administrators change.

Exact within a process: the store announces every change made through it before the
call making it returns, and the announcement drops the whole cache. Across instances
within ``recheck_seconds`` (1 s by default): on PostgreSQL each instance is notified of
another's change as it commits; and in case a notification is lost (or on SQLite, where
several processes may share one file) the first lookup once ``recheck_seconds`` have
passed reads the store's change version and drops everything if it moved. Changes are
rare, so dropping everything costs little: the next requests read again what they need.

A read of the store that was under way when a change was announced may have read what
the change replaced: each drop starts a new generation, and only what was read within
the current one is kept. Concurrent lookups of one missing entry share one read (after a
drop, a busy instance reads each entry once, not once per request under way), but never
one begun in an earlier generation.

What does not exist is remembered too, so a client naming a missing product request
after request costs one read, in a smaller LRU of its own, so that missing names cannot
push out existing ones.

Session rows are never cached: a revoked session is refused on the very next verify."""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from service.clock import Clock
from store import ApiKeyRecord, ProductRecord, SessionConfigRecord, Store

T = TypeVar("T")
Key = tuple[object, ...]

DEFAULT_RECHECK_SECONDS = 1.0
# Products, configs and keys are few; these bound memory whatever the clients send.
MAX_FOUND = 4096
MAX_ABSENT = 1024
_MISSING: Final[Any] = object()


class Cache:
    """Products (by tag and by id), session configs (by product id and tag) and API
    keys (by hash), as the store last had them, and which of them do not exist."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        recheck_seconds: float = DEFAULT_RECHECK_SECONDS,
        max_found: int = MAX_FOUND,
        max_absent: int = MAX_ABSENT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._recheck_seconds = recheck_seconds
        self._max_found = max_found
        self._max_absent = max_absent
        self._found: OrderedDict[Key, Any] = OrderedDict()
        self._absent: OrderedDict[Key, None] = OrderedDict()
        # Reads under way, begun in the current generation.
        self._loading: dict[Key, asyncio.Task[Any]] = {}
        self._generation = 0
        # The change version everything kept reflects at least; None: not known.
        self._version: int | None = None
        self._next_check = -math.inf
        self._subscribed = False
        self._on_drop: tuple[Callable[[], None], ...] = ()

    def __repr__(self) -> str:
        return f"Cache(found={len(self._found)}, absent={len(self._absent)})"

    # Lookups -------------------------------------------------------------------------
    async def product(self, tag: str) -> ProductRecord | None:
        """The product with ``tag``, or ``None``."""
        return await self._get(("product", tag), self._store.get_product, tag)

    async def product_by_id(self, product_id: int) -> ProductRecord | None:
        """The product with ``product_id``, or ``None``."""
        return await self._get(
            ("product_id", product_id), self._store.get_product_by_id, product_id
        )

    async def config(self, product_id: int, tag: str) -> SessionConfigRecord | None:
        """The product's session config with ``tag``, or ``None``."""
        return await self._get(("config", product_id, tag), self._store.get_config, product_id, tag)

    async def api_key(self, key_hash: bytes) -> ApiKeyRecord | None:
        """The API key with ``key_hash``, revoked or not, or ``None``."""
        return await self._get(("api_key", key_hash), self._store.get_api_key_by_hash, key_hash)

    def replace_api_key(self, old: ApiKeyRecord, new: ApiKeyRecord) -> bool:
        """Keep ``new``, a later state of the same key (e.g. its ``last_used_at``), in
        place of ``old`` if ``old`` is what is kept; whether it was."""
        key = ("api_key", old.key_hash)
        if self._found.get(key) is not old:
            return False
        self._found[key] = new
        return True

    def holds_other_api_key(self, record: ApiKeyRecord) -> bool:
        """Whether a copy of ``record``'s key other than ``record`` itself is kept: a
        later state of it (another request marked it used, or it changed)."""
        kept = self._found.get(("api_key", record.key_hash))
        return kept is not None and kept is not record

    async def _get(
        self, key: Key, load: Callable[..., Awaitable[T | None]], *args: Any
    ) -> T | None:
        if self._clock.monotonic() >= self._next_check:
            await self._recheck()
        found = self._found.get(key, _MISSING)
        if found is not _MISSING:
            self._found.move_to_end(key)
            value: T = found
            return value
        if key in self._absent:
            return None
        loading = self._loading.get(key)
        if loading is None:
            # A task of its own: a caller that is cancelled does not fail the others.
            loading = asyncio.get_running_loop().create_task(self._load(key, load, args))
            loading.add_done_callback(_retrieve)
            self._loading[key] = loading
        loaded: T | None = await asyncio.shield(loading)
        return loaded

    async def _load(
        self, key: Key, load: Callable[..., Awaitable[T | None]], args: Any
    ) -> T | None:
        generation, loading = self._generation, self._loading
        try:
            loaded = await load(*args)
        finally:
            if loading.get(key) is asyncio.current_task():
                del loading[key]
        if generation == self._generation:
            self._keep(key, loaded)
        return loaded

    def _keep(self, key: Key, value: object) -> None:
        if value is None:
            self._absent[key] = None
            if len(self._absent) > self._max_absent:
                self._absent.popitem(last=False)
        else:
            self._found[key] = value
            if len(self._found) > self._max_found:
                self._found.popitem(last=False)

    # Invalidation --------------------------------------------------------------------
    async def _recheck(self) -> None:
        """Read the change version, dropping everything if it moved. Other lookups
        meanwhile go on with what is kept rather than wait."""
        self._next_check = self._clock.monotonic() + self._recheck_seconds
        if not self._subscribed:
            # Before anything is kept: from then on every change is heard of.
            self._subscribed = True
            await self._store.subscribe(self.changed)
        try:
            version = await self._store.change_version()
        except BaseException:
            self._next_check = -math.inf  # the next lookup tries again
            raise
        self.changed(version)

    def changed(self, version: int | None) -> None:
        """The store's change version is ``version`` (``None``: not known): drop
        everything unless it is the version already reflected."""
        if version is None or version != self._version:
            self.drop()
            self._version = version

    def on_drop(self, forget: Callable[[], None]) -> None:
        """Call ``forget`` whenever everything is dropped: what else is kept in memory
        and follows the same change version (the unwrapped key rings)."""
        self._on_drop = (*self._on_drop, forget)

    def drop(self) -> None:
        """Forget everything, including what reads under way would keep."""
        for forget in self._on_drop:
            forget()
        self._generation += 1
        self._found.clear()
        self._absent.clear()
        self._loading = {}
        self._version = None


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a read's failure as seen: each caller waiting for it got it raised, and a
    read nobody waits for any more must not be logged as an unhandled error."""
    if not task.cancelled():
        task.exception()
