"""Every element of the schema says what it means: each type, field, argument, input
field, enum value, union and scalar Tessera defines has a description, and a real one
(not its own name again, not a placeholder), which GraphiQL's documentation explorer and
the clients generated from graphql/schema.graphql show.

The schema walked is the one introspection serves (graphql-core's, as Strawberry built
it) and the committed SDL, which gateways and code generators read. Left out are what
Tessera does not define, each for its reason in ``NOT_OURS``."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    is_introspection_type,
    is_specified_directive,
    is_specified_scalar_type,
)

from schema import schema
from schema.engine import graphql_schema
from tests.schema.contract import ROOT

SDL = ROOT / "graphql" / "schema.graphql"

NOT_OURS = {
    # Apollo Federation's subgraph spec: Strawberry's federation schema adds them, their
    # meaning is the spec's, and only gateways read them (`_entities` and `_Entity` are
    # Tessera's own and described).
    "_Any": "federation",
    "_Service": "federation",
    "Query._service": "federation",
    "_FieldSet": "federation",
    "@key": "federation",
    # The core-schema spec behind `@link` (federation imports it); not in the SDL.
    "link__Import": "link",
    "link__Purpose": "link",
    "@link": "link",
}
"""Elements left out, besides GraphQL's own (introspection types, the specified scalars
and directives: the specification documents them)."""

MIN_LENGTH = 12
PLACEHOLDER = re.compile(r"\b(todo|fixme|tbd|xxx|lorem|placeholder)\b", re.I)


def _ours(name: str) -> bool:
    return name not in NOT_OURS and re.split(r"[.(]", name)[0] not in NOT_OURS


def _types(schema: GraphQLSchema) -> Iterator[GraphQLNamedType]:
    for named in schema.type_map.values():
        if not (is_introspection_type(named) or is_specified_scalar_type(named)):
            yield named


def described(schema: GraphQLSchema) -> Iterator[tuple[str, str | None]]:
    """``(coordinate, description)`` of every element Tessera defines in ``schema``."""
    found: list[tuple[str, str | None]] = []
    for named in _types(schema):
        found.append((named.name, named.description))
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for name, field in named.fields.items():
                found.append((f"{named.name}.{name}", field.description))
                for arg_name, arg in field.args.items():
                    found.append((f"{named.name}.{name}({arg_name}:)", arg.description))
        elif isinstance(named, GraphQLInputObjectType):
            for name, input_field in named.fields.items():
                found.append((f"{named.name}.{name}", input_field.description))
        elif isinstance(named, GraphQLEnumType):
            for name, value in named.values.items():
                found.append((f"{named.name}.{name}", value.description))
    for directive in schema.directives:
        if not is_specified_directive(directive):
            found.append((f"@{directive.name}", directive.description))
            for arg_name, arg in directive.args.items():
                found.append((f"@{directive.name}({arg_name}:)", arg.description))
    return (item for item in found if _ours(item[0]))


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def problems(schema: GraphQLSchema) -> list[str]:
    """What is wrong with the descriptions of ``schema``, one line per element."""
    found = []
    for coordinate, description in described(schema):
        text = (description or "").strip()
        element = re.sub(r"[@()]|:\)$", "", coordinate).split(".")[-1].rstrip(":")
        if not text:
            found.append(f"{coordinate}: no description")
        elif len(text) < MIN_LENGTH or _words(text) == _words(element):
            found.append(f"{coordinate}: {text!r} says no more than its name")
        elif PLACEHOLDER.search(text):
            found.append(f"{coordinate}: {text!r} is a placeholder")
        elif not (text[0].isupper() or text[0] in "`$\"'[") or text[-1] not in ".)`":
            found.append(f"{coordinate}: {text!r} is not a sentence (capital to full stop)")
    return found


SCHEMAS = {
    "introspection": lambda: graphql_schema(schema),
    "committed-sdl": lambda: build_schema(SDL.read_text(), assume_valid_sdl=True),
}


@pytest.mark.parametrize("which", SCHEMAS)
def test_descriptions_document_every_element(which: str) -> None:
    found = problems(SCHEMAS[which]())

    assert found == [], "undocumented schema elements:\n" + "\n".join(found)


def test_descriptions_walk_reaches_every_kind_of_element() -> None:
    coordinates = {coordinate for coordinate, _ in described(graphql_schema(schema))}

    assert {
        "Session",  # a type
        "Session.id",  # a field
        "Query.activeSessions(first:)",  # an argument
        "RevokeSessionTarget.sessionId",  # an input field
        "ErrorCode.SESSION_REVOKED",  # an enum value
        "CreateSessionResult",  # a union
        "DateTime",  # a scalar
        "_Entity",  # federation's, but Tessera's own union
        "Query._entities(representations:)",
    } <= coordinates
    assert not coordinates & {"String", "__Type", "@deprecated", "_Any", "Query._service"}


def test_descriptions_checker_names_each_undocumented_or_placeholder_element() -> None:
    sdl = '''
        """A thing of the test."""
        type Query {
          "Look one thing up by its name."
          thing(name: String): Thing
          other: Int
        }

        """Thing."""
        type Thing {
          "todo: write this one"
          kind: Kind
          "Name"
          name: String
        }

        "What a thing is, in a word."
        enum Kind { A "lower-case start and no stop" B }

        directive @mine(level: Int) on FIELD_DEFINITION
    '''

    assert problems(build_schema(sdl)) == [
        "Query.thing(name:): no description",
        "Query.other: no description",
        "Thing: 'Thing.' says no more than its name",
        "Thing.kind: 'todo: write this one' is a placeholder",
        "Thing.name: 'Name' says no more than its name",
        "Kind.A: no description",
        "Kind.B: 'lower-case start and no stop' is not a sentence (capital to full stop)",
        "@mine: no description",
        "@mine(level:): no description",
    ]
