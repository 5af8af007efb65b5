"""One live stream: publisher ingest, join state (metadata, sequence headers, GOP cache), fan-out.

Theory of operation
-------------------
Ingest (``PublisherHandle.publish_audio/video``) is per tag and cheap: size check, timestamp
through the stream's one :class:`TimestampNormalizer` (shared by audio and video so A/V sync is
kept; composition offsets live in the body and are untouched), ``encode_tag`` once, append to
the pending list. ``flush()`` (end of one socket read) then does the per-batch work: the pending
tags update the join state (metadata, latest sequence headers, GOP cache) and become ONE
:class:`Batch` whose ``flv`` is one ``b"".join``, published to the :class:`Broadcaster`.

Join state is updated at flush, not at ingest, and ``subscribe()`` reads the join state and the
broadcaster's cursor in the same synchronous step: a tag is either in the join snapshot or in a
later batch, never both and never neither.

Publisher sessions: a second publisher of the same stream (OBS reconnect, within the grace or
while the old connection is still half-open) replaces the first. The old handle is detached
(its ``wait_kicked`` returns, its calls are ignored), the normaliser is rebased so time continues
after the old session, the join state is cleared (old GOPs do not decode with new sequence
headers), and the new session's first batch has ``discontinuity=True``. Viewers keep their
subscription throughout; the hub (``hub.py``) decides when a stream without publisher ends.

Viewer bound: ``max_backlog_bytes`` or, by default, ``max(8 MiB, 4 s at the measured bitrate)``
bytes behind the live edge; the ring keeps that much (at least the default) so a bounded viewer
can catch up with one merged batch. Beyond it the viewer is cut (``SubscriberLagged``). Drivers
that cut a viewer for another slowness (a write that did not complete in time) say so with
``Subscription.dropped(reason)``; drops are counted by protocol and reason.

Batch deadline: pending tags become a batch when they span the fan-out window of media time
(at the end of a read), or when the first of them has waited ``fanout_batch_window_ms`` of wall
time, whichever comes first. The second is ``run_flush_timer`` (a task in the stream's nursery,
started by the hub), so a publisher that stalls mid-window does not hold tags back.

Metadata: onMetaData is relayed in batches only before any media (at 0, for viewers who joined
early); later (a reconnected publisher's, or an encoder's update) it only replaces the join
state's for viewers still to come. Viewers already watching got theirs at 0 in the join
snapshot, and FFmpeg takes a script tag at any other time for a new data stream.

The splice: after a reconnect the normaliser puts the new session's first tag right after the
old session's last presentation time (a video tag's time plus its composition offset: with
B-frames the last frame decoded is not the last shown, and a new frame shown before an old one
is an overlap FFmpeg warns about), and clamps tags of the other track that start slightly
behind it to that point; so until the new session is ``SPLICE_GUARD_MS`` past the splice, a tag
that would not come strictly after the previous tag of its own track is moved 1 ms after it.
Viewers see each track's frames strictly rise across the splice (no two frames at one time; a
sequence header keeps the time of the frame it precedes).

Publisher gone: when the publisher detaches (the reconnect grace begins) the stream publishes
an ``unpublished`` signal batch, so viewers learn it in order with the media (RTMP players get
Stream EOF); the next session's first batch has ``discontinuity=True``.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import trio

from synctv.config import LivestreamConfig
from synctv.livestream.errors import SubscriberLagged, TagRejected
from synctv.livestream.fanout import Batch, Broadcaster, Cursor
from synctv.livestream.gop_cache import GopCache, GopCacheStatistics
from synctv.livestream.ingest_clock import IngestClock
from synctv.media.errors import MediaError
from synctv.media.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvTag,
    encode_tag,
    is_sequence_header,
    is_video_keyframe,
    parse_video,
)
from synctv.media.timestamps import TimestampNormalizer

__all__ = [
    "DROP_REASONS",
    "MIN_BACKLOG_BYTES",
    "NOT_VIEWERS",
    "JoinSnapshot",
    "LiveStream",
    "PublisherHandle",
    "StreamStatistics",
    "Subscription",
    "SubscriptionStatistics",
]

# A viewer may be this far behind before it is cut, whatever the bitrate (≈ 8 s at 8 Mbit/s)...
MIN_BACKLOG_BYTES = 8 * 1024 * 1024
# ... or this many seconds of the stream at its measured bitrate, when that is more.
BACKLOG_SECONDS = 4.0
# The ring never holds more than this per stream, whatever the bitrate.
MAX_RING_BYTES = 64 * 1024 * 1024
# A driver that never flushes still produces batches: pending tags are flushed past these.
MAX_PENDING_TAGS = 512
MAX_PENDING_BYTES = 4 * 1024 * 1024
# Audio-only streams have no key frames; an audio frame starts a "GOP" this often instead.
AUDIO_GOP_MS = 1000
# Legacy FLV CodecIDs whose NALU packets carry a composition offset (FLV v10 E.4.3.1; 12 is the
# pre-E-RTMP HEVC extension OBS and FFmpeg used).
_CODEC_AVC = 7
_CODEC_HEVC_LEGACY = 12
# Bitrate window.
RATE_WINDOW_SECONDS = 5
# How long after a reconnect splice each track's timestamps are forced to rise strictly (ms of
# stream time): the normaliser's clamp acts only on tags within its max backward step (1 s).
SPLICE_GUARD_MS = 1000
# Why a slow viewer was dropped: behind the hub's bound, or one write stuck past
# flv_write_timeout_seconds (reported by the driver through Subscription.dropped).
DROP_REASONS = ("lagged", "write_timeout")
# Subscribers that are part of the server, not people: the HLS segmenter (hls.VIEWER_PROTOCOL)
# subscribes once per stream whoever watches. They are counted apart (``consumers``), so the
# viewer count (`synctv admin live list`, synctv_livestream_viewers) counts people. HLS players,
# who hold no subscription, are added by the hub from their sessions (``hls_viewers``).
NOT_VIEWERS = frozenset({"hls_segmenter"})


@dataclass(frozen=True, slots=True, eq=False)
class JoinSnapshot:
    """Metadata, sequence headers and the GOP cache a viewer starts from, shared by every
    viewer joining between the same two batches, with encodings of it cached on it (so they
    are freed with the snapshot, i.e. at the next batch or when the stream ends)."""

    tags: tuple[FlvTag, ...]
    flv: bytes
    _encoded: dict[Hashable, bytes] = field(default_factory=dict, repr=False)

    def encoded(self, key: Hashable, build: Callable[[tuple[FlvTag, ...]], bytes]) -> bytes:
        """``build(tags)``, computed once per snapshot and ``key`` (e.g. RTMP, per stream id)."""
        data = self._encoded.get(key)
        if data is None:
            data = self._encoded[key] = build(self.tags)
        return data


_EMPTY_JOIN = JoinSnapshot((), b"")


@dataclass(frozen=True, slots=True)
class StreamStatistics:
    stream_id: str
    live: bool  # a publisher is attached (False during the reconnect grace)
    uptime_seconds: float
    bitrate_bps: int  # FLV bytes published over the last ~5 s, in bits per second
    viewers: dict[str, int]  # people, by protocol ("flv", "rtmp"; "hls" added by the hub)
    consumers: dict[str, int]  # the server's own subscribers (NOT_VIEWERS), by protocol
    has_audio: bool
    has_video: bool
    bytes_in: int  # tag body bytes accepted from publishers
    bytes_out: int  # FLV bytes handed to viewers (join snapshots + batches)
    batches: int
    backlog_bytes: int  # bytes held by the batch ring
    dropped_viewers: int  # slow viewers cut, for any DROP_REASONS
    dropped_viewers_by: dict[tuple[str, str], int]  # (protocol, reason) -> count
    rejected_tags: int
    publisher_sessions: int  # 1 + reconnects
    timestamp_discontinuities: int
    gop_cache: GopCacheStatistics


@dataclass(frozen=True, slots=True)
class SubscriptionStatistics:
    wakeups: int
    batches: int
    bytes: int
    bytes_behind: int


class _RateMeter:
    """Bytes per whole second over the last few seconds (bounded: one slot per second)."""

    __slots__ = ("_buckets", "_started")

    def __init__(self, now: float) -> None:
        self._started = now
        self._buckets: collections.deque[list[int]] = collections.deque(
            maxlen=RATE_WINDOW_SECONDS + 1
        )

    def add(self, now: float, size: int) -> None:
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += size
        else:
            self._buckets.append([second, size])

    def bits_per_second(self, now: float) -> int:
        horizon = now - RATE_WINDOW_SECONDS
        total = sum(size for second, size in self._buckets if second + 1 > horizon)
        span = min(float(RATE_WINDOW_SECONDS), max(now - self._started, 1.0))
        return int(total * 8 / span)


class PublisherHandle:
    """The publishing side of a stream, held by the RTMP connection task.

    Calls on a handle that was replaced (a newer publisher of the same stream), kicked or closed
    are ignored; ``wait_kicked`` tells its driver to close the connection.

    ``profile``: what the driver knows of its publisher (the RTMP server's
    ``PublisherProfile``: codecs, size, key-frame interval), opaque here; read through
    :meth:`LiveStream.publisher_profile` for the streamer's diagnostics.
    """

    __slots__ = ("_kicked", "_stream", "profile")

    def __init__(self, stream: LiveStream) -> None:
        self._stream: LiveStream | None = stream
        self._kicked = trio.Event()
        self.profile: object | None = None

    @property
    def attached(self) -> bool:
        return self._stream is not None

    @property
    def watched(self) -> bool:
        """A viewer waits on the live edge (``LiveStream.watched``): read the socket promptly."""
        return self._stream is not None and self._stream.watched

    async def wait_watched(self) -> None:
        """Return once the stream is ``watched`` (at once if it is; never if detached)."""
        stream = self._stream
        if stream is None:
            await trio.sleep_forever()
        assert stream is not None
        while not stream.watched:
            await stream._watched_changed.wait()

    def set_metadata(self, amf0_body: bytes) -> None:
        """onMetaData payload (the script tag body, without ``@setDataFrame``)."""
        if self._stream is not None:
            self._stream._ingest_metadata(amf0_body)

    def publish_audio(self, timestamp_ms: int, body: bytes) -> None:
        """One FLV audio tag body; raises ``TagRejected`` when it is too large."""
        if self._stream is not None:
            self._stream._ingest(TAG_AUDIO, timestamp_ms, body)

    def publish_video(self, timestamp_ms: int, body: bytes) -> None:
        """One FLV video tag body; raises ``TagRejected`` when it is too large."""
        if self._stream is not None:
            self._stream._ingest(TAG_VIDEO, timestamp_ms, body)

    def flush(self) -> None:
        """End of one read from the socket: the pending tags become a batch once they span the
        fan-out window (``fanout_batch_window_ms`` of media time), so viewers wake per window."""
        if self._stream is not None:
            self._stream.end_of_read()

    async def wait_kicked(self) -> None:
        """Returns when this publisher must stop: kicked, replaced by a newer one, or stream ended."""
        await self._kicked.wait()

    def close(self) -> None:
        """The publisher is gone; the stream ends after the reconnect grace unless it returns."""
        stream = self._stream
        if stream is not None:
            stream.flush()
            stream._detach(self)

    def _detach(self) -> None:
        self._stream = None
        self._kicked.set()


class Subscription:
    """One viewer of a stream: the join snapshot, then every later batch (see ``receive``)."""

    __slots__ = (
        "_broadcaster",
        "_count_realtime",
        "_cursor",
        "_dropped",
        "_drops",
        "_realtime",
        "has_audio",
        "has_video",
        "join",
        "join_flv",
        "join_tags",
        "protocol",
    )

    def __init__(
        self,
        broadcaster: Broadcaster,
        cursor: Cursor,
        join: JoinSnapshot,
        has_audio: bool,
        has_video: bool,
        *,
        protocol: str = "other",
        drops: collections.Counter[tuple[str, str]] | None = None,
        count_realtime: Callable[[int], None] | None = None,
    ) -> None:
        self._broadcaster = broadcaster
        self._cursor = cursor
        self.join = join
        self.join_tags, self.join_flv = join.tags, join.flv
        self.has_audio = has_audio
        self.has_video = has_video
        self.protocol = protocol
        self._drops = drops
        self._dropped = False
        self._realtime = False
        self._count_realtime = count_realtime

    async def receive(self) -> Batch:
        """The next batch after the join snapshot (no gap, no duplicate).

        Several pending batches come back merged into one (never across an ``unpublished``
        signal). Raises :class:`StreamEnded` when the stream ended (after the last batch) and
        :class:`SubscriberLagged` when cut for lagging (counted as a drop, once).
        """
        try:
            return await self._broadcaster.receive(self._cursor)
        except SubscriberLagged:
            self.dropped("lagged")
            raise

    @property
    def realtime(self) -> bool:
        return self._realtime

    def set_realtime(self, realtime: bool) -> None:
        """Whether this subscriber waits on the live edge (``LiveStream.watched``); a
        subscriber whose readers come and go (the HLS segmenter) changes it as they do."""
        if realtime != self._realtime:
            self._realtime = realtime
            if self._count_realtime is not None:
                self._count_realtime(1 if realtime else -1)

    def dropped(self, reason: str) -> None:
        """The driver cut this viewer for being slow (one of DROP_REASONS); counted once."""
        if not self._dropped and self._drops is not None:
            self._dropped = True
            self._drops[(self.protocol, reason)] += 1

    @property
    def caught_up(self) -> bool:
        """Nothing was published that this subscription has not received."""
        return self._cursor.seq == self._broadcaster.next_seq

    def in_step_with(self, other: Subscription) -> bool:
        """Both are at the same place in the broadcast (the next batch is the same for both)."""
        return self._cursor.seq == other._cursor.seq

    def move_to(self, other: Subscription) -> None:
        """Continue from ``other``'s place: a writer that follows the broadcast (``tap``)
        delivered everything in between to this viewer."""
        self._cursor.move_to(other._cursor)

    def statistics(self) -> SubscriptionStatistics:
        cursor = self._cursor
        return SubscriptionStatistics(
            wakeups=cursor.wakeups,
            batches=cursor.batches,
            bytes=cursor.bytes,
            bytes_behind=self._broadcaster.bytes_behind(cursor),
        )


class LiveStream:
    """A stream while it is live or within its reconnect grace. Built by :class:`StreamHub`."""

    def __init__(
        self,
        stream_id: str,
        config: LivestreamConfig,
        *,
        clock: Callable[[], float] = trio.current_time,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream_id = stream_id
        self._wall_clock = wall_clock
        self._ingest_clock = IngestClock()
        self._max_tag_size = config.max_flv_tag_size_bytes
        self._batch_window_ms = config.fanout_batch_window_ms
        self._clock = clock
        self._started = clock()
        self._gop = GopCache(
            max_gops=config.gop_cache_size, max_bytes=config.gop_cache_max_memory_mb * 1024 * 1024
        )
        self._broadcaster = Broadcaster()
        self._normalizer = TimestampNormalizer()
        self._rate = _RateMeter(self._started)
        self._pending: list[FlvTag] = []
        self._pending_encoded: list[bytes] = []
        self._pending_bytes = 0
        self._discontinuity = False
        self._metadata: FlvTag | None = None
        self._video_header: FlvTag | None = None
        self._audio_header: FlvTag | None = None
        self._seen_video = False
        self._seen_audio = False
        self._audio_gop_start: int | None = None
        self._last_shown = 0  # latest presentation time (ms) of the stream so far
        self._track_last: dict[int, int] = {}  # last timestamp per tag type (during a splice)
        self._splice_until: int | None = None  # stream time the splice guard ends
        self._join_cache: dict[bool, tuple[int, JoinSnapshot]] = {}  # whole? -> (seq, join)
        self._pending_since = 0.0  # clock() when the first pending tag arrived
        self._pending_started = trio.Event()  # set when a tag arrives with nothing pending
        self._drops: collections.Counter[tuple[str, str]] = collections.Counter()
        self._publisher: PublisherHandle | None = None
        self._changed = trio.Event()
        self._ended = False
        self._viewers: dict[str, int] = {}
        self._realtime_subscribers = 0
        self._watched_changed = trio.Event()  # set (and replaced) when watched becomes true
        self._consumers: dict[str, int] = {}
        self._sessions = 0
        self._bytes_in = 0
        self._bytes_out = 0
        self._rejected = 0

    # ------------------------------------------------------------------ viewers

    @property
    def live(self) -> bool:
        """A publisher is attached."""
        return self._publisher is not None

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def publisher_profile(self) -> object | None:
        """The attached publisher's ``PublisherHandle.profile`` (None without a publisher)."""
        return None if self._publisher is None else self._publisher.profile

    @property
    def has_audio(self) -> bool:
        return self._seen_audio

    @property
    def has_video(self) -> bool:
        return self._seen_video

    def viewer_bound(self) -> int:
        """Default bytes-behind bound: max(8 MiB, 4 s at the measured bitrate)."""
        rate = self._rate.bits_per_second(self._clock())
        return min(MAX_RING_BYTES, max(MIN_BACKLOG_BYTES, int(rate / 8 * BACKLOG_SECONDS)))

    @property
    def watched(self) -> bool:
        """Someone who waits on the live edge is subscribed (the publisher's driver may then
        not hold data back; see ``subscribe(realtime=...)``)."""
        return self._realtime_subscribers > 0

    @contextmanager
    def subscribe(
        self,
        *,
        max_backlog_bytes: int | None = None,
        protocol: str = "other",
        realtime: bool = True,
        whole_gop_cache: bool = False,
    ) -> Iterator[Subscription]:
        """Join the stream: a snapshot to start decoding from, then live batches.

        ``max_backlog_bytes`` overrides the default bound (the ring, at most 64 MiB, caps it).
        ``protocol`` labels the viewer count. ``realtime=False`` says the subscriber does not
        mind batches a little late (the HLS segmenter while nobody fetches its output), so it
        does not make the stream ``watched`` (``Subscription.set_realtime`` changes it).
        The join starts at the newest cached key frame, or with ``whole_gop_cache`` at the oldest
        (more media at once, further from live: what the HLS segmenter wants). A subscription to an ended stream gets an
        empty snapshot and ``StreamEnded`` from its first ``receive``.
        """
        bound = self.viewer_bound() if max_backlog_bytes is None else max_backlog_bytes
        cursor = self._broadcaster.cursor(bound)
        join = self._join_snapshot(whole_gop_cache)
        subscription = Subscription(
            self._broadcaster,
            cursor,
            join,
            self._seen_audio,
            self._seen_video,
            protocol=protocol,
            drops=self._drops,
            count_realtime=self._count_realtime,
        )
        self._bytes_out += len(join.flv)
        counts = self._consumers if protocol in NOT_VIEWERS else self._viewers
        counts[protocol] = counts.get(protocol, 0) + 1
        subscription.set_realtime(realtime)
        try:
            yield subscription
        finally:
            subscription.set_realtime(False)
            self._bytes_out += cursor.bytes
            remaining = counts[protocol] - 1
            if remaining:
                counts[protocol] = remaining
            else:
                del counts[protocol]

    def _count_realtime(self, delta: int) -> None:
        self._realtime_subscribers += delta
        if delta > 0 and self._realtime_subscribers == 1:
            event, self._watched_changed = self._watched_changed, trio.Event()
            event.set()

    def tap(self) -> Subscription:
        """A subscription at the live edge for a writer that delivers batches to viewers of its
        own (the RTMP fan-out writer): no join snapshot, not counted as a viewer, bounded only
        by the ring (it never waits on a socket)."""
        cursor = self._broadcaster.cursor(MAX_RING_BYTES)
        return Subscription(self._broadcaster, cursor, _EMPTY_JOIN, False, False, protocol="")

    def statistics(self) -> StreamStatistics:
        now = self._clock()
        ring = self._broadcaster.statistics()
        return StreamStatistics(
            stream_id=self.stream_id,
            live=self.live,
            uptime_seconds=now - self._started,
            bitrate_bps=self._rate.bits_per_second(now),
            viewers=dict(self._viewers),
            consumers=dict(self._consumers),
            has_audio=self._seen_audio,
            has_video=self._seen_video,
            bytes_in=self._bytes_in,
            bytes_out=self._bytes_out,
            batches=ring.batches,
            backlog_bytes=ring.ring_bytes,
            dropped_viewers=sum(self._drops.values()),
            dropped_viewers_by=dict(self._drops),
            rejected_tags=self._rejected,
            publisher_sessions=self._sessions,
            timestamp_discontinuities=self._normalizer.discontinuities,
            gop_cache=self._gop.statistics(),
        )

    def media_clock(self) -> tuple[float, float] | None:
        """(media time, server time): the newest frame's timestamp (seconds, as viewers see it)
        and when it arrived at ingest (Unix seconds), from the least delayed arrival of the last
        few seconds (``ingest_clock``); None before the first frame."""
        return self._ingest_clock.mapping()

    def _join_snapshot(self, whole_gop_cache: bool) -> JoinSnapshot:
        """Metadata, sequence headers and the GOP cache (its newest GOP, or all of it), shared
        by viewers joining between the same two batches. Sequence headers are stamped with the first cached tag's time, so media
        timestamps never go backwards; onMetaData goes at 0, as FMS, nginx-rtmp and SRS send it
        (FFmpeg's FLV reader takes a script tag at any other time for a data track)."""
        seq = self._broadcaster.next_seq
        cached = self._join_cache.get(whole_gop_cache)
        if cached is not None and cached[0] == seq:
            return cached[1]
        gop_tags, gop_flv = self._gop.snapshot(whole=whole_gop_cache)
        start = self._gop.first_timestamp(whole=whole_gop_cache)
        if start is None:
            start = self._normalizer.last_output or 0
        head = [
            FlvTag(tag.tag_type, 0 if tag.tag_type == TAG_SCRIPT else start, tag.data)
            for tag in (self._metadata, self._video_header, self._audio_header)
            if tag is not None
        ]
        encoded = [encode_tag(tag.tag_type, tag.timestamp, tag.data) for tag in head]
        join = JoinSnapshot((*head, *gop_tags), b"".join((*encoded, gop_flv)))
        self._join_cache[whole_gop_cache] = (seq, join)
        return join

    # ------------------------------------------------------------------ publisher

    def _ingest_metadata(self, body: bytes) -> None:
        if self._normalizer.last_output is None:  # before any media: relayed, at 0
            self._append(FlvTag(TAG_SCRIPT, 0, bytes(body)))
            return
        # Mid-stream: for later viewers' join snapshots only (module docstring, "Metadata").
        self._metadata = FlvTag(TAG_SCRIPT, 0, bytes(body))
        self._join_cache.clear()

    def _ingest(self, tag_type: int, timestamp_ms: int, body: bytes) -> None:
        if len(body) > self._max_tag_size:
            self._rejected += 1
            raise TagRejected(
                f"tag of {len(body)} bytes exceeds max_flv_tag_size_bytes={self._max_tag_size}"
            )
        if not body:
            return
        self._bytes_in += len(body)
        timestamp = self._normalizer.normalize(timestamp_ms)
        if self._splice_until is not None and not is_sequence_header(tag_type, body):
            timestamp = self._after_splice(tag_type, timestamp)
        self._ingest_clock.arrived(timestamp, self._wall_clock())
        shown = timestamp + (_composition_ms(body) if tag_type == TAG_VIDEO else 0)
        if shown > self._last_shown:
            self._last_shown = shown
        self._append(FlvTag(tag_type, timestamp, bytes(body)))

    def _after_splice(self, tag_type: int, timestamp: int) -> int:
        """Each track strictly rising across a reconnect splice (module docstring)."""
        assert self._splice_until is not None
        last = self._track_last.get(tag_type)
        if last is not None and timestamp <= last:
            timestamp = last + 1
        self._track_last[tag_type] = timestamp
        if timestamp > self._splice_until:
            self._splice_until = None
            self._track_last.clear()
        return timestamp

    def _append(self, tag: FlvTag) -> None:
        encoded = encode_tag(tag.tag_type, tag.timestamp, tag.data)
        if not self._pending:
            self._pending_since = self._clock()
            self._pending_started.set()
        self._pending.append(tag)
        self._pending_encoded.append(encoded)
        self._pending_bytes += len(encoded)
        if len(self._pending) >= MAX_PENDING_TAGS or self._pending_bytes >= MAX_PENDING_BYTES:
            self.flush()

    def end_of_read(self) -> None:
        """Flush if the pending tags span the batch window; otherwise wait for the next read."""
        pending = self._pending
        if pending and pending[-1].timestamp - pending[0].timestamp >= self._batch_window_ms:
            self.flush()

    async def run_flush_timer(self) -> None:
        """Flush pending tags once the first has waited ``fanout_batch_window_ms`` (wall time).

        Run in the stream's nursery for as long as the stream lives (the hub does). Wakes once
        per batch at most, whatever the number of viewers.
        """
        window = self._batch_window_ms / 1000
        if window <= 0:
            return  # every read is a batch
        while not self._ended:
            if not self._pending:
                self._pending_started = trio.Event()
                await self._pending_started.wait()
                continue
            since = self._pending_since
            await trio.sleep(max(0.0, since + window - self._clock()))
            if self._pending and self._pending_since == since:
                self.flush()

    def flush(self) -> None:
        """Pending tags → join state and ONE batch (the per-batch work; see module docstring)."""
        if not self._pending or self._ended:
            return
        tags, encoded = self._pending, self._pending_encoded
        self._pending, self._pending_encoded, self._pending_bytes = [], [], 0
        for tag, data in zip(tags, encoded, strict=True):
            self._remember(tag, data)
        batch = Batch(tuple(tags), b"".join(encoded), self._discontinuity)
        self._discontinuity = False
        now = self._clock()
        self._rate.add(now, len(batch.flv))
        self._broadcaster.publish(batch, max_ring_bytes=self.viewer_bound())

    def _remember(self, tag: FlvTag, encoded: bytes) -> None:
        """Update the join state with one flushed tag."""
        kind = tag.tag_type
        if kind == TAG_SCRIPT:
            self._metadata = tag
        elif is_sequence_header(kind, tag.data):
            attribute = "_video_header" if kind == TAG_VIDEO else "_audio_header"
            old: FlvTag | None = getattr(self, attribute)
            if old is not None and old.data != tag.data:
                self._gop.clear()  # cached frames belong to the old configuration
            setattr(self, attribute, tag)
            self._seen_video |= kind == TAG_VIDEO
            self._seen_audio |= kind == TAG_AUDIO
        elif kind == TAG_VIDEO:
            self._seen_video = True
            self._gop.add(tag, encoded, keyframe=is_video_keyframe(tag.data))
        else:
            self._seen_audio = True
            self._gop.add(tag, encoded, keyframe=self._audio_starts_gop(tag.timestamp))

    def _audio_starts_gop(self, timestamp: int) -> bool:
        if self._seen_video:
            return False
        start = self._audio_gop_start
        if start is None or timestamp - start >= AUDIO_GOP_MS:
            self._audio_gop_start = timestamp
            return True
        return False

    # ------------------------------------------------------------------ lifecycle (hub only)

    def _attach(self) -> PublisherHandle:
        """A publisher starts (or restarts) this stream; an attached one is replaced."""
        old = self._publisher
        if old is not None:
            self.flush()
            old._detach()
        if self._sessions:
            # A later session: time continues after the old one, join state starts over.
            self._normalizer.rebase(after=self._last_shown)
            self._discontinuity = True
            last = max(self._normalizer.last_output or 0, self._last_shown)
            self._splice_until = last + SPLICE_GUARD_MS
            self._track_last = {TAG_AUDIO: last, TAG_VIDEO: last}
            self._gop.clear()
            self._metadata = self._video_header = self._audio_header = None
            self._audio_gop_start = None
            self._join_cache.clear()
            self._ingest_clock.reset()
        self._sessions += 1
        handle = PublisherHandle(self)
        self._publisher = handle
        self._notify()
        return handle

    def _detach(self, handle: PublisherHandle) -> None:
        if self._publisher is handle:
            self._publisher = None
            handle._detach()
            if not self._ended:
                self.flush()
                signal = Batch((), b"", unpublished=True)
                self._broadcaster.publish(signal, max_ring_bytes=self.viewer_bound())
            self._notify()

    def _end(self) -> None:
        """End now: detach the publisher, let viewers drain, then StreamEnded."""
        if self._ended:
            return
        self.flush()
        if self._publisher is not None:
            self._publisher._detach()
            self._publisher = None
        self._ended = True
        self._broadcaster.close()
        self._notify()

    async def _wait_changed(self) -> None:
        await self._changed.wait()

    def _notify(self) -> None:
        event, self._changed = self._changed, trio.Event()
        event.set()


def _composition_ms(body: bytes) -> int:
    """A video tag's composition offset (ms; 0 where it has none): legacy AVC/HEVC read in
    place (5 bytes), E-RTMP bodies parsed."""
    if len(body) < 5:
        return 0
    first = body[0]
    if first & 0x80:
        try:
            return parse_video(body).composition_time
        except MediaError:
            return 0
    if first & 0x0F in (_CODEC_AVC, _CODEC_HEVC_LEGACY) and body[1] == 1:
        return int.from_bytes(body[2:5], "big", signed=True)
    return 0
