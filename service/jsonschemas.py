"""The JSON Schemas of session configs: checked, their references resolved, compiled once.

A schema's references resolve only within the schema itself and the JSON Schema
meta-schemas that ship with ``jsonschema``: the registry has no retrieve function, so
nothing a schema says ever makes Tessera open a connection or read a file, neither when
the config is saved nor when ``data.details`` are validated against it. Every reference
is resolved when the config is saved, so one that does not resolve is refused then,
naming its path, instead of failing each ``createSession`` later."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema_specifications import REGISTRY as META_SCHEMAS
from referencing import Registry, Specification
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012, specification_with

from service.errors import FieldError

# Keywords whose value is a reference jsonschema resolves (both statically, with
# ``Resolver.lookup``).
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef")
# ``Registry()`` has referencing's default retrieve, which refuses every URI it does
# not hold (``NoSuchResource``): the point of not using jsonschema's default registry,
# which fetches remote references over HTTP.
REGISTRY: Registry[Any] = META_SCHEMAS.combine(Registry())
NOT_RESOLVED = "does not resolve within the schema (remote references are never retrieved)"
NOT_A_SCHEMA = "points at a value that is not a schema"
NOT_A_STRING = "must be a string"


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A stored schema's validator, or what makes the schema unusable."""

    validator: Draft202012Validator | None
    problems: tuple[FieldError, ...] = ()


def _paths(document: Any) -> dict[int, str]:
    """The dotted path (``schema.properties.a``) of every object in ``document``, by
    identity: the walk below reaches subschemas through referencing, which hands back
    the very objects of the document but not where they sit."""
    paths: dict[int, str] = {}
    stack: list[tuple[Any, str]] = [(document, "schema")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            paths[id(value)] = path
            stack.extend((child, f"{path}.{key}") for key, child in value.items())
        elif isinstance(value, list):
            stack.extend((child, f"{path}.{i}") for i, child in enumerate(value))
    return paths


def _dialect(contents: Any, default: Specification[Any]) -> Specification[Any]:
    # As jsonschema does when it descends: a subschema's own $schema picks its dialect.
    dialect = contents.get("$schema") if isinstance(contents, dict) else None
    return default if not isinstance(dialect, str) else specification_with(dialect, default)


def unresolved_references(schema: dict[str, Any]) -> tuple[FieldError, ...]:
    """Every reference reachable from ``schema`` that does not resolve to a schema
    without retrieving anything, as ``schema.<path>.$ref`` field errors.

    The walk follows what validation can reach: the subschemas of each schema keyword,
    and the target of each reference (which may sit under a keyword jsonschema does
    not know, or in a meta-schema)."""
    paths = _paths(schema)
    root = DRAFT202012.create_resource(schema)
    # Contents are any JSON value once references lead elsewhere.
    top: Any = schema
    stack = [(top, DRAFT202012, REGISTRY.resolver_with_root(root))]
    seen: set[int] = set()
    problems: list[FieldError] = []
    while stack:
        contents, spec, resolver = stack.pop()
        if not isinstance(contents, dict) or id(contents) in seen:
            continue
        seen.add(id(contents))
        resolver = resolver.in_subresource(spec.create_resource(contents))
        for keyword in REFERENCE_KEYWORDS:
            if keyword not in contents:
                continue
            field = f"{paths.get(id(contents), 'schema')}.{keyword}"
            ref = contents[keyword]
            if not isinstance(ref, str):
                problems.append(FieldError(field, NOT_A_STRING))
                continue
            try:
                resolved = resolver.lookup(ref)
            except Unresolvable:
                problems.append(FieldError(field, NOT_RESOLVED))
                continue
            if not isinstance(resolved.contents, dict | bool):
                problems.append(FieldError(field, NOT_A_SCHEMA))
                continue
            target = resolved.contents
            stack.append((target, _dialect(target, spec), resolved.resolver))
        stack.extend((sub, _dialect(sub, spec), resolver) for sub in spec.subresources_of(contents))
    return tuple(sorted(problems, key=lambda p: p.field))


def problems_of(schema: Any) -> tuple[FieldError, ...]:
    """Why ``schema`` cannot be a session config's schema; empty if it can."""
    if not isinstance(schema, dict):
        return (FieldError("schema", "schema must be a JSON Schema object"),)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return (FieldError("schema", f"schema is not a valid JSON Schema: {exc.message}"),)
    return unresolved_references(schema)


@lru_cache(maxsize=512)
def compiled(schema_text: str) -> CompiledSchema:
    """The validator of a stored schema, compiled once per distinct text. A schema
    stored before its references were checked comes back with its problems instead,
    so using it is a typed error rather than a crash or a fetch."""
    try:
        schema = json.loads(schema_text)
    except ValueError:
        return CompiledSchema(None, (FieldError("schema", "schema is not JSON"),))
    problems = problems_of(schema)
    if problems:
        return CompiledSchema(None, problems)
    validator = Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return CompiledSchema(validator)
