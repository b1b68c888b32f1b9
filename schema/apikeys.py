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
    id: strawberry.ID
    name: str
    product: str | None = strawberry.field(description="null for an admin key.")
    envs: list[str] | None = strawberry.field(description="null: every environment.")
    admin: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

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


@strawberry.type
class CreatedApiKey:
    key: str = strawberry.field(description="The key, shown only in this result.")
    api_key: ApiKey


@input_type
class CreateApiKeyInput:
    product: str
    name: str
    envs: list[str] | None = strawberry.field(
        default=None, description="Restrict the key to these environments (default: all)."
    )


CreateApiKeyResult = Annotated[
    CreatedApiKey | NotFoundError | InvalidInputError, strawberry.union("CreateApiKeyResult")
]
RevokeApiKeyResult = Annotated[
    ApiKey | NotFoundError | InvalidInputError, strawberry.union("RevokeApiKeyResult")
]
