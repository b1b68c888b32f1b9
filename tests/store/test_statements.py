"""Statements are written once and rendered per dialect: the renderer's rules, and every
statement of ``Statements`` checked against a migrated database of each kind."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from store import Store
from store.dialects import POSTGRES, SQLITE, Dialect
from store.migrations import MIGRATIONS
from store.statements import Statements

STATEMENT_NAMES = sorted(name for name in vars(Statements) if name.isupper())


@pytest.mark.parametrize(
    ("dialect", "first", "second"), [(SQLITE, "?1", "?2"), (POSTGRES, "$1", "$2")]
)
def test_render_numbers_parameters_by_first_appearance(
    dialect: Dialect, first: str, second: str
) -> None:
    rendered = dialect.render("UPDATE t SET a = :now, b = :id WHERE c <= :now AND d = :id")

    assert rendered == f"UPDATE t SET a = {first}, b = {second} WHERE c <= {first} AND d = {second}"


def test_render_leaves_casts_and_literals_alone() -> None:
    rendered = POSTGRES.render("SELECT :envs::text[], 'a:b', x::int FROM t WHERE y = :y")

    assert rendered == "SELECT $1::text[], 'a:b', x::int FROM t WHERE y = $2"


def test_render_spells_each_dialect_word() -> None:
    neutral = "SELECT id FROM t ORDER BY id{bytewise} LIMIT :limit{skip_locked}"

    assert SQLITE.render(neutral) == "SELECT id FROM t ORDER BY id LIMIT ?1"
    assert POSTGRES.render(neutral) == (
        'SELECT id FROM t ORDER BY id COLLATE "C" LIMIT $1 FOR UPDATE SKIP LOCKED'
    )


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=lambda d: d.name)
def test_statements_render_completely(dialect: Dialect) -> None:
    sql = Statements(dialect)
    for name in STATEMENT_NAMES:
        text = getattr(sql, name)
        assert "{" not in text and "}" not in text, name
        assert not re.search(r"(?<![:\w]):[a-z_]", text), name
    for migration in MIGRATIONS:
        for statement in migration.render(dialect):
            assert "{" not in statement and ";" not in statement, migration.name


def _parameter_count(text: str) -> int:
    return max((int(n) for n in re.findall(r"[?$](\d+)", text)), default=0)


async def test_every_statement_is_valid_on_the_migrated_schema(
    store: Store, database_url: str
) -> None:
    # Statements the contract tests may not reach are still parsed and planned here.
    if database_url.startswith("sqlite:///"):
        sql = Statements(SQLITE)
        with sqlite3.connect(Path(database_url.removeprefix("sqlite:///"))) as db:
            for name in STATEMENT_NAMES:
                text = getattr(sql, name)
                db.execute(f"EXPLAIN {text}", (None,) * _parameter_count(text))
        return
    sql = Statements(POSTGRES)
    conn = await asyncpg.connect(database_url)
    try:
        for name in STATEMENT_NAMES:
            await conn.prepare(getattr(sql, name))
    finally:
        await conn.close()
