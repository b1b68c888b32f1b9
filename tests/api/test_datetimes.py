"""Every ``DateTime`` of every type, in real responses, in the one format: RFC 3339 UTC
with milliseconds. The fields are found by walking the schema, so a new one that no
operation here returns fails the test instead of escaping it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    parse,
)

from schema import schema
from service.clock import FrozenClock
from tests.conftest import Api
from tests.operations import operation

FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
SCOPE = {"product": "shop", "env": "prd", "tag": "web"}
GRAPHQL = schema._schema

Field = tuple[str, str]  # (type, field)


def datetime_fields() -> set[Field]:
    """Every field of the schema whose type is ``DateTime`` (nullable, list or not)."""
    return {
        (name, field_name)
        for name, kind in GRAPHQL.type_map.items()
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType) and not name.startswith("__")
        for field_name, field in kind.fields.items()
        if get_named_type(field.type).name == "DateTime"
    }


def datetime_paths(document: str) -> Iterator[tuple[tuple[str, ...], Field]]:
    """Each ``DateTime`` the document selects: its response path, and its field."""
    definitions = parse(document).definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    [op] = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    root = GRAPHQL.mutation_type if op.operation == OperationType.MUTATION else GRAPHQL.query_type

    def walk(
        selections: SelectionSetNode, parent: GraphQLNamedType, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], Field]]:
        for node in selections.selections:
            if isinstance(node, FieldNode):
                if node.name.value.startswith("__"):
                    continue
                assert isinstance(parent, GraphQLObjectType | GraphQLInterfaceType)
                field = parent.fields[node.name.value]
                named = get_named_type(field.type)
                key = (*path, (node.alias or node.name).value)
                if named.name == "DateTime":
                    yield key, (parent.name, node.name.value)
                if node.selection_set:
                    yield from walk(node.selection_set, named, key)
            else:
                fragment: FragmentDefinitionNode | InlineFragmentNode
                if isinstance(node, FragmentSpreadNode):
                    fragment = fragments[node.name.value]
                else:
                    assert isinstance(node, InlineFragmentNode)
                    fragment = node
                condition = fragment.type_condition
                inner = GRAPHQL.get_type(condition.name.value) if condition else parent
                assert inner is not None
                yield from walk(fragment.selection_set, inner, path)

    assert root is not None
    yield from walk(op.selection_set, root, ())


def values_at(data: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """The values at ``path``, through lists; absent where a fragment did not apply."""
    if isinstance(data, list):
        for item in data:
            yield from values_at(item, path)
    elif not path:
        yield data
    elif isinstance(data, dict) and path[0] in data:
        yield from values_at(data[path[0]], path[1:])


class Responses:
    """Runs documents from graphql/operations/ and keeps every DateTime they returned."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.seen: dict[Field, list[str]] = {}

    async def op(self, name: str, key: Any = ..., **variables: Any) -> dict[str, Any]:
        data = await self.api.op(name, key=key, **variables)
        for path, field in datetime_paths(operation(name)):
            found = [v for v in values_at(data, path) if v is not None]
            self.seen.setdefault(field, []).extend(found)
        return data


async def test_every_datetime_field_is_rfc3339_utc_with_milliseconds(
    api: Api, clock: FrozenClock
) -> None:
    clock.t = 1_800_000_000.123456  # a fraction with more digits than the format keeps
    responses = Responses(api)
    await responses.op("CreateProduct", input={"tag": "shop", "name": "Shop"})
    await responses.op("Product", tag="shop")
    await responses.op("CreateSessionConfig", input={"product": "shop", "tag": "web", "name": "W"})
    await responses.op("UpdateSessionConfig", input={"product": "shop", "tag": "web", "name": "W2"})
    await responses.op("SessionConfigs", product="shop")
    await responses.op("SessionConfig", product="shop", tag="web")
    created_key = await responses.op("CreateApiKey", input={"product": "shop", "name": "b"})
    key = created_key["createApiKey"]["key"]
    data = {"userId": "alice", "details": {}}
    created = await responses.op("CreateSessionWith", key=key, input={**SCOPE, "data": data})
    tokens = created["createSession"]
    token = tokens["token"]
    await responses.op("VerifySession", key=key, input={**SCOPE, "token": token})
    await responses.op("VerifySessionWithActivity", key=key, input={**SCOPE, "token": token})
    clock.advance(90.5)
    refresh = {**SCOPE, "refreshToken": tokens["refreshToken"]}
    refreshed = await responses.op("RefreshSession", key=None, input=refresh)
    token = refreshed["refreshSession"]["token"]
    await responses.op("ActiveSessions", key=key, **SCOPE)
    await responses.op("CurrentSession", key=token)
    await responses.op("MySessions", key=token)
    await responses.op("MyActivity", key=token)
    await responses.op("SessionActivity", key=key, product="shop", env="prd")
    await responses.op("SessionUsers", key=key, product="shop", env="prd")
    await responses.op("SessionUser", key=key, product="shop", env="prd", identifier="alice")
    await responses.op("ApiKeys", product="shop")  # lastUsedAt: the key has been used
    await responses.op("RevokeApiKey", id=created_key["createApiKey"]["apiKey"]["id"])
    await responses.op("RotateKeys", input={"product": "shop", "env": "prd"})  # retireAt

    assert set(responses.seen) == datetime_fields(), "a DateTime field no response returned"
    for field, values in responses.seen.items():
        assert values, field
        for value in values:
            assert FORMAT.fullmatch(value), (field, value)
    # Cut to milliseconds from the clock, not rounded, not shifted; a token's expiry is
    # whole seconds (its JWE claim is), and still has the three digits.
    assert created_key["createApiKey"]["apiKey"]["createdAt"] == "2027-01-15T08:00:00.123Z"
    assert tokens["expiresAt"] == "2027-01-15T09:00:00.000Z"
