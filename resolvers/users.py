from __future__ import annotations

from typing import Annotated

import strawberry

from schema.context import Info
from schema.edge import TEXT
from schema.entities import SessionUser
from schema.users import SessionUserConnection, as_session_user


async def session_users(
    info: Info,
    product: Annotated[str, strawberry.argument(description="The product's tag.")],
    env: Annotated[str, strawberry.argument(description="One of the product's envs.")],
    tag: Annotated[
        str | None,
        strawberry.argument(description="Only users with a session of this session config."),
    ] = None,
    search: Annotated[
        str | None,
        strawberry.argument(
            description="Only users whose identifier starts with this text (case-sensitive)."
        ),
    ] = None,
    first: Annotated[
        int | None, strawberry.argument(description="Page size, 1 to 100 (default 20).")
    ] = None,
    after: Annotated[
        str | None,
        # A cursor holds an identifier, so it may be longer than a name.
        strawberry.argument(
            description="`endCursor` of the previous page, to list the users after it.",
            metadata=TEXT,
        ),
    ] = None,
) -> SessionUserConnection:
    page = await info.context.tessera.users.list(
        product, env, tag=tag, search=search, first=first, after=after
    )
    return SessionUserConnection.of(page)


async def session_user(
    info: Info,
    product: Annotated[str, strawberry.argument(description="The product's tag.")],
    env: Annotated[str, strawberry.argument(description="One of the product's envs.")],
    identifier: Annotated[
        str,
        strawberry.argument(
            description="The value their sessions' selector picked (a user id, an email)."
        ),
    ],
) -> SessionUser | None:
    found = await info.context.tessera.users.get(product, env, identifier)
    return None if found is None else as_session_user(found)
