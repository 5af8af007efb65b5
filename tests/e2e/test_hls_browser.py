"""A real browser plays the live HLS stream: hls.js in headless Chromium reaches currentTime > 5,
following the playlist's redirect to its viewer session once and counted as one HLS viewer.

hls.js comes from npm (``npm install hls.js`` into ``.cache/hlsjs`` under the repository, once)
and is served by this test's own route: the page loads nothing from the network. Chromium is
driven over the DevTools protocol (``--remote-debugging-port=0``; the port is read from
``DevToolsActivePort``) with trio-websocket: one target, ``Runtime.evaluate`` polls.

Skipped when chromium or npm is missing, unless ``CI=true`` (then it fails: CI must install
them).
"""

from __future__ import annotations

import pytest
import trio

from synctv.api.http.asgi import Request, Response, Route
from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.config import LivestreamConfig
from synctv.livestream.hls import HlsSegmenter
from synctv.livestream.hls_audience import HlsAudience
from synctv.livestream.hls_store import MemoryHlsStore
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from tests.e2e.browser import browser as browser  # the fixture
from tests.e2e.browser import npm_dist, watch_playback
from tests.livestream.hls_support import (
    encode_flv,
    looped,
    metric,
    read_tags,
    send,
    serve_routes,
    split_tags,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HLSJS_VERSION = "1"  # major version: the page uses the 1.x API
PLAY_TIMEOUT = 60
STREAM = "browser_1"

PAGE = (
    """<!doctype html>
<html><head><meta charset="utf-8"><title>hls test</title></head>
<body>
<video id="v" muted autoplay playsinline></video>
<script src="/test/hls.min.js"></script>
<script>
  window.state = {errors: [], firstTime: null, currentTime: 0, supported: Hls.isSupported()};
  const video = document.getElementById("v");
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_, data) => {
    window.state.errors.push(data.type + ":" + data.details + ":" + data.fatal);
  });
  hls.loadSource("/live/STREAM_ID/index.m3u8");
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
  video.addEventListener("timeupdate", () => {
    if (window.state.firstTime === null && video.currentTime > 0) {
      window.state.firstTime = video.currentTime;
    }
    window.state.currentTime = video.currentTime;
  });
</script>
</body></html>
"""
).replace("STREAM_ID", STREAM)


@pytest.fixture(scope="session")
def hlsjs() -> bytes:
    return npm_dist("hls.js", HLSJS_VERSION, "dist/hls.min.js")


async def test_hlsjs_plays_the_live_stream(
    hlsjs: bytes, browser: str, nursery: trio.Nursery
) -> None:
    hub = StreamHub(LivestreamConfig(fanout_batch_window_ms=0))
    await nursery.start(hub.run)
    store = MemoryHlsStore(64 * 1024 * 1024)
    await nursery.start(store.run)
    hub.add_stream_task_factory(HlsSegmenter(store).task_factory)

    async def script(request: Request) -> Response:
        return Response(200, hlsjs, [], "application/javascript")

    async def page(request: Request) -> Response:
        return Response(200, PAGE.encode(), [], "text/html; charset=utf-8")

    audience = HlsAudience()
    routes = [
        *live_hls_routes(store, config=LivestreamConfig(), audience=audience),
        Route(("GET",), "/test/hls.min.js", script, "test_script"),
        Route(("GET",), "/test/index.html", page, "test_page"),
    ]
    base = await serve_routes(nursery, routes)

    blocked = ("synctv_hls_playlist_requests_total", {"outcome": "blocked"})
    blocked_before = metric(*blocked)
    redirects = ("synctv_hls_playlist_requests_total", {"outcome": "session_redirect"})
    redirects_before = metric(*redirects)
    headers, media = split_tags(read_tags(encode_flv(10)))
    handle = await hub.start_publish(LiveStreamRecord(STREAM, "live", None, "t", 0))
    started = trio.current_time()
    nursery.start_soon(
        lambda: send(handle, [*headers, *looped(media, 10, span_ms=10_000)], paced_from=started)
    )

    state = await watch_playback(browser, f"{base}/test/index.html", PLAY_TIMEOUT)
    assert state.get("supported"), state
    assert state.get("currentTime", 0) > 5, state
    assert state["currentTime"] - state["firstTime"] > 2, state
    assert not [e for e in state["errors"] if e.endswith(":true")], state  # nothing fatal
    # The playlists advertise CAN-BLOCK-RELOAD=YES: hls.js reloads with _HLS_msn and is served.
    assert metric(*blocked) > blocked_before
    # hls.js followed the redirect to its session once and reloads the redirected URL: one
    # redirect, one viewer (a reload of the original URL would have made a session each time).
    assert metric(*redirects) - redirects_before == 1
    assert audience.count(STREAM) == 1
