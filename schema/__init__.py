"""The GraphQL schema: root types assembled from the per-domain modules.

Every root field declares what it requires through ``permission_classes`` right here, so
the access policy of the whole API reads top to bottom in one place:

- ``ADMIN``: an admin API key.
- ``PRODUCT``: an admin key, or a key of the product named in the arguments (and of the
  env, when the key is limited to some envs). ``VERIFY`` is the same, with an optional
  per-key quota.
- ``REFRESH``: no key at all (the refresh token is the credential; rate-limited per
  address and per session), or a key in scope (not limited).
- ``END_USER``: the end user's own session token; it grants nothing else.
- ``ENTITY``: any of these credentials; each entity is then checked like the root fields
  that reach it (``service.access.authorize_user``).
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionContext

from resolvers import activity as activity_resolvers
from resolvers import apikeys as apikey_resolvers
from resolvers import configs as config_resolvers
from resolvers import documents as document_resolvers
from resolvers import enduser as enduser_resolvers
from resolvers import entities as entity_resolvers
from resolvers import keys as key_resolvers
from resolvers import products as product_resolvers
from resolvers import sessions as session_resolvers
from resolvers import users as user_resolvers
from schema.access import (
    AdminOnly,
    EndUserOnly,
    EntityCaller,
    ProductKey,
    RefreshCaller,
    VerifyAccess,
)
from schema.activity import SessionEventConnection
from schema.apikeys import ApiKey, CreateApiKeyResult, RevokeApiKeyResult
from schema.configs import DeleteSessionConfigResult, SessionConfig, SessionConfigResult
from schema.edge import guard
from schema.engine import CachedNameConverter
from schema.entities import Entity, RepresentationKeys, SessionUser
from schema.errors import ERROR_TYPES, EXCEPTION_HANDLERS, log_errors
from schema.keys import KeyRing, RotateKeysResult
from schema.persisted import RegisterTrustedDocumentsResult
from schema.policy import OperationPolicy
from schema.products import CreateProductResult, Product
from schema.scalars import SCALARS
from schema.sessions import (
    CreateSessionResult,
    RefreshSessionResult,
    RevokedSessions,
    RevokeSessionResult,
    Session,
    SessionConnection,
    SessionVerification,
)
from schema.users import SessionUserConnection

ADMIN: list[Any] = [AdminOnly]
PRODUCT: list[Any] = [ProductKey]
VERIFY: list[Any] = [VerifyAccess]
REFRESH: list[Any] = [RefreshCaller]
END_USER: list[Any] = [EndUserOnly]
ENTITY: list[Any] = [EntityCaller]


@strawberry.type(
    description="Reads. Every field needs `Authorization: Bearer <credential>`: an admin "
    "key, a product key (its product's and envs' data), or for `currentSession` and "
    "`mySessions` an end user's session token."
)
class Query:
    products: list[Product] = strawberry.field(
        resolver=product_resolvers.products,
        permission_classes=ADMIN,
        description="Every product, by tag. Admin keys only.",
    )
    product: Product | None = strawberry.field(
        resolver=product_resolvers.product,
        permission_classes=ADMIN,
        description="One product by its tag; null if there is none. Admin keys only.",
    )
    session_configs: list[SessionConfig] = strawberry.field(
        resolver=config_resolvers.session_configs,
        permission_classes=PRODUCT,
        description="Every session config of a product, by tag.",
    )
    session_config: SessionConfig | None = strawberry.field(
        resolver=config_resolvers.session_config,
        permission_classes=PRODUCT,
        description="One session config of a product; null if there is none.",
    )
    verify_session: SessionVerification = strawberry.field(
        resolver=session_resolvers.verify_session,
        permission_classes=VERIFY,
        description="Decrypt and check a session token. A bad token is `valid: false`, "
        "never an error.",
    )
    active_sessions: SessionConnection = strawberry.field(
        resolver=session_resolvers.active_sessions,
        permission_classes=PRODUCT,
        description="Live sessions, newest first. `first` is at most 100.",
    )
    api_keys: list[ApiKey] = strawberry.field(
        resolver=apikey_resolvers.api_keys,
        permission_classes=ADMIN,
        description="API keys of one product, or all keys.",
    )
    current_session: Session = strawberry.field(
        resolver=enduser_resolvers.current_session,
        permission_classes=END_USER,
        description="The session whose token is the bearer.",
    )
    my_sessions: SessionConnection = strawberry.field(
        resolver=enduser_resolvers.my_sessions,
        permission_classes=END_USER,
        description="The bearer's user's live sessions of the same product, env and tag.",
    )
    entities: list[Entity | None] = strawberry.field(
        name="_entities",
        resolver=entity_resolvers.entities,
        permission_classes=ENTITY,
        extensions=[RepresentationKeys()],
        description="Federation: `Session` by `id`, `SessionUser` by `product env "
        "identifier`. A session the caller may not read is `null`, as a missing one.",
    )
    session_activity: SessionEventConnection = strawberry.field(
        resolver=activity_resolvers.session_activity,
        permission_classes=PRODUCT,
        description="What happened to a product's sessions (and its configs and keys): the "
        "event log of (product, env), newest first, narrowed by the arguments given. Events "
        "are kept `TESSERA_EVENT_RETENTION_SECONDS` (30 days by default).",
    )
    my_activity: SessionEventConnection = strawberry.field(
        resolver=activity_resolvers.my_activity,
        permission_classes=END_USER,
        description="The events of the bearer's user's sessions of the same product, env "
        "and tag (those `mySessions` lists, and the ended ones), newest first.",
    )
    key_ring: KeyRing = strawberry.field(
        resolver=key_resolvers.key_ring,
        permission_classes=ADMIN,
        description="The keys of a product's environment, newest first: ids, states and "
        "times, never material.",
    )
    session_users: SessionUserConnection = strawberry.field(
        resolver=user_resolvers.session_users,
        permission_classes=PRODUCT,
        description="The people a product's env has sessions for, one per identifier, "
        "last seen latest first.",
    )
    session_user: SessionUser | None = strawberry.field(
        resolver=user_resolvers.session_user,
        permission_classes=PRODUCT,
        description="One person of a product's env with their sessions; null if Tessera "
        "never stored a session of theirs.",
    )


@strawberry.type(
    description="Changes. Expected failures are data: each field returns a union of its "
    "result and the `Error` types it can fail with (select `... on Error { code message "
    "}`); credentials as for `Query`, `refreshSession` needs none."
)
class Mutation:
    create_product: CreateProductResult = strawberry.mutation(
        resolver=product_resolvers.create_product,
        permission_classes=ADMIN,
        description="Create a product with its environments. Admin keys only.",
    )
    create_session_config: SessionConfigResult = strawberry.mutation(
        resolver=config_resolvers.create_session_config,
        permission_classes=ADMIN,
        description="Create a session config: a kind of session of a product, with its "
        "lifetimes. Admin keys only.",
    )
    update_session_config: SessionConfigResult = strawberry.mutation(
        resolver=config_resolvers.update_session_config,
        permission_classes=ADMIN,
        description="Change some fields of a session config; omitted fields keep their "
        "value. Admin keys only.",
    )
    delete_session_config: DeleteSessionConfigResult = strawberry.mutation(
        resolver=config_resolvers.delete_session_config,
        permission_classes=ADMIN,
        description="Delete a session config and every session minted under it.",
    )
    create_session: CreateSessionResult = strawberry.mutation(
        resolver=session_resolvers.create_session,
        permission_classes=PRODUCT,
        description="Start a session: returns a session token and a refresh token.",
    )
    refresh_session: RefreshSessionResult = strawberry.mutation(
        resolver=session_resolvers.refresh_session,
        permission_classes=REFRESH,
        description="Redeem a refresh token for a new session token and the next refresh "
        "token. The refresh token is the credential; no API key is needed.",
    )
    revoke_session: RevokeSessionResult = strawberry.mutation(
        resolver=session_resolvers.revoke_session,
        permission_classes=PRODUCT,
        description="Revoke one session or every session of an identifier. Idempotent.",
    )
    create_api_key: CreateApiKeyResult = strawberry.mutation(
        resolver=apikey_resolvers.create_api_key,
        permission_classes=ADMIN,
        description="Create a product key. The key is in this result only.",
    )
    revoke_api_key: RevokeApiKeyResult = strawberry.mutation(
        resolver=apikey_resolvers.revoke_api_key,
        permission_classes=ADMIN,
        description="Revoke an API key; it fails from the very next request.",
    )
    register_trusted_documents: RegisterTrustedDocumentsResult = strawberry.mutation(
        resolver=document_resolvers.register_trusted_documents,
        permission_classes=ADMIN,
        description="Register the documents of a manifest as trusted: Apollo's persisted "
        "query manifest or GraphQL Code Generator's persisted documents (SHA-256 id to "
        "document). Every id must be its document's SHA-256; a manifest with any problem "
        "registers nothing.",
    )
    rotate_keys: RotateKeysResult = strawberry.mutation(
        resolver=key_resolvers.rotate_keys,
        permission_classes=ADMIN,
        description="Rotate the keys of a product's environment: new keys make every token "
        "from now on; the previous ones verify until the last token they made has expired "
        "(the longest `expiry` of the product's configs, plus a margin), then retire.",
    )
    logout: RevokedSessions = strawberry.mutation(
        resolver=enduser_resolvers.logout,
        permission_classes=END_USER,
        description="Revoke the bearer's session.",
    )
    logout_other_sessions: RevokedSessions = strawberry.mutation(
        resolver=enduser_resolvers.logout_other_sessions,
        permission_classes=END_USER,
        description="Revoke the bearer's user's other sessions of this product, env, tag.",
    )


class TesseraSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


name_converter = CachedNameConverter()
guard(Query, Mutation, SessionUser, names=name_converter)
schema = TesseraSchema(
    query=Query,
    mutation=Mutation,
    types=list(ERROR_TYPES),
    extensions=[OperationPolicy],
    exception_handlers=EXCEPTION_HANDLERS,
    config=StrawberryConfig(name_converter=name_converter, scalar_map=SCALARS),
    # Pinned, so the subgraph SDL changes only when we choose: 2.3 is the oldest version
    # with everything used here, which keeps the widest range of gateways composing it.
    federation_version="2.3",
)

__all__ = ["schema"]
