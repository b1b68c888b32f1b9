"""OAuth 2.0 token introspection (RFC 7662) and revocation (RFC 7009) of Tessera's
tokens, for a client that authenticates with an API key.

The session token is the access token; the refresh token is a refresh token. Neither
names a product the way a GraphQL input does, so each is first located (a session
token's ``kid`` names its ring, a refresh token's lookup id its session), then checked
against the client's scope as ``verifySession`` and ``revokeSession`` would check the
product and env they name, and only then verified or revoked.

Every answer about a token that is not live and in scope is the same
``{"active": false}`` (introspection) or a plain success that changed nothing
(revocation), whatever the cause, so a client learns nothing about other products'
tokens. Failures count against the rate limits as they do over GraphQL: a credential
that does not authenticate against the client's address, a malformed or forged token
against the client's key."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from service import refresh, tokens
from service.access import Access, Need, Principal, authorize, is_api_key
from service.errors import Forbidden, NotFound, RateLimited, Unauthenticated
from service.events import SYSTEM, Origin
from service.ratelimit import Bucket, RateLimits
from service.sessions import Sessions

security_log = logging.getLogger("tessera.security")

ACCESS_TOKEN_TYPE: Final = "Bearer"  # noqa: S105 - RFC 6749 §7.1's token type, not a secret
"""``token_type`` of an active session token: end users present it as a bearer."""
INACTIVE: Final[dict[str, Any]] = {"active": False}


class InvalidClient(Unauthenticated):
    """The client did not authenticate: RFC 6749's ``invalid_client``."""


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a client authenticates with: an API key as ``secret``, and with HTTP Basic
    the ``client_id`` it claims, which must be that key's id."""

    secret: str
    client_id: str | None = None

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, secret=<hidden>)"


@dataclass(frozen=True, slots=True)
class Scope:
    """Where the token acted on lives, for the audit line: set only for a genuine token
    in the client's scope."""

    product: str | None = None
    env: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Introspected:
    """An RFC 7662 answer: ``members`` is the response body."""

    members: dict[str, Any]
    scope: Scope = Scope()

    @property
    def active(self) -> bool:
        return self.members.get("active") is True


@dataclass(frozen=True, slots=True)
class Revoked:
    """An RFC 7009 answer: how many sessions this call revoked (0 or 1)."""

    count: int
    scope: Scope = Scope()


def in_scope(principal: Principal, product: str, env: str) -> bool:
    """Whether ``principal`` may act on the sessions of ``product``'s ``env``, as it may
    through ``verifySession`` and ``revokeSession``: an admin everywhere, a product key
    in its product (and envs)."""
    try:
        authorize(principal, Need.PRODUCT, product, env)
    except Forbidden:
        return False
    return True


class Introspection:
    def __init__(self, access: Access, sessions: Sessions, rate_limits: RateLimits) -> None:
        self._access = access
        self._sessions = sessions
        self._limits = rate_limits

    def __repr__(self) -> str:
        return "Introspection(<hidden>)"

    async def authenticate(self, credentials: ClientCredentials | None, client: str) -> Principal:
        """The API key (admin or product) the client authenticates with. Anything else
        raises ``InvalidClient``; a credential that was sent but does not authenticate
        counts against ``client``'s (its address's) failed-authentication limit, and
        past that limit raises ``RateLimited`` instead, as over GraphQL."""
        if credentials is None:
            raise InvalidClient("client authentication with an API key is required")
        try:
            return await self._authenticate(credentials)
        except Unauthenticated as exc:
            try:
                self._limits.hit(Bucket.FAILED_AUTH_PER_IP, client)
            except RateLimited:
                security_log.warning(
                    "security: failed authentication from %s, over the limit", client
                )
                raise
            security_log.warning("security: failed authentication from %s: %s", client, exc.message)
            raise InvalidClient("the client credentials are not valid") from None

    async def _authenticate(self, credentials: ClientCredentials) -> Principal:
        # Only an API key is an OAuth client: an end user's session token is not one.
        if not is_api_key(credentials.secret):
            raise Unauthenticated("the client secret is not an API key")
        principal = await self._access.authenticate(credentials.secret)
        assert principal is not None and principal.key_id is not None  # an API key
        # The id is public (``apiKeys`` lists it); the key is the secret. A client_id
        # naming another key must not pass, or audit lines would name the wrong client.
        if credentials.client_id is not None and credentials.client_id != principal.key_id:
            raise Unauthenticated("the client_id is not the id of the key given as secret")
        return principal

    async def introspect(self, principal: Principal, token: str) -> Introspected:
        """RFC 7662: the members of a live session token in ``principal``'s scope, else
        exactly ``{"active": false}``. A refresh token is never active here: it is no
        access credential, and a resource server that checked ``active`` alone would
        otherwise take it for one. The hint is not needed: the formats differ."""
        if self._limits.enabled(Bucket.VERIFY_PER_CREDENTIAL):
            self._limits.hit(Bucket.VERIFY_PER_CREDENTIAL, principal.label)
        if refresh.parse(token) is not None:
            # Not looked up, so no answer depends on it: nothing to count either.
            return Introspected(dict(INACTIVE))
        located = await self._located(principal, token)
        if located is None:
            return Introspected(dict(INACTIVE))
        product, env, tag = located
        verification = await self._sessions.verify(
            product, env, tag, token, on_forgery=self._forgery_counter(principal)
        )
        claims = verification.claims
        if not verification.valid or claims is None:
            return Introspected(dict(INACTIVE))
        members = {
            "active": True,
            "token_type": ACCESS_TOKEN_TYPE,
            "sub": claims["sub"],
            "sid": claims["sid"],
            "iss": claims["iss"],
            "aud": claims["aud"],
            "iat": claims["iat"],
            "exp": claims["exp"],
            "tag": claims["tag"],
        }
        return Introspected(members, Scope(product, env, tag))

    async def revoke(self, principal: Principal, token: str, *, origin: Origin = SYSTEM) -> Revoked:
        """RFC 7009: revoke the whole session of a session token that verifies, or of a
        genuine refresh token of any generation, when it is in ``principal``'s scope.
        Anything else revokes nothing, and answers the same. ``origin`` is who asked,
        for the revocation's events."""
        count_forgery = self._forgery_counter(principal)
        if refresh.parse(token) is not None:
            held = await self._sessions.refresh_token_holder(token)
            if held is None:
                count_forgery()  # as refreshSession counts REFRESH_TOKEN_INVALID
                return Revoked(0)
            owner, session_id = held
            if not in_scope(principal, owner.product, owner.env):
                return Revoked(0)
            return await self._revoke(owner.product, owner.env, owner.tag, session_id, origin)
        located = await self._located(principal, token)
        if located is None:
            return Revoked(0)
        product, env, tag = located
        verification = await self._sessions.verify(
            product, env, tag, token, on_forgery=count_forgery
        )
        if not verification.valid or verification.session is None:
            return Revoked(0)
        return await self._revoke(product, env, tag, verification.session.id, origin)

    async def _revoke(
        self, product: str, env: str, tag: str, session_id: str, origin: Origin
    ) -> Revoked:
        try:
            count = await self._sessions.revoke(
                product, env, tag, session_id=session_id, origin=origin
            )
        except NotFound:  # its config was deleted meanwhile, and the session with it
            return Revoked(0)
        return Revoked(count, Scope(product, env, tag))

    async def _located(self, principal: Principal, token: str) -> tuple[str, str, str] | None:
        """(product, env, tag) of a session token in ``principal``'s scope; ``None``
        otherwise. A token that cannot be ours counts as a forgery, as over
        ``verifySession``; another product's or env's is an everyday answer."""
        located = await self._sessions.locate(token)
        if isinstance(located, tokens.Reason):
            if located in tokens.FORGERY_REASONS:
                self._forgery_counter(principal)()
            return None
        if not in_scope(principal, located[0], located[1]):
            return None
        return located

    def _forgery_counter(self, principal: Principal) -> Callable[[], None]:
        """Counts one malformed or forged token against the client's key (raising
        ``RateLimited`` once it is over), as ``verifySession`` counts them."""

        def count() -> None:
            self._limits.hit(Bucket.FAILED_TOKENS_PER_CREDENTIAL, principal.label)

        return count
