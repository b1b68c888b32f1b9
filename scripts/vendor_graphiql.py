"""Fetch GraphiQL's pinned files from npm into web/static/graphiql/ (``make graphiql-assets``).

web/static/graphiql/assets.json names each package, its version and the files of its
tarball that Tessera serves. For each package this runs ``npm pack NAME@VERSION``
(npm checks the tarball against the integrity the registry publishes), takes the named
files out of the tarball unchanged, writes them to ``<name>@<version>/<file>``, removes
every other version's directory, and writes back into assets.json the tarball's
integrity, the package's license and each file's sha256, and into README.md the table
of them. To upgrade, change a version in assets.json and run it again.

``--check`` writes nothing: it fetches the same tarballs and fails unless every
vendored file, hash and integrity is exactly what npm serves for those versions."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "web" / "static" / "graphiql"
MANIFEST = VENDORED / "assets.json"
README = VENDORED / "README.md"
TABLE_START = "<!-- assets: written by scripts/vendor_graphiql.py -->"
TABLE_END = "<!-- /assets -->"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    check = parser.parse_args().check
    manifest = json.loads(MANIFEST.read_text())
    fetched: list[tuple[dict[str, Any], dict[str, bytes]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for package in manifest["packages"]:
            fetched.append(_fetch(package, Path(tmp)))
    if check:
        return _check(fetched)
    _write(manifest, fetched)
    return 0


def _fetch(package: dict[str, Any], tmp: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The package as npm serves it (name, version, license, integrity, file hashes), and
    the bytes of the files the manifest names."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_graphiql: npm is not installed")
    spec = f"{package['name']}@{package['version']}"
    packed = subprocess.run(  # noqa: S603 - a fixed command; the spec is from the manifest
        [npm, "pack", "--json", "--pack-destination", str(tmp), spec],
        capture_output=True,
        text=True,
        check=True,
    )
    (result,) = json.loads(packed.stdout)
    files: dict[str, bytes] = {}
    with tarfile.open(tmp / result["filename"]) as tarball:
        meta = _member(tarball, "package.json")
        for name in package["files"]:
            files[name] = _member(tarball, name)
    license_ = json.loads(meta)["license"]
    served = {
        "name": result["name"],
        "version": result["version"],
        "license": license_,
        "integrity": result["integrity"],
        "files": {name: hashlib.sha256(body).hexdigest() for name, body in sorted(files.items())},
    }
    return served, files


def _member(tarball: tarfile.TarFile, name: str) -> bytes:
    member = tarball.extractfile(f"package/{name}")
    if member is None:
        sys.exit(f"vendor_graphiql: {name} is not a file in the tarball")
    return member.read()


def _check(fetched: list[tuple[dict[str, Any], dict[str, bytes]]]) -> int:
    manifest = json.loads(MANIFEST.read_text())
    problems = [
        f"{served['name']}@{served['version']}: assets.json differs from what npm serves"
        for served, _ in fetched
        if served not in manifest["packages"]
    ]
    for served, files in fetched:
        directory = VENDORED / f"{served['name']}@{served['version']}"
        problems += [
            f"{directory / name}: differs from npm's"
            for name, body in files.items()
            if not (directory / name).is_file() or (directory / name).read_bytes() != body
        ]
    for problem in problems:
        print(problem, file=sys.stderr)
    print("vendor_graphiql: " + ("DIFFERS" if problems else "every file is npm's"))
    return 1 if problems else 0


def _write(
    manifest: dict[str, Any], fetched: list[tuple[dict[str, Any], dict[str, bytes]]]
) -> None:
    keep = set()
    for served, files in fetched:
        directory = VENDORED / f"{served['name']}@{served['version']}"
        keep.add(directory)
        for name, body in files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(body)
    for directory in _version_directories():
        if directory not in keep:
            shutil.rmtree(directory)
    manifest["packages"] = [served for served, _ in fetched]
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    README.write_text(_with_table(README.read_text(), manifest["packages"]))


def _version_directories() -> list[Path]:
    """Every ``<name>@<version>`` directory, scoped names (``@scope/name@...``) too."""
    found = []
    for entry in VENDORED.iterdir():
        if entry.is_dir() and entry.name.startswith("@"):
            found += [d for d in entry.iterdir() if d.is_dir() and "@" in d.name]
        elif entry.is_dir() and "@" in entry.name:
            found.append(entry)
    return found


def _with_table(readme: str, packages: list[dict[str, Any]]) -> str:
    rows = ["| file | package | license | sha256 |", "|---|---|---|---|"]
    for package in packages:
        spec = f"{package['name']}@{package['version']}"
        for name, digest in package["files"].items():
            rows.append(f"| `{spec}/{name}` | `{spec}` | {package['license']} | `{digest}` |")
    head, _, rest = readme.partition(TABLE_START)
    _, _, tail = rest.partition(TABLE_END)
    return f"{head}{TABLE_START}\n{chr(10).join(rows)}\n{TABLE_END}{tail}"


if __name__ == "__main__":
    sys.exit(main())
