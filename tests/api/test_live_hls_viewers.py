"""HLS viewer sessions over the routes: the id redirect, segment URIs with it, what counts."""

from __future__ import annotations

import re

import pytest
import trio
import trio.testing

from synctv import errors
from synctv.api.http.asgi import App, WebPolicy
from synctv.api.http.cors import CorsPolicy
from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.config import LivestreamConfig
from synctv.errors import DomainError
from synctv.livestream.hls_audience import HlsAudience
from synctv.livestream.hls_store import MemoryHlsStore
from synctv.livestream.registry import LiveStreamRecord
from tests.livestream.hls_support import asgi_call as call
from tests.livestream.hls_support import stored_stream

SEGMENT = bytes(range(256)) * 40
PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n10.ts\n#EXTINF:2.000,\n11.ts\n"
LOCATION = re.compile(r"index\.m3u8\?(?:(.+)&)?hls_session=([A-Za-z0-9_-]{22})")


class Directory:
    async def get(self, stream_id: str) -> LiveStreamRecord | None:
        return LiveStreamRecord(stream_id, "live", "room", "", 0)


async def token_gate(record: LiveStreamRecord, token: str | None) -> None:
    if token != "good":
        raise DomainError(errors.LIVE_TOKEN_REQUIRED, "needs a token")


@pytest.fixture
async def store() -> MemoryHlsStore:
    return await stored_stream(PLAYLIST, SEGMENT, target_duration=2)


def make_app(store: MemoryHlsStore, audience: HlsAudience, *, gated: bool = False) -> App:
    routes = live_hls_routes(
        store,
        config=LivestreamConfig(hls_segment_seconds=2.0),
        directory=Directory(),
        gate=token_gate if gated else None,
        audience=audience,
    )
    return App(routes, clock=trio.current_time, policy=WebPolicy(cors=CorsPolicy(("*",))))


async def session_of(app: App, query: str = "") -> tuple[str, str]:
    """Follow the first playlist request's redirect: (session id, the playlist served)."""
    first = await call(app, f"/live/abc/index.m3u8{query}")
    assert first.status == 302
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["access-control-allow-origin"] == "*"  # hls.js may follow it
    location = first.headers["location"]
    match = LOCATION.fullmatch(location)
    assert match is not None, location
    assert (match.group(1) or "") == query.removeprefix("?")
    reply = await call(app, f"/live/abc/{location}")
    assert reply.status == 200
    return match.group(2), reply.body.decode()


async def test_a_first_playlist_request_is_sent_to_its_session(store: MemoryHlsStore) -> None:
    app = make_app(store, HlsAudience())
    session, playlist = await session_of(app)
    # Segment URIs stay relative and carry the session.
    assert f"\n10.ts?hls_session={session}\n" in playlist
    assert f"\n11.ts?hls_session={session}\n" in playlist
    other, _ = await session_of(app)
    assert other != session  # one id per player


async def test_the_token_and_directives_are_kept(store: MemoryHlsStore) -> None:
    app = make_app(store, HlsAudience(), gated=True)
    refused = await call(app, "/live/abc/index.m3u8")  # the gate answers first: no session
    assert (refused.status, refused.json()["code"]) == (401, "live_token_required")
    session, playlist = await session_of(app, "?token=good&_HLS_msn=11")
    assert f"\n10.ts?token=good&hls_session={session}\n" in playlist


async def test_whole_segments_count_one_viewer_per_session(store: MemoryHlsStore) -> None:
    audience = HlsAudience()
    app = make_app(store, audience)
    first, _ = await session_of(app)
    second, _ = await session_of(app)
    assert audience.count("abc") == 0  # playlists alone do not count
    for sequence in (10, 11):
        await call(app, f"/live/abc/{sequence}.ts?hls_session={first}")
    assert audience.count("abc") == 1
    await call(app, f"/live/abc/10.ts?hls_session={second}")
    assert audience.count("abc") == 2


async def test_cheap_requests_do_not_count(store: MemoryHlsStore) -> None:
    audience = HlsAudience()
    app = make_app(store, audience)
    sid = "A" * 22
    head = await call(app, f"/live/abc/10.ts?hls_session={sid}", method="HEAD")
    ranged = await call(app, f"/live/abc/10.ts?hls_session={sid}", {"Range": "bytes=0-0"})
    etag = ranged.headers["etag"]
    cached = await call(app, f"/live/abc/10.ts?hls_session={sid}", {"If-None-Match": etag})
    missing = await call(app, f"/live/abc/99.ts?hls_session={sid}")
    assert [r.status for r in (head, ranged, cached, missing)] == [200, 206, 304, 404]
    assert audience.count("abc") == 0


async def test_without_a_session_address_and_user_agent_count(store: MemoryHlsStore) -> None:
    audience = HlsAudience()
    app = make_app(store, audience)
    await call(app, "/live/abc/10.ts", {"User-Agent": "VLC/3.0.20"})
    await call(app, "/live/abc/11.ts", {"User-Agent": "VLC/3.0.20"})
    assert audience.count("abc") == 1
    await call(app, "/live/abc/11.ts", {"User-Agent": "Lavf/60.16.100"})
    await call(app, "/live/abc/11.ts?hls_session=forged", {"User-Agent": "Lavf/60.16.100"})
    assert audience.count("abc") == 2  # an ill-formed id is the fallback's


async def test_a_viewer_stops_counting_three_target_durations_after_its_last_segment(
    store: MemoryHlsStore, autojump_clock: trio.testing.MockClock
) -> None:
    audience = HlsAudience()
    app = make_app(store, audience)
    session, _ = await session_of(app)  # target duration 2: window 6 s
    await call(app, f"/live/abc/10.ts?hls_session={session}")
    await trio.sleep(5.9)
    assert audience.count("abc") == 1
    await trio.sleep(0.1)
    assert audience.count("abc") == 0


async def test_without_an_audience_nothing_changes(store: MemoryHlsStore) -> None:
    routes = live_hls_routes(store, config=LivestreamConfig(hls_segment_seconds=2.0))
    app = App(routes, clock=trio.current_time, policy=WebPolicy(cors=CorsPolicy(("*",))))
    reply = await call(app, "/live/abc/index.m3u8")
    assert reply.status == 200
    assert "\n10.ts\n" in reply.body.decode()


async def test_a_player_that_drops_the_redirect_query_is_served_after_a_few(
    store: MemoryHlsStore,
) -> None:
    """A player that came back without its id (it dropped the Location's query) stops being
    redirected before FFmpeg's limit of 8 redirects, and is counted by the fallback."""
    audience = HlsAudience()
    app = make_app(store, audience)
    statuses = []
    for _ in range(6):
        reply = await call(app, "/live/abc/index.m3u8", {"User-Agent": "Stripper/1.0"})
        statuses.append(reply.status)
    assert statuses == [302] * 4 + [200] * 2
    assert "\n10.ts\n" in reply.body.decode()  # no id in its URIs
    await call(app, "/live/abc/10.ts", {"User-Agent": "Stripper/1.0"})
    assert audience.count("abc") == 1
    other = await call(app, "/live/abc/index.m3u8", {"User-Agent": "hls.js"})
    assert other.status == 302
