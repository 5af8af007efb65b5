"""Shared test helpers (moved out of test modules: no test module imports another)."""

from __future__ import annotations

from dataclasses import dataclass

import trio
import trio.lowlevel
import trio.testing

from synctv.config import LivestreamConfig
from synctv.livestream.hls import (
    VIEWER_PROTOCOL,
    HlsSegmenter,
)
from synctv.livestream.hls_store import HlsStore, MemoryHlsStore
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from synctv.livestream.stream import PublisherHandle

EPOCH = 1_700_000_000.0

STREAM = "stream_1"


@dataclass
class Rig:
    hub: StreamHub
    store: HlsStore
    segmenter: HlsSegmenter
    nursery: trio.Nursery

    async def publish(self, stream_id: str = STREAM) -> PublisherHandle:
        """Start (or resume) publishing; returns once the segmenter is subscribed, so a test
        publisher faster than real time cannot run ahead of the segmenter's join."""
        handle = await self.hub.start_publish(LiveStreamRecord(stream_id, "live", None, "t", 0))
        with trio.fail_after(5):
            while VIEWER_PROTOCOL not in self.hub_viewers(stream_id):  # noqa: ASYNC110
                await trio.sleep(0.001)
        return handle

    def hub_viewers(self, stream_id: str) -> dict[str, int]:
        stats = self.hub.stream_statistics(stream_id)
        return {} if stats is None else stats.consumers

    async def playlist(self, stream_id: str = STREAM) -> str:
        snapshot = await self.store.get_playlist(stream_id)
        assert snapshot is not None
        return snapshot.text.decode()


async def open_rig(
    nursery: trio.Nursery, store: HlsStore | None = None, *, grace: float = 0.0
) -> Rig:
    config = LivestreamConfig(publisher_reconnect_grace_seconds=grace, fanout_batch_window_ms=0)
    hub = StreamHub(config)
    await nursery.start(hub.run)
    store = store or MemoryHlsStore(64 * 1024 * 1024)
    await nursery.start(store.run)
    segmenter = HlsSegmenter(store, wall_clock=lambda: EPOCH + trio.current_time())
    hub.add_stream_task_factory(segmenter.task_factory)
    return Rig(hub, store, segmenter, nursery)
