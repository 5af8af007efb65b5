"""HLS viewers of this node: the thin driver of :class:`~synctv.livestream.hls_viewers.HlsViewerTable`.

The HLS routes report what they served (``playlist``, ``segment``) and ask for ids
(``new_session_id``); the hub reads ``count`` as the stream's ``hls`` viewers
(``StreamHub.add_viewer_counter``); the metrics read ``statistics``. This module only adds the
clock, the randomness and a periodic sweep to the pure table (its docstring has the rules).

Resource handling: the table is bounded (``MAX_SESSIONS``); streams left without sessions are
dropped by a sweep at most every :data:`SWEEP_SECONDS`, run inline by whichever call comes
first (O(streams) then, O(1) otherwise). Error handling: nothing here raises.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import trio

from synctv.livestream.hls_viewers import (
    HlsViewerStatistics,
    HlsViewerTable,
    RedirectGuard,
    session_key,
)

__all__ = ["VIEWER_PROTOCOL", "HlsAudience"]

# How HLS viewers are labelled among a stream's viewers (``synctv_livestream_viewers``).
VIEWER_PROTOCOL = "hls"
# Ended streams' buckets are dropped this often (they hold no session one window after the end).
SWEEP_SECONDS = 60.0


class HlsAudience:
    """Counts HLS viewer sessions per stream (see the module docstring)."""

    def __init__(
        self,
        table: HlsViewerTable | None = None,
        *,
        clock: Callable[[], float] = trio.current_time,
        new_id: Callable[[], str] = lambda: secrets.token_urlsafe(16),
    ) -> None:
        self._table = table or HlsViewerTable()
        self._guard = RedirectGuard()
        self._clock = clock
        self._new_id = new_id
        self._next_sweep = -1.0

    def new_session_id(self, address: str | None, user_agent: str | None) -> str | None:
        """An id for a playlist request that brought none; None when this address + agent
        keeps coming back without one (a redirect loop: serve it, the fallback counts it)."""
        key = session_key(None, address, user_agent)
        return self._new_id() if self._guard.redirect(key, self._clock()) else None

    def playlist(self, stream_id: str, target_duration: float | None) -> None:
        """A playlist of the stream was served; its target duration sets the sessions' window."""
        self._table.target_duration(stream_id, target_duration)

    def segment(
        self, stream_id: str, session_id: str | None, address: str | None, user_agent: str | None
    ) -> None:
        """A whole segment of the stream was served to this session (or address + agent)."""
        now = self._clock()
        self._table.segment(stream_id, session_key(session_id, address, user_agent), now)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            self._table.sweep(now)

    def count(self, stream_id: str) -> int:
        """The stream's HLS viewers now."""
        return self._table.count(stream_id, self._clock())

    def statistics(self) -> HlsViewerStatistics:
        return self._table.sweep(self._clock())
