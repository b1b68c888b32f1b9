"""GraphiQL as Tessera serves it: its own page, every file it loads served by Tessera
itself from the pinned copies in web/static/ (tests/web/test_graphiql_browser.py loads
it in a browser with no network)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from server import create_app
from service.clock import FrozenClock
from service.tessera import Tessera
from tests.conftest import make_settings
from tests.operations import operation
from web.assets import MANIFEST, OWN, VENDORED
from web.graphiql import HEADERS_TEMPLATE

PAGE = "http://tessera.test/graphql"
MANIFEST_FILES = {MANIFEST.name, "README.md"}


@asynccontextmanager
async def app_client(tmp_path: Path, mode: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(tmp_path / mode, mode=mode)
    service = await Tessera.start(settings, clock=FrozenClock(), announce=lambda key: None)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, tessera=service))
        async with httpx.AsyncClient(transport=transport, base_url="http://tessera.test") as c:
            yield c
    finally:
        await service.close()


@pytest.fixture
async def dev(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(tmp_path, "development") as client:
        yield client


@pytest.fixture
async def prod(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(tmp_path, "production") as client:
        yield client


class _Elements(HTMLParser):
    """Every element of a page with its attributes, and the text of each script."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def parse(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def loaded_urls(html: str) -> list[str]:
    """Every URL the page makes the browser load (scripts, styles, icons, ...)."""
    return [
        value
        for _, attrs in parse(html).elements
        for name, value in attrs.items()
        if name in ("src", "href") and value is not None
    ]


async def page(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/graphql", headers={"accept": "text/html"})


def manifest() -> list[dict[str, Any]]:
    packages: list[dict[str, Any]] = json.loads(MANIFEST.read_text())["packages"]
    return packages


def vendored_files() -> set[Path]:
    return {p for p in VENDORED.rglob("*") if p.is_file() and p.name not in MANIFEST_FILES}


# The vendored files ---------------------------------------------------------------------


def test_graphiql_assets_match_their_listed_sha256() -> None:
    listed = {
        VENDORED / f"{p['name']}@{p['version']}" / name: digest
        for p in manifest()
        for name, digest in p["files"].items()
    }

    actual = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in vendored_files()}

    assert actual == listed


def test_graphiql_assets_readme_lists_each_package_license_and_hash() -> None:
    readme = (VENDORED / "README.md").read_text()

    for package in manifest():
        spec = f"{package['name']}@{package['version']}"
        for name, digest in package["files"].items():
            row = f"| `{spec}/{name}` | `{spec}` | {package['license']} | `{digest}` |"
            assert row in readme


def test_graphiql_assets_each_package_is_pinned_with_its_integrity() -> None:
    for package in manifest():
        assert package["version"][0].isdigit(), package  # an exact version, not a range
        assert package["integrity"].startswith("sha512-"), package
        assert package["license"], package


# The page -------------------------------------------------------------------------------


async def test_graphiql_page_loads_only_files_tessera_serves(dev: httpx.AsyncClient) -> None:
    response = await page(dev)
    urls = loaded_urls(response.text)
    served: dict[str, bytes] = {}
    for url in urls:
        if url.startswith("data:"):
            continue
        absolute = urljoin(PAGE, url)
        assert urlsplit(absolute).netloc == "tessera.test", url
        asset = await dev.get(absolute)
        assert asset.status_code == 200, url
        served[urlsplit(absolute).path] = asset.content

    # Every script and style GraphiQL needs, byte for byte the pinned files.
    on_disk = {p.read_bytes() for p in vendored_files() if p.suffix in (".js", ".css")}
    on_disk |= {p.read_bytes() for p in OWN.iterdir()}
    assert set(served.values()) == on_disk
    assert all(path.startswith("/graphql/assets/") for path in served)


async def test_graphiql_page_runs_no_inline_script(dev: httpx.AsyncClient) -> None:
    scripts = parse((await page(dev)).text).scripts

    inline = [(a, text) for a, text in scripts if "src" not in a]
    assert [a.get("type") for a, _ in inline] == ["application/json"]
    assert all(text.strip() == "" for a, text in scripts if "src" in a)


async def test_graphiql_page_policy_allows_only_tessera(dev: httpx.AsyncClient) -> None:
    response = await page(dev)
    policy = {
        d.split()[0]: d.split()[1:]
        for d in response.headers["content-security-policy"].split(";")
        if d.strip()
    }

    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    # No source anywhere names another host.
    sources = {s for values in policy.values() for s in values}
    assert sources <= {"'self'", "'none'", "'unsafe-inline'", "data:"}
    assert "'unsafe-inline'" not in policy["script-src"]
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_graphiql_page_opens_on_seed_example_with_headers_template(
    dev: httpx.AsyncClient,
) -> None:
    scripts = parse((await page(dev)).text).scripts
    (settings_text,) = [text for a, text in scripts if a.get("type") == "application/json"]
    settings = json.loads(settings_text)

    assert settings["query"] == operation("CreateSession")
    assert json.loads(settings["headers"]) == HEADERS_TEMPLATE


def test_graphiql_settings_no_text_ends_their_script_element(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from web import graphiql

    hostile = '# </script><script>alert(1)</script> <!-- & "quotes"\n{ __typename }\n'
    (tmp_path / graphiql.EXAMPLE).write_text(hostile)
    monkeypatch.setattr(graphiql, "OPERATIONS", tmp_path)

    parsed = parse(graphiql.graphiql_html())

    (settings_text,) = [t for a, t in parsed.scripts if a.get("type") == "application/json"]
    assert json.loads(settings_text)["query"] == hostile
    assert [tag for tag, _ in parsed.elements].count("script") == 6  # data block + 5 files


# The assets route -----------------------------------------------------------------------


async def test_graphiql_assets_are_served_immutable_with_their_type(
    dev: httpx.AsyncClient,
) -> None:
    urls = [u for u in loaded_urls((await page(dev)).text) if not u.startswith("data:")]
    types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

    for url in urls:
        response = await dev.get(urljoin(PAGE, url))
        assert response.headers["content-type"] == types[Path(url).suffix], url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/graphql/assets/graphiql@3.8.3/LICENSE",
        "/graphql/assets/graphiql@0.0.1/graphiql.min.js",
        "/graphql/assets/assets.json",
        "/graphql/assets/README.md",
        "/graphql/assets/tessera@0000000000000000/graphiql.js",
        "/graphql/assets/graphiql@3.8.3/../../../graphiql.py",
        "/graphql/assets/%2e%2e/%2e%2e/pyproject.toml",
        "/graphql/assets/",
    ],
)
async def test_graphiql_assets_other_paths_are_not_found(dev: httpx.AsyncClient, path: str) -> None:
    response = await dev.get(path)

    assert response.status_code == 404


async def test_graphiql_assets_production_serves_none(
    dev: httpx.AsyncClient, prod: httpx.AsyncClient
) -> None:
    urls = [u for u in loaded_urls((await page(dev)).text) if not u.startswith("data:")]

    for url in urls:
        response = await prod.get(urljoin(PAGE, url))
        assert response.status_code == 404, url
