"""Session configurations."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Annotated, Any

import strawberry

from schema.edge import TEXT
from schema.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from schema.inputs import input_type
from schema.scalars import JSON, utc
from service.catalog import DEFAULT_SELECTOR, ConfigPatch, ConfigSpec, Period, TokenFormat
from store import SessionConfigRecord

# The service owns these enums; registering them here exposes them unchanged.
strawberry.enum(Period, name="Period")
strawberry.enum(TokenFormat, name="TokenFormat")


@strawberry.type
class SessionConfig:
    product: str
    tag: str
    name: str
    description: str
    selector: str
    expiry: int
    period: Period
    refresh_expiry: int
    refresh_period: Period
    idle_timeout: int | None = strawberry.field(description="Seconds without a refresh.")
    refresh_grace_seconds: int | None
    schema: JSON | None = strawberry.field(description="JSON Schema for data.details.")
    token_format: TokenFormat = strawberry.field(
        description="How the config's session tokens are made. SIGNED tokens are readable "
        "by anyone who holds them, and verifiable locally from the issuer's JWKS, which "
        "cannot see a revocation: a revoked session's token still verifies locally until "
        "it expires, so keep `expiry` short (minutes). `verifySession` checks revocation "
        "for both formats."
    )
    signed_details: bool = strawberry.field(
        description="Whether a SIGNED token carries `data.details` (in clear, for whoever "
        "holds it). `verifySession` returns them either way."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: str, r: SessionConfigRecord) -> SessionConfig:
        return cls(
            product=product,
            **{name: getattr(r, name) for name in _SHOWN_AS_STORED},
            period=Period(r.period),
            refresh_period=Period(r.refresh_period),
            schema=None if r.json_schema is None else json.loads(r.json_schema),
            token_format=TokenFormat(r.token_format),
            created_at=utc(r.created_at),
            updated_at=utc(r.updated_at),
        )


# The fields a client sees as the store holds them; ``of`` converts the others.
_CONVERTED = frozenset(
    ("product", "period", "refresh_period", "schema", "token_format", "created_at", "updated_at")
)
_SHOWN_AS_STORED = tuple(f.name for f in fields(SessionConfig) if f.name not in _CONVERTED)


@input_type
class CreateSessionConfigInput:
    product: str
    tag: str
    name: str
    description: str = strawberry.field(default="", metadata=TEXT)
    selector: str = DEFAULT_SELECTOR
    expiry: int = 1
    period: Period = Period.HOURS
    refresh_expiry: int = 30
    refresh_period: Period = Period.DAYS
    idle_timeout: int | None = None
    refresh_grace_seconds: int | None = None
    schema: JSON | None = None
    token_format: TokenFormat = strawberry.field(
        default=TokenFormat.ENCRYPTED,
        description="ENCRYPTED (the default) or SIGNED: see `SessionConfig.tokenFormat`.",
    )
    signed_details: bool = strawberry.field(
        default=False,
        description="Put `data.details` into SIGNED tokens, readable by whoever holds "
        "them (default false: they stay in Tessera).",
    )

    def spec(self) -> ConfigSpec:
        """The config as the service takes it: ConfigSpec's fields, by name."""
        return ConfigSpec(**{name: getattr(self, name) for name in _SPEC_FIELDS})


_SPEC_FIELDS = tuple(f.name for f in fields(ConfigSpec))


@input_type(description="Omitted fields keep their value; null clears a nullable one.")
class UpdateSessionConfigInput:
    product: str
    tag: str
    name: str | None = None
    description: str | None = strawberry.field(default=None, metadata=TEXT)
    selector: str | None = None
    expiry: int | None = None
    period: Period | None = None
    refresh_expiry: int | None = None
    refresh_period: Period | None = None
    idle_timeout: strawberry.Maybe[int | None] = None
    refresh_grace_seconds: int | None = None
    schema: strawberry.Maybe[JSON | None] = None
    token_format: TokenFormat | None = strawberry.field(
        default=None,
        description="ENCRYPTED or SIGNED. The format is the config's, never the token's: "
        "from the change on, tokens of the other format are refused (`INVALID`) and "
        "clients get the new format at their next refresh.",
    )
    signed_details: bool | None = strawberry.field(
        default=None, description="Put `data.details` into SIGNED tokens."
    )

    def patch(self) -> ConfigPatch:
        """The change as the service takes it: ConfigPatch's fields, by name. A field
        with a ``clear_<field>`` flag is a Maybe here: omitted leaves it, null clears it."""
        changes: dict[str, Any] = {}
        for name in _PATCH_FIELDS:
            value = getattr(self, name)
            if f"clear_{name}" in _CLEAR_FLAGS:
                changes[f"clear_{name}"] = value is not None and value.value is None
                value = None if value is None else value.value
            changes[name] = value
        return ConfigPatch(**changes)


_CLEAR_FLAGS = frozenset(f.name for f in fields(ConfigPatch) if f.name.startswith("clear_"))
_PATCH_FIELDS = tuple(f.name for f in fields(ConfigPatch) if f.name not in _CLEAR_FLAGS)


@input_type
class DeleteSessionConfigInput:
    product: str
    tag: str


SessionConfigResult = Annotated[
    SessionConfig | NotFoundError | AlreadyExistsError | InvalidInputError,
    strawberry.union("SessionConfigResult"),
]
DeleteSessionConfigResult = Annotated[
    SessionConfig | NotFoundError | InvalidInputError,
    strawberry.union("DeleteSessionConfigResult"),
]
