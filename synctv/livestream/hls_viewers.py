"""Who watches a stream over HLS: viewer sessions from segment requests, pure (no clock, no trio).

Theory of operation. An HLS player holds no connection: it fetches the playlist every target
duration and each new segment once. A *viewer session* is therefore a key that recent requests
share, counted as one viewer while it fetched a whole segment within the stream's window
(:data:`WINDOW_TARGET_DURATIONS` target durations, at least :data:`MIN_WINDOW_SECONDS`), and
forgotten once that much time passed without one.

The key is a server-issued opaque id when the request carries one (``?hls_session=``: the
playlist route redirects a first request without it to the same URL with a fresh id, and lists
the segment URIs with the id, the way SRS's ``hls_ctx`` does), else the client address plus its
User-Agent (a player that drops query strings: players behind one address with the same
User-Agent then count as one). An id that is not of the issued shape is ignored (fallback).

Inflation. Only whole segments (``200`` to a ``GET`` without a range) make or refresh a session:
playlist requests, ``HEAD``, ranges and ``304`` do not. A client that wants to be counted N times
must download N whole segments per window, about a third of N times the stream's bitrate: the
same order as holding N HTTP-FLV connections (which must read the whole bitrate or be cut), so
forged or freshly issued ids buy nothing cheaper. Ids are not signed for the same reason: what
counts is the segment bytes, not the id.

Bounds. At most :data:`MAX_SESSIONS_PER_STREAM` sessions per stream and :data:`MAX_SESSIONS`
over all streams are tracked (measured: ≈ 140 bytes a session with an id, ≈ 330 with the
longest fallback key; at most ≈ 7 MB). At a cap, expired sessions are dropped first;
if none are, the new session is refused (not counted, ``refused`` incremented) while sessions
already tracked keep being counted: a flood cannot push real viewers out, it can only stop
further viewers from being counted until its own sessions expire (one window after it stops).

Redirect loops. A player that dropped the query of a redirect's Location would come back
without an id forever. :class:`RedirectGuard` lets one address + User-Agent be redirected at most
:data:`MAX_REDIRECTS` times within :data:`REDIRECT_WINDOW_SECONDS` (fewer than the 8 redirects
FFmpeg follows); past that its playlist is served without an id (the fallback counts it). The
cost: players behind one address with one User-Agent starting within seconds of each other
(more than :data:`MAX_REDIRECTS` of them) share the fallback's one viewer.

Cost. A segment request is one dict lookup and a move to the end of an ``OrderedDict`` kept in
last-seen order; expiry pops from its front, so every operation is amortised O(1).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_SESSIONS",
    "MAX_SESSIONS_PER_STREAM",
    "MIN_WINDOW_SECONDS",
    "SESSION_PARAMETER",
    "WINDOW_TARGET_DURATIONS",
    "HlsViewerStatistics",
    "HlsViewerTable",
    "RedirectGuard",
    "session_key",
    "valid_session_id",
]

# The query parameter carrying a session id in playlist and segment URIs.
SESSION_PARAMETER: Final = "hls_session"
# 16 random bytes, base64url without padding (secrets.token_urlsafe(16)).
SESSION_ID_CHARS: Final = 22
_SESSION_ID: Final = re.compile(rf"[A-Za-z0-9_-]{{{SESSION_ID_CHARS}}}")
# A player fetches a segment about every target duration; three of them ride out one late or
# failed fetch (and a blocking reload held for up to three), and stop counting a player that
# left within three segment lengths.
WINDOW_TARGET_DURATIONS: Final = 3
# Never less: 1 s target durations must not make a player on a slow link flicker in and out.
MIN_WINDOW_SECONDS: Final = 6.0
# Far above what one node serves (a 2-core node feeds hundreds of viewers per stream); a bound
# on memory (at most ≈ 330 bytes a session: ≈ 7 MB at the total cap), not on audiences.
MAX_SESSIONS_PER_STREAM: Final = 5_000
MAX_SESSIONS: Final = 20_000
# A player is sent to a session id at most this many times in this long (see "Redirect loops").
MAX_REDIRECTS: Final = 4
REDIRECT_WINDOW_SECONDS: Final = 10.0
# Addresses + agents remembered by the guard (oldest forgotten first: ≈ 300 bytes each).
MAX_REDIRECT_KEYS: Final = 10_000
# The fallback key keeps this much of the User-Agent (bounds the memory of a hostile header).
MAX_USER_AGENT_CHARS: Final = 200


def valid_session_id(value: str) -> bool:
    """Whether ``value`` has the shape of an issued session id."""
    return _SESSION_ID.fullmatch(value) is not None


def session_key(session_id: str | None, address: str | None, user_agent: str | None) -> str:
    """The table key of a request: its session id when well formed, else address + User-Agent."""
    if session_id is not None and valid_session_id(session_id):
        return "s" + session_id
    return f"a{address or ''}\n{(user_agent or '')[:MAX_USER_AGENT_CHARS]}"


def window_seconds(target_duration: float | None) -> float:
    """How long after its last whole segment a session still counts."""
    if target_duration is None:
        return MIN_WINDOW_SECONDS
    return max(MIN_WINDOW_SECONDS, WINDOW_TARGET_DURATIONS * target_duration)


@dataclass(frozen=True, slots=True)
class HlsViewerStatistics:
    sessions: int  # tracked now, expired ones not yet dropped included (until the next sweep)
    streams: int  # streams with a bucket
    refused: int  # new sessions not tracked because a cap was reached (since start)


class _Bucket:
    """One stream's sessions (key -> last whole segment, oldest first) and its window."""

    __slots__ = ("sessions", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self.sessions: OrderedDict[str, float] = OrderedDict()


class HlsViewerTable:
    """HLS viewer sessions per stream (see the module docstring). Every ``now`` is seconds of
    one monotonic clock, never going backwards."""

    def __init__(
        self,
        *,
        max_per_stream: int = MAX_SESSIONS_PER_STREAM,
        max_total: int = MAX_SESSIONS,
        default_target_duration: float | None = None,
    ) -> None:
        self._max_per_stream = max(1, max_per_stream)
        self._max_total = max(1, max_total)
        self._default_window = window_seconds(default_target_duration)
        self._streams: dict[str, _Bucket] = {}
        self._total = 0
        self._refused = 0

    def target_duration(self, stream_id: str, seconds: float | None) -> None:
        """The stream's playlist names this target duration: its sessions' window follows it.

        Called for streams whose playlist exists (so buckets stay bounded by the stream store).
        """
        bucket = self._bucket(stream_id)
        bucket.window = window_seconds(seconds) if seconds else self._default_window

    def segment(self, stream_id: str, key: str, now: float) -> bool:
        """A whole segment of ``stream_id`` went to ``key``: the session counts for one more
        window. False when a cap refused a new session (it is not counted)."""
        bucket = self._bucket(stream_id)
        sessions = bucket.sessions
        if key in sessions:
            sessions[key] = now
            sessions.move_to_end(key)
            return True
        self._expire(bucket, now)
        if len(sessions) >= self._max_per_stream or (
            self._total >= self._max_total and not self._expire_all(now)
        ):
            self._refused += 1
            return False
        sessions[key] = now
        self._total += 1
        return True

    def count(self, stream_id: str, now: float) -> int:
        """Sessions of ``stream_id`` that fetched a whole segment within its window."""
        bucket = self._streams.get(stream_id)
        if bucket is None:
            return 0
        self._expire(bucket, now)
        return len(bucket.sessions)

    def sweep(self, now: float) -> HlsViewerStatistics:
        """Drop every expired session and every stream left without one; the statistics."""
        self._expire_all(now)
        for stream_id in [s for s, bucket in self._streams.items() if not bucket.sessions]:
            del self._streams[stream_id]
        return self.statistics()

    def statistics(self) -> HlsViewerStatistics:
        return HlsViewerStatistics(self._total, len(self._streams), self._refused)

    # ------------------------------------------------------------------ internals

    def _bucket(self, stream_id: str) -> _Bucket:
        bucket = self._streams.get(stream_id)
        if bucket is None:
            bucket = self._streams[stream_id] = _Bucket(self._default_window)
        return bucket

    def _expire(self, bucket: _Bucket, now: float) -> int:
        """Pop the sessions whose window ended (they are oldest first); how many."""
        sessions, cutoff, dropped = bucket.sessions, now - bucket.window, 0
        while sessions:
            key, last = next(iter(sessions.items()))
            if last > cutoff:
                break
            del sessions[key]
            dropped += 1
        self._total -= dropped
        return dropped

    def _expire_all(self, now: float) -> int:
        return sum(self._expire(bucket, now) for bucket in self._streams.values())


class RedirectGuard:
    """Whether a playlist request without a session id gets a redirect to one (module
    docstring, "Redirect loops"). Keyed by the fallback key (address + User-Agent)."""

    def __init__(
        self,
        *,
        max_redirects: int = MAX_REDIRECTS,
        window: float = REDIRECT_WINDOW_SECONDS,
        max_keys: int = MAX_REDIRECT_KEYS,
    ) -> None:
        self._max_redirects = max_redirects
        self._window = window
        self._max_keys = max(1, max_keys)
        # key -> (start of its current window, redirects in it, last request), oldest first
        self._seen: OrderedDict[str, tuple[float, int, float]] = OrderedDict()

    def redirect(self, key: str, now: float) -> bool:
        """A request without an id from ``key``: True to redirect it, False to serve it."""
        cutoff = now - self._window
        while self._seen:  # forget keys idle for a whole window (they are oldest first)
            oldest, (_, _, last) = next(iter(self._seen.items()))
            if last > cutoff and len(self._seen) < self._max_keys:
                break
            del self._seen[oldest]
        start, count, _ = self._seen.pop(key, (now, 0, now))
        if start <= cutoff and count < self._max_redirects:
            start, count = now, 0  # a new window for a key that behaved
        if count >= self._max_redirects:
            # A loop: serve it, and keep serving while it keeps coming back without an id.
            self._seen[key] = (start, count, now)
            return False
        self._seen[key] = (start, count + 1, now)
        return True

    def __len__(self) -> int:
        return len(self._seen)
