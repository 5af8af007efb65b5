"""HLS demand: with ``livestream.hls_on_demand`` the segmenter subscribes only while the stream's
HLS output is being requested, the first request waits for one segment, and a lapse of demand
drops the run; without it, requests decide whether the segmenter counts as watching.

Driven through the real hub, store, segmenter and HLS routes with a paced publisher on trio's
autojump clock, so minutes of stream time take a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pytest
import trio
import trio.testing

from synctv.api.http.asgi import App
from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.config import LivestreamConfig
from synctv.livestream.hls import VIEWER_PROTOCOL, HlsDemand, HlsSegmenter
from synctv.livestream.hls_store import MemoryHlsStore
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from synctv.livestream.stream import PublisherHandle
from synctv.media.flv import FlvTag
from tests.livestream.hls_support import asgi_call, encode_flv, looped, read_tags, send, split_tags

STREAM = "ondemand_1"
CLIP_MS = 4000  # 2 s GOP
IDLE_SECONDS = 20.0
PLAYLIST = f"/live/{STREAM}/index.m3u8"


@pytest.fixture(scope="module")
def clip() -> tuple[list[FlvTag], list[FlvTag]]:
    return split_tags(read_tags(encode_flv(CLIP_MS / 1000)))


class Directory:
    async def get(self, stream_id: str) -> LiveStreamRecord | None:
        return LiveStreamRecord(stream_id, "live", None, "t", 0) if stream_id == STREAM else None


@dataclass
class OnDemand:
    hub: StreamHub
    store: MemoryHlsStore
    segmenter: HlsSegmenter
    demand: HlsDemand
    app: App

    def segmenting(self) -> bool:
        stats = self.hub.stream_statistics(STREAM)
        subscribed = stats is not None and VIEWER_PROTOCOL in stats.consumers
        assert subscribed == (self.segmenter.statistics().streams == 1)
        return subscribed

    async def playlist(self) -> tuple[int, list[int]]:
        """Status and listed sequence numbers of one playlist request."""
        reply = await asgi_call(self.app, PLAYLIST)
        listed = [
            int(line[:-3]) for line in reply.body.decode().splitlines() if line.endswith(".ts")
        ]
        return reply.status, listed


async def open_rig(nursery: trio.Nursery, *, on_demand: bool) -> OnDemand:
    config = LivestreamConfig(publisher_reconnect_grace_seconds=0, hls_on_demand=on_demand)
    hub = StreamHub(config)
    await nursery.start(hub.run)
    store = MemoryHlsStore(64 * 1024 * 1024)
    await nursery.start(store.run)
    demand = HlsDemand(IDLE_SECONDS)
    segmenter = HlsSegmenter.from_config(store, config, demand)
    hub.add_stream_task_factory(segmenter.task_factory)
    routes = live_hls_routes(store, config=config, directory=Directory(), demand=demand)
    return OnDemand(hub, store, segmenter, demand, App(routes, clock=trio.current_time))


@pytest.fixture
async def rig(nursery: trio.Nursery) -> OnDemand:
    return await open_rig(nursery, on_demand=True)


async def start_publishing(
    rig: OnDemand, nursery: trio.Nursery, clip: tuple[list[FlvTag], list[FlvTag]], loops: int
) -> PublisherHandle:
    handle = await rig.hub.start_publish(LiveStreamRecord(STREAM, "live", None, "t", 0))
    headers, media = clip
    tags = [*headers, *looped(media, loops, span_ms=CLIP_MS)]
    nursery.start_soon(partial(send, handle, tags, paced_from=trio.current_time()))
    return handle


async def test_segments_only_while_requested(
    rig: OnDemand,
    clip: tuple[list[FlvTag], list[FlvTag]],
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
) -> None:
    await start_publishing(rig, nursery, clip, loops=60)
    await trio.sleep(30)
    # Live for 30 s with nobody asking: no subscription, nothing muxed, nothing stored.
    assert not rig.segmenting()
    assert rig.store.statistics().segments_written == 0
    assert await rig.store.get_playlist(STREAM) is None

    # The first request waits for one segment: the GOP cache plus the rest of one 2 s GOP.
    asked = trio.current_time()
    status, listed = await rig.playlist()
    assert status == 200
    assert listed
    assert trio.current_time() - asked <= 2.0 + 0.5
    assert rig.segmenting()

    # A player polling every 2 s keeps it going, with consecutive numbers.
    seen = set(listed)
    while trio.current_time() < asked + 30:
        await trio.sleep(2)
        status, listed = await rig.playlist()
        assert status == 200
        seen |= set(listed)
    assert sorted(seen) == list(range(min(seen), max(seen) + 1))
    assert len(seen) >= 14

    # Nobody asks for the idle window: the run is dropped (no stale window for the next viewer).
    await trio.sleep(IDLE_SECONDS + 1)
    assert not rig.segmenting()
    assert await rig.store.get_playlist(STREAM) is None
    assert await rig.store.get_segment(STREAM, max(seen)) is None
    written = rig.store.statistics().segments_written
    await trio.sleep(10)
    assert rig.store.statistics().segments_written == written

    # The next viewer gets a fresh run, numbered after everything served before.
    status, listed = await rig.playlist()
    assert status == 200
    assert listed
    assert min(listed) > max(seen)


async def test_a_segment_request_counts_as_demand(
    rig: OnDemand,
    clip: tuple[list[FlvTag], list[FlvTag]],
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
) -> None:
    await start_publishing(rig, nursery, clip, loops=30)
    await trio.sleep(1)
    status, listed = await rig.playlist()
    assert status == 200
    started = trio.current_time()
    # Only segment requests from now on (a player that cached the playlist URL list).
    while trio.current_time() < started + 2 * IDLE_SECONDS:
        await trio.sleep(3)
        await asgi_call(rig.app, f"/live/{STREAM}/{listed[-1]}.ts")
    assert rig.segmenting()


async def test_stream_ending_while_paused_ends_the_run(
    rig: OnDemand,
    clip: tuple[list[FlvTag], list[FlvTag]],
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
) -> None:
    handle = await start_publishing(rig, nursery, clip, loops=30)
    await trio.sleep(5)
    handle.close()  # grace 0: the stream ends; the paused segmenter is cancelled with it
    with trio.fail_after(1):
        while rig.hub.get(STREAM) is not None:  # noqa: ASYNC110
            await trio.sleep(0.01)
    asked = trio.current_time()
    status, _ = await rig.playlist()
    assert status == 503  # stream_not_live, at once: the store knows the run ended
    assert trio.current_time() - asked < 0.1


async def test_stream_ending_while_segmenting_writes_endlist(
    rig: OnDemand,
    clip: tuple[list[FlvTag], list[FlvTag]],
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
) -> None:
    handle = await start_publishing(rig, nursery, clip, loops=30)
    await trio.sleep(1)
    status, _ = await rig.playlist()
    assert status == 200
    await trio.sleep(6)
    handle.close()
    with trio.fail_after(5):
        assert await rig.store.wait_for_sequence(STREAM, 2**62, 5)
    snapshot = await rig.store.get_playlist(STREAM)
    assert snapshot is not None
    assert snapshot.ended
    assert snapshot.text.endswith(b"#EXT-X-ENDLIST\n")


async def test_segmenter_makes_the_stream_watched_only_while_hls_is_fetched(
    clip: tuple[list[FlvTag], list[FlvTag]],
    autojump_clock: trio.testing.MockClock,
    nursery: trio.Nursery,
) -> None:
    """Always-on segmenting: the segmenter is subscribed throughout, but counts as waiting on
    the live edge (so the publisher's reads are not merged over the whole window) only while
    HLS is being requested."""
    rig = await open_rig(nursery, on_demand=False)
    handle = await start_publishing(rig, nursery, clip, loops=30)
    await trio.sleep(10)
    assert rig.segmenting()
    assert rig.store.statistics().segments_written >= 3
    assert not handle.watched
    status, _ = await rig.playlist()
    assert status == 200
    assert handle.watched
    await trio.sleep(IDLE_SECONDS + 1)
    assert not handle.watched  # dropped back at the first batch after the idle window
    assert rig.segmenting()


async def test_requests_for_streams_without_a_segmenter_hold_nothing() -> None:
    demand = HlsDemand(IDLE_SECONDS)
    for n in range(1000):
        demand.touch(f"nobody_{n}")
        assert not demand.wanted(f"nobody_{n}")
    assert not demand._streams
