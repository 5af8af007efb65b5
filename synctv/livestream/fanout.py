"""Batch fan-out: one publisher, many viewers, shared immutable bytes, O(1) work per viewer.

Theory of operation
-------------------
The publisher side calls :meth:`Broadcaster.publish` with a :class:`Batch` (the tags of one
socket read, encoded once). Batches go into a ring (a deque) bounded in bytes and in count, and
each gets a sequence number and the cumulative byte offset at its end.

A viewer is a :class:`Cursor`: the sequence number of the next batch it wants and the byte
offset it has consumed up to. ``receive(cursor)`` is:

* behind (``cursor.seq < next_seq``): bytes behind = total published − cursor offset (O(1)).
  Past the viewer's bound, or its next batch already left the ring → :class:`SubscriberLagged`
  and the drop counter increments (MediaMTX's "reader is too slow"). Otherwise it returns every
  pending batch at once: the batch itself when one is pending (no copy), else one merged batch
  whose ``flv`` is a single ``b"".join`` (so the viewer still does one send per wake-up).
* caught up: wait on the epoch ``trio.Event``. Publishing sets it and replaces it with a fresh
  one (trio's advice: one Event per occurrence), so every waiting viewer wakes once per batch,
  however many tags the batch holds.
* closed and caught up: :class:`StreamEnded` (after everything published was delivered).

Signal batches (``Batch.unpublished``: the publisher left, the reconnect grace began) carry no
tags and are never merged with their neighbours: a viewer behind gets the batches before the
signal merged, then the signal alone, then the rest, so it can act on it in order (RTMP players
get Stream EOF there). They are rare (one per publisher disconnect).

Catch-up merges are shared: viewers behind by the same batches get the same merged object (one
join of the shared bytes; protocol encodings are the parts' joined), cached until the next publish.

Writers that deliver batches to many viewers themselves (the RTMP play fan-out writer) follow
the broadcast with one cursor; a viewer they serve keeps its own cursor idle and, when it
falls back to its own task, moves it to the writer's position (``Cursor.move_to``).

Memory is bounded by the ring, never by viewers: a stalled viewer holds only its cursor; the
ring drops old batches regardless, and the viewer finds out on its next ``receive``. A viewer
stuck inside a send is the writer's problem (write timeout in the HTTP-FLV route).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice

import trio

from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.media.flv import FlvTag

__all__ = [
    "Batch",
    "Broadcaster",
    "BroadcasterStatistics",
    "Cursor",
    "merge",
]


@dataclass(frozen=True, slots=True, eq=False)
class Batch:
    """Tags published together, with their FLV encoding built once and shared by all viewers.

    ``discontinuity``: this batch starts (or, when merged, contains) the first tags of a new
    publisher session: fresh sequence headers, timestamps continuing after the old session.
    ``unpublished``: a signal with no tags: the publisher left and the reconnect grace began
    (never merged; see the module docstring). ``parts``: the batches a merged batch was made of.
    """

    tags: tuple[FlvTag, ...]
    flv: bytes
    discontinuity: bool = False
    unpublished: bool = False
    parts: tuple[Batch, ...] = field(default=(), repr=False)
    _encoded: dict[Hashable, bytes] = field(default_factory=dict, repr=False)

    def encoded(self, key: Hashable, build: Callable[[Batch], bytes]) -> bytes:
        """``build(self)``, built on the first call for ``key`` and shared by every viewer after
        (RTMP chunks for a message stream id, the FLV bytes framed as an HTTP/1.1 chunk...).

        A merged batch joins its parts' encodings (each built once, shared with the viewers
        that got the parts one by one), so ``build`` must be concatenative: encoding batches
        one after another gives their encoding together. FLV tags, RTMP messages with full
        headers and HTTP/1.1 chunks all are. The hub knows no protocol: the encodings are the
        drivers'.
        """
        data = self._encoded.get(key)
        if data is None:
            if self.parts:
                data = b"".join(part.encoded(key, build) for part in self.parts)
            else:
                data = build(self)
            self._encoded[key] = data
        return data


def merge(batches: Sequence[Batch]) -> Batch:
    """Several consecutive batches as one: one join of the shared bytes, encodings reused."""
    if len(batches) == 1:
        return batches[0]
    parts = tuple(batches)
    return Batch(
        tags=tuple(chain.from_iterable(part.tags for part in parts)),
        flv=b"".join(part.flv for part in parts),
        discontinuity=any(part.discontinuity for part in parts),
        parts=parts,
    )


@dataclass(slots=True)
class Cursor:
    """One viewer's position in the broadcast, and what it has cost so far."""

    seq: int
    offset: int
    bound: int  # bytes behind the live edge beyond which the viewer is cut
    wakeups: int = 0  # Event waits that returned
    batches: int = 0  # receive() results (each possibly merged)
    bytes: int = 0  # FLV bytes handed out
    cut: SubscriberLagged | None = None  # set once the viewer was cut for lagging

    def move_to(self, other: Cursor) -> None:
        """Jump to ``other``'s position: what lies between was delivered by someone else (the
        RTMP fan-out writer), so it counts as handed out."""
        self.bytes += other.offset - self.offset
        self.seq, self.offset = other.seq, other.offset


@dataclass(frozen=True, slots=True)
class BroadcasterStatistics:
    batches: int  # published so far
    bytes: int  # FLV bytes published so far
    ring_batches: int
    ring_bytes: int
    lagged: int  # viewers cut for lagging
    closed: bool


class Broadcaster:
    """A bounded ring of batches plus the epoch Event viewers sleep on."""

    def __init__(self, *, max_batches: int = 2048) -> None:
        if max_batches < 1:
            raise ValueError("max_batches must be >= 1")
        self._max_batches = max_batches
        self._ring: deque[Batch] = deque()
        self._first_seq = 0  # sequence number of _ring[0]
        self._next_seq = 0
        self._total = 0
        self._ring_bytes = 0
        self._event = trio.Event()
        self._closed = False
        self._signals: deque[int] = deque()  # sequence numbers of signal batches in the ring
        self._merged: dict[int, Batch] = {}  # start seq -> merged batch up to the next signal/end
        self.lagged = 0

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def cursor(self, bound: int) -> Cursor:
        """A cursor at the live edge: the next published batch is the first it receives."""
        return Cursor(self._next_seq, self._total, bound)

    def publish(self, batch: Batch, *, max_ring_bytes: int) -> None:
        """Append a batch, trim the ring to its bounds (the newest batch always stays), wake all."""
        if self._closed:
            raise RuntimeError("publish after close")
        if batch.unpublished:
            self._signals.append(self._next_seq)
        self._ring.append(batch)
        self._next_seq += 1
        self._merged.clear()
        size = len(batch.flv)
        self._total += size
        self._ring_bytes += size
        ring = self._ring
        while len(ring) > 1 and (
            self._ring_bytes > max_ring_bytes or len(ring) > self._max_batches
        ):
            self._ring_bytes -= len(ring.popleft().flv)
            self._first_seq += 1
        signals = self._signals
        while signals and signals[0] < self._first_seq:
            signals.popleft()
        self._wake()

    def close(self) -> None:
        """No more batches: viewers drain what is left, then get StreamEnded."""
        if not self._closed:
            self._closed = True
            self._wake()

    async def receive(self, cursor: Cursor) -> Batch:
        """Everything published since the cursor as one batch (see the module docstring)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if cursor.cut is not None:
            raise cursor.cut
        while cursor.seq >= self._next_seq:
            if self._closed:
                raise StreamEnded("the stream ended")
            await self._event.wait()
            cursor.wakeups += 1
        behind = self._total - cursor.offset
        if behind > cursor.bound or cursor.seq < self._first_seq:
            self.lagged += 1
            cursor.cut = SubscriberLagged(behind, cursor.bound)  # raised again, counted once
            raise cursor.cut
        start = cursor.seq - self._first_seq
        if start == len(self._ring) - 1:
            batch = self._ring[-1]
            end_seq = self._next_seq
        elif self._signals and self._signals[-1] >= cursor.seq:
            batch, end_seq = self._until_signal(cursor.seq)
        else:
            shared = self._merged.get(cursor.seq)
            if shared is None:
                shared = self._merged[cursor.seq] = merge(list(islice(self._ring, start, None)))
            batch, end_seq = shared, self._next_seq
        size = len(batch.flv)
        cursor.seq = end_seq
        cursor.offset += size
        cursor.batches += 1
        cursor.bytes += size
        return batch

    def _until_signal(self, seq: int) -> tuple[Batch, int]:
        """From ``seq``: the signal batch alone, or the batches before the next signal merged."""
        signal = next(s for s in self._signals if s >= seq)
        start = seq - self._first_seq
        if signal == seq:
            return self._ring[start], seq + 1
        return merge(list(islice(self._ring, start, signal - self._first_seq))), signal

    def bytes_behind(self, cursor: Cursor) -> int:
        return self._total - cursor.offset

    def statistics(self) -> BroadcasterStatistics:
        return BroadcasterStatistics(
            batches=self._next_seq,
            bytes=self._total,
            ring_batches=len(self._ring),
            ring_bytes=self._ring_bytes,
            lagged=self.lagged,
            closed=self._closed,
        )

    def _wake(self) -> None:
        event, self._event = self._event, trio.Event()
        event.set()
