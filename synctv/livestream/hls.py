"""The per-stream HLS segmenter: hub subscriber → MPEG-TS segments → sliding playlist → store.

Theory of operation
-------------------
:class:`SegmentBuilder` is the synchronous core (no trio, no clock): FLV tags go in through
:class:`~synctv.media.mpegts.FlvToTs`, TS chunks are appended to the open segment, and
:class:`~synctv.media.hls.SegmentationPolicy` decides before each chunk of the driving track
(video, or audio when there is no video) whether a new segment starts there. A segment always
starts with PAT/PMT and, when the stream has video, with a keyframe: until the first keyframe
(stream start, after a discontinuity) chunks are dropped. A segment's duration is the distance
between its first DTS and the next segment's first DTS; the last one gets its last DTS plus one
frame interval.

:class:`HlsSegmenter` is the Trio driver, one ``run_stream`` task per live stream started by the
hub (``hub.add_stream_task_factory(segmenter.task_factory)``), as a child of the stream's nursery.
It joins with ``Subscription.join_tags`` (metadata, sequence headers, the GOP cache from a
keyframe) and then consumes batches. Each finished segment is stored, added to the
:class:`~synctv.media.hls.PlaylistWindow`, and the playlist re-rendered; segments that slid out
are retired in the store with a grace period. ``Batch.discontinuity`` (a publisher reconnect)
and a resubscription after lagging start a new segment with EXT-X-DISCONTINUITY and a fresh
muxer. When the stream ends the last segment is closed, the playlist gets EXT-X-ENDLIST and the
store keeps it for ``linger_seconds``.

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
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import trio

from synctv.config import LivestreamConfig
from synctv.livestream import hls_metrics as metrics
from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.hls_store import HlsStore
from synctv.media.errors import MediaError
from synctv.media.flv import TAG_SCRIPT, FlvTag, is_sequence_header
from synctv.media.hls import PlaylistWindow, Segment, SegmentationPolicy
from synctv.media.mpegts import FlvToTs, TsChunk

log = logging.getLogger("synctv.livestream.hls")

# A segment is cut at any frame once it holds this much, whatever the policy says: at 2 s
# segments that is a 130 Mbit/s stream, far above anything an RTMP publisher sends.
MAX_SEGMENT_BYTES = 32 * 1024 * 1024
# Frame interval assumed for the last segment's duration when the stream gave no better clue.
DEFAULT_FRAME_MS = 40
# PDT follows the wall clock again when media time drifted this far from it.
REANCHOR_MS = 1000
# How long an ended stream's final playlist (with ENDLIST) stays fetchable.
DEFAULT_LINGER_SECONDS = 30.0
# Retired segments stay fetchable for this many target durations.
RETIRE_GRACE_TARGET_DURATIONS = 2
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
    """FLV tags in, finished TS segments out (see the module docstring). Pure: no trio, no clock."""

    def __init__(
        self, policy: SegmentationPolicy, *, max_segment_bytes: int = MAX_SEGMENT_BYTES
    ) -> None:
        self.policy = policy
        self.max_segment_bytes = max_segment_bytes
        self._converter = FlvToTs()
        self._buffer: bytearray | None = None
        self._start_dts = 0
        self._last_dts = 0
        self._frame_ms = DEFAULT_FRAME_MS
        self._discontinuity = False
        self.errors = 0
        self.dropped_chunks = 0

    def feed(self, tag: FlvTag) -> list[FinishedSegment]:
        """Convert one tag; returns the segments it finished (usually none, at most two)."""
        try:
            chunks = self._converter.convert(tag)
        except MediaError as exc:
            self.errors += 1
            metrics.SEGMENTER_ERRORS.inc()
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
        return [self._close(self._last_dts + self._frame_ms)]

    def _add(self, chunk: TsChunk) -> list[FinishedSegment]:
        has_video = self._converter.has_video
        if self._buffer is None:
            if has_video and not (chunk.is_video and chunk.is_keyframe):
                self.dropped_chunks += 1
                return []
            self._open(chunk)
            return []
        elapsed = chunk.dts_ms - self._start_dts
        cut = False
        if elapsed > 0:
            if chunk.tracks_changed:
                cut, self._discontinuity = True, True
            elif chunk.is_video == has_video:
                cut = self.policy.should_cut(
                    now_dts_ms=chunk.dts_ms,
                    segment_start_dts_ms=self._start_dts,
                    is_keyframe=chunk.is_keyframe,
                    has_video=has_video,
                )
            cut = cut or len(self._buffer) >= self.max_segment_bytes
        if not cut:
            self._append(chunk)
            return []
        finished = self._close(chunk.dts_ms)
        self._open(chunk)
        return [finished]

    def _open(self, chunk: TsChunk) -> None:
        # A chunk that changed the program already starts with the new PAT/PMT.
        self._buffer = bytearray() if chunk.tracks_changed else bytearray(self._converter.psi())
        self._start_dts = self._last_dts = chunk.dts_ms
        self._buffer += chunk.data

    def _append(self, chunk: TsChunk) -> None:
        if self._buffer is None:
            self.dropped_chunks += 1
            return
        if chunk.is_video == self._converter.has_video and chunk.dts_ms > self._last_dts:
            self._frame_ms = min(chunk.dts_ms - self._last_dts, 1000)
        self._last_dts = max(self._last_dts, chunk.dts_ms)
        self._buffer += chunk.data

    def _close(self, end_dts: int) -> FinishedSegment:
        assert self._buffer is not None
        segment = FinishedSegment(
            bytes(self._buffer),
            self._start_dts,
            max(end_dts - self._start_dts, 1),
            self._discontinuity,
        )
        self._buffer = None
        self._discontinuity = False
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

    def subscribe(self, *, protocol: str = ...) -> AbstractContextManager[HubSubscription]: ...


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
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.policy = SegmentationPolicy(segment_seconds)
        self.playlist_length = playlist_length
        self.linger_seconds = linger_seconds
        self.wall_clock = wall_clock
        self._streams = 0
        self._segments = 0
        self._discontinuities = 0
        self._store_failures = 0

    @classmethod
    def from_config(cls, store: HlsStore, config: LivestreamConfig) -> HlsSegmenter:
        return cls(
            store,
            segment_seconds=config.hls_segment_seconds,
            playlist_length=config.hls_playlist_length,
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
        self._streams += 1
        try:
            first = await self.store.begin_stream(
                stream_id, min_first_sequence=int(self.wall_clock() * SEQUENCE_FLOOR_PER_SECOND)
            )
            run = _Run(self, stream_id, first)
            try:
                await run.consume(stream)
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(FINAL_WRITE_SECONDS):
                    await run.end()
        except Exception:
            log.exception("HLS segmenter of stream %s failed; HLS stops for this run", stream_id)
        finally:
            self._streams -= 1


class _Run:
    """One run of one stream's segmenter: builder, window, PDT anchor, store writes."""

    def __init__(self, owner: HlsSegmenter, stream_id: str, first_sequence: int) -> None:
        self.owner = owner
        self.store = owner.store
        self.stream_id = stream_id
        self.builder = SegmentBuilder(owner.policy)
        target_duration = owner.policy.target_duration
        self.window = PlaylistWindow(
            owner.playlist_length, target_duration, first_sequence=first_sequence
        )
        self.grace = float(RETIRE_GRACE_TARGET_DURATIONS * target_duration)
        self.anchor: tuple[int, int] | None = None  # (wall ms, dts ms)

    async def consume(self, stream: HubStream) -> None:
        """Subscribe (again after lagging) until the stream ends."""
        resubscribing = False
        while True:
            try:
                with stream.subscribe(protocol=VIEWER_PROTOCOL) as subscription:
                    if resubscribing:
                        await self.publish(self.builder.discontinuity())
                    await self.follow(subscription)
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
            newest = self.window.next_sequence - 1
            await self.store.put_playlist(
                self.stream_id, self.window.render(), newest_sequence=newest, ended=ended
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
            metrics.DISCONTINUITIES.inc()
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
        metrics.SEGMENTS.inc()
        metrics.SEGMENT_SECONDS.observe(duration)
        if evicted:
            await self.store.retire_segments(
                self.stream_id, [s.sequence for s in evicted], grace_seconds=self.grace
            )

    async def end(self) -> None:
        """Close the last segment, write the ENDLIST playlist, let the store expire the run."""
        await self.publish(self.builder.finish(), ended=True)
        await self.store.end_stream(self.stream_id, linger_seconds=self.owner.linger_seconds)
