"""The GraphQL schema: root types assembled from the per-domain modules.

Every root field declares what it requires through ``permission_classes`` right here,
so the access rules of the whole API read top to bottom in one place."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types.execution import ExecutionContext

from resolvers import configs as config_resolvers
from resolvers import products as product_resolvers
from resolvers import sessions as session_resolvers
from schema.access import AdminOnly, AnyCaller
from schema.configs import DeleteSessionConfigResult, SessionConfig, SessionConfigResult
from schema.errors import ERROR_TYPES, EXCEPTION_HANDLERS, ErrorPolicy, log_errors
from schema.products import CreateProductResult, Product
from schema.sessions import (
    CreateSessionResult,
    RefreshSessionResult,
    RevokeSessionResult,
    SessionConnection,
    SessionVerification,
)

ADMIN: list[Any] = [AdminOnly]
ANYONE: list[Any] = [AnyCaller]


@strawberry.type
class Query:
    products: list[Product] = strawberry.field(
        resolver=product_resolvers.products, permission_classes=ADMIN
    )
    product: Product | None = strawberry.field(
        resolver=product_resolvers.product, permission_classes=ADMIN
    )
    session_configs: list[SessionConfig] = strawberry.field(
        resolver=config_resolvers.session_configs, permission_classes=ADMIN
    )
    session_config: SessionConfig | None = strawberry.field(
        resolver=config_resolvers.session_config, permission_classes=ADMIN
    )
    verify_session: SessionVerification = strawberry.field(
        resolver=session_resolvers.verify_session,
        permission_classes=ADMIN,
        description="Decrypt and check a session token. A bad token is `valid: false`, "
        "never an error.",
    )
    active_sessions: SessionConnection = strawberry.field(
        resolver=session_resolvers.active_sessions,
        permission_classes=ADMIN,
        description="Live sessions, newest first. `first` is at most 100.",
    )


@strawberry.type
class Mutation:
    create_product: CreateProductResult = strawberry.mutation(
        resolver=product_resolvers.create_product, permission_classes=ADMIN
    )
    create_session_config: SessionConfigResult = strawberry.mutation(
        resolver=config_resolvers.create_session_config, permission_classes=ADMIN
    )
    update_session_config: SessionConfigResult = strawberry.mutation(
        resolver=config_resolvers.update_session_config, permission_classes=ADMIN
    )
    delete_session_config: DeleteSessionConfigResult = strawberry.mutation(
        resolver=config_resolvers.delete_session_config,
        permission_classes=ADMIN,
        description="Delete a session config and every session minted under it.",
    )
    create_session: CreateSessionResult = strawberry.mutation(
        resolver=session_resolvers.create_session,
        permission_classes=ADMIN,
        description="Start a session: returns a session token and a refresh token.",
    )
    refresh_session: RefreshSessionResult = strawberry.mutation(
        resolver=session_resolvers.refresh_session,
        permission_classes=ANYONE,
        description="Redeem a refresh token for a new session token and the next refresh "
        "token. The refresh token is the credential; no API key is needed.",
    )
    revoke_session: RevokeSessionResult = strawberry.mutation(
        resolver=session_resolvers.revoke_session,
        permission_classes=ADMIN,
        description="Revoke one session or every session of an identifier. Idempotent.",
    )


class TesseraSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


schema = TesseraSchema(
    query=Query,
    mutation=Mutation,
    types=list(ERROR_TYPES),
    extensions=[
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        ErrorPolicy,
    ],
    exception_handlers=EXCEPTION_HANDLERS,
)

__all__ = ["schema"]
