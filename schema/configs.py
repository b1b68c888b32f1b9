"""Session configurations."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime
from typing import Annotated, Any

import strawberry

from schema.arguments import CONFIG_TAG, PRODUCT
from schema.edge import TEXT
from schema.engine import described_enum
from schema.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from schema.inputs import input_type
from schema.scalars import JSON, utc
from service.catalog import DEFAULT_SELECTOR, ConfigPatch, ConfigSpec, Period, TokenFormat
from store import SessionConfigRecord

# The service owns these enums; registering them here exposes them unchanged.
described_enum(
    Period,
    name="Period",
    description="The unit of a lifetime (`expiry`, `refreshExpiry`).",
    values={
        "SECONDS": "Seconds: the number is taken as it is.",
        "MINUTES": "Minutes: 60 seconds.",
        "HOURS": "Hours: 3600 seconds.",
        "DAYS": "Days: 86400 seconds.",
    },
)
described_enum(
    TokenFormat,
    name="TokenFormat",
    description="How a config's session tokens are made.",
    values={
        "ENCRYPTED": "`<tag>:<JWE>` (`alg=dir`, `enc=A256GCM`): the details inside are "
        "unreadable without Tessera's key, so only `verifySession` can read them.",
        "SIGNED": "`<tag>:<JWS>` (ES256, `kid` in the header): readable by anyone who holds "
        "the token, and verifiable locally from the issuer's JWKS; local verification "
        "cannot see a revocation until the token expires, so keep `expiry` short.",
    },
)

_EXPIRY = (
    "How long a session token lives, in `period`s (default 1 HOURS); at most 1 day. A "
    "backend refreshes the session after it."
)
_REFRESH_EXPIRY = (
    "How long the whole session lives, in `refreshPeriod`s (default 30 DAYS), from its "
    "start; at most 366 days. Refreshing never extends it."
)
_IDLE = (
    "Seconds without a refresh after which the session ends (`REFRESH_TOKEN_EXPIRED`); "
    "null: no idle limit."
)
_GRACE = (
    "Seconds, 0-300, during which a spent refresh token redeemed again (a retry, a second "
    "tab) gets the same successor instead of counting as theft; null: the server's "
    "`TESSERA_REFRESH_GRACE_SECONDS` (10 by default)."
)
_SELECTOR = (
    "What identifies a session's user: `$Session{userId}` (the default) or "
    "`$Session{details.<path>}` (e.g. `$Session{details.email}`). Its value is "
    "`Session.identifier`."
)
_SCHEMA = (
    "A JSON Schema (up to 16 KiB) that `data.details` of every new session must match "
    "(`SCHEMA_VALIDATION_FAILED` otherwise); null: any JSON object."
)


@strawberry.type(
    description="How the sessions of one kind (a tag) of a product live: lifetimes, the "
    "selector of their user, the schema of their details."
)
class SessionConfig:
    product: str = strawberry.field(description="The product's tag.")
    tag: str = strawberry.field(description=CONFIG_TAG)
    name: str = strawberry.field(description="Its display name.")
    description: str = strawberry.field(description="What it is for, free text; may be empty.")
    selector: str = strawberry.field(description=_SELECTOR)
    expiry: int = strawberry.field(description=_EXPIRY)
    period: Period = strawberry.field(description="The unit of `expiry`.")
    refresh_expiry: int = strawberry.field(description=_REFRESH_EXPIRY)
    refresh_period: Period = strawberry.field(description="The unit of `refreshExpiry`.")
    idle_timeout: int | None = strawberry.field(description=_IDLE)
    refresh_grace_seconds: int | None = strawberry.field(description=_GRACE)
    schema: JSON | None = strawberry.field(description=_SCHEMA)
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
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")

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


@input_type(description="A session config to create; unset fields take their defaults.")
class CreateSessionConfigInput:
    product: str = strawberry.field(description=PRODUCT)
    tag: str = strawberry.field(
        description="Its tag, unique in the product and fixed for good: 1-64 lower-case "
        "letters, digits, `-` or `_`."
    )
    name: str = strawberry.field(description="Its display name, 1-200 characters.")
    description: str = strawberry.field(
        default="", metadata=TEXT, description="What it is for, free text up to 2000 characters."
    )
    selector: str = strawberry.field(default=DEFAULT_SELECTOR, description=_SELECTOR)
    expiry: int = strawberry.field(default=1, description=_EXPIRY)
    period: Period = strawberry.field(default=Period.HOURS, description="The unit of `expiry`.")
    refresh_expiry: int = strawberry.field(default=30, description=_REFRESH_EXPIRY)
    refresh_period: Period = strawberry.field(
        default=Period.DAYS, description="The unit of `refreshExpiry`."
    )
    idle_timeout: int | None = strawberry.field(default=None, description=_IDLE)
    refresh_grace_seconds: int | None = strawberry.field(default=None, description=_GRACE)
    schema: JSON | None = strawberry.field(default=None, description=_SCHEMA)
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
    product: str = strawberry.field(description=PRODUCT)
    tag: str = strawberry.field(description="The tag of the config to change.")
    name: str | None = strawberry.field(default=None, description="A new display name.")
    description: str | None = strawberry.field(
        default=None, metadata=TEXT, description="A new description (up to 2000 characters)."
    )
    selector: str | None = strawberry.field(
        default=None, description="A new selector. " + _SELECTOR
    )
    expiry: int | None = strawberry.field(
        default=None,
        description="A new session token lifetime, in `period`s (at most 1 day).",
    )
    period: Period | None = strawberry.field(default=None, description="A new unit of `expiry`.")
    refresh_expiry: int | None = strawberry.field(
        default=None,
        description="A new session lifetime, in `refreshPeriod`s (at most 366 days).",
    )
    refresh_period: Period | None = strawberry.field(
        default=None, description="A new unit of `refreshExpiry`."
    )
    idle_timeout: strawberry.Maybe[int | None] = strawberry.field(
        default=None, description=_IDLE + " Omitted: unchanged; null: cleared."
    )
    refresh_grace_seconds: int | None = strawberry.field(
        default=None,
        description="A new grace window for reused refresh tokens, in seconds, 0-300; "
        "omitted or null: unchanged.",
    )
    schema: strawberry.Maybe[JSON | None] = strawberry.field(
        default=None, description=_SCHEMA + " Omitted: unchanged; null: cleared."
    )
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


@input_type(description="A session config to delete, with every session minted under it.")
class DeleteSessionConfigInput:
    product: str = strawberry.field(description=PRODUCT)
    tag: str = strawberry.field(description="The tag of the config to delete.")


SessionConfigResult = Annotated[
    SessionConfig | NotFoundError | AlreadyExistsError | InvalidInputError,
    strawberry.union(
        "SessionConfigResult",
        description="The config as it is now, or why it was not created or changed.",
    ),
]
DeleteSessionConfigResult = Annotated[
    SessionConfig | NotFoundError | InvalidInputError,
    strawberry.union(
        "DeleteSessionConfigResult",
        description="The config as it was before deletion, or why none was deleted.",
    ),
]
