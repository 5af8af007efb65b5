"""StreamHub: the live streams of this node, each with its own nursery of stream tasks.

Resource handling
-----------------
``app.py`` starts the hub once: ``hub = StreamHub(config.livestream)`` then
``await nursery.start(hub.run)``. ``run`` opens the hub nursery and keeps it until cancelled.

Nursery passing (style.md: written down where it happens). The hub nursery is handed to two
kinds of task that outlive the call that starts them:

* one supervisor task per live stream (``start_publish`` of a stream that is not live). It opens
  the stream's own nursery, where the stream's batch deadline timer
  (``LiveStream.run_flush_timer``) and the stream task factories (``add_stream_task_factory``,
  e.g. the HLS segmenter) run from the moment the stream goes live until it ends; ending the
  stream cancels that nursery.
* viewer writer tasks (``start_viewer_task``): those of the HTTP-FLV route, and the RTMP play
  fan-out writer of each stream (one per stream, serving every RTMP player of it on this node).
  Hypercorn shields its socket writes from cancellation, so a stalled write can only be
  abandoned by returning from the ASGI call (hypercorn then closes the socket, which ends the
  write). The task doing the writes must therefore live outside the request's task; the
  request task watches it and returns on a stall. The RTMP writer serves viewers of many
  connections, so it cannot live in any one of them.

Shutdown is cancelling ``run``: every stream ends (viewers get ``StreamEnded``), every task stops.

Error handling
--------------
A stream task that raises is logged and forgotten; it neither ends the stream nor the hub (an
HLS segmenter bug must not cut the HTTP-FLV viewers). Viewer tasks must not raise; anything they
do raise is logged the same way.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import trio

from synctv.config import LivestreamConfig
from synctv.livestream.registry import LiveStreamRecord
from synctv.livestream.stream import (
    DROP_REASONS,
    LiveStream,
    PublisherHandle,
    StreamStatistics,
)
from synctv.supervision import record_crash

__all__ = ["HubStatistics", "StreamHub", "StreamTaskFactory"]

log = logging.getLogger("synctv.livestream")

# The protocols whose viewers can be dropped as slow (HLS readers pull; they are never cut).
VIEWER_PROTOCOLS = ("flv", "rtmp")

StreamTaskFactory = Callable[[LiveStream], Callable[[], Awaitable[None]]]
# stream id -> viewers of one protocol the hub does not see as subscribers (HLS sessions)
ViewerCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class HubStatistics:
    streams: int  # live or within the reconnect grace
    publishers: int
    viewers: dict[str, int]  # by protocol
    bytes_in: int  # totals since the hub started, ended streams included
    bytes_out: int
    dropped_viewers: int  # slow viewers cut, for any reason (lagged or write_timeout)
    # (protocol, reason) -> count; every VIEWER_PROTOCOLS x DROP_REASONS pair, zero included
    dropped_viewers_by: dict[tuple[str, str], int]
    rejected_tags: int
    gop_cache_bytes: int
    backlog_bytes: int
    streams_started: int
    stream_task_failures: int


class StreamHub:
    """The registry of live streams on this node (see the module docstring)."""

    def __init__(self, config: LivestreamConfig) -> None:
        self._config = config
        self._factories: list[StreamTaskFactory] = []
        self._viewer_counters: dict[str, ViewerCounter] = {}
        self._streams: dict[str, LiveStream] = {}
        self._nursery: trio.Nursery | None = None
        self._streams_changed = trio.Event()
        # Totals of ended streams, so hub counters never go backwards.
        self._ended_in = self._ended_out = self._ended_rejected = 0
        self._ended_dropped: dict[tuple[str, str], int] = {}
        self._streams_started = 0
        self._task_failures = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the hub nursery until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._nursery = None

    def add_stream_task_factory(self, factory: StreamTaskFactory) -> None:
        """``factory(stream)`` returns an async function run in the stream's nursery while live.

        It starts when the stream goes live (for streams going live after this call) and is
        cancelled when the stream ends.
        """
        self._factories.append(factory)

    def add_viewer_counter(self, protocol: str, counter: ViewerCounter) -> None:
        """Viewers of ``protocol`` that hold no subscription (HLS players pull from the
        segment store): ``counter(stream_id)`` is added to each live stream's ``viewers``."""
        self._viewer_counters[protocol] = counter

    async def start_publish(self, record: LiveStreamRecord) -> PublisherHandle:
        """Attach a publisher; replaces the current one of the same stream (OBS reconnect).

        A stream that is not live starts: its nursery opens and the stream tasks start before
        this returns. A stream within its reconnect grace continues (viewers stay, the next batch
        is a discontinuity).
        """
        stream = self.get(record.stream_id)
        if stream is not None:
            return stream._attach()
        nursery = self._nursery
        if nursery is None:
            raise RuntimeError("StreamHub.run() is not running")
        stream = LiveStream(record.stream_id, self._config)
        self._streams[record.stream_id] = stream
        # Attached before the supervisor runs, so a zero grace does not end it at once.
        handle = stream._attach()
        await nursery.start(self._supervise, stream)
        self._streams_started += 1
        self._notify_streams()
        return handle

    def get(self, stream_id: str) -> LiveStream | None:
        """The stream if it is live or within its reconnect grace."""
        stream = self._streams.get(stream_id)
        return None if stream is None or stream.ended else stream

    def media_clock(self, stream_id: str) -> tuple[float, float] | None:
        """The stream's mapping from media time to ingest server time (``LiveStream.media_clock``)
        while a publisher is attached; None otherwise (nothing arrives: no mapping to send)."""
        stream = self.get(stream_id)
        return stream.media_clock() if stream is not None and stream.live else None

    async def wait_stream(self, stream_id: str) -> LiveStream:
        """Wait until the stream exists (the HTTP-FLV route's ``flv_wait_for_publisher``)."""
        while (stream := self.get(stream_id)) is None:
            await self._streams_changed.wait()
        return stream

    def stream_statistics(self, stream_id: str) -> StreamStatistics | None:
        """The stream's statistics, its ``viewers`` including the counters' protocols."""
        stream = self.get(stream_id)
        return None if stream is None else self._stream_statistics(stream)

    def publisher_profile(self, stream_id: str) -> object | None:
        """What the stream's publisher driver recorded of it (``PublisherHandle.profile``);
        None when the stream is not live on this node."""
        stream = self.get(stream_id)
        return None if stream is None else stream.publisher_profile

    def kick(self, stream_id: str) -> bool:
        """End the stream now: the publisher is told to go (``wait_kicked``), viewers get
        ``StreamEnded`` after what was already published. A publisher that comes back (with a
        valid key) starts a new stream session. False if the stream is not live."""
        stream = self.get(stream_id)
        if stream is None:
            return False
        stream._end()
        return True

    def start_viewer_task(self, async_fn: Callable[[], Awaitable[None]]) -> None:
        """Run a viewer's writer in the hub nursery (see "Nursery passing" above)."""
        if self._nursery is None:
            raise RuntimeError("StreamHub.run() is not running")
        self._nursery.start_soon(self._guarded, async_fn, "viewer task")

    def statistics(self) -> HubStatistics:
        viewers: dict[str, int] = {}
        bytes_in, bytes_out = self._ended_in, self._ended_out
        # Every (protocol, reason) of the viewer protocols, zero included, so a scrape shows
        # the series before the first drop.
        dropped = {(p, reason): 0 for p in VIEWER_PROTOCOLS for reason in DROP_REASONS}
        for key, count in self._ended_dropped.items():
            dropped[key] = dropped.get(key, 0) + count
        rejected = self._ended_rejected
        gop_bytes = backlog = publishers = 0
        for stream in self._streams.values():
            stats = self._stream_statistics(stream)
            for protocol, count in stats.viewers.items():
                viewers[protocol] = viewers.get(protocol, 0) + count
            bytes_in += stats.bytes_in
            bytes_out += stats.bytes_out
            for key, count in stats.dropped_viewers_by.items():
                dropped[key] = dropped.get(key, 0) + count
            rejected += stats.rejected_tags
            gop_bytes += stats.gop_cache.bytes
            backlog += stats.backlog_bytes
            publishers += stats.live
        return HubStatistics(
            streams=len(self._streams),
            publishers=publishers,
            viewers=viewers,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            dropped_viewers=sum(dropped.values()),
            dropped_viewers_by=dropped,
            rejected_tags=rejected,
            gop_cache_bytes=gop_bytes,
            backlog_bytes=backlog,
            streams_started=self._streams_started,
            stream_task_failures=self._task_failures,
        )

    # ------------------------------------------------------------------ internals

    def _stream_statistics(self, stream: LiveStream) -> StreamStatistics:
        stats = stream.statistics()
        if not self._viewer_counters or stream.ended:
            return stats
        viewers = dict(stats.viewers)
        for protocol, counter in self._viewer_counters.items():
            if count := counter(stream.stream_id):
                viewers[protocol] = viewers.get(protocol, 0) + count
        return dataclasses.replace(stats, viewers=viewers)

    async def _supervise(
        self, stream: LiveStream, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """The stream's lifetime: its nursery, its tasks, and the reconnect grace."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._guarded, stream.run_flush_timer, "batch timer")
                for factory in self._factories:
                    nursery.start_soon(self._start_factory, factory, stream)
                task_status.started()
                await self._wait_end(stream)
                nursery.cancel_scope.cancel()
        finally:
            stream._end()
            if self._streams.get(stream.stream_id) is stream:
                del self._streams[stream.stream_id]
            stats = stream.statistics()
            self._ended_in += stats.bytes_in
            self._ended_out += stats.bytes_out
            for key, count in stats.dropped_viewers_by.items():
                self._ended_dropped[key] = self._ended_dropped.get(key, 0) + count
            self._ended_rejected += stats.rejected_tags
            self._notify_streams()

    async def _wait_end(self, stream: LiveStream) -> None:
        """Return when the stream ends: kicked, or no publisher for the whole grace period."""
        grace = self._config.publisher_reconnect_grace_seconds
        while not stream.ended:
            if stream.live:
                await stream._wait_changed()
                continue
            with trio.move_on_after(grace):
                await stream._wait_changed()
            if not stream.live:
                return

    async def _start_factory(self, factory: StreamTaskFactory, stream: LiveStream) -> None:
        try:
            async_fn = factory(stream)
        except Exception as exc:
            self._task_failures += 1
            record_crash("stream_task", exc, f"factory for {stream.stream_id}")
            return
        await self._guarded(async_fn, f"stream task of {stream.stream_id}")

    async def _guarded(self, async_fn: Callable[[], Awaitable[None]], what: str) -> None:
        try:
            await async_fn()
        except Exception as exc:  # a group too: Exception covers ExceptionGroup
            self._task_failures += 1
            record_crash("stream_task", exc, what)

    def _notify_streams(self) -> None:
        event, self._streams_changed = self._streams_changed, trio.Event()
        event.set()
