"""The service's exception hierarchy and the codes of every error Tessera reports.

Every expected failure is a :class:`TesseraError` carrying a stable ``code``; the GraphQL
layer maps these classes to typed results in exactly one place. Messages never contain
secrets (tokens, refresh tokens, keys).

Each enumeration of codes is defined here once; the GraphQL schema exposes these very
classes, so a code cannot exist on one side only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    """The code of an expected error: a mutation returns it as data (``Error.code``);
    a field without an error union fails with it as a top-level error's
    ``extensions.code``."""

    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    ENV_NOT_FOUND = "ENV_NOT_FOUND"
    SESSION_CONFIG_NOT_FOUND = "SESSION_CONFIG_NOT_FOUND"
    SCHEMA_VALIDATION_FAILED = "SCHEMA_VALIDATION_FAILED"
    SELECTOR_UNRESOLVED = "SELECTOR_UNRESOLVED"
    REFRESH_TOKEN_INVALID = "REFRESH_TOKEN_INVALID"  # noqa: S105 - an error code
    REFRESH_TOKEN_EXPIRED = "REFRESH_TOKEN_EXPIRED"  # noqa: S105 - an error code
    REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"  # noqa: S105 - an error code
    SESSION_REVOKED = "SESSION_REVOKED"
    WRONG_SESSION = "WRONG_SESSION"


class RequestErrorCode(StrEnum):
    """The ``extensions.code`` of a top-level error that refuses a request or an
    operation. The GraphQL layer's own failures use the codes Apollo Server uses, which
    clients and gateways already recognise."""

    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    """The document is not GraphQL."""
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    """The document does not fit the schema, or asks for introspection it may not."""
    BAD_USER_INPUT = "BAD_USER_INPUT"
    """The variables do not fit the operation's variable definitions."""
    BAD_REQUEST = "BAD_REQUEST"
    """A limit on documents, or a request that names no single operation to run."""
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    """No document is stored under the id the request sent: send the query with it
    (Apollo's automatic persisted queries)."""
    PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
    """Persisted documents are off (``TESSERA_TRUSTED_DOCUMENTS=off``): send the query."""
    TRUSTED_DOCUMENT_REQUIRED = "TRUSTED_DOCUMENT_REQUIRED"
    """Only trusted documents, sent by id, run for this caller
    (``TESSERA_TRUSTED_DOCUMENTS=require``)."""
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    """``extensions.retryAfter`` says in how many seconds to try again."""
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    """Anything unexpected; the details are logged, never answered."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input value: a dotted path into the input and what is wrong with it."""

    field: str
    message: str


class TesseraError(Exception):
    """Base of every expected error. ``code`` is part of the public contract; the bases
    below declare which enumeration their codes come from, and only the classes raised
    set one."""

    code: ClassVar[ErrorCode | RequestErrorCode]

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(TesseraError):
    """Something named in the input does not exist."""

    code: ClassVar[ErrorCode] = ErrorCode.NOT_FOUND


class ProductNotFound(NotFound):
    code = ErrorCode.PRODUCT_NOT_FOUND


class EnvNotFound(NotFound):
    code = ErrorCode.ENV_NOT_FOUND


class SessionConfigNotFound(NotFound):
    code = ErrorCode.SESSION_CONFIG_NOT_FOUND


class AlreadyExists(TesseraError):
    code: ClassVar[ErrorCode] = ErrorCode.ALREADY_EXISTS


class InvalidInput(TesseraError):
    """Input that is malformed; ``field_errors`` lists every offending value."""

    code: ClassVar[ErrorCode] = ErrorCode.INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        field_errors: tuple[FieldError, ...] = (),
    ) -> None:
        super().__init__(message, field=field)
        if not field_errors and field is not None:
            field_errors = (FieldError(field, message),)
        self.field_errors = field_errors


class SchemaValidationFailed(InvalidInput):
    """``data.details`` does not satisfy the session config's JSON Schema."""

    code = ErrorCode.SCHEMA_VALIDATION_FAILED


class SelectorUnresolved(InvalidInput):
    """The config's selector points at a value that ``data`` does not contain."""

    code = ErrorCode.SELECTOR_UNRESOLVED


class SessionError(TesseraError):
    """A session operation refused for the session's own state or credential."""

    code: ClassVar[ErrorCode]


class RefreshTokenInvalid(SessionError):
    code = ErrorCode.REFRESH_TOKEN_INVALID


class RefreshTokenExpired(SessionError):
    code = ErrorCode.REFRESH_TOKEN_EXPIRED


class RefreshTokenReused(SessionError):
    """An already-rotated refresh token came back: the session is revoked."""

    code = ErrorCode.REFRESH_TOKEN_REUSED


class SessionRevoked(SessionError):
    code = ErrorCode.SESSION_REVOKED


class WrongSession(SessionError):
    """The credential belongs to another product, env or tag."""

    code = ErrorCode.WRONG_SESSION


class AccessError(TesseraError):
    """Request-level failures: they abort the operation instead of being data."""

    code: ClassVar[RequestErrorCode]


class Unauthenticated(AccessError):
    code = RequestErrorCode.UNAUTHENTICATED


class CredentialEnded(Unauthenticated):
    """A session token that was genuine but has expired or was revoked: a client's
    everyday state before it refreshes, not a failed authentication to count."""


class Forbidden(AccessError):
    code = RequestErrorCode.FORBIDDEN


class RateLimited(AccessError):
    code = RequestErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DocumentRefused(AccessError):
    """The request names no document Tessera may run: refused before any operation."""


class PersistedQueryNotFound(DocumentRefused):
    code = RequestErrorCode.PERSISTED_QUERY_NOT_FOUND


class PersistedQueryNotSupported(DocumentRefused):
    code = RequestErrorCode.PERSISTED_QUERY_NOT_SUPPORTED


class BadDocumentRequest(DocumentRefused):
    """A malformed id, an unknown protocol version, or a query its hash does not match."""

    code = RequestErrorCode.BAD_REQUEST


class TrustedDocumentRequired(DocumentRefused):
    code = RequestErrorCode.TRUSTED_DOCUMENT_REQUIRED


class DocumentsUnavailable(DocumentRefused):
    """The database that holds the persisted documents cannot be read right now."""

    code = RequestErrorCode.SERVICE_UNAVAILABLE


class StartupError(Exception):
    """The service cannot start: ``setting`` names the ``TESSERA_*`` variable to fix,
    ``cause`` what is wrong with it (never a secret's value, never a URL's password)."""

    def __init__(self, setting: str, cause: str) -> None:
        super().__init__(f"{setting}: {cause}")
        self.setting = setting
        self.cause = cause

    def line(self) -> str:
        """The one line a command prints on stderr before it exits with status 2."""
        return f"tessera: cannot start: {self}"
