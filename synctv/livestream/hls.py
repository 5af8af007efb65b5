"""The per-stream HLS segmenter: hub subscriber → MPEG-TS segments → sliding playlist → store.

Theory of operation
-------------------
:class:`SegmentBuilder` is the synchronous core (no trio, no clock): FLV tags go in through
:class:`~synctv.media.mpegts.FlvToTs`, TS chunks are appended to the open segment, and
:class:`~synctv.media.hls.SegmentationPolicy` decides before each chunk of the driving track
whether a new segment starts there. Video drives the cuts, at keyframes; audio drives them when
there is no video, or when video has been absent for longer than the target (a stalled camera
with the microphone still live), so the playlist keeps moving. A segment always starts with
PAT/PMT, and its video always starts at a keyframe: until the first keyframe (stream start,
after a discontinuity, after video came back) video frames are dropped. The first segment fixes
the stream's EXT-X-TARGETDURATION (see :mod:`synctv.media.hls`); a later GOP too long for it is
cut mid-GOP (counted in ``synctv_hls_forced_cuts_total``). A segment's duration is the distance
between its first DTS and the next segment's first DTS; the last one gets its last DTS plus one
frame interval.

Timestamp gaps: the hub's normaliser (``synctv.media.timestamps``) already folds jumps over
10 s (and backwards jumps) into a 20 ms step; a smaller forward jump that is still longer than
the target duration (a stalled encoder) reaches us as is. It closes the open segment where its
media ends, and the next segment starts a new timeline with EXT-X-DISCONTINUITY (counted in
``synctv_hls_timestamp_gaps_total``). A new sequence header that changes a track's decoder
configuration (resolution, sample rate...) cuts at the next keyframe with a discontinuity too.

:class:`HlsSegmenter` is the Trio driver, one ``run_stream`` task per live stream started by the
hub (``hub.add_stream_task_factory(segmenter.task_factory)``), as a child of the stream's nursery.
It joins with ``Subscription.join_tags`` (metadata, sequence headers, the GOP cache from a
keyframe) and then consumes batches. Each finished segment is stored, added to the
:class:`~synctv.media.hls.PlaylistWindow`, and the playlist re-rendered; segments that slid out
are retired in the store for their availability duration (RFC 8216 §6.2.2: the segment's
duration plus the longest playlist's). ``Batch.discontinuity`` (a publisher reconnect)
and a resubscription after lagging start a new segment with EXT-X-DISCONTINUITY and a fresh
muxer. When the stream ends the last segment is closed, the playlist gets EXT-X-ENDLIST and the
store keeps it for ``linger_seconds``.

On demand (``livestream.hls_on_demand``): segmenting costs about a tenth of an idle stream's CPU
(TS muxing per packet), and most streams of a watch-together server have no HLS viewer. With
:class:`HlsDemand` the segmenter registers the stream in the store at once (so a playlist request
waits for the first segment instead of getting a 404) but subscribes to the hub only while some
request for the stream's playlist or segments came in the last ``hls_on_demand_idle_seconds``
(the routes call :meth:`HlsDemand.touch`). The first viewer therefore waits for one segment: the
subscription starts from the GOP cache, so that is until the next keyframe. When demand lapses the
run is dropped from the store (``begin_stream`` again: no playlist, numbering continues), so a
later viewer never sees a stale window.

EXT-X-PROGRAM-DATE-TIME maps media time to the wall clock through an anchor (wall time, DTS)
taken when the segmenter joins; it is re-anchored when media time and the wall clock drift apart
by more than :data:`REANCHOR_MS` (a stalled or too-fast publisher), so the PDT of a segment stays
close to when its media arrived.

Resource handling: one open segment (bounded by :data:`MAX_SEGMENT_BYTES`, past which it is cut)
plus the muxer state. Error handling: a malformed tag is skipped and counted; a store failure
(disk full) loses that segment, logged, and the next one carries a discontinuity. Any other
exception ends the segmenter only (logged), never the stream. The final write (ENDLIST) runs
shielded for at most :data:`FINAL_WRITE_SECONDS`, so it also happens when the hub cancels the
stream's nursery.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import trio

from synctv import metrics
from synctv.config import LivestreamConfig
from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.hls_store import HlsStore
from synctv.media.errors import MediaError
from synctv.media.flv import TAG_SCRIPT, FlvTag, is_sequence_header
from synctv.media.hls import Cut, PlaylistWindow, Segment, SegmentationPolicy
from synctv.media.mpegts import FlvToTs, TsChunk

log = logging.getLogger("synctv.livestream.hls")

# A segment is cut at any frame once it holds this much, whatever the policy says: at 2 s
# segments that is a 130 Mbit/s stream, far above anything an RTMP publisher sends.
MAX_SEGMENT_BYTES = 32 * 1024 * 1024
# Frame interval assumed for the last segment's duration when the stream gave no better clue.
DEFAULT_FRAME_MS = 40
# A track's chunk interval (for the last segment's duration and the look-ahead of forced cuts) is
# capped here: a longer pause is a stall, not the frame rate.
MAX_STEP_MS = 1000
# PDT follows the wall clock again when media time drifted this far from it.
REANCHOR_MS = 1000
# How long an ended stream's final playlist (with ENDLIST) stays fetchable.
DEFAULT_LINGER_SECONDS = 30.0
# A run's first sequence number is at least the wall clock in tenths of a second, so numbers do
# not repeat across process restarts either (segments are cached by URL for a long time): a run
# would need more than ten segments per second on average to catch up with the next run's floor.
SEQUENCE_FLOOR_PER_SECOND = 10
# How the segmenter is labelled among a stream's viewers.
VIEWER_PROTOCOL = "hls_segmenter"
# Bound on the shielded final write when the segmenter is cancelled.
FINAL_WRITE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class FinishedSegment:
    data: bytes
    start_dts_ms: int
    duration_ms: int
    discontinuity: bool


class SegmentBuilder:
    """FLV tags in, finished TS segments out (see the module docstring). Pure: no trio, no clock.

    ``target_duration`` is None until the first segment closes, then the stream's fixed
    EXT-X-TARGETDURATION (:meth:`SegmentationPolicy.target_duration_for`); it survives
    :meth:`discontinuity`, so publisher reconnects within the grace keep it too.
    """

    def __init__(
        self, policy: SegmentationPolicy, *, max_segment_bytes: int = MAX_SEGMENT_BYTES
    ) -> None:
        self.policy = policy
        self.max_segment_bytes = max_segment_bytes
        self.target_duration: int | None = None
        self._converter = FlvToTs()
        self._buffer: bytearray | None = None
        self._start_dts = 0
        self._last_dts = 0  # highest DTS in the open segment
        self._high_dts: int | None = None  # highest DTS of any chunk so far
        self._last_track_dts: dict[bool, int] = {}  # is_video -> that track's last DTS
        self._steps = {True: DEFAULT_FRAME_MS, False: DEFAULT_FRAME_MS}  # chunk interval
        self._last_keyframe_dts: int | None = None
        self._gop_ms: int | None = None  # the last keyframe interval: the next one, likely
        self._video_open = False  # the open segment's video has started (at a keyframe)
        self._realign = False  # the open segment began mid-GOP: cut at the next keyframe
        self._discontinuity = False
        self._config_pending = False
        self.errors = 0
        self.dropped_chunks = 0
        self.forced_cuts = 0
        self.gaps = 0

    def feed(self, tag: FlvTag) -> list[FinishedSegment]:
        """Convert one tag; returns the segments it finished (usually none, at most two)."""
        try:
            chunks = self._converter.convert(tag)
        except MediaError as exc:
            self.errors += 1
            metrics.HLS_SEGMENTER_ERRORS.inc()
            log.debug("skipping malformed tag at %d ms: %s", tag.timestamp, exc)
            return []
        finished: list[FinishedSegment] = []
        for chunk in chunks:
            finished += self._add(chunk)
        return finished

    def discontinuity(self) -> list[FinishedSegment]:
        """The source restarted (publisher reconnect, resubscription): close the open segment;
        the next one starts at a keyframe with EXT-X-DISCONTINUITY.

        The muxer carries on (continuity counters stay continuous, the hub keeps timestamps
        monotonic); new sequence headers update it, and a change of tracks bumps the PMT version.
        """
        finished = self.finish()
        self._discontinuity = True
        return finished

    def finish(self) -> list[FinishedSegment]:
        """Close the open segment (end of stream): buffered audio is flushed into it first."""
        for chunk in self._converter.flush():
            self._append(chunk)
        if self._buffer is None:
            return []
        return [self._close(self._estimated_end())]

    # -- cutting -------------------------------------------------------------------------------

    def _add(self, chunk: TsChunk) -> list[FinishedSegment]:
        previous_high = self._high_dts
        since_video = chunk.dts_ms - self._last_track_dts.get(True, chunk.dts_ms)
        self._track(chunk)
        self._config_pending = self._config_pending or chunk.config_changed
        if self._buffer is None or previous_high is None:
            self._start(chunk)
            return []
        elapsed = chunk.dts_ms - self._start_dts
        limit = self.policy.segment_limit_ms(self.target_duration)
        if self.policy.is_gap(chunk.dts_ms - previous_high, self.target_duration):
            return self._cut_at_gap(chunk)
        if elapsed > limit:
            # A jump too small to be a gap but past what the segment may hold: end it where
            # its media ends; the next one starts at this chunk (a short hole, no new timeline).
            finished = self._close(self._estimated_end())
            self._open(chunk, video_open=self._video_open, realign=self._converter.has_video)
            return [finished]
        if chunk.tracks_changed and elapsed > 0:
            finished = self._close(chunk.dts_ms)
            self._discontinuity = True
            keyframe = chunk.is_video and chunk.is_keyframe
            self._open(chunk, video_open=self._video_open or keyframe, realign=not keyframe)
            return [finished]
        cut = self._decide(chunk, elapsed, since_video, limit)
        if cut is Cut.NONE:
            self._append(chunk)
            return []
        return [self._cut(chunk, cut)]

    def _decide(self, chunk: TsChunk, elapsed: int, since_video: int, limit: int) -> Cut:
        """Video drives the cuts, audio when there is no video or it stalled (see
        :class:`SegmentationPolicy`); a track that does not drive forces a cut only when the
        segment would otherwise outgrow ``limit`` before the driving track's next chunk."""
        has_video = self._converter.has_video
        video_drives = has_video and (chunk.is_video or not self.policy.video_stalled(since_video))
        step = self._steps[chunk.is_video]
        if chunk.is_video != video_drives:
            overrun = elapsed + step > limit or len(self._buffer or b"") >= self.max_segment_bytes
            return Cut.FORCED if overrun and elapsed > 0 else Cut.NONE
        at_boundary = chunk.is_keyframe if chunk.is_video else True
        if self._config_pending and at_boundary and elapsed > 0:
            return Cut.TARGET
        cut = self.policy.should_cut(
            elapsed_ms=elapsed,
            at_boundary=at_boundary,
            realign=self._realign and chunk.is_video,
            step_ms=step,
            target_duration=self.target_duration,
            boundary_interval_ms=self._gop_ms if chunk.is_video else None,
        )
        if cut is Cut.NONE and elapsed > 0 and len(self._buffer or b"") >= self.max_segment_bytes:
            return Cut.FORCED
        return cut

    def _cut(self, chunk: TsChunk, cut: Cut) -> FinishedSegment:
        finished = self._close(chunk.dts_ms)
        has_video = self._converter.has_video
        if self._config_pending:
            self._config_pending = False
            self._discontinuity = True
        if cut is Cut.FORCED:
            self.forced_cuts += 1
            metrics.HLS_FORCED_CUTS.inc()
            self._open(chunk, video_open=self._video_open, realign=has_video)
        else:  # at a keyframe, or on audio (no video, or video absent: it restarts at a keyframe)
            keyframe = chunk.is_video and chunk.is_keyframe
            self._open(chunk, video_open=keyframe, realign=False)
        return finished

    def _cut_at_gap(self, chunk: TsChunk) -> list[FinishedSegment]:
        """A DTS jump longer than the target duration: end the segment where its media ends and
        start a new timeline (EXT-X-DISCONTINUITY), decodable on its own from a keyframe."""
        finished = self._close(self._estimated_end())
        self._discontinuity = True
        self.gaps += 1
        metrics.HLS_TIMESTAMP_GAPS.inc()
        self._open(chunk, video_open=chunk.is_video and chunk.is_keyframe, realign=False)
        return [finished]

    # -- segment bookkeeping -------------------------------------------------------------------

    def _track(self, chunk: TsChunk) -> None:
        if chunk.is_video and chunk.is_keyframe:
            if self._last_keyframe_dts is not None and chunk.dts_ms > self._last_keyframe_dts:
                self._gop_ms = chunk.dts_ms - self._last_keyframe_dts
            self._last_keyframe_dts = chunk.dts_ms
        last = self._last_track_dts.get(chunk.is_video)
        if last is not None and chunk.dts_ms > last:
            self._steps[chunk.is_video] = min(chunk.dts_ms - last, MAX_STEP_MS)
        if last is None or chunk.dts_ms > last:
            self._last_track_dts[chunk.is_video] = chunk.dts_ms
        if self._high_dts is None or chunk.dts_ms > self._high_dts:
            self._high_dts = chunk.dts_ms

    def _start(self, chunk: TsChunk) -> None:
        """No segment open (stream start, after a discontinuity): open one at the first video
        keyframe (with video) or at the first chunk (audio only); drop what comes before."""
        has_video = self._converter.has_video
        if has_video and not (chunk.is_video and chunk.is_keyframe):
            self.dropped_chunks += 1
            return
        # A configuration change before the first segment (or after a discontinuity, which
        # marks the next segment anyway) needs no cut of its own.
        self._config_pending = False
        self._open(chunk, video_open=True, realign=False)

    def _open(self, chunk: TsChunk, *, video_open: bool, realign: bool) -> None:
        self._video_open, self._realign = video_open, realign
        self._start_dts = self._last_dts = chunk.dts_ms
        keep = self._accepts(chunk)
        # A kept chunk that changed the program already starts with the new PAT/PMT.
        psi = b"" if chunk.tracks_changed and keep else self._converter.psi()
        self._buffer = bytearray(psi)
        if keep:
            self._append(chunk)
        else:
            self.dropped_chunks += 1

    def _accepts(self, chunk: TsChunk) -> bool:
        """Video in a segment starts at a keyframe: earlier video frames are dropped."""
        return not chunk.is_video or chunk.is_keyframe or self._video_open

    def _append(self, chunk: TsChunk) -> None:
        if self._buffer is None or not self._accepts(chunk):
            self.dropped_chunks += 1
            return
        if chunk.is_video and chunk.is_keyframe:
            self._video_open = True
        self._last_dts = max(self._last_dts, chunk.dts_ms)
        self._buffer += chunk.data

    def _estimated_end(self) -> int:
        """Where the open segment's media ends when no next segment says so (end of stream, a
        gap): its last DTS plus one chunk interval of the driving track, within the limit."""
        step = self._steps[self._converter.has_video]
        limit = self.policy.segment_limit_ms(self.target_duration)
        return min(self._last_dts + step, self._start_dts + limit)

    def _close(self, end_dts: int) -> FinishedSegment:
        assert self._buffer is not None
        duration = max(end_dts - self._start_dts, 1)
        if self.target_duration is None:
            self.target_duration = self.policy.target_duration_for(duration)
        segment = FinishedSegment(
            bytes(self._buffer), self._start_dts, duration, self._discontinuity
        )
        self._buffer = None
        self._discontinuity = False
        self._realign = False
        return segment


def session_start(tags: Sequence[FlvTag]) -> int:
    """Where the new publisher session starts in a ``Batch.discontinuity`` batch.

    The hub merges pending batches, so the old session's last tags may come first. A session
    begins with metadata or sequence headers (nothing decodes without them): the first such tag
    is the boundary (0 when there is none).
    """
    for index, tag in enumerate(tags):
        if tag.tag_type == TAG_SCRIPT or is_sequence_header(tag.tag_type, tag.data):
            return index
    return 0


class HubSubscription(Protocol):
    """What the segmenter uses of ``synctv.livestream.stream.Subscription``."""

    @property
    def join_tags(self) -> tuple[FlvTag, ...]: ...

    @property
    def realtime(self) -> bool: ...

    def set_realtime(self, realtime: bool) -> None: ...

    async def receive(self) -> _Batch: ...


class _Batch(Protocol):
    @property
    def tags(self) -> tuple[FlvTag, ...]: ...

    @property
    def discontinuity(self) -> bool: ...


class HubStream(Protocol):
    """What the segmenter uses of ``synctv.livestream.stream.LiveStream``."""

    @property
    def stream_id(self) -> str: ...

    def subscribe(
        self, *, protocol: str = ..., realtime: bool = ..., whole_gop_cache: bool = ...
    ) -> AbstractContextManager[HubSubscription]: ...


class _StreamDemand:
    """When a stream's HLS output was last asked for, an event for a segmenter waiting, and the
    segmenter's subscription (realtime while asked for)."""

    __slots__ = ("last", "subscription", "touched")

    def __init__(self) -> None:
        self.last = -math.inf
        self.touched = trio.Event()
        self.subscription: HubSubscription | None = None


class HlsDemand:
    """Recent HLS requests per live stream, for the on-demand segmenter (module docstring).

    Only streams a segmenter registered (``track``) are remembered, so requests for arbitrary
    ids cost nothing and hold no memory.
    """

    def __init__(
        self, idle_seconds: float, *, clock: Callable[[], float] = trio.current_time
    ) -> None:
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._streams: dict[str, _StreamDemand] = {}

    def touch(self, stream_id: str) -> None:
        """A playlist or segment of ``stream_id`` was requested (called by the HLS routes)."""
        demand = self._streams.get(stream_id)
        if demand is not None:
            demand.last = self._clock()
            demand.touched.set()
            if demand.subscription is not None:
                demand.subscription.set_realtime(True)

    def wanted(self, stream_id: str) -> bool:
        demand = self._streams.get(stream_id)
        return demand is not None and self.recent(demand)

    def recent(self, demand: _StreamDemand) -> bool:
        return self._clock() - demand.last < self.idle_seconds

    @contextmanager
    def track(self, stream_id: str) -> Iterator[_StreamDemand]:
        demand = self._streams[stream_id] = _StreamDemand()
        try:
            yield demand
        finally:
            if self._streams.get(stream_id) is demand:
                del self._streams[stream_id]

    async def wait_wanted(self, demand: _StreamDemand) -> None:
        """Return once the stream was asked for within the idle window."""
        while not self.recent(demand):
            demand.touched = trio.Event()
            await demand.touched.wait()

    async def wait_idle(self, demand: _StreamDemand) -> None:
        """Return once nobody asked for the stream for the whole idle window."""
        # A deadline that moves with each request: sleep to it, look again (one wake-up per
        # idle window while watched, not one per request).
        while (remaining := demand.last + self.idle_seconds - self._clock()) > 0:  # noqa: ASYNC110
            await trio.sleep(remaining)


@dataclass(frozen=True, slots=True)
class HlsSegmenterStatistics:
    streams: int
    segments: int
    discontinuities: int
    store_failures: int


class HlsSegmenter:
    """Starts one segmenter task per live stream; wire with
    ``hub.add_stream_task_factory(segmenter.task_factory)``.

    ``wall_clock`` (seconds since the epoch) is read only here, for PDT and the first sequence
    number of a run.
    """

    def __init__(
        self,
        store: HlsStore,
        *,
        segment_seconds: float = 2.0,
        playlist_length: int = 6,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        demand: HlsDemand | None = None,
        on_demand: bool = False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if on_demand and demand is None:
            raise ValueError("on_demand needs the HlsDemand the routes report requests to")
        self.store = store
        self.demand = demand
        self.on_demand = on_demand
        self.policy = SegmentationPolicy(segment_seconds)
        self.playlist_length = playlist_length
        self.linger_seconds = linger_seconds
        self.wall_clock = wall_clock
        self._streams = 0
        self._segments = 0
        self._discontinuities = 0
        self._store_failures = 0

    @classmethod
    def from_config(
        cls, store: HlsStore, config: LivestreamConfig, demand: HlsDemand | None = None
    ) -> HlsSegmenter:
        return cls(
            store,
            segment_seconds=config.hls_segment_seconds,
            playlist_length=config.hls_playlist_length,
            demand=demand,
            on_demand=config.hls_on_demand,
        )

    def task_factory(self, stream: HubStream) -> Callable[[], Awaitable[None]]:
        return partial(self.run_stream, stream)

    def statistics(self) -> HlsSegmenterStatistics:
        return HlsSegmenterStatistics(
            self._streams, self._segments, self._discontinuities, self._store_failures
        )

    async def run_stream(self, stream: HubStream) -> None:
        """Segment ``stream`` until it ends (or this task is cancelled). Never raises."""
        stream_id = stream.stream_id
        try:
            first = await self._begin(stream_id)
            if self.demand is None:
                await self._segment(stream, first, None)
                return
            with self.demand.track(stream_id) as requests:
                if self.on_demand:
                    await self._segment_on_demand(stream, first, self.demand, requests)
                else:
                    await self._segment(stream, first, requests)
        except Exception:
            log.exception("HLS segmenter of stream %s failed; HLS stops for this run", stream_id)

    async def _segment_on_demand(
        self, stream: HubStream, first: int, demand: HlsDemand, requests: _StreamDemand
    ) -> None:
        stream_id = stream.stream_id
        segmenting = False
        try:
            while True:
                await demand.wait_wanted(requests)
                log.info("HLS of stream %s requested: segmenting", stream_id)
                segmenting = True
                if not await self._segment(stream, first, requests, pause_when_idle=True):
                    return  # the stream ended and its run was closed
                segmenting = False
                log.info(
                    "HLS of stream %s not requested for %.0f s: segmenting paused",
                    stream_id,
                    demand.idle_seconds,
                )
                first = await self._begin(stream_id)  # drops the paused run's window
        finally:
            if not segmenting:  # the stream ended while paused
                with trio.CancelScope(shield=True), trio.move_on_after(FINAL_WRITE_SECONDS):
                    await self.store.end_stream(stream_id, linger_seconds=self.linger_seconds)

    async def _begin(self, stream_id: str) -> int:
        return await self.store.begin_stream(
            stream_id, min_first_sequence=int(self.wall_clock() * SEQUENCE_FLOOR_PER_SECOND)
        )

    async def _segment(
        self,
        stream: HubStream,
        first_sequence: int,
        requests: _StreamDemand | None,
        *,
        pause_when_idle: bool = False,
    ) -> bool:
        """One run: consume the stream until it ends (closing the run with ENDLIST), or, with
        ``pause_when_idle``, until nobody asked for it for the idle window (True: paused, the
        run left as it is)."""
        run = _Run(self, stream.stream_id, first_sequence, requests)
        paused = False
        self._streams += 1
        try:
            if not pause_when_idle:
                await run.consume(stream)
            else:
                assert requests is not None
                with trio.CancelScope() as idle:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._cancel_when_idle, requests, idle)
                        await run.consume(stream)
                        nursery.cancel_scope.cancel()
                paused = idle.cancelled_caught
        finally:
            self._streams -= 1
            if not paused:
                with trio.CancelScope(shield=True), trio.move_on_after(FINAL_WRITE_SECONDS):
                    await run.end()
        return paused

    async def _cancel_when_idle(self, requests: _StreamDemand, scope: trio.CancelScope) -> None:
        assert self.demand is not None
        await self.demand.wait_idle(requests)
        scope.cancel()


class _Run:
    """One run of one stream's segmenter: builder, window, PDT anchor, store writes."""

    def __init__(
        self,
        owner: HlsSegmenter,
        stream_id: str,
        first_sequence: int,
        requests: _StreamDemand | None,
    ) -> None:
        self.owner = owner
        self.requests = requests
        self.store = owner.store
        self.stream_id = stream_id
        self.builder = SegmentBuilder(owner.policy)
        self.first_sequence = first_sequence
        self._window: PlaylistWindow | None = None
        self.anchor: tuple[int, int] | None = None  # (wall ms, dts ms)

    @property
    def window(self) -> PlaylistWindow:
        """Made when first needed: by then the first segment closed and fixed the builder's
        target duration (a stream that ends before its first segment gets the floor)."""
        if self._window is None:
            target_duration = self.builder.target_duration or self.owner.policy.min_target_duration
            self._window = PlaylistWindow(
                self.owner.playlist_length, target_duration, first_sequence=self.first_sequence
            )
        return self._window

    async def consume(self, stream: HubStream) -> None:
        """Subscribe (again after lagging) until the stream ends."""
        resubscribing = False
        requests, demand = self.requests, self.owner.demand
        while True:
            try:
                # Realtime while HLS is being fetched: batches reach the segmenter without the
                # publisher's idle read merging, so the live edge is what viewers wait for.
                realtime = requests is not None and demand is not None and demand.recent(requests)
                with stream.subscribe(
                    protocol=VIEWER_PROTOCOL, realtime=realtime, whole_gop_cache=True
                ) as subscription:
                    if requests is not None:
                        requests.subscription = subscription
                    try:
                        if resubscribing:
                            await self.publish(self.builder.discontinuity())
                        await self.follow(subscription)
                    finally:
                        if requests is not None:
                            requests.subscription = None
            except StreamEnded:
                return
            except SubscriberLagged as exc:
                log.warning("HLS segmenter of %s lagged (%s); resubscribing", self.stream_id, exc)
                resubscribing = True

    async def follow(self, subscription: HubSubscription) -> None:
        finished: list[FinishedSegment] = []
        for tag in subscription.join_tags:
            finished += self.builder.feed(tag)
        if subscription.join_tags:
            self.check_anchor(subscription.join_tags[-1].timestamp)
        await self.publish(finished)
        while True:
            batch = await subscription.receive()
            tags = batch.tags
            finished = []
            if batch.discontinuity:
                split = session_start(tags)
                for tag in tags[:split]:
                    finished += self.builder.feed(tag)
                finished += self.builder.discontinuity()
                tags = tags[split:]
            for tag in tags:
                finished += self.builder.feed(tag)
            if batch.tags:
                self.check_anchor(batch.tags[-1].timestamp)
            if finished:
                await self.publish(finished)
            if self.requests is not None and subscription.realtime:
                demand = self.owner.demand
                if demand is not None and not demand.recent(self.requests):
                    subscription.set_realtime(False)  # nobody fetched for the idle window

    def check_anchor(self, dts_ms: int) -> None:
        now_ms = int(self.owner.wall_clock() * 1000)
        if self.anchor is not None:
            wall_ms, anchor_dts = self.anchor
            if abs(wall_ms + (dts_ms - anchor_dts) - now_ms) <= REANCHOR_MS:
                return
        self.anchor = (now_ms, dts_ms)

    def program_date_time(self, dts_ms: int) -> int:
        if self.anchor is None:
            return int(self.owner.wall_clock() * 1000)
        wall_ms, anchor_dts = self.anchor
        return wall_ms + dts_ms - anchor_dts

    async def publish(self, finished: Sequence[FinishedSegment], *, ended: bool = False) -> None:
        for segment in finished:
            await self.add(segment)
        if ended:
            self.window.end()
        if finished or ended:
            window = self.window
            await self.store.put_playlist(
                self.stream_id,
                window.render(),
                newest_sequence=window.next_sequence - 1,
                ended=ended,
                target_duration=window.target_duration,
            )

    async def add(self, finished: FinishedSegment) -> None:
        sequence = self.window.next_sequence
        try:
            await self.store.put_segment(self.stream_id, sequence, finished.data)
        except OSError as exc:
            self.owner._store_failures += 1
            log.error("HLS segment %d of %s not stored: %s", sequence, self.stream_id, exc)
            self.window.mark_discontinuity()
            return
        if finished.discontinuity:
            self.window.mark_discontinuity()
            self.owner._discontinuities += 1
            metrics.HLS_DISCONTINUITIES.inc()
        duration = finished.duration_ms / 1000
        evicted = self.window.add(
            Segment(
                sequence,
                duration,
                f"{sequence}.ts",
                self.program_date_time(finished.start_dts_ms),
            )
        )
        self.owner._segments += 1
        metrics.HLS_SEGMENTS.inc()
        metrics.HLS_SEGMENT_SECONDS.observe(duration)
        if evicted:
            # RFC 8216 §6.2.2: fetchable for the segment's duration plus the longest playlist's.
            grace = max(self.window.availability_seconds(s) for s in evicted)
            await self.store.retire_segments(
                self.stream_id, [s.sequence for s in evicted], grace_seconds=grace
            )

    async def end(self) -> None:
        """Close the last segment, write the ENDLIST playlist, let the store expire the run."""
        await self.publish(self.builder.finish(), ended=True)
        await self.store.end_stream(self.stream_id, linger_seconds=self.owner.linger_seconds)
