"""Headless Chromium for the browser tests, driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-port=0``; the port is read from
``DevToolsActivePort`` and trio-websocket talks to it: one target, ``Runtime.evaluate`` polls.
Skipped when chromium is missing, unless ``CI=true`` (then it fails: CI must install it).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NPM = shutil.which("npm")


def _require(tool: str | None, name: str) -> str:
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required in CI")
        pytest.skip(f"{name} not installed")
    return tool


class Cdp:
    """The few DevTools protocol calls the test needs, on one flattened page session."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        await self.ws.send_message(json.dumps(message))
        while True:
            reply = json.loads(await self.ws.get_message())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[str]:
    """Chromium with a DevTools endpoint; yields the browser's websocket URL."""
    chromium = _require(CHROMIUM, "chromium")
    profile = tmp_path / "profile"
    argv = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
    ]  # fmt: skip
    async with trio.open_nursery() as nursery:
        process = await nursery.start(
            partial(
                trio.run_process,
                argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        )
        port_file = profile / "DevToolsActivePort"
        with trio.fail_after(30):
            while not port_file.exists() or len(port_file.read_text().split()) < 2:  # noqa: ASYNC110
                await trio.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        try:
            yield f"ws://127.0.0.1:{port}{path}"
        finally:
            process.terminate()
            with trio.move_on_after(10):
                await process.wait()
            process.kill()


async def watch_playback(browser: str, page_url: str, timeout: float) -> dict[str, Any]:
    """Open ``page_url`` and poll its ``window.state`` until the video played past 5 s and
    advanced more than 2 s since its first frame (or ``timeout``); the last state seen."""
    state: dict[str, Any] = {}
    async with open_websocket_url(browser, max_message_size=16 * 1024 * 1024) as ws:
        cdp = Cdp(ws)
        target = await cdp.call("Target.createTarget", url="about:blank")
        attached = await cdp.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        cdp.session = attached["sessionId"]
        await cdp.call("Page.navigate", url=page_url)
        with trio.move_on_after(timeout):
            while True:
                raw = await cdp.evaluate("JSON.stringify(window.state || null)")
                state = (json.loads(raw) if raw else None) or {}
                first = state.get("firstTime")
                if (
                    first is not None
                    and state["currentTime"] > 5
                    and state["currentTime"] - first > 2
                ):
                    break
                await trio.sleep(0.25)
    return state


def npm_dist(package: str, major: str, dist: str) -> bytes:
    """A player library's file from npm (``npm install PACKAGE@MAJOR`` into ``.cache/``, once),
    for a test page to load from the test's own route: the page loads nothing from the network.
    """
    npm = _require(NPM, "npm")
    cache = REPO / ".cache" / package.replace(".", "")
    path = cache / "node_modules" / package / dist
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", f"{package}@{major}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return path.read_bytes()
