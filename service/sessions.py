"""Creating and verifying sessions."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import ECKey

from service import cursors, metrics, refresh, tokens
from service.catalog import (
    Catalog,
    TokenFormat,
    access_seconds,
    refresh_seconds,
    validate_details,
)
from service.clock import Clock
from service.counters import VALID, VerificationCounts
from service.crypto import constant_time_equal
from service.details import PLAIN_PREFIX, DetailsCipher, UnreadableDetails
from service.errors import (
    EnvNotFound,
    InvalidInput,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SelectorUnresolved,
    SessionRevoked,
    WrongSession,
)
from service.events import SYSTEM, EventType, Origin, RevocationCause, event
from service.keyring import ENCRYPTION, SIGNING, KeyRings, RingKey
from service.refresh import RefreshToken
from service.validation import MAX_USER_ID_LENGTH, SLUG, Kind, require, text
from store import Conflict, NewSession, ProductRecord, SessionConfigRecord, SessionRecord, Store

log = logging.getLogger("tessera.sessions")

# Tolerated clock skew between instances when checking ``iat``.
IAT_LEEWAY_SECONDS = 60
# lastSeenAt is written at most this often per session, so verification stays a read.
LAST_SEEN_INTERVAL_SECONDS = 60.0
# Claims from a decrypted token are still checked for shape before they reach the store.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TIMESTAMP = 2**40
# A cursor of ours is about 50 characters.
MAX_CURSOR_LENGTH = 128
# Nesting deeper than this in data.details is refused (it would also exhaust recursion).
MAX_DETAILS_DEPTH = 32
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Metadata key recording that rows stored before details were sealed have been sealed.
SEALED_META_KEY = "session_details_sealed"


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    token: str
    refresh_token: str
    session_id: str
    expires_at: float
    refresh_expires_at: float

    def __repr__(self) -> str:
        return f"IssuedTokens(session_id={self.session_id!r}, token=<hidden>)"


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of ``verify``. ``reason`` is set exactly when ``valid`` is false.

    ``details`` come from the token, which carries them: verifying never opens the
    sealed copy in the row (``session.details``)."""

    valid: bool
    reason: tokens.Reason | None = None
    session: SessionRecord | None = None
    expires_at: float | None = None
    details: Any = None
    # The verified token's claims (``iss``, ``aud``, ``sub``, ``iat``...), for RFC 7662
    # introspection, which answers with them.
    claims: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ListedSession:
    """A session row with its details opened; ``details`` is ``None`` when the stored
    copy does not open (the row was altered outside Tessera)."""

    record: SessionRecord
    details: Any


@dataclass(frozen=True, slots=True)
class SessionOwner:
    """Whose a session is: the user ``identifier`` names in ``product``'s ``env``, and
    the session config (``tag``) it was minted under. An identifier alone names nobody:
    it is the selector's value, so the same one (a user id, an email) can be a user of
    several products and envs."""

    product: str
    env: str
    tag: str
    identifier: str


@dataclass(frozen=True, slots=True)
class SessionPage:
    """One page of a keyset-paginated session listing."""

    sessions: list[ListedSession]
    has_next_page: bool
    total_count: int

    @staticmethod
    def cursor(session: SessionRecord) -> str:
        return cursors.seal([session.started_at, session.id])


def _parse_cursor(cursor: str) -> tuple[float, str]:
    """The (startedAt, id) key a cursor of ``SessionPage.cursor`` holds. Anything else —
    not base64, not JSON, another shape, a number out of range, an id that is not one of
    ours — is refused before it reaches the store."""
    value = cursors.open_(cursor, MAX_CURSOR_LENGTH)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) not in (int, float)  # bool is an int
        or not 0 <= value[0] <= MAX_TIMESTAMP  # also refuses NaN and infinities
        or not isinstance(value[1], str)
        or not SESSION_ID.fullmatch(value[1])
    ):
        raise InvalidInput("after is not a cursor from this listing", field="after")
    return float(value[0]), value[1]


def _page_bounds(first: int | None, after: str | None) -> tuple[int, tuple[float, str] | None]:
    """The page size and the key to list after, from a listing's arguments."""
    limit = DEFAULT_PAGE_SIZE if first is None else first
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"first must be between 1 and {MAX_PAGE_SIZE}", field="first")
    return limit, None if after is None else _parse_cursor(after)


def _log_unreadable(session_id: str) -> None:
    log.warning(
        "security: the stored details of session %s do not open "
        "(the row was altered outside Tessera)",
        session_id,
    )


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DETAILS_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def resolve_identifier(selector: str, user_id: str, details: dict[str, Any]) -> str:
    """The value the config's selector points at, as a string. It is stored and indexed
    as a name, so the edge rule's limits for names apply to it (``data.userId`` has
    passed them already)."""
    path = selector[len("$Session{") : -1]
    if path == "userId":
        return user_id
    value: Any = {"details": details}
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise SelectorUnresolved(f"selector {selector} resolves to nothing", field="data")
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise SelectorUnresolved(
            f"selector {selector} must resolve to a non-empty string or number", field="data"
        )
    return require(str(value), Kind.NAME, f"data.{path}")


def _algorithm(config: SessionConfigRecord) -> str:
    """The ring algorithm that mints the config's tokens."""
    return SIGNING if config.token_format == TokenFormat.SIGNED else ENCRYPTION


class Sessions:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        keyrings: KeyRings,
        clock: Clock,
        *,
        refresh_key: bytes,
        details_cipher: DetailsCipher,
        max_details_bytes: int,
        max_token_length: int,
        refresh_grace_seconds: int,
        issuer_base: str = "http://127.0.0.1:8000",
        counts: VerificationCounts | None = None,
    ) -> None:
        self._issuer_base = issuer_base
        self._counts = counts
        self._store = store
        self._catalog = catalog
        self._keyrings = keyrings
        self._clock = clock
        self._refresh_key = refresh_key
        self._details = details_cipher
        self._max_details_bytes = max_details_bytes
        self._max_token_length = max_token_length
        self._grace = refresh_grace_seconds

    def __repr__(self) -> str:
        return "Sessions(<hidden>)"

    async def create(
        self,
        product: str,
        env: str,
        tag: str,
        user_id: str,
        details: Any,
        *,
        origin: Origin = SYSTEM,
    ) -> IssuedTokens:
        """Start a session; the tokens are returned only after the row is committed."""
        if not user_id.strip():
            raise InvalidInput("data.userId must not be empty", field="data.userId")
        text(user_id, "data.userId")
        if len(user_id) > MAX_USER_ID_LENGTH:
            raise InvalidInput(
                f"data.userId may be at most {MAX_USER_ID_LENGTH} characters",
                field="data.userId",
            )
        if details is None:
            details = {}
        if not isinstance(details, dict):
            raise InvalidInput("data.details must be an object", field="data.details")
        if _depth(details) > MAX_DETAILS_DEPTH:
            raise InvalidInput(
                f"data.details may nest at most {MAX_DETAILS_DEPTH} levels", field="data.details"
            )
        details_json = text(
            json.dumps(details, separators=(",", ":"), ensure_ascii=False), "data.details"
        )
        if len(details_json.encode()) > self._max_details_bytes:
            raise InvalidInput(
                f"data.details may be at most {self._max_details_bytes} bytes serialized",
                field="data.details",
            )
        start = (product, env, tag, user_id, details, details_json, origin)
        try:
            return await self._start(*start)
        except Conflict:
            # The config (or product) this instance had cached was deleted since, by
            # another instance it has not heard from yet: once more, from the store.
            self._catalog.forget()
            return await self._start(*start)

    async def _start(
        self,
        product: str,
        env: str,
        tag: str,
        user_id: str,
        details: Any,
        details_json: str,
        origin: Origin,
    ) -> IssuedTokens:
        product_rec, config = await self._catalog.resolve_for_create(
            product, env, tag, origin=origin
        )
        validate_details(config, details)
        identifier = text(resolve_identifier(config.selector, user_id, details), "data")

        now = self._clock.now()
        refresh_expires_at = float(int(now) + refresh_seconds(config))
        session_id = secrets.token_urlsafe(16)
        salt = os.urandom(refresh.SALT_BYTES)
        refresh_token = refresh.derive(self._refresh_key, session_id, 0, salt)
        exp = self._access_expiry(config, now, refresh_expires_at)
        key = await self._keyrings.for_minting(
            product_rec.id, env, _algorithm(config), product=product
        )

        created = event(
            EventType.SESSION_CREATED,
            now,
            origin,
            product,
            env,
            config.tag,
            session_id=session_id,
            identifier=identifier,
        )
        await self._store.insert_session(
            NewSession(
                id=session_id,
                product_id=product_rec.id,
                env=env,
                config_id=config.id,
                identifier=identifier,
                user_id=user_id,
                details=self._details.seal(session_id, details_json),
                started_at=now,
                expires_at=float(exp),
                refresh_expires_at=refresh_expires_at,
                refresh_hash=refresh.secret_hash(refresh_token),
                refresh_salt=salt,
            ),
            events=(created,),
        )
        metrics.SESSIONS_CREATED.inc()
        claims = self._claims(product, env, config, session_id, user_id, details, now, exp)
        return IssuedTokens(
            token=self._mint(config, key, claims),
            refresh_token=str(refresh_token),
            session_id=session_id,
            expires_at=float(exp),
            refresh_expires_at=refresh_expires_at,
        )

    @staticmethod
    def _access_expiry(config: SessionConfigRecord, now: float, refresh_expires_at: float) -> int:
        # A session token never outlives its session.
        return min(int(now) + access_seconds(config), int(refresh_expires_at))

    def _claims(
        self,
        product: str,
        env: str,
        config: SessionConfigRecord,
        session_id: str,
        user_id: str,
        details: Any,
        now: float,
        exp: int,
    ) -> dict[str, Any]:
        claims = {
            "iss": tokens.issuer(self._issuer_base, product, env),
            "aud": f"{product}:{env}",
            "sub": user_id,
            "sid": session_id,
            "tag": config.tag,
            "typ": tokens.TOKEN_TYPE,
            "iat": int(now),
            "exp": exp,
            "details": details,
        }
        if config.token_format == TokenFormat.SIGNED and not config.signed_details:
            # Whoever holds a signed token reads it: its details only if the config says.
            del claims["details"]
        return claims

    @staticmethod
    def _mint(config: SessionConfigRecord, key: RingKey, claims: dict[str, Any]) -> str:
        if isinstance(key.key, ECKey):
            return tokens.sign(config.tag, key.kid, key.key, claims)
        return tokens.encode(config.tag, key.kid, key.key, claims)

    async def refresh(
        self,
        product: str,
        env: str,
        tag: str,
        refresh_token: str,
        *,
        on_forgery: Callable[[], None] | None = None,
        origin: Origin = SYSTEM,
    ) -> IssuedTokens:
        """Redeem a refresh token: a new session token and the successor refresh token.

        The current generation rotates with one conditional UPDATE. The previous
        generation, redeemed again within the grace window, gets the same successor
        (it is derived, not drawn); any other earlier generation revokes the session.

        ``on_forgery`` is called before ``RefreshTokenInvalid`` is raised (a made-up or
        tampered refresh token); it may raise instead, e.g. ``RateLimited``."""
        try:
            return await self._refresh(product, env, tag, refresh_token, origin)
        except RefreshTokenInvalid:
            if on_forgery is not None:
                on_forgery()
            raise

    async def _refresh(
        self, product: str, env: str, tag: str, refresh_token: str, origin: Origin
    ) -> IssuedTokens:
        presented = refresh.parse(refresh_token)
        if presented is None:
            raise RefreshTokenInvalid("the refresh token is not valid")
        session = await self._store.get_session(presented.session_id)
        if session is None or presented.generation > session.refresh_generation:
            raise RefreshTokenInvalid("the refresh token is not valid")
        expected = refresh.derive(
            self._refresh_key, session.id, presented.generation, session.refresh_salt
        )
        if not constant_time_equal(expected.secret.encode(), presented.secret.encode()):
            raise RefreshTokenInvalid("the refresh token is not valid")

        resolved = await self._catalog.resolve_existing(product, env, tag)
        if resolved is None or not self._belongs(session, resolved[0], env, resolved[1]):
            raise WrongSession("the refresh token belongs to another product, env or tag")
        product_rec, config = resolved

        now = self._clock.now()
        self._check_alive(session, config, now)
        # Opened before rotating: a row whose details do not open must not spend the
        # refresh token. They never change, so the first read's copy serves every path.
        try:
            details = self._details.open(session.id, session.details)
        except UnreadableDetails:
            _log_unreadable(session.id)
            raise RefreshTokenInvalid("the session's stored details cannot be read") from None
        grace = (
            config.refresh_grace_seconds
            if config.refresh_grace_seconds is not None
            else self._grace
        )
        if presented.generation == session.refresh_generation:
            if not constant_time_equal(refresh.secret_hash(presented), session.refresh_hash):
                raise RefreshTokenInvalid("the refresh token is not valid")
            exp = self._access_expiry(config, now, session.refresh_expires_at)
            successor = refresh.derive(
                self._refresh_key, session.id, presented.generation + 1, session.refresh_salt
            )
            refreshed = event(
                EventType.SESSION_REFRESHED, now, origin, product, env, tag, session_id=session.id
            )
            rotated = await self._store.rotate_refresh(
                session.id,
                presented.generation,
                refresh.secret_hash(successor),
                exp,
                now,
                events=(refreshed,),
            )
            if rotated is not None:
                return await self._issue(
                    product, env, product_rec, config, rotated, details, successor
                )
            # Another redemption won the race (or a revoke landed): judge this one
            # against the state it left behind.
            reread = await self._store.get_session(session.id)
            if reread is None:
                raise RefreshTokenInvalid("the refresh token is not valid")
            session = reread
            self._check_alive(session, config, now)

        if (
            presented.generation == session.refresh_generation - 1
            and session.rotated_at is not None
            and now - session.rotated_at <= grace
        ):
            successor = refresh.derive(
                self._refresh_key, session.id, session.refresh_generation, session.refresh_salt
            )
            return await self._issue(product, env, product_rec, config, session, details, successor)

        theft = (
            event(EventType.REFRESH_REUSED, now, origin, product, env, tag, session_id=session.id),
            event(
                EventType.SESSION_REVOKED,
                now,
                origin,
                product,
                env,
                tag,
                session_id=session.id,
                cause=RevocationCause.THEFT,
            ),
        )
        revoked = await self._store.revoke_session(
            session.id, session.config_id, session.env, now, "refresh_token_reused", events=theft
        )
        if revoked:
            metrics.revoked("refresh_token_reused", revoked)
            log.warning("security: refresh token reuse detected; session %s revoked", session.id)
        raise RefreshTokenReused("the refresh token was already used; the session is revoked")

    @staticmethod
    def _belongs(
        session: SessionRecord, product: ProductRecord, env: str, config: SessionConfigRecord
    ) -> bool:
        return (
            session.product_id == product.id
            and session.env == env
            and session.config_id == config.id
        )

    @staticmethod
    def _check_alive(session: SessionRecord, config: SessionConfigRecord, now: float) -> None:
        if session.revoked_at is not None:
            raise SessionRevoked("the session was revoked")
        if now >= session.refresh_expires_at:
            raise RefreshTokenExpired("the session reached its absolute lifetime")
        if config.idle_timeout is not None and now - session.last_refresh_at > config.idle_timeout:
            raise RefreshTokenExpired("the session was idle for too long")

    async def _issue(
        self,
        product: str,
        env: str,
        product_rec: ProductRecord,
        config: SessionConfigRecord,
        session: SessionRecord,
        details: Any,
        successor: RefreshToken,
    ) -> IssuedTokens:
        now = self._clock.now()
        exp = self._access_expiry(config, now, session.refresh_expires_at)
        key = await self._keyrings.for_minting(
            product_rec.id, env, _algorithm(config), product=product
        )
        claims = self._claims(product, env, config, session.id, session.user_id, details, now, exp)
        metrics.SESSIONS_REFRESHED.inc()
        return IssuedTokens(
            token=self._mint(config, key, claims),
            refresh_token=str(successor),
            session_id=session.id,
            expires_at=float(exp),
            refresh_expires_at=session.refresh_expires_at,
        )

    async def revoke(
        self,
        product: str,
        env: str,
        tag: str,
        *,
        session_id: str | None = None,
        identifier: str | None = None,
        origin: Origin = SYSTEM,
        cause: RevocationCause = RevocationCause.API_KEY,
    ) -> int:
        """Revoke one session, or every live session of an identifier. Idempotent: the
        result counts sessions revoked by this call. ``cause`` is what its events say."""
        if (session_id is None) == (identifier is None):
            raise InvalidInput("give exactly one of sessionId and identifier", field="input")
        if session_id is not None:
            text(session_id, "sessionId")
        if identifier is not None:
            text(identifier, "identifier")
        _, config = await self._catalog.scope(product, env, tag)
        now = self._clock.now()
        revoked = (event(EventType.SESSION_REVOKED, now, origin, product, env, tag, cause=cause),)
        if session_id is not None:
            count = await self._store.revoke_session(
                session_id, config.id, env, now, "revoked", events=revoked
            )
        else:
            assert identifier is not None
            count = await self._store.revoke_identifier(
                config.id, env, identifier, now, "revoked", events=revoked
            )
        metrics.revoked("revoked", count)
        return count

    async def active(
        self,
        product: str,
        env: str,
        tag: str,
        *,
        identifier: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> SessionPage:
        """Live sessions, newest first, keyset-paginated."""
        limit, key = _page_bounds(first, after)
        if identifier is not None:
            text(identifier, "identifier")
        _, config = await self._catalog.scope(product, env, tag)
        now = self._clock.now()
        rows = await self._store.list_sessions(config.id, env, identifier, now, key, limit + 1)
        total = await self._store.count_sessions(config.id, env, identifier, now)
        return self._page(rows, limit, total)

    async def of_user(
        self,
        product: str,
        env: str,
        identifier: str,
        *,
        tag: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> SessionPage:
        """The live sessions of the user ``identifier`` names in ``product``'s ``env``,
        of every session config of the product (or of ``tag``'s only), newest first,
        keyset-paginated as ``active`` (whose cursors they share). One listing per
        config, merged: a product has a handful of configs."""
        limit, key = _page_bounds(first, after)
        text(identifier, "identifier")
        product_rec = await self._catalog.product(product)
        if env not in product_rec.envs:
            raise EnvNotFound(f"environment {env!r} does not exist", field="env")
        now = self._clock.now()
        rows: list[SessionRecord] = []
        total = 0
        for config in await self._store.list_configs(product_rec.id):
            if tag is not None and config.tag != tag:
                continue
            rows += await self._store.list_sessions(config.id, env, identifier, now, key, limit + 1)
            total += await self._store.count_sessions(config.id, env, identifier, now)
        # The stores order by (started_at, id) bytewise, as Python compares them.
        rows.sort(key=lambda row: (row.started_at, row.id), reverse=True)
        return self._page(rows, limit, total)

    def _page(self, rows: list[SessionRecord], limit: int, total: int) -> SessionPage:
        """The page of ``limit`` sessions from ``rows`` (up to one more, newest first)."""
        return SessionPage(
            sessions=[ListedSession(row, self._open_listed(row)) for row in rows[:limit]],
            has_next_page=len(rows) > limit,
            total_count=total,
        )

    async def find(
        self, session_id: str, *, visible: Callable[[SessionOwner], bool]
    ) -> ListedSession | None:
        """The session ``session_id``, live or ended, with its details opened (``None``
        if they do not open), or ``None`` when there is none or ``visible`` refuses its
        owner: the same answer, so a caller who may not see a session cannot tell
        whether it exists. Its details are opened only once it is visible."""
        if not SESSION_ID.fullmatch(session_id):
            return None  # no session has such an id
        record = await self._store.get_session(session_id)
        if record is None:
            return None
        product = await self._store.get_product_by_id(record.product_id)
        configs = [] if product is None else await self._store.list_configs(product.id)
        config = next((c for c in configs if c.id == record.config_id), None)
        if product is None or config is None:
            return None  # deleted meanwhile: the session goes with them
        if not visible(SessionOwner(product.tag, record.env, config.tag, record.identifier)):
            return None
        return ListedSession(record, self._open_listed(record))

    def _open_listed(self, row: SessionRecord) -> Any:
        # One altered row must not take the whole listing down, nor hide a live session
        # from whoever lists sessions to revoke them: it is listed without details.
        try:
            return self._details.open(row.id, row.details)
        except UnreadableDetails:
            _log_unreadable(row.id)
            return None

    async def seal_stored_details(self, batch_size: int = 500) -> int:
        """Seal the details of rows written before details were sealed at rest; the
        number sealed. Done once per database (recorded in its metadata), at start."""
        if await self._store.get_meta(SEALED_META_KEY) is not None:
            return 0
        sealed = 0
        while True:
            rows = await self._store.session_details_with_prefix(PLAIN_PREFIX, batch_size)
            changes = [
                (session_id, plain, self._details.seal(session_id, plain))
                for session_id, plain in rows
            ]
            done = await self._store.replace_session_details(changes) if changes else 0
            sealed += done
            # Rows that changed meanwhile (deleted by a sweeper, sealed by another
            # instance) no longer match: a batch that replaced nothing ends the pass.
            if len(rows) < batch_size or done == 0:
                break
        # Session users' latest details were copied from these rows (migration 5).
        await self._store.seal_session_user_details(PLAIN_PREFIX)
        await self._store.put_meta_if_absent(SEALED_META_KEY, str(self._clock.now()))
        if sealed:
            log.info("sealed the stored details of %d sessions", sealed)
        return sealed

    async def verify(
        self,
        product: str,
        env: str,
        tag: str,
        token: str,
        *,
        on_forgery: Callable[[], None] | None = None,
    ) -> Verification:
        """Decrypt and check a session token. Never raises for a bad token, except
        what ``on_forgery`` raises: it is called when the token is malformed or forged
        (``tokens.FORGERY_REASONS``), never on the hot path of a valid one."""
        try:
            verification = await self._verify(product, env, tag, token)
        except tokens.BadToken as bad:
            metrics.verified(bad.reason)
            if self._counts is not None:
                self._counts.count(product, env, tag, bad.reason.value)
            if on_forgery is not None and bad.reason in tokens.FORGERY_REASONS:
                on_forgery()
            return Verification(valid=False, reason=bad.reason)
        if self._counts is not None:
            self._counts.count(product, env, tag, VALID)
        metrics.verified(None)
        return verification

    async def verify_bearer(
        self, token: str
    ) -> tuple[str, str, str, SessionRecord, Any] | tokens.Reason:
        """``(product, env, tag, session, details)`` of a valid session token presented
        as a bearer (which names no product), else the reason it is not valid, as
        ``verify`` words it."""
        located = await self.locate(token)
        if isinstance(located, tokens.Reason):
            metrics.verified(located)
            return located
        product, env, tag = located
        verification = await self.verify(product, env, tag, token)
        if not verification.valid or verification.session is None:
            return verification.reason or tokens.Reason.INVALID
        return product, env, tag, verification.session, verification.details

    async def revoke_others(
        self,
        product: str,
        env: str,
        tag: str,
        identifier: str,
        keep: str,
        *,
        origin: Origin = SYSTEM,
    ) -> int:
        """Revoke every live session of ``identifier`` except ``keep``."""
        _, config = await self._catalog.scope(product, env, tag)
        now = self._clock.now()
        cause = RevocationCause.LOGOUT_OTHERS
        revoked = (event(EventType.SESSION_REVOKED, now, origin, product, env, tag, cause=cause),)
        count = await self._store.revoke_identifier(
            config.id, env, identifier, now, "logout_others", except_session=keep, events=revoked
        )
        metrics.revoked("logout_others", count)
        return count

    async def _verify(self, product: str, env: str, tag: str, token: str) -> Verification:
        token_tag, compact = tokens.split(token, self._max_token_length)
        if token_tag != tag:
            raise tokens.BadToken(tokens.Reason.WRONG_SESSION)
        # No product/env/tag that is not a slug can exist: no need to look them up.
        if not (SLUG.fullmatch(product) and SLUG.fullmatch(env) and SLUG.fullmatch(tag)):
            raise tokens.BadToken(tokens.Reason.WRONG_SESSION)
        # The token's own ring (found by its kid) decides between INVALID and
        # WRONG_SESSION, so the answer never depends on whether the product, env or
        # tag asked about exists.
        kid = tokens.unverified_kid(compact)
        owner = None if kid is None else await self._keyrings.owner(kid)
        if owner is None:
            raise tokens.BadToken(tokens.Reason.INVALID)
        resolved = await self._catalog.resolve_existing(product, env, tag)
        if resolved is None or (resolved[0].id, env) != owner:
            raise tokens.BadToken(tokens.Reason.WRONG_SESSION)
        product_rec, config = resolved
        assert kid is not None  # an owner was found for it
        ring = await self._keyrings.for_verify(product_rec.id, env, kid)
        if ring is None:
            raise tokens.BadToken(tokens.Reason.INVALID)
        now = self._clock.now()
        # The config decides the format and its algorithm, never the token's header; a
        # key past its retire_at verifies nothing, whatever this instance has heard.
        signed = config.token_format == TokenFormat.SIGNED
        if signed:
            claims = tokens.verify_signed(compact, ring.verifying(SIGNING, now))
        else:
            claims = tokens.decrypt(compact, ring.verifying(ENCRYPTION, now))

        iat, exp, sid = claims.get("iat"), claims.get("exp"), claims.get("sid")
        if (
            claims.get("typ") != tokens.TOKEN_TYPE
            or not tokens.issued_here(claims.get("iss"), product, env)
            or not isinstance(sid, str)
            or not SESSION_ID.fullmatch(sid)
            or not isinstance(iat, int)
            or not isinstance(exp, int)
            or iat > now + IAT_LEEWAY_SECONDS
            or not iat < exp < MAX_TIMESTAMP
        ):
            raise tokens.BadToken(tokens.Reason.INVALID)
        if claims.get("aud") != f"{product}:{env}" or claims.get("tag") != tag:
            raise tokens.BadToken(tokens.Reason.WRONG_SESSION)
        if now >= exp:
            raise tokens.BadToken(tokens.Reason.EXPIRED)
        session = await self._store.get_session(sid)
        if session is None:
            raise tokens.BadToken(tokens.Reason.REVOKED)
        if (
            session.product_id != product_rec.id
            or session.env != env
            or session.config_id != config.id
        ):
            raise tokens.BadToken(tokens.Reason.WRONG_SESSION)
        if session.revoked_at is not None:
            raise tokens.BadToken(tokens.Reason.REVOKED)
        if now >= session.refresh_expires_at:
            raise tokens.BadToken(tokens.Reason.EXPIRED)
        if now - session.last_seen_at >= LAST_SEEN_INTERVAL_SECONDS:
            await self._store.touch_session(session.id, now, LAST_SEEN_INTERVAL_SECONDS)
        details = claims.get("details")
        if signed and "details" not in claims:
            # Kept out of the token: the session's sealed copy is the source.
            details = self._open_listed(session)
        return Verification(
            valid=True, session=session, expires_at=float(exp), details=details, claims=claims
        )

    async def locate(self, token: str) -> tuple[str, str, str] | tokens.Reason:
        """``(product, env, tag)`` a session token names, unverified: its product and env
        are those of the ring its ``kid`` is in, its tag its prefix. What a caller that
        names no product (RFC 7662 introspection, RFC 7009 revocation) checks its scope
        against before ``verify``; the reason it cannot be one of ours otherwise."""
        try:
            tag, compact = tokens.split(token, self._max_token_length)
        except tokens.BadToken as bad:
            return bad.reason
        kid = tokens.unverified_kid(compact)
        owner = None if kid is None else await self._keyrings.owner(kid)
        product = None if owner is None else await self._catalog.product_by_id(owner[0])
        if owner is None or product is None:
            return tokens.Reason.INVALID
        return product.tag, owner[1], tag

    async def refresh_token_holder(self, refresh_token: str) -> tuple[SessionOwner, str] | None:
        """The owner and id of the session a genuine refresh token of any generation
        belongs to (a spent one too: its holder held the session), whatever the
        session's state; ``None`` for a made-up or tampered one. Nothing is rotated."""
        presented = refresh.parse(refresh_token)
        if presented is None:
            return None
        session = await self._store.get_session(presented.session_id)
        if session is None or presented.generation > session.refresh_generation:
            return None
        expected = refresh.derive(
            self._refresh_key, session.id, presented.generation, session.refresh_salt
        )
        if not constant_time_equal(expected.secret.encode(), presented.secret.encode()):
            return None
        product = await self._catalog.product_by_id(session.product_id)
        configs = [] if product is None else await self._store.list_configs(product.id)
        config = next((c for c in configs if c.id == session.config_id), None)
        if product is None or config is None:
            return None  # deleted meanwhile: the session went with them
        return SessionOwner(product.tag, session.env, config.tag, session.identifier), session.id
