"""GraphiQL's static files, served by Tessera itself at ``/graphql/assets/`` (development).

Two kinds: the pinned npm files vendored in web/static/graphiql/ (assets.json names
them; scripts/vendor_graphiql.py fetches them), at ``<package>@<version>/<file>``; and
Tessera's own page script and style in web/static/tessera/, at
``tessera@<digest>/<file>``. Every path names what is behind it, so each is served
``immutable``: a browser loads it once per version."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

STATIC = Path(__file__).resolve().parent / "static"
VENDORED = STATIC / "graphiql"
MANIFEST = VENDORED / "assets.json"
OWN = STATIC / "tessera"
ROUTE = "/graphql/assets"
PATH = f"{ROUTE}/{{path:path}}"

_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_HEADERS = {
    "cache-control": "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str


class Assets:
    """The files the GraphiQL page loads, read once; nothing else is served (a path is a
    key of a fixed table, never joined onto a directory)."""

    def __init__(self) -> None:
        self._files: dict[str, _File] = {}
        self._paths: dict[tuple[str, str], str] = {}
        for package in json.loads(MANIFEST.read_text())["packages"]:
            base = f"{package['name']}@{package['version']}"
            for name in package["files"]:
                self._add(package["name"], name, f"{base}/{name}", VENDORED / base / name)
        for own in sorted(OWN.iterdir()):
            digest = hashlib.sha256(own.read_bytes()).hexdigest()[:16]
            self._add("tessera", own.name, f"tessera@{digest}/{own.name}", own)

    def _add(self, package: str, name: str, path: str, file: Path) -> None:
        media_type = _MEDIA_TYPES.get(file.suffix)
        if media_type is None:  # LICENSE files: vendored for the repository, not served
            return
        self._files[path] = _File(file.read_bytes(), media_type)
        self._paths[package, name] = path

    def url(self, package: str, name: str) -> str:
        """Where the page loads ``name`` of ``package`` (``tessera`` for Tessera's own),
        relative to the page at ``/graphql``, so that a path prefix added by a proxy in
        front of Tessera is kept."""
        return f"{ROUTE.lstrip('/')}/{self._paths[package, name]}"

    async def handle(self, request: Request) -> Response:
        found = self._files.get(request.path_params["path"])
        if found is None:
            return PlainTextResponse("Not Found", 404)
        return Response(found.body, media_type=found.media_type, headers=_HEADERS)


@cache
def assets() -> Assets:
    """The one table of assets, read on first use (only development uses it)."""
    return Assets()
