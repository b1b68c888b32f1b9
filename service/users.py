"""Session users: the people a product's sessions belong to, one per identifier (the
value a session config's selector picked) in one of its envs.

The store keeps one row per person, written in the transaction of every session create
and refresh, so listing them never scans sessions: first seen is their first session's
start, last seen their latest create or refresh (verification is a read and changes
nothing here), total sessions every session started for them (kept after the sweeper
deletes ended ones). What changes with time alone, their live sessions, is counted when
a row is read, from the sessions index, for the rows of one page only: so revocation
and expiry need no write here. Their latest details are stored sealed, as that
session's own copy, and opened like a listed session's."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from service import cursors
from service.catalog import Catalog
from service.clock import Clock
from service.details import DetailsCipher, UnreadableDetails
from service.errors import EnvNotFound, InvalidInput
from service.sessions import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_TIMESTAMP
from service.validation import MAX_STRING_LENGTH, Kind, string_problem, text
from store import ProductRecord, SessionUserRecord, Store

log = logging.getLogger("tessera.sessions")

# A cursor holds an identifier (up to MAX_STRING_LENGTH characters of up to 4 UTF-8
# bytes each) and a time, base64-encoded: about 1400 characters at most.
MAX_USER_CURSOR_LENGTH = 2000
# The greatest code point: a prefix followed by more of it than any identifier has
# characters sorts after every identifier that starts with the prefix.
_LAST_CHARACTER = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class SessionUser:
    """A person with their latest details opened (``None`` if the stored copy does not
    open: the row was altered outside Tessera)."""

    product: str
    env: str
    record: SessionUserRecord
    details: Any


@dataclass(frozen=True, slots=True)
class SessionUserPage:
    """One page of a keyset-paginated listing of session users."""

    users: list[SessionUser]
    has_next_page: bool

    @staticmethod
    def cursor(user: SessionUserRecord) -> str:
        return cursors.seal([user.last_seen_at, user.identifier])


def parse_cursor(cursor: str) -> tuple[float, str]:
    """The (lastSeenAt, identifier) key a cursor of ``SessionUserPage.cursor`` holds;
    anything else is refused before it reaches the store."""
    value = cursors.open_(cursor, MAX_USER_CURSOR_LENGTH)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) not in (int, float)  # bool is an int
        or not 0 <= value[0] <= MAX_TIMESTAMP  # also refuses NaN and infinities
        or not isinstance(value[1], str)
        or not value[1]
        or string_problem(value[1], Kind.NAME) is not None
    ):
        raise InvalidInput("after is not a cursor from this listing", field="after")
    return float(value[0]), value[1]


def prefix_range(prefix: str) -> tuple[str, str]:
    """The identifiers starting with ``prefix``, as the range ``[prefix, below)``:
    identifiers have at most ``MAX_STRING_LENGTH`` characters, so ``below`` (the prefix
    padded with the greatest code point past that length) exceeds every one of them
    that starts with the prefix, and no other above the prefix. Both databases compare
    them bytewise, in UTF-8, which is code point order."""
    return prefix, prefix + _LAST_CHARACTER * (MAX_STRING_LENGTH + 1 - len(prefix))


class Users:
    def __init__(
        self, store: Store, catalog: Catalog, clock: Clock, *, details_cipher: DetailsCipher
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._clock = clock
        self._details = details_cipher

    def __repr__(self) -> str:
        return "Users(<hidden>)"

    async def list(
        self,
        product: str,
        env: str,
        *,
        tag: str | None = None,
        search: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> SessionUserPage:
        """The people of ``product``'s ``env`` (who used ``tag``, if given; whose
        identifier starts with ``search``, case-sensitively, if given), last seen latest
        first, keyset-paginated."""
        limit = DEFAULT_PAGE_SIZE if first is None else first
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"first must be between 1 and {MAX_PAGE_SIZE}", field="first")
        key = None if after is None else parse_cursor(after)
        if search is not None:
            text(search, "search")
        if tag is None:
            product_rec = await self._product_env(product, env)
            config_id = None
        else:
            product_rec, config = await self._catalog.scope(product, env, tag)
            config_id = config.id
        rows = await self._store.list_session_users(
            product_rec.id,
            env,
            config_id,
            prefix_range(search) if search else None,
            self._clock.now(),
            key,
            limit + 1,
        )
        return SessionUserPage(
            users=[self._user(product, env, row) for row in rows[:limit]],
            has_next_page=len(rows) > limit,
        )

    async def get(self, product: str, env: str, identifier: str) -> SessionUser | None:
        """The person ``identifier`` names in ``product``'s ``env``; ``None`` if Tessera
        never stored a session of theirs."""
        text(identifier, "identifier")
        product_rec = await self._product_env(product, env)
        row = await self._store.get_session_user(product_rec.id, env, identifier, self._clock.now())
        return None if row is None else self._user(product, env, row)

    async def _product_env(self, product: str, env: str) -> ProductRecord:
        product_rec = await self._catalog.product(product)
        if env not in product_rec.envs:
            raise EnvNotFound(f"environment {env!r} does not exist", field="env")
        return product_rec

    def _user(self, product: str, env: str, row: SessionUserRecord) -> SessionUser:
        # As a listed session's: one altered row must not take the listing down.
        try:
            details = self._details.open(row.latest_session_id, row.details)
        except UnreadableDetails:
            log.warning(
                "security: the stored details of session %s's user do not open "
                "(the row was altered outside Tessera)",
                row.latest_session_id,
            )
            details = None
        return SessionUser(product, env, row, details)
