"""Debian's headless Chromium, driven over the Chrome DevTools Protocol, reaching
nothing but loopback: for tests that load a page Tessera serves as a person's browser
would.

Outside CI a machine without ``chromium`` skips those tests, saying so; under
``CI=true`` they fail (.ci/run installs it)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

START_TIMEOUT = 30.0

# Every host but loopback goes to a proxy that is not there (the discard port) and
# resolves to nothing; Chromium never sends loopback to a proxy. Background services
# (updates, sync, metrics, phishing checks) are off, so the Network events the tests
# read are the page's own.
ISOLATION = [
    "--proxy-server=127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]


def chromium_binary() -> str:
    """The ``chromium`` command; skips the test without one (fails it under CI=true)."""
    found = shutil.which("chromium")
    if found is not None:
        return found
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail("CI=true but chromium is not installed (.ci/run installs it)", pytrace=False)
    pytest.skip("the browser tests need Debian's chromium (apt-get install chromium)")


class Page:
    """One page target: CDP commands, and every event it sent, in order."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._connection:
            message = json.loads(raw)
            waiter = self._pending.pop(message.get("id", 0), None)
            if waiter is not None:
                waiter.set_result(message)
            elif "method" in message:
                self.events.append(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        self._pending[number] = waiter
        await self._connection.send(json.dumps({"id": number, "method": method, "params": params}))
        reply = await asyncio.wait_for(waiter, 30)
        assert "error" not in reply, (method, reply["error"])
        result: dict[str, Any] = reply["result"]
        return result

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` (awaited if it is a promise) in the page."""
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def wait_until(self, expression: str, within: float, what: str) -> Any:
        """The first truthy value of ``expression``, polled; fails after ``within`` s."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        pytest.fail(f"not within {within}s: {what}")

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element ``selector`` names."""
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
            ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1
            )

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))

    def requested_urls(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]

    def events_named(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e["method"] == method]

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._connection.close()


@contextlib.asynccontextmanager
async def chromium_page(profile: Path, log: Path) -> AsyncIterator[Page]:
    """A headless Chromium with a fresh profile in ``profile`` and its one blank page;
    the browser is killed on exit, whatever happened."""
    binary = chromium_binary()
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            binary,
            "--headless=new",
            "--no-sandbox",  # tests run as root, where Chromium's sandbox cannot start
            "--disable-gpu",
            "--window-size=1400,900",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            *ISOLATION,
            "about:blank",
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        page_url = await _page_websocket(profile, process, log)
        async with connect(page_url, max_size=None) as connection:
            page = Page(connection)
            try:
                yield page
            finally:
                await page.close()
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 10)


async def _page_websocket(profile: Path, process: asyncio.subprocess.Process, log: Path) -> str:
    """The blank page's DevTools websocket, once Chromium says on which port it listens."""
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                output = await asyncio.to_thread(log.read_text)
                pytest.fail(f"chromium exited with {process.returncode}:\n{output}")
            port = await asyncio.to_thread(_port, port_file)
            if port is not None:
                with contextlib.suppress(httpx.TransportError):
                    targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
                    pages = [t for t in targets if t["type"] == "page"]
                    if pages:
                        url: str = pages[0]["webSocketDebuggerUrl"]
                        return url
            await asyncio.sleep(0.1)
    output = await asyncio.to_thread(log.read_text)
    pytest.fail(f"chromium not ready after {START_TIMEOUT}s:\n{output}")


def _port(port_file: Path) -> str | None:
    """The port Chromium wrote into its profile, once it has (the file's first line)."""
    if not port_file.exists():
        return None
    lines = port_file.read_text().split()
    return lines[0] if lines else None
