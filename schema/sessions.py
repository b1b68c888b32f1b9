"""Sessions: creation, verification and their tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.edge import CREDENTIAL
from schema.errors import InvalidInputError, NotFoundError, SessionError
from schema.inputs import input_type
from schema.scalars import JSON, utc
from service.errors import InvalidInput
from service.sessions import IssuedTokens, SessionPage, Verification
from service.tokens import Reason
from store import SessionRecord


@input_type
class SessionDataInput:
    user_id: str
    details: JSON


@input_type
class CreateSessionInput:
    product: str
    env: str
    tag: str
    data: SessionDataInput


@strawberry.type
class SessionTokens:
    token: str = strawberry.field(description="Short-lived session token.")
    refresh_token: str = strawberry.field(description="Long-lived token to refresh the session.")
    session_id: strawberry.ID
    expires_at: datetime
    refresh_expires_at: datetime

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
    SessionTokens | NotFoundError | InvalidInputError, strawberry.union("CreateSessionResult")
]


@strawberry.type
class SessionData:
    user_id: str
    details: JSON | None = strawberry.field(
        description="As given to `createSession`; null in a listing only if the stored copy "
        "cannot be decrypted (the row was altered outside Tessera)."
    )


@strawberry.federation.type(keys=["id"])
class Session:
    id: strawberry.ID
    identifier: str
    started_at: datetime
    expires_at: datetime
    refresh_expires_at: datetime
    last_seen_at: datetime
    active: bool
    data: SessionData

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


strawberry.enum(
    Reason, name="VerificationReason", description="Why a token is not valid; deliberately coarse."
)


@input_type
class VerifySessionInput:
    product: str
    env: str
    tag: str
    token: str = strawberry.field(metadata=CREDENTIAL)


@strawberry.type
class SessionVerification:
    valid: bool
    reason: Reason | None
    session_id: strawberry.ID | None
    expires_at: datetime | None
    data: SessionData | None
    # Kept for ``session``, which most verifications do not select.
    _record: strawberry.Private[SessionRecord | None]
    _now: strawberry.Private[float]

    @strawberry.field
    def session(self) -> Session | None:
        if self._record is None or self.data is None:
            return None
        return Session.of(self._record, self.data.details, self._now)

    @classmethod
    def of(cls, v: Verification, now: float) -> SessionVerification:
        if not v.valid or v.session is None or v.expires_at is None:
            return cls(
                valid=False,
                reason=v.reason,
                session_id=None,
                expires_at=None,
                data=None,
                _record=None,
                _now=now,
            )
        return cls(
            valid=True,
            reason=None,
            session_id=strawberry.ID(v.session.id),
            expires_at=utc(v.expires_at),
            data=SessionData(user_id=v.session.user_id, details=v.details),
            _record=v.session,
            _now=now,
        )


@input_type
class RefreshSessionInput:
    product: str
    env: str
    tag: str
    refresh_token: str = strawberry.field(metadata=CREDENTIAL)


RefreshSessionResult = Annotated[
    SessionTokens | SessionError | InvalidInputError, strawberry.union("RefreshSessionResult")
]


@input_type(one_of=True)
class RevokeSessionTarget:
    session_id: strawberry.ID | None
    identifier: str | None


# The deprecated selectors of 0.1.0: `target` replaces them. A value gives target alone
# or what 0.1.0 took, never both (``selected``); once they are removed, ``target`` is
# required and @oneOf says the whole rule.
_USE_TARGET = "Give `target: {sessionId: ...}` or `target: {identifier: ...}` instead."


@input_type
class RevokeSessionInput:
    product: str
    env: str
    tag: str
    session_id: str | None = strawberry.field(default=None, deprecation_reason=_USE_TARGET)
    identifier: str | None = strawberry.field(default=None, deprecation_reason=_USE_TARGET)
    target: RevokeSessionTarget | None = None

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


@strawberry.type
class RevokedSessions:
    count: int = strawberry.field(description="Sessions revoked by this call.")


RevokeSessionResult = Annotated[
    RevokedSessions | NotFoundError | InvalidInputError, strawberry.union("RevokeSessionResult")
]


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class SessionEdge:
    cursor: str
    node: Session


@strawberry.type
class SessionConnection:
    edges: list[SessionEdge]
    page_info: PageInfo
    total_count: int

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
