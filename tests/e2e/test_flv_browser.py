"""A real browser plays live HTTP-FLV: mpegts.js in headless Chromium reaches currentTime > 5.

The stream is served the way ``synctv serve`` serves it: the product's HTTP listener, where the
player's connection (the one that loaded the page, reused) is taken over by the native HTTP-FLV
path (the viewer is a member of the stream's fan-out writer; its body is chunked HTTP/1.1). mpegts.js comes from
npm (``npm install mpegts.js`` into ``.cache/mpegtsjs``, once) and is served by this test's own
route: the page loads nothing from the network. The browser fixtures are the HLS browser test's.
"""

from __future__ import annotations

import pytest
import trio

from synctv.api.http.asgi import App, Request, Response, Route
from synctv.api.http.routes.live_flv import live_flv_routes
from synctv.api.http.routes.live_flv_native import NativeFlvDelivery
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.config import LivestreamConfig
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from tests.e2e.browser import browser, npm_dist, watch_playback
from tests.livestream.hls_support import encode_flv, looped, read_tags, send, split_tags

__all__ = ["browser"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MPEGTSJS_VERSION = "1"  # major version: the page uses the 1.x API
PLAY_TIMEOUT = 60
RECORD = LiveStreamRecord("browser_flv_1", "live", None, "t", 0)

PAGE = (
    """<!doctype html>
<html><head><meta charset="utf-8"><title>flv test</title></head>
<body>
<video id="v" muted autoplay playsinline></video>
<script src="/test/mpegts.js"></script>
<script>
  window.state = {errors: [], firstTime: null, currentTime: 0,
                  supported: mpegts.getFeatureList().mseLivePlayback};
  const video = document.getElementById("v");
  const player = mpegts.createPlayer({type: "flv", isLive: true, url: "/live/STREAM_ID.flv"});
  player.on(mpegts.Events.ERROR, (type, detail) => window.state.errors.push(type + ":" + detail));
  player.attachMediaElement(video);
  player.load();
  player.play();
  video.addEventListener("timeupdate", () => {
    if (window.state.firstTime === null && video.currentTime > 0) {
      window.state.firstTime = video.currentTime;
    }
    window.state.currentTime = video.currentTime;
  });
</script>
</body></html>
"""
).replace("STREAM_ID", RECORD.stream_id)


@pytest.fixture(scope="session")
def mpegtsjs() -> bytes:
    return npm_dist("mpegts.js", MPEGTSJS_VERSION, "dist/mpegts.js")


class _Directory:
    async def get(self, stream_id: str) -> LiveStreamRecord | None:
        await trio.lowlevel.checkpoint()
        return RECORD if stream_id == RECORD.stream_id else None


async def test_mpegtsjs_plays_the_live_stream_from_the_native_front(
    mpegtsjs: bytes, browser: str, nursery: trio.Nursery
) -> None:
    config = LivestreamConfig()
    hub = StreamHub(config)
    await nursery.start(hub.run)
    directory = _Directory()

    async def script(request: Request) -> Response:
        return Response(200, mpegtsjs, [], "application/javascript")

    async def page(request: Request) -> Response:
        return Response(200, PAGE.encode(), [], "text/html; charset=utf-8")

    native = NativeFlvDelivery(hub, config)
    app = App(
        [
            *live_flv_routes(hub, directory, config, native=native),
            Route(("GET",), "/test/mpegts.js", script, "test_script"),
            Route(("GET",), "/test/index.html", page, "test_page"),
        ],
        clock=trio.current_time,
    )
    settings = HttpListenerSettings(
        "test", "127.0.0.1", 0, max_connections=100, max_connections_per_address=100
    )
    binds = await nursery.start(HttpServer(app, settings).serve)
    base = binds[0]

    headers, media = split_tags(read_tags(encode_flv(10)))
    handle = await hub.start_publish(RECORD)
    started = trio.current_time()
    nursery.start_soon(
        lambda: send(handle, [*headers, *looped(media, 10, span_ms=10_000)], paced_from=started)
    )

    state = await watch_playback(browser, f"{base}/test/index.html", PLAY_TIMEOUT)
    assert state.get("supported"), state
    assert state.get("currentTime", 0) > 5, state
    assert state["currentTime"] - state["firstTime"] > 2, state
    assert not state["errors"], state
    assert native.served >= 1  # the player's connection was taken over, not served by ASGI
