"""The values several fields and arguments take, each described once: the descriptions
of input fields (``PRODUCT``, ``ENV``, ``CONFIG_TAG``) and the described arguments of the
resolvers' signatures."""

from __future__ import annotations

from typing import Annotated

import strawberry

from schema.scalars import JSON

PRODUCT = (
    "The product's tag, as given to `createProduct` (e.g. `my-app`): 1-64 lower-case "
    "letters, digits, `-` or `_`."
)
ENV = (
    "One of the product's environments (e.g. `prd`, see `Product.envs`); each has its own "
    "sessions and keys."
)
CONFIG_TAG = (
    "The session config's tag within the product (e.g. `user-session`), the prefix of the "
    "session tokens it mints (`<tag>:<JWE>`)."
)

ProductTag = Annotated[str, strawberry.argument(description=PRODUCT)]
Env = Annotated[str, strawberry.argument(description=ENV)]
ConfigTag = Annotated[str, strawberry.argument(description=CONFIG_TAG)]
Identifier = Annotated[
    str | None,
    strawberry.argument(
        description="Only the sessions of this identifier: the value the config's selector "
        "picked from the session's data (its `userId` by default). Omitted: every session."
    ),
]
First = Annotated[
    int | None,
    strawberry.argument(description="Page size: how many sessions to return, 1-100. Omitted: 20."),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Return the sessions after this cursor: the previous page's "
        "`pageInfo.endCursor`. Omitted: from the newest session."
    ),
]
KeyProduct = Annotated[
    str | None,
    strawberry.argument(
        description="Only the keys of this product (by tag). Omitted: every key, admin keys "
        "included."
    ),
]
ApiKeyId = Annotated[
    strawberry.ID,
    strawberry.argument(description="The key's `ApiKey.id` (e.g. `key_...`), not the key itself."),
]
Manifest = Annotated[
    JSON,
    strawberry.argument(
        description="Apollo's persisted query manifest (`{format: \"apollo-persisted-query-"
        'manifest", version: 1, operations: [{id, body, ...}]}`) or GraphQL Code '
        'Generator\'s persisted documents (`{"<sha256>": "<document>"}`).'
    ),
]
