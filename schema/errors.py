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

from schema.engine import REQUEST_ERRORS, described_enum
from service import errors as svc
from service.errors import ErrorCode, RequestErrorCode
from store.errors import StoreUnavailable

log = logging.getLogger("tessera.graphql")

# The service's enumerations themselves become the GraphQL enums, so no list of codes
# is written twice (RequestErrorCode is listed in the schema's types: no field returns it).
described_enum(
    ErrorCode,
    description="The code of an expected error: `Error.code` of a mutation's result, or "
    "the `extensions.code` of a top-level error on a field without an error union. Stable: "
    "branch on it, never on `message`.",
    values={
        "ALREADY_EXISTS": "Something by that name exists already (`field` names the input "
        "field): pick another tag, or update the existing one.",
        "INVALID_INPUT": "An input value is not acceptable (a string with control characters "
        "or too long, a number out of range, a malformed cursor, ...): `fieldErrors` names "
        "every one. Fix the input; repeating it unchanged fails again.",
        "NOT_FOUND": "The thing the input names does not exist (e.g. an API key id): check "
        "the id; a removed one stays gone.",
        "PRODUCT_NOT_FOUND": "No product has that tag: create it with `createProduct` (in "
        "development `createSession` creates it for you).",
        "ENV_NOT_FOUND": "The product has no such environment: use one of `Product.envs`.",
        "SESSION_CONFIG_NOT_FOUND": "The product has no session config with that tag: "
        "create it with `createSessionConfig`, or fix the tag.",
        "SCHEMA_VALIDATION_FAILED": "`data.details` does not match the config's JSON "
        "Schema (or the schema given is not a valid JSON Schema): `fieldErrors` names each "
        "failing path, such as `data.details.email`.",
        "SELECTOR_UNRESOLVED": "The config's selector names a value the session's data "
        "lacks (e.g. `$Session{details.email}` without an email): send it, or change the "
        "selector.",
        "REFRESH_TOKEN_INVALID": "The refresh token is malformed, forged or unknown: the "
        "user must sign in again.",
        "REFRESH_TOKEN_EXPIRED": "The session reached `refreshExpiresAt` or its idle "
        "timeout: the user must sign in again.",
        "REFRESH_TOKEN_REUSED": "A spent refresh token came back after the grace window, a "
        "sign of theft: the whole session is revoked now. The user must sign in again.",
        "SESSION_REVOKED": "The session was revoked (`revokeSession`, `logout`, ...): the "
        "user must sign in again.",
        "WRONG_SESSION": "The token is valid but was minted for another product, env or "
        "tag than the one given: send it to the config it belongs to.",
    },
)
described_enum(
    RequestErrorCode,
    description="The `extensions.code` of a top-level error: the request, or a field "
    "without an error union, could not run. A field without an error union that fails "
    "with an expected error carries that error's `ErrorCode` instead.",
    values={
        "GRAPHQL_PARSE_FAILED": "The document is not GraphQL: fix its syntax.",
        "GRAPHQL_VALIDATION_FAILED": "The document does not fit the schema (or asks for "
        "introspection the caller may not): fix the document, e.g. regenerate it from "
        "`graphql/schema.graphql`.",
        "BAD_USER_INPUT": "The variables do not fit their declared types, or a required "
        "one is missing: fix the variables.",
        "BAD_REQUEST": "A document limit (depth, aliases, size, ...) or a request that "
        "names no single operation to run (HTTP 400): make the document smaller, or give "
        "`operationName`.",
        "PERSISTED_QUERY_NOT_FOUND": "The document id is not known yet: send the query "
        "text with it (Apollo's automatic persisted queries do so by themselves).",
        "PERSISTED_QUERY_NOT_SUPPORTED": "Persisted documents are off on this server "
        "(`TESSERA_TRUSTED_DOCUMENTS=off`): send the query text.",
        "TRUSTED_DOCUMENT_REQUIRED": "Only trusted documents, sent by their id, run for "
        "this caller (`TESSERA_TRUSTED_DOCUMENTS=require`): register the document "
        "(`registerTrustedDocuments`) and send its id.",
        "UNAUTHENTICATED": "No credential, or one Tessera does not accept (unknown, revoked "
        "or expired key or session token): send a valid `Authorization: Bearer ...`.",
        "FORBIDDEN": "The credential is valid but may not do this (another product's or "
        "env's, or an end user's token on a backend operation): use a key in scope.",
        "RATE_LIMITED": "Too many requests or failed tokens from this caller: wait "
        "`extensions.retryAfter` seconds, then retry.",
        "SERVICE_UNAVAILABLE": "The database is unreachable for now: retry later (with "
        "backoff); nothing was done.",
        "INTERNAL_SERVER_ERROR": "Something unexpected failed; the details are in the "
        "server's log, never in the answer. Retrying may help; report it if it persists.",
    },
)


@strawberry.interface(
    description="Implemented by every expected error a mutation returns in its result "
    "union; select `... on Error { code message }` to handle all of them."
)
class Error:
    code: ErrorCode = strawberry.field(
        description="What went wrong, as a stable code: branch on it."
    )
    message: str = strawberry.field(
        description="What went wrong, in English, for a developer or a log; never contains "
        "a token or a key. It may change between releases: do not parse it."
    )


_FIELD = (
    "The input field the error is about, as a dotted path (e.g. `tag`, `data.userId`); "
    "null when it is about the input as a whole."
)


@strawberry.type(description="One invalid input value.")
class FieldError:
    field: str = strawberry.field(
        description="The value's dotted path in the input, e.g. `data.details.email` or `envs.2`."
    )
    message: str = strawberry.field(description="What is wrong with the value, in English.")


@strawberry.type(
    description="A product, environment, session config or API key the input names does "
    "not exist (`PRODUCT_NOT_FOUND`, `ENV_NOT_FOUND`, `SESSION_CONFIG_NOT_FOUND`, "
    "`NOT_FOUND`)."
)
class NotFoundError(Error):
    field: str | None = strawberry.field(default=None, description=_FIELD)


@strawberry.type(
    description="Something with that tag exists already (`ALREADY_EXISTS`): creation "
    "changed nothing."
)
class AlreadyExistsError(Error):
    field: str | None = strawberry.field(default=None, description=_FIELD)


@strawberry.type(
    description="The session or its refresh token cannot be used (`REFRESH_TOKEN_INVALID`, "
    "`REFRESH_TOKEN_EXPIRED`, `REFRESH_TOKEN_REUSED`, `SESSION_REVOKED`, `WRONG_SESSION`)."
)
class SessionError(Error):
    field: str | None = strawberry.field(default=None, description=_FIELD)


@strawberry.type(
    description="Bad input (`INVALID_INPUT`, `SCHEMA_VALIDATION_FAILED`, "
    "`SELECTOR_UNRESOLVED`); `fieldErrors` lists every offending value, so a form can mark "
    "them all at once."
)
class InvalidInputError(Error):
    field: str | None = strawberry.field(
        default=None, description="The first offending value's path; null: the whole input."
    )
    field_errors: list[FieldError] = strawberry.field(
        default_factory=list, description="Every offending value, each with its path."
    )


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
