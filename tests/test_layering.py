"""The layering rule of the README's Layout section, read from the source with ``ast``.

``server -> web -> schema -> resolvers -> service -> store``: service/ knows nothing of
GraphQL or HTTP, store/ knows nothing of the service, schema/ and resolvers/ never reach
back to the HTTP edge or the server, graphql/ holds no Python, and nothing a request runs
through imports SQLAlchemy."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("service", "store", "resolvers", "schema", "web")
TOP_MODULES = ("server", "cli")
WEB = frozenset(
    {"strawberry", "starlette", "uvicorn", "graphql", "web", "schema", "resolvers", "server"}
)
# Table definitions and Alembic migrations may use SQLAlchemy; they run
# at migrate time, never on a request, so the request-path check does not enter them.
MIGRATION_ONLY = ("store.migrations", "store.tables", "store.alembic")


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    names: tuple[str, ...]  # for ``from module import names``
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_in(source: str, module: str, *, is_package: bool) -> Iterator[Import]:
    """Every import anywhere in the module: top level, in functions, under TYPE_CHECKING,
    and ``importlib.import_module``/``__import__`` calls with a literal name."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            yield Import(target, tuple(a.name for a in node.names), node.lineno)
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            yield Import(node.args[0].value, (), node.lineno)


@cache
def source_files() -> dict[str, Path]:
    """Project module name -> file, for every module the app or the CLI can load."""
    files = [ROOT / f"{name}.py" for name in TOP_MODULES]
    for package in PACKAGES:
        files.extend(sorted((ROOT / package).rglob("*.py")))
    return {module_name(f): f for f in files if f.exists()}


@cache
def module_imports(module: str) -> tuple[Import, ...]:
    path = source_files()[module]
    return tuple(imports_in(path.read_text(), module, is_package=path.name == "__init__.py"))


def top(name: str) -> str:
    return name.partition(".")[0]


def violations(package: str, forbidden: frozenset[str]) -> list[str]:
    found = []
    for module, path in source_files().items():
        if top(module) != package:
            continue
        for imp in module_imports(module):
            if top(imp.module) in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{imp.line} imports {imp.module}")
    return found


def local_targets(imp: Import) -> set[str]:
    """Project modules an import statement loads (parent packages included)."""
    modules = source_files()
    parts = imp.module.split(".")
    loaded = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    loaded |= {f"{imp.module}.{name}" for name in imp.names}
    return {m for m in loaded if m in modules}


def request_path(start: str = "server") -> set[str]:
    """Project modules reachable by imports from ``start``, migration-only ones excluded."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen or module.startswith(MIGRATION_ONLY):
            continue
        seen.add(module)
        for imp in module_imports(module):
            todo.extend(local_targets(imp))
    return seen


# The checker itself -----------------------------------------------------------------


def test_imports_in_finds_every_kind_of_import() -> None:
    source = """
from __future__ import annotations
import os.path
from typing import TYPE_CHECKING
from . import sibling
from ..store import records
if TYPE_CHECKING:
    from strawberry.types import Info
def lazy():
    import starlette.requests
    importlib.import_module("uvicorn")
    __import__("graphql")
"""
    found = {i.module for i in imports_in(source, "service.sub.mod", is_package=False)}

    assert {
        "os.path",
        "service.sub",
        "service.store",
        "strawberry.types",
        "starlette.requests",
        "uvicorn",
        "graphql",
    } <= found


def test_request_path_covers_every_layer() -> None:
    reached = request_path()

    assert {
        "server",
        "web.endpoint",
        "schema",
        "resolvers.sessions",
        "service.tessera",
        "store.sqlite",
    } <= reached
    assert "cli" not in reached


# The rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("service", WEB | {"cli"}),
        ("store", WEB | {"service", "cli"}),
        ("resolvers", frozenset({"server", "cli", "web"})),
        ("schema", frozenset({"server", "cli", "web"})),
        ("web", frozenset({"server", "cli"})),
    ],
)
def test_layer_imports_only_downward(package: str, forbidden: frozenset[str]) -> None:
    assert any(top(m) == package for m in source_files()), f"no modules in {package}/"
    assert violations(package, forbidden) == []


def test_graphql_dir_has_no_python_files() -> None:
    directory = ROOT / "graphql"
    assert directory.is_dir()

    python = [
        p.relative_to(ROOT)
        for p in directory.rglob("*")
        if p.suffix in {".py", ".pyi", ".pyc", ".pyx", ".so"}
    ]
    assert python == []


def test_request_path_never_imports_sqlalchemy() -> None:
    offenders = [
        f"{source_files()[module].relative_to(ROOT)}:{imp.line} imports {imp.module}"
        for module in sorted(request_path())
        for imp in module_imports(module)
        if top(imp.module) in {"sqlalchemy", "alembic"}
    ]
    assert offenders == []
