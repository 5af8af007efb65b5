"""GOP cache: the tags a new viewer needs to start decoding at once (pure, bounded).

Theory of operation
-------------------
A group of pictures (GOP) starts at a key frame; a decoder can start there and nowhere else.
The cache keeps the tags of the last ``max_gops`` GOPs, the one being received included, so a
viewer that joins gets a picture immediately instead of waiting up to a GOP for the next key
frame (SRS ``gop_cache``, MediaMTX's "GOP cache"). Audio between key frames belongs to the GOP
it arrived in.

Bounds: GOP count (``gop_cache_size``) and bytes (``gop_cache_max_memory_mb``). Whole GOPs are
dropped oldest first, so the cache always starts at a GOP start; when the GOP being received
alone exceeds the byte bound it is dropped too, and caching resumes at the next key frame
(viewers joining meanwhile start mid-GOP from the live batches, which decoders survive).

Which tag starts a GOP is the caller's decision (``keyframe=True``): a video key frame, or
for an audio-only stream an audio frame every second or so (see ``stream.py``). Tags that
arrive before the first GOP start are not cached: a cache never begins mid-GOP.

A viewer joins at the newest GOP start (the least to send and the closest to live: a join storm
of 500 viewers sends a third of the bytes it would from the oldest); a subscriber that wants
media at once, however far back (the HLS segmenter, which cuts its first segment from it), takes
the whole cache.

Entries carry the tag's encoded FLV bytes next to the tag so a join is one ``b"".join``. The
cache is pure: no clock, no trio.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from synctv.media.flv import FlvTag

__all__ = ["GopCache", "GopCacheStatistics"]


@dataclass(frozen=True, slots=True)
class GopCacheStatistics:
    gops: int
    tags: int
    bytes: int
    max_gops: int
    max_bytes: int
    dropped_gops: int  # GOPs removed to stay inside the bounds (or on clear)


class _Gop:
    __slots__ = ("encoded", "size", "tags")

    def __init__(self) -> None:
        self.tags: list[FlvTag] = []
        self.encoded: list[bytes] = []
        self.size = 0


class GopCache:
    """The last ``max_gops`` GOPs of a stream, at most ``max_bytes`` of encoded tags.

    ``max_gops == 0`` disables the cache.
    """

    __slots__ = ("_bytes", "_dropped", "_gops", "_overflowed", "max_bytes", "max_gops")

    def __init__(self, *, max_gops: int, max_bytes: int) -> None:
        if max_gops < 0 or max_bytes < 0:
            raise ValueError("GOP cache bounds must be >= 0")
        self.max_gops = max_gops
        self.max_bytes = max_bytes
        self._gops: deque[_Gop] = deque()
        self._bytes = 0
        self._dropped = 0
        # The GOP being received was dropped for size: ignore tags until the next key frame.
        self._overflowed = False

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def first_timestamp(self, *, whole: bool = True) -> int | None:
        """Timestamp of the cached key frame ``snapshot(whole=...)`` starts at, if any."""
        if not self._gops:
            return None
        return (self._gops[0] if whole else self._gops[-1]).tags[0].timestamp

    def add(self, tag: FlvTag, encoded: bytes, *, keyframe: bool) -> None:
        """Append one tag; ``keyframe`` starts a new GOP. Tags before any GOP start are ignored."""
        if self.max_gops == 0:
            return
        if keyframe:
            self._overflowed = False
            self._gops.append(_Gop())
            while len(self._gops) > self.max_gops:
                self._drop_oldest()
        elif not self._gops or self._overflowed:
            return
        gop = self._gops[-1]
        gop.tags.append(tag)
        gop.encoded.append(encoded)
        gop.size += len(encoded)
        self._bytes += len(encoded)
        while self._bytes > self.max_bytes and self._gops:
            if len(self._gops) == 1:
                self._overflowed = True
            self._drop_oldest()

    def snapshot(self, *, whole: bool = True) -> tuple[tuple[FlvTag, ...], bytes]:
        """The cached tags from the oldest GOP start (``whole``) or from the newest one, and the
        same tags as FLV bytes."""
        tags: list[FlvTag] = []
        encoded: list[bytes] = []
        for gop in self._gops if whole else list(self._gops)[-1:]:
            tags += gop.tags
            encoded += gop.encoded
        return tuple(tags), b"".join(encoded)

    def clear(self) -> None:
        """Forget everything (new sequence headers or a new publisher session)."""
        while self._gops:
            self._drop_oldest()
        self._overflowed = False

    def statistics(self) -> GopCacheStatistics:
        return GopCacheStatistics(
            gops=len(self._gops),
            tags=sum(len(gop.tags) for gop in self._gops),
            bytes=self._bytes,
            max_gops=self.max_gops,
            max_bytes=self.max_bytes,
            dropped_gops=self._dropped,
        )

    def _drop_oldest(self) -> None:
        gop = self._gops.popleft()
        self._bytes -= gop.size
        self._dropped += 1
