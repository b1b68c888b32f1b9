"""The error model, mapped from the service's exception hierarchy in this one module.

Expected outcomes of mutations are union members implementing ``Error``; the
``exception_handlers`` below turn service exceptions into them. Everything else that
escapes a resolver becomes a top-level error through ``rewrite_errors``: access failures
keep their code (``UNAUTHENTICATED``, ``FORBIDDEN``), other expected errors keep theirs,
and anything unexpected is masked as ``INTERNAL_SERVER_ERROR`` and logged server-side.
Every top-level error leaves with an ``extensions.code`` (``top_level``)."""

from __future__ import annotations

import logging
import re
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.types.execution import ExecutionContext
from strawberry.types.field import StrawberryField
from strawberry.types.info import Info

from schema.engine import REQUEST_ERRORS
from service import errors as svc
from service.errors import ErrorCode, RequestErrorCode
from store.errors import StoreUnavailable

log = logging.getLogger("tessera.graphql")

# The service's enumerations themselves become the GraphQL enums, so no list of codes
# is written twice (RequestErrorCode is listed in the schema's types: no field returns it).
strawberry.enum(ErrorCode, description="The code of an expected error.")
strawberry.enum(
    RequestErrorCode,
    description="The `extensions.code` of a top-level error. A field without an error "
    "union that fails with an expected error carries that error's `ErrorCode` instead.",
)


@strawberry.interface(description="Implemented by every expected error a mutation returns.")
class Error:
    code: ErrorCode
    message: str


@strawberry.type
class FieldError:
    field: str
    message: str


@strawberry.type
class NotFoundError(Error):
    field: str | None = None


@strawberry.type
class AlreadyExistsError(Error):
    field: str | None = None


@strawberry.type(description="The session or its refresh token cannot be used.")
class SessionError(Error):
    field: str | None = None


@strawberry.type(description="Bad input; `fieldErrors` lists every offending value.")
class InvalidInputError(Error):
    field: str | None = None
    field_errors: list[FieldError] = strawberry.field(default_factory=list)


class _Handler:
    """Base for the handlers below: map a service error to its GraphQL type."""

    error_type: Any

    def handle(
        self,
        exception: svc.NotFound | svc.AlreadyExists | svc.SessionError,
        *,
        field: StrawberryField,
        info: Info,
    ) -> Any:
        info.context.audit.outcomes.append(exception.code)
        return self.error_type(
            code=exception.code, message=exception.message, field=exception.field
        )


class NotFoundHandler(_Handler, strawberry.ExceptionHandler[svc.NotFound, NotFoundError]):
    error_type = NotFoundError


class AlreadyExistsHandler(
    _Handler, strawberry.ExceptionHandler[svc.AlreadyExists, AlreadyExistsError]
):
    error_type = AlreadyExistsError


class SessionErrorHandler(_Handler, strawberry.ExceptionHandler[svc.SessionError, SessionError]):
    error_type = SessionError


class InvalidInputHandler(strawberry.ExceptionHandler[svc.InvalidInput, InvalidInputError]):
    def handle(
        self, exception: svc.InvalidInput, *, field: StrawberryField, info: Info
    ) -> InvalidInputError:
        info.context.audit.outcomes.append(exception.code)
        return InvalidInputError(
            code=exception.code,
            message=exception.message,
            field=exception.field,
            field_errors=[
                FieldError(field=e.field, message=e.message) for e in exception.field_errors
            ],
        )


EXCEPTION_HANDLERS = (
    NotFoundHandler(),
    AlreadyExistsHandler(),
    InvalidInputHandler(),
    SessionErrorHandler(),
)
ERROR_TYPES = (NotFoundError, AlreadyExistsError, InvalidInputError, SessionError, RequestErrorCode)

# graphql-core appends "Did you mean ...?" to unknown fields, arguments, enum values and
# input fields; in production that maps the schema for anyone who is not an admin.
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


def _code(error: GraphQLError) -> str | None:
    code: str | None = (error.extensions or {}).get("code")
    return code


def _uncoded(error: GraphQLError) -> RequestErrorCode:
    """The code of a GraphQL error that nothing coded: schema/documents.py codes every
    validation error and refusal of a document it prepared, so what is left is a
    document that does not parse, a request error graphql-core raises as execution
    starts, or an error a resolver raised as a GraphQL error."""
    if isinstance(error, GraphQLSyntaxError):
        # graphql-core ends the message of each of its parser limits (tokens, nesting,
        # source length) so: a limit, not a mistake in the document.
        if error.message.endswith("Parsing aborted."):
            return RequestErrorCode.BAD_REQUEST
        return RequestErrorCode.GRAPHQL_PARSE_FAILED
    if error.path is None:
        # The unknown/ambiguous operation errors never get here (UnknownOperation).
        return RequestErrorCode.BAD_USER_INPUT  # variables that do not coerce
    return RequestErrorCode.INTERNAL_SERVER_ERROR


def _internal(error: GraphQLError) -> GraphQLError:
    return GraphQLError(
        "Internal server error.",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": RequestErrorCode.INTERNAL_SERVER_ERROR},
    )


def top_level(error: GraphQLError, *, suggestions: bool) -> GraphQLError:
    """The client-facing form of one top-level error, always with a code."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        # Syntax/validation errors and errors raised as GraphQLError on purpose.
        code = _code(error) or _uncoded(error)
        if code == RequestErrorCode.INTERNAL_SERVER_ERROR:
            return _internal(error)
        message = error.message
        if not suggestions and "Did you mean" in message:
            message = _SUGGESTION.sub("", message)
        if message == error.message and code == _code(error):
            return error
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={**(error.extensions or {}), "code": code},
        )
    if isinstance(original, StoreUnavailable):
        # Expected while the database is down: say so plainly so clients retry,
        # without the driver's message.
        return GraphQLError(
            "the database is unavailable; retry later",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": RequestErrorCode.SERVICE_UNAVAILABLE},
        )
    if isinstance(original, svc.TesseraError):
        extensions: dict[str, Any] = {"code": original.code}
        if isinstance(original, svc.RateLimited):
            extensions["retryAfter"] = original.retry_after
        if original.field is not None:
            extensions["field"] = original.field
        return GraphQLError(
            original.message, nodes=error.nodes, path=error.path, extensions=extensions
        )
    return _internal(error)


def escaped(exc: Exception) -> Exception | None:
    """The client-facing form of an exception that escaped the operation (parsing,
    validation, an extension), or ``None`` to let it propagate as it is. Without this it
    would reach the client as its bare message (Strawberry wraps it after the operation
    hook has run); the original stays attached so ``log_errors`` still logs an
    unexpected one with its traceback."""
    if isinstance(exc, REQUEST_ERRORS):
        return None  # Raised through on purpose: the endpoint answers them with a 400.
    error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
    mapped = top_level(error, suggestions=True)
    if mapped is error:
        return None
    return GraphQLError(
        mapped.message,
        nodes=error.nodes,
        extensions=mapped.extensions,
        original_error=error.original_error,
    )


async def rewrite_errors(execution_context: ExecutionContext) -> None:
    """Rewrite the operation's top-level errors: codes added, internals masked, and in
    production schema suggestions removed for everyone but admins."""
    result = execution_context.result
    if result is None or not result.errors:
        return
    context = execution_context.context
    suggestions = not context.tessera.settings.production
    if not suggestions:
        principal = await context.principal_or_none()
        suggestions = principal is not None and principal.is_admin
    result.errors = [top_level(e, suggestions=suggestions) for e in result.errors]


def log_errors(errors: list[GraphQLError]) -> None:
    """Unexpected errors are logged with their traceback; expected ones are not errors
    of the service and are left to the access log."""
    for error in errors:
        original = error.original_error
        if original is None or isinstance(original, svc.TesseraError):
            continue
        # A GraphQL error a resolver raised without a code is masked (``top_level``).
        if isinstance(original, GraphQLError) and (error.path is None or _code(error)):
            continue
        if isinstance(original, StoreUnavailable):
            log.warning("database unavailable: %s", original)
            continue
        log.error(
            "unexpected error in %s",
            ".".join(str(p) for p in error.path or ()),
            exc_info=(type(original), original, original.__traceback__),
        )
