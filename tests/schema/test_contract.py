"""No silent change of the GraphQL contract: the schema in the code against the latest
release's, each release against the one before, and CHANGELOG.md as the record of both
(tests/schema/contract.py says the rules)."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from graphql import GraphQLSchema, build_schema

from schema import schema
from schema.engine import graphql_schema
from tests.schema import contract
from tests.schema.contract import UNRELEASED, Version

SDL = schema.as_str()
PRODUCTS = "  products: [Product!]!\n"
# The field with its description, which a removal takes along.
PRODUCTS_DESCRIBED = re.compile(r'(  """(?:(?!""").)*"""\n)?' + re.escape(PRODUCTS), re.DOTALL)
# Keep a Changelog's kinds of change.
KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def sdl_schema(sdl: str) -> GraphQLSchema:
    """The schema an SDL describes; a subgraph's SDL uses federation's directives
    (``@link``, ``@key``), which it does not define."""
    return build_schema(sdl, assume_valid_sdl=True)


def edited(sdl: str, old: str, new: str) -> str:
    assert old in sdl, f"the schema no longer has {old!r}: pick another element"
    return sdl.replace(old, new, 1)


def without_products(sdl: str) -> str:
    """``sdl`` without ``Query.products`` (and its description)."""
    removed, count = PRODUCTS_DESCRIBED.subn("", sdl, count=1)
    assert count == 1, "the schema no longer has Query.products: pick another element"
    return removed


def problems(old: str, new: str, changelog: str = "## [Unreleased]\n") -> list[str]:
    """The guard's verdict on the change from SDL ``old`` to SDL ``new``, recorded by
    ``changelog`` (nothing recorded by default)."""
    entries = contract.sections(changelog).get(UNRELEASED, [])
    return contract.problems(
        sdl_schema(old), sdl_schema(new), entries, since="0.1.0", under=UNRELEASED
    )


# The project's own contract --------------------------------------------------------


def test_pyproject_version_is_the_latest_release() -> None:
    version = contract.version()
    released = [v for v, _ in contract.releases()]

    assert released and released[-1] == version, (
        f"pyproject.toml says {version}, graphql/released/ holds {[str(v) for v in released]}: "
        f"a release copies graphql/schema.graphql to graphql/released/<version>.graphql"
    )
    dated = dict(contract.headings(contract.CHANGELOG.read_text()))
    assert dated.get(str(version)) is not None, f"CHANGELOG.md has no dated ## [{version}]"


def test_changelog_follows_keep_a_changelog() -> None:
    text = contract.CHANGELOG.read_text()
    headings = contract.headings(text)

    assert text.splitlines()[0] == "# Changelog"
    assert headings[0] == (UNRELEASED, None)
    versions = [Version.parse(name) for name, _ in headings[1:]]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == len(versions)
    assert all(date is not None for _, date in headings[1:])
    assert set(versions) == {v for v, _ in contract.releases()}
    kinds = set(re.findall(r"^### (.*)$", text, flags=re.MULTILINE))
    assert kinds <= KINDS, f"not a Keep a Changelog kind of change: {kinds - KINDS}"


def test_code_schema_changes_nothing_unrecorded_since_the_latest_release() -> None:
    version, released = contract.releases()[-1]
    entries = contract.sections(contract.CHANGELOG.read_text()).get(UNRELEASED, [])

    found = contract.problems(
        released, graphql_schema(schema), entries, since=str(version), under=UNRELEASED
    )

    assert found == [], "\n".join(found)


def test_each_release_recorded_its_changes_with_a_semantic_version() -> None:
    sections = contract.sections(contract.CHANGELOG.read_text())
    releases = contract.releases()
    found: list[str] = []
    for (previous, old), (version, new) in pairwise(releases):
        entries = sections.get(str(version), [])
        found += contract.problems(old, new, entries, since=str(previous), under=str(version))
        found += contract.bump_problems(previous, version, old, new)

    assert found == [], "\n".join(found)


# The guard itself ------------------------------------------------------------------


def test_guard_fails_on_a_removed_field_naming_it() -> None:
    found = problems(SDL, without_products(SDL))

    assert [p for p in found if p.startswith("breaking change")] == [
        "breaking change since 0.1.0: Field Query.products was removed. Record it in "
        "CHANGELOG.md under ## [Unreleased] in an entry naming `Query.products` with a "
        "`Migration:` note for clients."
    ]
    assert any(p.startswith("`Query.products` was removed without being deprecated") for p in found)


def test_guard_passes_a_deprecated_field_removed_with_a_migration_note() -> None:
    deprecated = edited(
        SDL, PRODUCTS, '  products: [Product!]! @deprecated(reason: "Use catalog")\n'
    )
    removed = without_products(SDL)
    changelog = (
        "## [Unreleased]\n\n### Removed\n\n"
        "- `Query.products`, deprecated since 0.1.0.\n"
        "  Migration: list products with `Query.catalog`.\n"
    )

    assert problems(deprecated, removed, changelog) == []
    assert problems(deprecated, removed) != []


@pytest.mark.parametrize(
    "entry",
    [
        "- `Query.products` was removed.\n",  # no migration note
        "- `Query.product` was removed. Migration: none.\n",  # another element
        "- Query.products was removed. Migration: none.\n",  # not named as a coordinate
    ],
)
def test_guard_fails_a_removal_recorded_wrongly(entry: str) -> None:
    deprecated = edited(SDL, PRODUCTS, '  products: [Product!]! @deprecated(reason: "gone")\n')

    found = problems(deprecated, without_products(SDL), f"## [Unreleased]\n{entry}")

    assert len(found) == 1 and "`Query.products`" in found[0]


def test_guard_fails_a_field_removed_without_deprecation_even_when_recorded() -> None:
    changelog = "## [Unreleased]\n- `Query.products` removed. Migration: none.\n"

    found = problems(SDL, without_products(SDL), changelog)

    assert found == [
        "`Query.products` was removed without being deprecated in 0.1.0: mark it "
        '@deprecated(reason: "...") in a release first.'
    ]


def test_guard_fails_on_an_argument_changing_type_until_recorded() -> None:
    tag = "    tag: String!\n  ): Product\n"  # Query.product(tag:), after its description
    changed = edited(SDL, tag, tag.replace("String!", "Int!"))
    changelog = "## [Unreleased]\n### Changed\n- `Query.product(tag:)` is an Int.\n"

    assert "`Query.product(tag:)`" in problems(SDL, changed, changelog)[0]
    assert problems(SDL, changed, changelog.replace(".\n", ". Migration: send a number.\n")) == []


def test_guard_fails_on_an_input_type_made_one_of_until_recorded() -> None:
    # Every field of a @oneOf input is nullable: a copy of one made @oneOf.
    target = "input RevokeSessionTarget @oneOf {"
    plain = edited(SDL, target, "input RevokeSessionTarget {")
    changelog = "## [Unreleased]\n### Changed\n- `RevokeSessionTarget` is @oneOf.\n"

    assert problems(plain, SDL) == [
        "breaking change since 0.1.0: RevokeSessionTarget became a @oneOf input type. "
        "Record it in CHANGELOG.md under ## [Unreleased] in an entry naming "
        "`RevokeSessionTarget` with a `Migration:` note for clients."
    ]
    assert "`RevokeSessionTarget`" in problems(plain, SDL, changelog)[0]
    assert problems(plain, SDL, changelog.replace(".\n", ". Migration: give one.\n")) == []
    assert problems(SDL, plain) == []  # no longer @oneOf: every value still validates


def test_guard_requires_a_dangerous_change_to_be_named() -> None:
    added = edited(SDL, "enum ErrorCode {\n", "enum ErrorCode {\n  BRAND_NEW\n")

    found = problems(SDL, added)

    assert len(found) == 1 and found[0].startswith("dangerous change")
    assert "`ErrorCode.BRAND_NEW`" in found[0]
    assert problems(SDL, added, "## [Unreleased]\n- `ErrorCode.BRAND_NEW`, a new code.\n") == []


def test_guard_lets_additions_and_deprecations_through() -> None:
    added = edited(SDL, "type Query {\n", "type Query {\n  catalog: [Product!]!\n")
    deprecated = edited(added, PRODUCTS, '  products: [Product!]! @deprecated(reason: "x")\n')

    assert problems(SDL, deprecated) == []


def test_sections_reads_each_entry_with_what_is_under_it() -> None:
    text = (
        "# Changelog\n\n## [Unreleased]\n\n### Removed\n\n- `A.b` went.\n"
        "  Migration: use\n  `A.c`.\n- `D` went\ntoo.\n\n### Added\n\nA paragraph.\n"
        "- `E`\n\n## [1.0.0] - 2027-01-01\n\n* `F`\n\n[Unreleased]: https://example.com\n"
    )

    assert contract.sections(text) == {
        UNRELEASED: ["`A.b` went.\nMigration: use\n`A.c`.", "`D` went\ntoo.", "`E`"],
        "1.0.0": ["`F`"],
    }
    assert contract.headings(text) == [(UNRELEASED, None), ("1.0.0", "2027-01-01")]


# Semantic versioning ----------------------------------------------------------------

SCHEMAS = {
    "breaking": without_products(SDL),
    "addition": edited(SDL, "type Query {\n", "type Query {\n  catalog: [Product!]!\n"),
    "none": SDL,
}


@pytest.mark.parametrize(
    ("previous", "version", "change", "verdict"),
    [
        ("0.1.0", "0.1.1", "breaking", "it must be at least 0.2.0"),
        ("0.1.0", "0.2.0", "breaking", None),
        ("0.1.0", "1.0.0", "breaking", None),
        ("1.2.3", "1.3.0", "breaking", "it must be at least 2.0.0"),
        ("1.2.3", "2.0.0", "breaking", None),
        ("1.2.3", "1.2.4", "addition", "it must be at least 1.3.0"),
        ("1.2.3", "1.3.0", "addition", None),
        ("0.1.0", "0.1.1", "addition", None),
        ("1.2.3", "1.2.4", "none", None),
        ("1.2.3", "1.2.3", "none", "does not come after"),
        ("1.2.3", "1.2.2", "none", "does not come after"),
    ],
)
def test_bump_follows_semantic_versioning(
    previous: str, version: str, change: str, verdict: str | None
) -> None:
    old: GraphQLSchema = sdl_schema(SDL)

    found = contract.bump_problems(
        Version.parse(previous), Version.parse(version), old, sdl_schema(SCHEMAS[change])
    )

    assert found == [] if verdict is None else (len(found) == 1 and verdict in found[0])


@pytest.mark.parametrize("text", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "1.0.x", ""])
def test_version_refuses_what_is_not_a_semantic_version(text: str) -> None:
    with pytest.raises(ValueError, match="not a semantic version"):
        Version.parse(text)
