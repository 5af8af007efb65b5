"""/api/docs renders in headless Chromium from the server's own files (no network)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import av
import pytest
import trio
from trio_websocket import open_websocket_url

from tests.e2e.browser import Cdp, browser
from tests.support.server import running_server, server_config, url

__all__ = ["browser"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

RENDER_TIMEOUT = 30.0
TITLE = "SyncTV API - Swagger UI"


def dark_pixels(png: bytes) -> int:
    """How many pixels of the image are clearly darker than a white page (text drawn)."""
    with av.open(io.BytesIO(png)) as container:
        frame = next(container.decode(video=0))
    gray = frame.reformat(format="gray")
    plane = gray.planes[0]
    data = bytes(plane)
    width = gray.width
    return sum(
        1
        for row in range(gray.height)
        for value in data[row * plane.line_size : row * plane.line_size + width]
        if value < 128
    )


async def test_swagger_ui_renders_the_api(browser: str, tmp_path: Path, fresh_dsn: str) -> None:
    config = server_config(tmp_path / "data", fresh_dsn)
    async with running_server(config) as server:
        page_url = url(server.addresses.http, "/api/docs")
        async with open_websocket_url(browser, max_message_size=64 * 1024 * 1024) as ws:
            cdp = Cdp(ws)
            target = await cdp.call("Target.createTarget", url="about:blank")
            attached = await cdp.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            cdp.session = attached["sessionId"]
            await cdp.call("Page.navigate", url=page_url)
            state: dict[str, object] = {}
            with trio.move_on_after(RENDER_TIMEOUT):
                while True:
                    raw = await cdp.evaluate(
                        """JSON.stringify({
                            title: document.title,
                            heading: (document.querySelector('.info .title') || {}).innerText,
                            operations: [...document.querySelectorAll('.opblock-summary-path')]
                                .map(e => e.innerText),
                            error: (document.querySelector('.errors-wrapper') || {}).innerText,
                            rect: (() => {
                                const e = document.querySelector('.info .title');
                                if (!e) return null;
                                const r = e.getBoundingClientRect();
                                return {x: r.x, y: r.y, width: r.width, height: r.height};
                            })(),
                        })"""
                    )
                    state = json.loads(raw)
                    if state.get("operations"):
                        break
                    await trio.sleep(0.25)
            assert state.get("title") == TITLE, state
            assert "SyncTV API" in str(state.get("heading")), state
            assert any("/api/webrtc/ice-servers" in str(op) for op in state["operations"]), state  # type: ignore[attr-defined]
            assert not state.get("error"), state
            rect = state["rect"]
            assert isinstance(rect, dict)
            whole = await cdp.call("Page.captureScreenshot", format="png")
            (tmp_path / "api-docs.png").write_bytes(base64.b64decode(whole["data"]))
            title_shot = await cdp.call(
                "Page.captureScreenshot", format="png", clip={**rect, "scale": 1}
            )
            blank_shot = await cdp.call(
                "Page.captureScreenshot",
                format="png",
                clip={"x": 0, "y": rect["y"], "width": 8, "height": rect["height"], "scale": 1},
            )
        # The title is drawn: its area has dark (text) pixels; the page margin beside it has none.
        assert dark_pixels(base64.b64decode(title_shot["data"])) > 50
        assert dark_pixels(base64.b64decode(blank_shot["data"])) == 0
