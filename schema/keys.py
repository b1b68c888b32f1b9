"""Key rings and their rotation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.engine import described_enum
from schema.errors import InvalidInputError, NotFoundError
from schema.inputs import input_type
from schema.scalars import utc
from service.rotation import KeyState, KeyUse, RotatedRing
from store import KeyRecord

# The service owns these enums; registering them here exposes them unchanged.
described_enum(
    KeyState,
    name="KeyState",
    description="Where a key is in its life.",
    values={
        "ACTIVE": "It makes the new tokens of its kind.",
        "VERIFY_ONLY": "A rotation replaced it: it verifies the tokens it made until "
        "`retireAt`, and makes none.",
        "RETIRED": "It verifies nothing any more; its material is erased and it left the JWKS.",
    },
)
described_enum(
    KeyUse,
    name="KeyUse",
    description="What a key is for, by its algorithm.",
    values={
        "ENCRYPTION": "ENCRYPTED tokens: a JWE with `alg=dir`, `enc=A256GCM`; a symmetric "
        "key, never published.",
        "SIGNING": "SIGNED tokens: a JWS with ES256 (EC P-256); its public half is in the "
        "issuer's JWKS.",
    },
)


@strawberry.type(description="A key of a ring: its identity and state, never its material.")
class RingKey:
    kid: strawberry.ID = strawberry.field(
        description="The key's id: the `kid` in the header of every token it made."
    )
    use: KeyUse = strawberry.field(description="What the key is for: its algorithm.")
    state: KeyState = strawberry.field(description="Where the key is in its life.")
    created_at: datetime = strawberry.field(description="When the key was made.")
    retire_at: datetime | None = strawberry.field(
        description="When a verify-only key retires (when a retired one did); null for an "
        "active key."
    )

    @classmethod
    def of(cls, record: KeyRecord) -> RingKey:
        return cls(
            kid=strawberry.ID(record.kid),
            use=KeyUse(record.alg),
            state=KeyState(record.state),
            created_at=utc(record.created_at),
            retire_at=None if record.retire_at is None else utc(record.retire_at),
        )


@strawberry.type(description="The keys of one product and environment, newest first.")
class KeyRing:
    product: str = strawberry.field(description="The product's tag.")
    env: str = strawberry.field(description="The environment.")
    keys: list[RingKey] = strawberry.field(
        description="Every key the ring has had, newest first, retired ones included."
    )

    @classmethod
    def of(cls, ring: RotatedRing) -> KeyRing:
        return cls(product=ring.product, env=ring.env, keys=[RingKey.of(k) for k in ring.keys])


@input_type(description="Which ring to rotate, and how.")
class RotateKeysInput:
    product: str = strawberry.field(description="The product's tag.")
    env: str = strawberry.field(description="The environment whose ring rotates.")
    retire_previous: bool = strawberry.field(
        default=False,
        description="Retire the previous keys at once instead of letting them verify "
        "until the last token they made has expired: every token they made stops "
        "verifying (on every instance within a second). For a compromised key.",
    )


RotateKeysResult = Annotated[
    KeyRing | NotFoundError | InvalidInputError,
    strawberry.union("RotateKeysResult", description="The rotated ring, or why not."),
]
