"""GraphiQL in a real browser with no network but loopback: a ``tessera serve`` in
development, Debian's headless Chromium (tests/chromium.py), and a person's steps:
open the page, paste the admin key into the headers, run the seed's example.

A screenshot of the page after the run is left in the test's tmp directory
(``graphiql.png``), whatever the outcome."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from service.access import generate_api_key
from tests.chromium import Page, chromium_binary, chromium_page
from tests.operations import operation
from tests.processes import Server, graphql
from web.graphiql import HEADERS_TEMPLATE

EDITOR_TIMEOUT = 60.0  # a cold start of Chromium on a loaded 2-core machine
QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
RESULT = ".result-window .CodeMirror"
RUN = ".graphiql-execute-button"
SETTINGS = "button[aria-label='Open settings dialog']"

# Installed before the page's own scripts: every Content-Security-Policy violation.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def text_of(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).CodeMirror.getValue()"


def development_server(tmp_path: Path, admin_key: str) -> Server:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update(
        {
            "TESSERA_MODE": "development",
            "TESSERA_DATA_DIR": str(tmp_path / "data"),
            "TESSERA_ADMIN_KEY": admin_key,
        }
    )
    return Server(env, tmp_path, tmp_path / "server.log")


async def open_page(page: Page, url: str) -> None:
    for domain in ("Page", "Network", "Runtime"):
        await page.send(f"{domain}.enable")
    await page.send("Page.addScriptToEvaluateOnNewDocument", source=RECORD_VIOLATIONS)
    await page.send("Page.navigate", url=url)
    await page.wait_until(
        f"!!document.querySelector({json.dumps(QUERY_EDITOR)})",
        EDITOR_TIMEOUT,
        "GraphiQL's query editor rendered",
    )


async def paste_headers(page: Page, text: str) -> None:
    """Select all of the headers editor and paste ``text``, as a person would."""
    await page.evaluate(
        f"(() => {{ const cm = document.querySelector({json.dumps(HEADERS_EDITOR)}).CodeMirror;"
        " cm.focus(); cm.execCommand('selectAll'); })()"
    )
    await page.send("Input.insertText", text=text)


async def test_graphiql_browser_offline_runs_seed_example_to_a_token(
    tmp_path: Path, servers: list[Server], client: httpx.Client
) -> None:
    chromium_binary()  # skip (or, on CI, fail) before starting anything
    admin_key = generate_api_key()
    server = development_server(tmp_path, admin_key)
    servers.append(server)
    server.wait_ready(client)
    origin = urlsplit(server.url).netloc

    async with chromium_page(tmp_path / "profile", tmp_path / "chromium.log") as page:
        try:
            await open_page(page, f"{server.url}/graphql")

            # The editor holds the seed's example and the headers the template.
            assert await page.evaluate(text_of(QUERY_EDITOR)) == operation("CreateSession")
            assert json.loads(await page.evaluate(text_of(HEADERS_EDITOR))) == HEADERS_TEMPLATE

            await paste_headers(page, json.dumps({"Authorization": f"Bearer {admin_key}"}))
            await page.click(RUN)
            shown = await page.wait_until(
                f"(() => {{ const t = {text_of(RESULT)}; return t.trim() && t; }})()",
                30,
                "the result pane shows the response",
            )
        finally:
            await page.screenshot(tmp_path / "graphiql.png")

        # A dialog adds a <style> element as it opens, which the page's policy allows.
        await page.click(SETTINGS)
        await page.wait_until(
            "!!document.querySelector('.graphiql-dialog')", 10, "the settings dialog opened"
        )

        # The run is in GraphiQL's history; its tabs are written 500 ms after a change.
        await page.wait_until(
            "!!window.localStorage.getItem('graphiql:queries')", 10, "the history stored"
        )
        await asyncio.sleep(1)
        url = await page.evaluate("window.location.href")
        stored = await page.evaluate("JSON.stringify(window.localStorage)")
        violations = await page.evaluate("window.__violations")

    # A real session token, which Tessera verifies as its own.
    assert '"token": "user-session:ey' in shown, shown
    token = json.loads(shown)["data"]["createSession"]["token"]
    verified = graphql(
        client,
        server,
        admin_key,
        "VerifySession",
        input={"product": "my-app", "env": "prd", "tag": "user-session", "token": token},
    )
    assert verified["verifySession"]["valid"] is True

    # Every request went to Tessera itself (data: URLs are the stylesheet's own fonts),
    # and every one of them succeeded: nothing the page needs comes from elsewhere.
    requested = [u for u in page.requested_urls() if not u.startswith("data:")]
    assert f"{server.url}/graphql" in requested
    assert [u for u in requested if urlsplit(u).netloc != origin] == []
    assert page.events_named("Network.loadingFailed") == []
    assert page.events_named("Runtime.exceptionThrown") == []
    assert violations == []

    # Nothing typed went into the URL, and the key is not kept in the browser's storage.
    assert url == f"{server.url}/graphql"
    assert "createSession" in stored  # GraphiQL keeps the editors' text there
    assert "paste your admin key" in stored  # the history's headers: the template
    assert admin_key not in stored
