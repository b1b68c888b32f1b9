"""Creating and verifying sessions."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from service import refresh, tokens
from service.catalog import (
    Catalog,
    access_seconds,
    refresh_seconds,
    validate_details,
)
from service.clock import Clock
from service.errors import InvalidInput, SelectorUnresolved
from service.keyring import KeyRings
from service.validation import MAX_USER_ID_LENGTH
from store import NewSession, SessionConfigRecord, SessionRecord, Store

# Tolerated clock skew between instances when checking ``iat``.
IAT_LEEWAY_SECONDS = 60


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
    """Outcome of ``verify``. ``reason`` is set exactly when ``valid`` is false."""

    valid: bool
    reason: str | None = None
    session: SessionRecord | None = None
    expires_at: float | None = None

    @property
    def details(self) -> Any:
        return None if self.session is None else json.loads(self.session.details)


def resolve_identifier(selector: str, user_id: str, details: dict[str, Any]) -> str:
    """The value the config's selector points at, as a string."""
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
    return str(value)


class Sessions:
    def __init__(
        self,
        store: Store,
        catalog: Catalog,
        keyrings: KeyRings,
        clock: Clock,
        *,
        refresh_key: bytes,
        max_details_bytes: int,
        max_token_length: int,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._keyrings = keyrings
        self._clock = clock
        self._refresh_key = refresh_key
        self._max_details_bytes = max_details_bytes
        self._max_token_length = max_token_length

    def __repr__(self) -> str:
        return "Sessions(<hidden>)"

    async def create(
        self, product: str, env: str, tag: str, user_id: str, details: Any
    ) -> IssuedTokens:
        """Start a session; the tokens are returned only after the row is committed."""
        if not user_id.strip():
            raise InvalidInput("data.userId must not be empty", field="data.userId")
        if len(user_id) > MAX_USER_ID_LENGTH:
            raise InvalidInput(
                f"data.userId may be at most {MAX_USER_ID_LENGTH} characters",
                field="data.userId",
            )
        if details is None:
            details = {}
        if not isinstance(details, dict):
            raise InvalidInput("data.details must be an object", field="data.details")
        details_json = json.dumps(details, separators=(",", ":"), ensure_ascii=False)
        if len(details_json.encode()) > self._max_details_bytes:
            raise InvalidInput(
                f"data.details may be at most {self._max_details_bytes} bytes serialized",
                field="data.details",
            )
        product_rec, config = await self._catalog.resolve_for_create(product, env, tag)
        validate_details(config, details)
        identifier = resolve_identifier(config.selector, user_id, details)

        now = self._clock.now()
        iat = int(now)
        exp = iat + access_seconds(config)
        refresh_expires_at = float(iat + refresh_seconds(config))
        session_id = secrets.token_urlsafe(16)
        salt = os.urandom(refresh.SALT_BYTES)
        refresh_token = refresh.derive(self._refresh_key, session_id, 0, salt)
        kid, key = await self._keyrings.for_minting(product_rec.id, env)

        await self._store.insert_session(
            NewSession(
                id=session_id,
                product_id=product_rec.id,
                env=env,
                config_id=config.id,
                identifier=identifier,
                user_id=user_id,
                details=details_json,
                started_at=now,
                expires_at=float(exp),
                refresh_expires_at=refresh_expires_at,
                refresh_hash=refresh.secret_hash(refresh_token),
                refresh_salt=salt,
            )
        )
        token = self._mint(product, env, config, kid, key, session_id, user_id, details, iat, exp)
        return IssuedTokens(
            token=token,
            refresh_token=str(refresh_token),
            session_id=session_id,
            expires_at=float(exp),
            refresh_expires_at=refresh_expires_at,
        )

    def _mint(
        self,
        product: str,
        env: str,
        config: SessionConfigRecord,
        kid: str,
        key: Any,
        session_id: str,
        user_id: str,
        details: dict[str, Any],
        iat: int,
        exp: int,
    ) -> str:
        claims = {
            "iss": tokens.ISSUER,
            "aud": f"{product}:{env}",
            "sub": user_id,
            "sid": session_id,
            "tag": config.tag,
            "typ": tokens.TOKEN_TYPE,
            "iat": iat,
            "exp": exp,
            "details": details,
        }
        return tokens.encode(config.tag, kid, key, claims)

    async def verify(self, product: str, env: str, tag: str, token: str) -> Verification:
        """Decrypt and check a session token. Never raises for a bad token."""
        try:
            return await self._verify(product, env, tag, token)
        except tokens.BadToken as bad:
            return Verification(valid=False, reason=bad.reason)

    async def _verify(self, product: str, env: str, tag: str, token: str) -> Verification:
        token_tag, compact = tokens.split(token, self._max_token_length)
        if token_tag != tag:
            raise tokens.BadToken("WRONG_SESSION")
        resolved = await self._catalog.resolve_existing(product, env, tag)
        if resolved is None:
            raise tokens.BadToken("WRONG_SESSION")
        product_rec, config = resolved
        ring = await self._keyrings.for_verify(product_rec.id, env)
        if ring is None:
            raise tokens.BadToken("INVALID")
        claims = tokens.decrypt(compact, ring)

        now = self._clock.now()
        iat, exp, sid = claims.get("iat"), claims.get("exp"), claims.get("sid")
        if (
            claims.get("typ") != tokens.TOKEN_TYPE
            or claims.get("iss") != tokens.ISSUER
            or not isinstance(sid, str)
            or not isinstance(iat, int)
            or not isinstance(exp, int)
            or iat > now + IAT_LEEWAY_SECONDS
            or exp <= iat
        ):
            raise tokens.BadToken("INVALID")
        if claims.get("aud") != f"{product}:{env}" or claims.get("tag") != tag:
            raise tokens.BadToken("WRONG_SESSION")
        if now >= exp:
            raise tokens.BadToken("EXPIRED")
        session = await self._store.get_session(sid)
        if session is None:
            raise tokens.BadToken("REVOKED")
        if (
            session.product_id != product_rec.id
            or session.env != env
            or session.config_id != config.id
        ):
            raise tokens.BadToken("WRONG_SESSION")
        if session.revoked_at is not None:
            raise tokens.BadToken("REVOKED")
        if now >= session.refresh_expires_at:
            raise tokens.BadToken("EXPIRED")
        return Verification(valid=True, session=session, expires_at=float(exp))
