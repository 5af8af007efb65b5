"""When a live stream's frames arrived at ingest: the mapping from media time to server time.

Sans-IO: the stream passes each tag's (normalised) timestamp with the wall clock it arrived at.
A tag's *offset* is its arrival minus its media time. Network and encoder buffering only ever
delay a tag, so the smallest offset of the last :data:`WINDOW_SECONDS` is the least delayed
arrival (NTP's clock filter idea again); the mapping is the newest tag's media time with that
offset. Its jitter is what the publisher's path adds beyond its best moment, not per-read noise,
and it follows a publisher whose clock runs slightly off real time within the window.

A new publisher session (a reconnect: timestamps continue, arrival jumped ahead) starts afresh
(:meth:`IngestClock.reset`), or the old, smaller offsets would say its frames are from the past.
"""

from __future__ import annotations

from collections import deque
from typing import Final

WINDOW_SECONDS: Final = 5.0


class IngestClock:
    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self._window = window
        # (arrived, offset) with offsets increasing: the front is the window's minimum.
        self._offsets: deque[tuple[float, float]] = deque()
        self._newest_media: float | None = None

    def arrived(self, media_ms: int, wall: float) -> None:
        """The tag at ``media_ms`` (stream time, ms) arrived at ``wall`` (Unix seconds)."""
        media = media_ms / 1000
        if self._newest_media is None or media > self._newest_media:
            self._newest_media = media
        offset = wall - media
        offsets = self._offsets
        while offsets and offsets[-1][1] >= offset:
            offsets.pop()
        offsets.append((wall, offset))
        while offsets[0][0] < wall - self._window:
            offsets.popleft()

    def reset(self) -> None:
        self._offsets.clear()
        self._newest_media = None

    def mapping(self) -> tuple[float, float] | None:
        """(media time, server time) of the newest frame, seconds; None before the first."""
        if self._newest_media is None or not self._offsets:
            return None
        return self._newest_media, self._newest_media + self._offsets[0][1]
