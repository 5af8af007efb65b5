"""HLS routes over ASGI: content types, caching headers, ETag, ranges, CORS, errors, blocking."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from synctv.api.http.asgi import App, WebPolicy
from synctv.api.http.cors import CorsPolicy
from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.config import LivestreamConfig
from synctv.livestream.hls_store import MemoryHlsStore
from synctv.livestream.registry import LiveStreamRecord
from tests.livestream.hls_support import Reply, stored_stream
from tests.livestream.hls_support import asgi_call as call

SEGMENT = bytes(range(256)) * 40  # 10240 bytes
PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:3\n"
# What the routes serve: the stored playlist plus the blocking-reload advertisement.
SERVED = PLAYLIST + "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n"


class Directory:
    async def get(self, stream_id: str) -> LiveStreamRecord | None:
        return LiveStreamRecord(stream_id, "live", None, "", 0) if stream_id == "known" else None


@pytest.fixture
async def store() -> MemoryHlsStore:
    return await stored_stream(PLAYLIST, SEGMENT, target_duration=3)


def make_app(store: MemoryHlsStore, origins: tuple[str, ...] = ("*",)) -> App:
    config = LivestreamConfig(hls_segment_seconds=2.0)
    routes = live_hls_routes(store, config=config, directory=Directory())
    return App(routes, clock=trio.current_time, policy=WebPolicy(cors=CorsPolicy(origins)))


async def test_playlist(store: MemoryHlsStore) -> None:
    reply = await call(make_app(store), "/live/abc/index.m3u8")
    assert reply.status == 200
    assert reply.body == SERVED.encode()
    assert reply.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["access-control-allow-origin"] == "*"
    head = await call(make_app(store), "/live/abc/index.m3u8", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(SERVED))


async def test_segment_with_etag_and_304(store: MemoryHlsStore) -> None:
    app = make_app(store)
    reply = await call(app, "/live/abc/11.ts")
    assert reply.status == 200
    assert reply.body == SEGMENT
    assert reply.headers["content-type"] == "video/mp2t"
    assert reply.headers["cache-control"].startswith("public, max-age=")
    assert reply.headers["accept-ranges"] == "bytes"
    etag = reply.headers["etag"]
    again = await call(app, "/live/abc/11.ts", {"If-None-Match": f'"nope", {etag}'})
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == etag
    head = await call(app, "/live/abc/11.ts", method="HEAD")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "10240")


@pytest.mark.parametrize(
    ("range_value", "status", "content_range", "body"),
    [
        ("bytes=0-99", 206, "bytes 0-99/10240", SEGMENT[:100]),
        ("bytes=10000-", 206, "bytes 10000-10239/10240", SEGMENT[10000:]),
        ("bytes=-40", 206, "bytes 10200-10239/10240", SEGMENT[-40:]),
        ("bytes=100-99999", 206, "bytes 100-10239/10240", SEGMENT[100:]),
        ("bytes=0-", 200, None, SEGMENT),
        ("bytes=0-1,5-6", 200, None, SEGMENT),  # several ranges: the whole segment
        ("items=0-1", 200, None, SEGMENT),  # another unit: ignored
    ],
)
async def test_segment_ranges(
    store: MemoryHlsStore,
    range_value: str,
    status: int,
    content_range: str | None,
    body: bytes,
) -> None:
    reply = await call(make_app(store), "/live/abc/10.ts", {"Range": range_value})
    assert reply.status == status
    assert reply.headers.get("content-range") == content_range
    assert reply.body == body


@pytest.mark.parametrize("range_value", ["bytes=10240-", "bytes=-0", "bytes=99999999999999999999-"])
async def test_unsatisfiable_range_is_416(store: MemoryHlsStore, range_value: str) -> None:
    reply = await call(make_app(store), "/live/abc/10.ts", {"Range": range_value})
    assert reply.status == 416
    assert reply.json()["code"] == "range_not_satisfiable"
    assert reply.headers["content-range"] == "bytes */10240"


@pytest.mark.parametrize("range_value", ["bytes=5-1", "bytes=x-", "bytes=abc", "items=0-1"])
async def test_invalid_range_is_ignored(store: MemoryHlsStore, range_value: str) -> None:
    # RFC 9110 §14.2: a server MAY ignore an invalid Range; the media proxy does, and so does
    # this route, so a player gets one behaviour from both.
    reply = await call(make_app(store), "/live/abc/10.ts", {"Range": range_value})
    assert reply.status == 200
    assert reply.body == SEGMENT


async def test_a_huge_last_position_means_to_the_end(store: MemoryHlsStore) -> None:
    reply = await call(
        make_app(store), "/live/abc/10.ts", {"Range": "bytes=10-9223372036854775807"}
    )
    assert reply.status == 206
    assert reply.headers["content-range"] == "bytes 10-10239/10240"
    assert reply.body == SEGMENT[10:]


async def test_if_range_with_an_old_etag_gets_the_whole_segment(store: MemoryHlsStore) -> None:
    reply = await call(
        make_app(store), "/live/abc/10.ts", {"Range": "bytes=0-9", "If-Range": '"old"'}
    )
    assert reply.status == 200
    assert reply.body == SEGMENT


async def test_not_found(store: MemoryHlsStore) -> None:
    app = make_app(store)
    unknown = await call(app, "/live/zzz/index.m3u8")
    assert (unknown.status, unknown.json()["code"]) == (404, "stream_not_found")
    assert unknown.headers["access-control-allow-origin"] == "*"
    known = await call(app, "/live/known/index.m3u8")
    assert (known.status, known.json()["code"]) == (503, "stream_not_live")
    evicted = await call(app, "/live/abc/9.ts")
    assert (evicted.status, evicted.json()["code"]) == (404, "segment_not_found")
    no_stream = await call(app, "/live/zzz/9.ts")
    assert (no_stream.status, no_stream.json()["code"]) == (404, "stream_not_found")
    huge = await call(app, "/live/abc/99999999999999999999999.ts")
    assert (huge.status, huge.json()["code"]) == (404, "segment_not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/live/../index.m3u8",
        "/live/..%2f/index.m3u8",
        "/live/a.b/index.m3u8",
        "/live/" + "x" * 65 + "/index.m3u8",
        "/live/abc/../abc/10.ts",
        "/live/abc/-1.ts",
    ],
)
async def test_hostile_paths_are_404(store: MemoryHlsStore, path: str) -> None:
    reply = await call(make_app(store), path)
    assert reply.status == 404
    assert set(reply.json()) == {"code", "message"}


async def test_cors_with_an_origin_list(store: MemoryHlsStore) -> None:
    app = make_app(store, ("https://a.example",))
    allowed = await call(app, "/live/abc/10.ts", {"Origin": "https://a.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://a.example"
    assert allowed.headers["vary"] == "Origin"
    refused = await call(app, "/live/abc/10.ts", {"Origin": "https://b.example"})
    assert refused.status == 200
    assert "access-control-allow-origin" not in refused.headers
    preflight = await call(
        app,
        "/live/abc/index.m3u8",
        {"Origin": "https://a.example", "Access-Control-Request-Method": "GET"},
        method="OPTIONS",
    )
    assert preflight.status == 204
    assert "Range" in preflight.headers["access-control-allow-headers"]


async def test_blocking_reload(
    store: MemoryHlsStore, autojump_clock: trio.testing.MockClock
) -> None:
    app = make_app(store)
    ready = await call(app, "/live/abc/index.m3u8?_HLS_msn=11")
    assert ready.status == 200
    too_far = await call(app, "/live/abc/index.m3u8?_HLS_msn=14")
    assert (too_far.status, too_far.json()["code"]) == (400, "invalid_parameter")
    assert too_far.headers["access-control-allow-origin"] == "*"
    garbage = await call(app, "/live/abc/index.m3u8?_HLS_msn=x")
    assert garbage.status == 400
    assert garbage.headers["access-control-allow-origin"] == "*"
    old = await call(app, "/live/abc/index.m3u8?_HLS_msn=3")  # long gone: the whole playlist
    assert (old.status, old.body) == (200, SERVED.encode())
    replies: list[tuple[float, Reply]] = []

    async def blocked() -> None:
        reply = await call(app, "/live/abc/index.m3u8?_HLS_msn=12")
        replies.append((trio.current_time(), reply))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked)
        await trio.sleep(1.5)
        await store.put_segment("abc", 12, SEGMENT)
        await store.put_playlist("abc", PLAYLIST + "12.ts\n", newest_sequence=12, ended=False)
    [(when, reply)] = replies
    assert when == start + 1.5
    assert reply.body.endswith(b"12.ts\n")
    assert b"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n" in reply.body
    # Nothing arrives: answered 503 after three target durations (3 × 3 s).
    timed_out = await call(app, "/live/abc/index.m3u8?_HLS_msn=13")
    assert (timed_out.status, timed_out.json()["code"]) == (503, "service_unavailable")
    assert trio.current_time() == start + 1.5 + 9


async def test_first_playlist_of_a_live_stream_is_waited_for(
    store: MemoryHlsStore, autojump_clock: trio.testing.MockClock
) -> None:
    app = make_app(store)
    await store.begin_stream("fresh")
    replies: list[Reply] = []

    async def early_player() -> None:
        replies.append(await call(app, "/live/fresh/index.m3u8"))

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(early_player)
        await trio.sleep(2)
        await store.put_segment("fresh", 0, SEGMENT)
        await store.put_playlist("fresh", PLAYLIST + "0.ts\n", newest_sequence=0, ended=False)
    assert replies[0].status == 200
    assert trio.current_time() == start + 2
    # No segment for as long as a first segment can take (12 s, the longest first segment):
    # 404 as for any stream without a playlist.
    await store.begin_stream("stalled")
    reply = await call(app, "/live/stalled/index.m3u8")
    assert reply.status == 404
    assert trio.current_time() == start + 2 + 12


async def test_blocking_reload_waits_three_of_the_streams_own_target_durations(
    store: MemoryHlsStore, autojump_clock: trio.testing.MockClock
) -> None:
    """A 5 s GOP stream (EXT-X-TARGETDURATION:5) is held for 15 s, not the config's 3 × 3."""
    long_gop = "#EXTM3U\n#EXT-X-TARGETDURATION:5\n"
    await store.put_playlist("abc", long_gop, newest_sequence=11, ended=False, target_duration=5)
    start = trio.current_time()
    reply = await call(make_app(store), "/live/abc/index.m3u8?_HLS_msn=12")
    assert (reply.status, reply.json()["code"]) == (503, "service_unavailable")
    assert reply.headers["access-control-allow-origin"] == "*"
    assert trio.current_time() == start + 15


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("_HLS_part=0", 400),  # RFC 8216bis §6.2.5.2: _HLS_part without _HLS_msn
        ("_HLS_msn=11&_HLS_part=x", 400),
        ("_HLS_msn=11&_HLS_part=-1", 400),
        ("_HLS_msn=11&_HLS_part=3", 200),  # segment 11 is complete, so are its parts
        ("_HLS_msn=%D9%A1", 400),  # a non-ASCII digit
        ("_HLS_msn=11&_HLS_skip=YES", 200),  # no CAN-SKIP-UNTIL: ignored, the whole playlist
    ],
)
async def test_delivery_directive_validation(
    store: MemoryHlsStore, query: str, status: int
) -> None:
    reply = await call(make_app(store), f"/live/abc/index.m3u8?{query}")
    assert reply.status == status
    assert reply.headers["access-control-allow-origin"] == "*"
    if status == 200:
        assert reply.body == SERVED.encode()
    else:
        assert reply.json()["code"] == "invalid_parameter"


async def test_directives_are_ignored_once_the_playlist_ended(
    store: MemoryHlsStore, autojump_clock: trio.testing.MockClock
) -> None:
    """RFC 8216bis §6.2.5.2: with EXT-X-ENDLIST the server answers at once, whatever _HLS_msn
    says (even far ahead), and the advertisement stays (tags never leave a playlist)."""
    ended = PLAYLIST + "11.ts\n#EXT-X-ENDLIST\n"
    await store.put_playlist("abc", ended, newest_sequence=11, ended=True, target_duration=3)
    start = trio.current_time()
    for msn in (12, 999):
        reply = await call(make_app(store), f"/live/abc/index.m3u8?_HLS_msn={msn}")
        assert reply.status == 200
        assert reply.body.endswith(b"#EXT-X-ENDLIST\n")
        assert b"CAN-BLOCK-RELOAD=YES" in reply.body
    assert trio.current_time() == start


async def test_cors_on_errors_with_an_origin_list(store: MemoryHlsStore) -> None:
    app = make_app(store, ("https://a.example",))
    origin = {"Origin": "https://a.example"}
    for path in (
        "/live/abc/index.m3u8?_HLS_msn=x",
        "/live/abc/index.m3u8?_HLS_part=1",
        "/live/" + "x" * 65 + "/index.m3u8",
        "/live/" + "x" * 65 + "/1.ts",
    ):
        reply = await call(app, path, origin)
        assert reply.status in (400, 404), path
        assert reply.headers["access-control-allow-origin"] == "https://a.example", path
        assert reply.headers["vary"] == "Origin"
