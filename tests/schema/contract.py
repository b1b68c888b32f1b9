"""The guard against a silent change of the GraphQL contract.

The contract is the schema of the latest release, ``graphql/released/<version>.graphql``
(the version ``pyproject.toml`` holds). Between it and the schema in the code,
graphql-core finds the breaking changes (an existing operation may stop working) and the
dangerous ones (an existing client may misread an answer: a value added to an enum, a
type to a union, a default changed). CHANGELOG.md (Keep a Changelog) must record each
under the next version, ``## [Unreleased]``:

- a breaking change in an entry that names every schema element it changes as a
  coordinate in backticks (`` `Query.products` ``, `` `Query.product(tag:)` ``,
  `` `ErrorCode.NOT_FOUND` ``, `` `Product` ``) and has a ``Migration:`` note;
- a dangerous change in an entry that names its elements so.

An input type that becomes ``@oneOf`` is a breaking change too (graphql-core does not
report it).

A removed field, argument, input field or enum value must have been
``@deprecated(reason: ...)`` in the release it is removed from (a type cannot be
deprecated; it goes when nothing refers to it any more). Releases follow semantic
versioning: after a breaking change the next release's major version (its minor while
the major is 0) goes up, after additions its minor (any part while the major is 0)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    BreakingChangeType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLSchema,
    SafeChangeType,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    find_schema_changes,
    resolve_schema_coordinate,
)

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "graphql" / "released"
CHANGELOG = ROOT / "CHANGELOG.md"
PYPROJECT = ROOT / "pyproject.toml"

UNRELEASED = "Unreleased"
MIGRATION = "Migration:"

# Removals of what GraphQL lets a schema deprecate first.
_REMOVALS = frozenset(
    {
        BreakingChangeType.FIELD_REMOVED,
        BreakingChangeType.ARG_REMOVED,
        BreakingChangeType.VALUE_REMOVED_FROM_ENUM,
    }
)
_NAME = r"[_A-Za-z][_0-9A-Za-z]*"
_COORDINATE = re.compile(rf"@?{_NAME}(?:\.{_NAME})?(?:\({_NAME}:\))?")
_HEADING = re.compile(r"^## \[(?P<name>[^\]]+)\](?: - (?P<date>\d{4}-\d{2}-\d{2}))?\s*$")


@dataclass(frozen=True, order=True)
class Version:
    """A release's semantic version, ``MAJOR.MINOR.PATCH``."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        match = re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", text)
        if match is None:
            raise ValueError(f"{text!r} is not a semantic version MAJOR.MINOR.PATCH")
        return cls(*map(int, match.groups()))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class Change:
    """One breaking or dangerous change, and the schema elements it names."""

    breaking: bool
    description: str
    elements: tuple[str, ...]
    removal: bool  # of something the old schema could have deprecated


def _resolves(schema: GraphQLSchema, coordinate: str) -> bool:
    try:
        return resolve_schema_coordinate(schema, coordinate) is not None
    except (TypeError, GraphQLError):  # an unknown type, or one of the wrong kind
        return False


def _elements(description: str, old: GraphQLSchema, new: GraphQLSchema) -> tuple[str, ...]:
    """The schema coordinates a change's description names: its members, arguments and
    directives (``Type.field``, ``Type.field(arg:)``, ``@name``) — or, for a change to
    a type itself, the types it names ("X was removed from union type Y")."""
    found = [c for c in _COORDINATE.findall(description) if _resolves(old, c) or _resolves(new, c)]
    members = [c for c in found if "." in c or "(" in c or c.startswith("@")]
    return tuple(dict.fromkeys(members or found))


def _deprecated(schema: GraphQLSchema, coordinate: str) -> bool:
    resolved = resolve_schema_coordinate(schema, coordinate)
    element = None if resolved is None else resolved[-2]  # the last before its kind
    return getattr(element, "deprecation_reason", None) is not None


def _made_one_of(old: GraphQLSchema, new: GraphQLSchema) -> list[Change]:
    """Input types that became ``@oneOf``: a value that gave several fields, or none,
    stops validating. graphql-core 3.3's ``find_breaking_changes`` does not report it."""
    return [
        Change(True, f"{name} became a @oneOf input type.", (name,), False)
        for name, type_ in new.type_map.items()
        if isinstance(type_, GraphQLInputObjectType)
        and type_.is_one_of
        and isinstance(before := old.type_map.get(name), GraphQLInputObjectType)
        and not before.is_one_of
    ]


def changes(old: GraphQLSchema, new: GraphQLSchema) -> list[Change]:
    """The breaking and the dangerous changes from ``old`` to ``new``."""
    found = [
        Change(True, c.description, _elements(c.description, old, new), c.type in _REMOVALS)
        for c in find_breaking_changes(old, new)
    ]
    found += _made_one_of(old, new)
    found += [
        Change(False, c.description, _elements(c.description, old, new), False)
        for c in find_dangerous_changes(old, new)
    ]
    return found


def additions(old: GraphQLSchema, new: GraphQLSchema) -> bool:
    """Whether ``new`` adds to ``old`` (a type, field, argument, directive, ...) or
    changes it dangerously; a changed description alone adds nothing."""
    return bool(find_dangerous_changes(old, new)) or any(
        c.type is not SafeChangeType.DESCRIPTION_CHANGED
        for c in find_schema_changes(old, new)
        if isinstance(c.type, SafeChangeType)
    )


def sections(changelog: str) -> dict[str, list[str]]:
    """The entries of each version of a Keep a Changelog text, by version (or
    ``Unreleased``): each top-level list item with what is indented under it."""
    found: dict[str, list[str]] = {}
    entries: list[str] | None = None
    open_entry = after_blank = False
    for line in changelog.splitlines():
        text = line.strip()
        if (heading := _HEADING.match(line)) is not None:
            entries, open_entry = found.setdefault(heading["name"], []), False
        elif line.startswith("#"):  # a kind of change ("### Added") stays in its version
            entries = entries if line.startswith("### ") else None
            open_entry = False
        elif entries is not None and line.startswith(("- ", "* ")):
            entries.append(line[2:])
            open_entry = True
        elif entries and open_entry and text and (line[0].isspace() or not after_blank):
            entries[-1] += "\n" + text  # indented under it, or a lazy continuation
        elif text:
            open_entry = False
        after_blank = not text
    return found


def headings(changelog: str) -> list[tuple[str, str | None]]:
    """``(version or Unreleased, date)`` of each version's heading, in order."""
    return [
        (m["name"], m["date"]) for line in changelog.splitlines() if (m := _HEADING.match(line))
    ]


def _recording(entries: Iterable[str], change: Change) -> str | None:
    """The entry that records ``change``, if any."""
    for entry in entries:
        if all(f"`{element}`" in entry for element in change.elements) and (
            not change.breaking or MIGRATION in entry
        ):
            return entry
    return None


def problems(
    old: GraphQLSchema, new: GraphQLSchema, entries: list[str], *, since: str, under: str
) -> list[str]:
    """What is wrong with the way ``entries`` (the changelog's section ``under``)
    records the changes from ``old`` (release ``since``) to ``new``; nothing: ``[]``."""
    found: list[str] = []
    for change in changes(old, new):
        named = ", ".join(f"`{e}`" for e in change.elements) or change.description
        if _recording(entries, change) is None:
            if change.breaking:
                found.append(
                    f"breaking change since {since}: {change.description} Record it in "
                    f"CHANGELOG.md under ## [{under}] in an entry naming {named} with a "
                    f"`{MIGRATION}` note for clients."
                )
            else:
                found.append(
                    f"dangerous change since {since}: {change.description} Record it in "
                    f"CHANGELOG.md under ## [{under}] in an entry naming {named}."
                )
        if change.removal:
            for element in change.elements:
                if _resolves(old, element) and not _deprecated(old, element):
                    found.append(
                        f"`{element}` was removed without being deprecated in {since}: "
                        f'mark it @deprecated(reason: "...") in a release first.'
                    )
    return found


def bump_problems(
    previous: Version, version: Version, old: GraphQLSchema, new: GraphQLSchema
) -> list[str]:
    """What is wrong with releasing ``new`` as ``version`` after ``old`` as
    ``previous``, by semantic versioning; nothing: ``[]``."""
    if version <= previous:
        return [f"release {version} does not come after {previous}"]
    breaking = any(c.breaking for c in changes(old, new))
    if previous.major == 0:  # in 0.y.z the minor version is the one that says "breaking"
        major = Version(0, previous.minor + 1, 0)
    else:
        major = Version(previous.major + 1, 0, 0)
    if breaking and version < major:
        return [f"{version} breaks {previous}'s schema: it must be at least {major}"]
    minor = Version(previous.major, previous.minor + 1, 0)
    if previous.major >= 1 and version < minor and additions(old, new):
        return [f"{version} adds to {previous}'s schema: it must be at least {minor}"]
    return []


def version() -> Version:
    """The version ``pyproject.toml`` holds: the latest release."""
    with PYPROJECT.open("rb") as file:
        return Version.parse(tomllib.load(file)["project"]["version"])


def releases() -> list[tuple[Version, GraphQLSchema]]:
    """Each release's schema, oldest first."""
    found = sorted((Version.parse(p.stem), p) for p in RELEASED.glob("*.graphql"))
    return [(v, build_schema(p.read_text(), assume_valid_sdl=True)) for v, p in found]
