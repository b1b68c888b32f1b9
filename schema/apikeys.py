"""API keys: product-scoped credentials for backends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.errors import InvalidInputError, NotFoundError
from schema.inputs import input_type
from schema.scalars import utc
from store import ApiKeyRecord


@strawberry.type(description="An API key's metadata; the key itself is never shown again.")
class ApiKey:
    id: strawberry.ID = strawberry.field(
        description="The key's opaque id (`key_...`), for `revokeApiKey`; not a credential."
    )
    name: str = strawberry.field(description="The name given at creation, to tell keys apart.")
    product: str | None = strawberry.field(
        description="The product (tag) the key may act on; null for an admin key."
    )
    envs: list[str] | None = strawberry.field(
        description="The environments the key may act on; null: every environment."
    )
    admin: bool = strawberry.field(
        description="Whether it is an admin key (every product, and the admin operations)."
    )
    created_at: datetime = strawberry.field(description="When the key was created.")
    last_used_at: datetime | None = strawberry.field(
        description="When the key last authenticated a request (to the minute); null: never."
    )
    revoked_at: datetime | None = strawberry.field(
        description="When the key was revoked; null while it works."
    )

    @classmethod
    def of(cls, r: ApiKeyRecord) -> ApiKey:
        return cls(
            id=strawberry.ID(r.id),
            name=r.name,
            product=r.product,
            envs=None if r.envs is None else list(r.envs),
            admin=r.is_admin,
            created_at=utc(r.created_at),
            last_used_at=None if r.last_used_at is None else utc(r.last_used_at),
            revoked_at=None if r.revoked_at is None else utc(r.revoked_at),
        )


@strawberry.type(description="A key just created: the secret once, and its metadata.")
class CreatedApiKey:
    key: str = strawberry.field(
        description="The key itself (`tsk_...`), shown only in this result: store it in your "
        "backend's secret store and send it as `Authorization: Bearer <key>`."
    )
    api_key: ApiKey = strawberry.field(description="The key's metadata, as `apiKeys` lists it.")


@input_type(description="A product key to create.")
class CreateApiKeyInput:
    product: str = strawberry.field(description="The product (tag) the key acts on.")
    name: str = strawberry.field(
        description="A name to tell the key apart (e.g. the backend using it), 1-200 characters."
    )
    envs: list[str] | None = strawberry.field(
        default=None, description="Restrict the key to these environments (default: all)."
    )


CreateApiKeyResult = Annotated[
    CreatedApiKey | NotFoundError | InvalidInputError,
    strawberry.union(
        "CreateApiKeyResult",
        description="The new key, or why none was created (an unknown product, an env the "
        "product lacks).",
    ),
]
RevokeApiKeyResult = Annotated[
    ApiKey | NotFoundError | InvalidInputError,
    strawberry.union(
        "RevokeApiKeyResult",
        description="The revoked key's metadata (`revokedAt` set), or why none was revoked.",
    ),
]
