"""The service's exception hierarchy.

Every expected failure is a :class:`TesseraError` carrying a stable ``code``; the GraphQL
layer maps these classes to typed results in exactly one place. Messages never contain
secrets (tokens, refresh tokens, keys)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input value: a dotted path into the input and what is wrong with it."""

    field: str
    message: str


class TesseraError(Exception):
    """Base of every expected error. ``code`` is part of the public contract."""

    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(TesseraError):
    """Something named in the input does not exist."""

    code = "NOT_FOUND"


class ProductNotFound(NotFound):
    code = "PRODUCT_NOT_FOUND"


class EnvNotFound(NotFound):
    code = "ENV_NOT_FOUND"


class SessionConfigNotFound(NotFound):
    code = "SESSION_CONFIG_NOT_FOUND"


class AlreadyExists(TesseraError):
    code = "ALREADY_EXISTS"


class InvalidInput(TesseraError):
    """Input that is malformed; ``field_errors`` lists every offending value."""

    code = "INVALID_INPUT"

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

    code = "SCHEMA_VALIDATION_FAILED"


class SelectorUnresolved(InvalidInput):
    """The config's selector points at a value that ``data`` does not contain."""

    code = "SELECTOR_UNRESOLVED"


class SessionError(TesseraError):
    """A session operation refused for the session's own state or credential."""

    code = "SESSION_ERROR"


class RefreshTokenInvalid(SessionError):
    code = "REFRESH_TOKEN_INVALID"


class RefreshTokenExpired(SessionError):
    code = "REFRESH_TOKEN_EXPIRED"


class RefreshTokenReused(SessionError):
    """An already-rotated refresh token came back: the session is revoked."""

    code = "REFRESH_TOKEN_REUSED"


class SessionRevoked(SessionError):
    code = "SESSION_REVOKED"


class WrongSession(SessionError):
    """The credential belongs to another product, env or tag."""

    code = "WRONG_SESSION"


class AccessError(TesseraError):
    """Request-level failures: they abort the operation instead of being data."""


class Unauthenticated(AccessError):
    code = "UNAUTHENTICATED"


class Forbidden(AccessError):
    code = "FORBIDDEN"


class RateLimited(AccessError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
