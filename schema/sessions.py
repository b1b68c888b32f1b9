"""Sessions: creation, verification and their tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.arguments import CONFIG_TAG, ENV, PRODUCT
from schema.edge import CREDENTIAL
from schema.engine import described_enum
from schema.errors import InvalidInputError, NotFoundError, SessionError
from schema.inputs import input_type
from schema.scalars import JSON, utc
from service.errors import InvalidInput
from service.sessions import IssuedTokens, SessionPage, Verification
from service.tokens import Reason
from store import SessionRecord


@input_type(description="The user a session is for.")
class SessionDataInput:
    user_id: str = strawberry.field(
        description="Your own id of the user (e.g. `user_123`), up to 256 characters; "
        "returned exactly as given."
    )
    details: JSON = strawberry.field(
        description="Anything about the user your backend wants back on every verification "
        "(e.g. `{email, role}`): a JSON object, finite numbers only, checked against the "
        "config's `schema` if it has one. Encrypted in the token and at rest."
    )


@input_type(description="A session to start: where it belongs, and for whom.")
class CreateSessionInput:
    product: str = strawberry.field(description=PRODUCT)
    env: str = strawberry.field(description=ENV)
    tag: str = strawberry.field(description=CONFIG_TAG)
    data: SessionDataInput = strawberry.field(description="The user and their details.")


@strawberry.type(description="The tokens of a session just created or refreshed.")
class SessionTokens:
    token: str = strawberry.field(
        description="The session token, `<tag>:<JWE>`: send it with each request your "
        "backend verifies. Lives until `expiresAt` (the config's `expiry`, 1 hour by "
        "default)."
    )
    refresh_token: str = strawberry.field(
        description="The credential for `refreshSession`, single use: keep it secret and "
        "replace it with the one each refresh returns. Works until `refreshExpiresAt`."
    )
    session_id: strawberry.ID = strawberry.field(
        description="The session's id (`Session.id`): give it to `revokeSession` to end the "
        "session."
    )
    expires_at: datetime = strawberry.field(
        description="When `token` stops verifying (`EXPIRED`): refresh before or then."
    )
    refresh_expires_at: datetime = strawberry.field(
        description="The session's absolute end: no refresh extends it."
    )

    @classmethod
    def of(cls, issued: IssuedTokens) -> SessionTokens:
        return cls(
            token=issued.token,
            refresh_token=issued.refresh_token,
            session_id=strawberry.ID(issued.session_id),
            expires_at=utc(issued.expires_at),
            refresh_expires_at=utc(issued.refresh_expires_at),
        )


CreateSessionResult = Annotated[
    SessionTokens | NotFoundError | InvalidInputError,
    strawberry.union(
        "CreateSessionResult",
        description="The new session's tokens, or why none was created (an unknown "
        "product, env or config in production; invalid data).",
    ),
]


@strawberry.type(description="The user a session is for, as given to `createSession`.")
class SessionData:
    user_id: str = strawberry.field(description="Your id of the user, exactly as given.")
    details: JSON | None = strawberry.field(
        description="As given to `createSession`; null in a listing only if the stored copy "
        "cannot be decrypted (the row was altered outside Tessera)."
    )


@strawberry.federation.type(
    keys=["id"],
    description="A session: one sign-in of a user under a session config, from "
    "`createSession` until it is revoked or reaches `refreshExpiresAt`. A federation "
    "entity, by `id`.",
)
class Session:
    id: strawberry.ID = strawberry.field(
        description="The session's opaque id, as in `SessionTokens.sessionId`: the one to "
        "give `revokeSession`."
    )
    identifier: str = strawberry.field(
        description="The value the config's selector picked from the data when the session "
        "started (the `userId` by default, or e.g. the email): what `revokeSession` and "
        "`activeSessions` select by."
    )
    started_at: datetime = strawberry.field(description="When `createSession` made it.")
    expires_at: datetime = strawberry.field(
        description="When its current session token expires (the last one minted)."
    )
    refresh_expires_at: datetime = strawberry.field(
        description="Its absolute end: no refresh works after it."
    )
    last_seen_at: datetime = strawberry.field(
        description="When it was last verified or refreshed, to the minute: written at most "
        "once a minute."
    )
    active: bool = strawberry.field(
        description="False once revoked or past `refreshExpiresAt`; listings show active "
        "sessions only, an entity lookup any."
    )
    data: SessionData = strawberry.field(description="The user it is for, and their details.")

    @classmethod
    def of(cls, record: SessionRecord, details: JSON | None, now: float) -> Session:
        """``details`` is passed in so a caller that already decoded them does not
        decode twice."""
        return cls(
            id=strawberry.ID(record.id),
            identifier=record.identifier,
            started_at=utc(record.started_at),
            expires_at=utc(record.expires_at),
            refresh_expires_at=utc(record.refresh_expires_at),
            last_seen_at=utc(record.last_seen_at),
            active=record.revoked_at is None and now < record.refresh_expires_at,
            data=SessionData(user_id=record.user_id, details=details),
        )


described_enum(
    Reason,
    name="VerificationReason",
    description="Why a token is not valid; deliberately coarse, so a forger learns nothing "
    "more. In every case, treat the caller as signed out of this session.",
    values={
        "MALFORMED": "Not shaped like a session token (`<tag>:<JWE>`) at all, or too long.",
        "INVALID": "Shaped like a token, but it does not decrypt with this product's keys: "
        "forged, altered or foreign.",
        "WRONG_SESSION": "A token of another product, env or tag than the one given (its "
        "`<tag>:` prefix, or the product and env it was minted for, differ).",
        "EXPIRED": "Genuine but past its `expiresAt`: refresh the session for a new one.",
        "REVOKED": "Genuine, but its session was revoked or has ended: the user must sign "
        "in again.",
    },
)


@input_type(description="A session token to check, and the config it must belong to.")
class VerifySessionInput:
    product: str = strawberry.field(description=PRODUCT)
    env: str = strawberry.field(description=ENV)
    tag: str = strawberry.field(description=CONFIG_TAG)
    token: str = strawberry.field(
        metadata=CREDENTIAL, description="The session token, `<tag>:<JWE>`, as received."
    )


def _session(root: SessionVerification) -> Session | None:
    if root.record is None or root.data is None:
        return None
    return Session.of(root.record, root.data.details, root.now)


@strawberry.type(
    description="The verdict on a session token: `valid` with the session's data, or "
    "`valid: false` with a `reason`."
)
class SessionVerification:
    valid: bool = strawberry.field(
        description="Whether the token is genuine, of this config, unexpired and its "
        "session not revoked."
    )
    reason: Reason | None = strawberry.field(description="Why not valid; null when valid.")
    session_id: strawberry.ID | None = strawberry.field(
        description="The token's session (`Session.id`); null when not valid."
    )
    expires_at: datetime | None = strawberry.field(
        description="When the token expires; null when not valid."
    )
    data: SessionData | None = strawberry.field(
        description="The user's data as given to `createSession`; null when not valid."
    )
    session: Session | None = strawberry.field(
        resolver=_session,
        description="The session's bookkeeping (`startedAt`, `lastSeenAt`, ...); null when "
        "not valid. Select it only when needed: every field costs.",
    )
    # Kept for ``session``, which most verifications do not select.
    record: strawberry.Private[SessionRecord | None]
    now: strawberry.Private[float]

    @classmethod
    def of(cls, v: Verification, now: float) -> SessionVerification:
        if not v.valid or v.session is None or v.expires_at is None:
            return cls(
                valid=False,
                reason=v.reason,
                session_id=None,
                expires_at=None,
                data=None,
                record=None,
                now=now,
            )
        return cls(
            valid=True,
            reason=None,
            session_id=strawberry.ID(v.session.id),
            expires_at=utc(v.expires_at),
            data=SessionData(user_id=v.session.user_id, details=v.details),
            record=v.session,
            now=now,
        )


@input_type(description="A refresh token to redeem, and the config it belongs to.")
class RefreshSessionInput:
    product: str = strawberry.field(description=PRODUCT)
    env: str = strawberry.field(description=ENV)
    tag: str = strawberry.field(description=CONFIG_TAG)
    refresh_token: str = strawberry.field(
        metadata=CREDENTIAL,
        description="The latest refresh token of the session (from `createSession` or the "
        "last `refreshSession`).",
    )


RefreshSessionResult = Annotated[
    SessionTokens | SessionError | InvalidInputError,
    strawberry.union(
        "RefreshSessionResult",
        description="The session's new tokens, or why the refresh token cannot be used.",
    ),
]


@input_type(
    one_of=True,
    description="Which sessions to revoke: exactly one of `sessionId` (one session) and "
    "`identifier` (all of a user's).",
)
class RevokeSessionTarget:
    session_id: strawberry.ID | None = strawberry.field(
        description="One session, by its `Session.id` (`SessionTokens.sessionId`)."
    )
    identifier: str | None = strawberry.field(
        description="Every live session of this identifier in the config (`Session."
        "identifier`: the `userId` by default): sign a user out everywhere."
    )


# The deprecated selectors of 0.1.0: `target` replaces them. A value gives target alone
# or what 0.1.0 took, never both (``selected``); once they are removed, ``target`` is
# required and @oneOf says the whole rule.
_USE_TARGET = "Give `target: {sessionId: ...}` or `target: {identifier: ...}` instead."


@input_type(description="Sessions of one config to revoke.")
class RevokeSessionInput:
    product: str = strawberry.field(description=PRODUCT)
    env: str = strawberry.field(description=ENV)
    tag: str = strawberry.field(description=CONFIG_TAG)
    session_id: str | None = strawberry.field(
        default=None,
        deprecation_reason=_USE_TARGET,
        description="One session, by id (0.1.0's form of `target: {sessionId}`).",
    )
    identifier: str | None = strawberry.field(
        default=None,
        deprecation_reason=_USE_TARGET,
        description="Every session of an identifier (0.1.0's form of `target: {identifier}`).",
    )
    target: RevokeSessionTarget | None = strawberry.field(
        default=None,
        description="Which sessions: `{sessionId}` or `{identifier}`. Required while the "
        "deprecated fields are absent.",
    )

    def selected(self) -> tuple[str | None, str | None]:
        """``(session_id, identifier)``, from ``target`` or from the deprecated fields;
        the service refuses any but exactly one of them."""
        if self.target is None:
            return self.session_id, self.identifier
        if self.session_id is not None or self.identifier is not None:
            raise InvalidInput(
                "give target alone: sessionId and identifier beside it are its deprecated form",
                field="target",
            )
        return self.target.session_id, self.target.identifier


@strawberry.type(description="The outcome of a revocation; revoking is idempotent.")
class RevokedSessions:
    count: int = strawberry.field(
        description="Sessions revoked by this call: 0 when they were revoked already (or "
        "there were none)."
    )


RevokeSessionResult = Annotated[
    RevokedSessions | NotFoundError | InvalidInputError,
    strawberry.union(
        "RevokeSessionResult",
        description="How many sessions were revoked, or why the input names none.",
    ),
]


@strawberry.type(description="Where a page of a listing stands (Relay's connection spec).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether more sessions follow: ask again with `after: endCursor`."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, to pass as `after`; null on an empty page."
    )


@strawberry.type(description="One session of a listing, with its place in it.")
class SessionEdge:
    cursor: str = strawberry.field(
        description="Opaque position of this session in the listing, for `after`."
    )
    node: Session = strawberry.field(description="The session.")


@strawberry.type(
    description="A page of live sessions, newest first (a Relay connection), and how many "
    "there are in all."
)
class SessionConnection:
    edges: list[SessionEdge] = strawberry.field(description="This page's sessions, in order.")
    page_info: PageInfo = strawberry.field(description="How to get the next page.")
    total_count: int = strawberry.field(
        description="Live sessions matching the listing in all, every page together."
    )

    @classmethod
    def of(cls, page: SessionPage, now: float) -> SessionConnection:
        edges = [
            SessionEdge(
                cursor=SessionPage.cursor(s.record), node=Session.of(s.record, s.details, now)
            )
            for s in page.sessions
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )
