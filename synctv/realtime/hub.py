"""RoomHub: delivers each room's events (``room_events`` rows) to its connections, in order.

Theory of operation. Every change writes its event row in its own transaction, and the same
transaction sends ``NOTIFY synctv_room_events, '<room>:<seq>'`` (:mod:`synctv.store.rooms`), which
PostgreSQL delivers only after the commit: so a notified event is always readable, and one that
rolled back is never announced. The hub listens (:meth:`RoomHub.run`); a notification only marks
the room *dirty*. A delivery pass then reads the rows after the last sequence it delivered for
that room (one query per room per pass, however many events arrived meanwhile), encodes each
event once (``encode``: the wire format is the adapter's), and offers the pass's frames to every
connection together. A connection whose transport can write without waiting (a WebSocket on
our HTTP server: :attr:`Subscription.write_now`) and has nothing queued gets them written at
once, in one write, by the pass itself: no task switch per connection. What is not written is
queued, and the connection's writer drains its whole queue into one write: under load, frames
batch up by themselves; when idle, nothing waits. Rows, not notifications, are
the source of truth: a notification lost with a dropped LISTEN connection costs nothing, since
after reconnecting every room with connections is marked dirty and caught up from its sequence.

Each connection has a bounded queue (:data:`QUEUE_FRAMES`). A connection that leaves it full
longer than :data:`SLOW_DEADLINE_SECONDS`, or lets :data:`MAX_QUEUED_FRAMES` pile up, is cut
(close code 4408, counted): one slow phone must not hold a room's memory or its other members'
delivery hostage. Until then nothing is dropped: a frame is queued or the connection is cut.

Resource handling: ``run`` owns the LISTEN and the delivery loop; connections are registered and
unregistered by their own tasks with :meth:`connect` (a context manager).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import trio

from synctv.store.db import Database, DatabaseUnavailable
from synctv.store.rooms import EventRow, RoomStore

log = logging.getLogger("synctv.realtime")

CHANNEL: Final = "synctv_room_events"
# A connection with this many frames waiting is *full*; full for SLOW_DEADLINE_SECONDS, it is cut.
QUEUE_FRAMES: Final = 256
SLOW_DEADLINE_SECONDS: Final = 10.0
# A frame is never dropped from a connection that stays: while full it keeps queueing, up to
# this many (then it is cut at once). It also bounds a resume's catch-up, which is queued whole
# when the connection joins (the channel replays at most its window, 1,000 events, behind).
MAX_QUEUED_FRAMES: Final = 2048
CLOSE_TOO_SLOW: Final = 4408
# Rows read per room per pass; a room further behind is read again in the next pass at once.
READ_BATCH: Final = 500
RECONNECT_SECONDS: Final = 1.0
# A delivery pass starts at least this long after the previous one began: under load, events
# gather into fewer passes (one socket write per connection per pass: measured, the writes are
# most of the delivery's cost); an event after a quiet spell goes at once.
PASS_INTERVAL_SECONDS: Final = 0.02
# Events that end nobody's connection and take nobody's access: a pass offers a run of them to
# each connection together. Any other event closes the run (it goes to the connections, then
# on_event may queue a termination behind it, then the pass goes on).
BATCHED_TYPES: Final = frozenset({"chat_message", "chat_message_deleted", "playback_changed"})


class TooFarBehind(Exception):
    """A connection's sequence is further behind the room's stream than a queue may hold."""


@dataclass(eq=False)
class Subscription:
    """One connection's place in a room: the frames waiting for it, and whether it was cut.

    Every frame offered is either written, queued or the connection is cut: a connection that
    stays receives every event (a dropped frame would be a gap the client cannot see)."""

    room_id: str
    frames: trio.MemoryReceiveChannel[Any]
    _send: trio.MemorySendChannel[Any]
    start: int = 0  # events up to this sequence were sent another way (snapshot, replay)
    cut: trio.Event = field(default_factory=trio.Event)
    full_since: float | None = None
    ending: Any = None  # what end() queued last: nothing is queued after it
    # Set by a transport that can write without waiting: given frames, it writes what the
    # socket takes now and returns what is left to queue, in order (None: all written).
    write_now: Callable[[list[Any]], list[Any] | None] | None = None
    # Frames were queued that the writer has not finished writing: a frame written now would
    # overtake them. Cleared by written() once the writer is done and nothing is queued.
    busy: bool = False

    def end(self, ending: Any) -> bool:
        """Queue ``ending`` behind what is queued, and nothing after it (the connection's writer
        sends the queue up to it, then ends the connection); False when it was ended or cut
        already."""
        if self.ending is not None or self.cut.is_set():
            return False
        self.ending = ending
        self._queue(ending)
        return True

    def offer(self, frame: Any, now: float) -> bool:
        """Queue a frame: see :meth:`offer_many`."""
        return self.offer_many([frame], now)

    def offer_many(self, frames: list[Any], now: float) -> bool:
        """Write the frames now (:attr:`write_now`, when nothing is queued before them) or queue
        them; False (not queued) once the connection has been full past the deadline, or holds
        :data:`MAX_QUEUED_FRAMES`. Once ended, nothing more is queued."""
        if self.ending is not None:
            return True
        if not self.busy and self.write_now is not None:
            rest = self.write_now(frames)
            if rest is None:
                self.full_since = None
                return True
            frames = rest
        waiting = self.frames.statistics().current_buffer_used
        if waiting < QUEUE_FRAMES:
            self.full_since = None
        elif self.full_since is None:
            self.full_since = now
        elif now - self.full_since >= SLOW_DEADLINE_SECONDS:
            return False
        if waiting >= MAX_QUEUED_FRAMES:
            return False
        for frame in frames:
            self._queue(frame)
        return True

    def written(self) -> None:
        """The writer wrote all it took: with nothing queued, frames may be written at once."""
        if self.frames.statistics().current_buffer_used == 0:
            self.busy = False

    def _queue(self, frame: Any) -> None:
        self.busy = True
        try:
            self._send.send_nowait(frame)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # the connection is leaving; nothing to cut


@dataclass
class _Room:
    delivered: int  # the last sequence handed to the room's connections
    subscriptions: set[Subscription] = field(default_factory=set)


@dataclass
class _Listening:
    """The task status handed to each LISTEN: every time one becomes active, the rooms with
    connections are caught up (a commit notified while nobody listened was missed); the first
    time only, the hub reports itself started (trio refuses a second ``started()``)."""

    inner: trio.TaskStatus[None]
    on_listening: Callable[[], None]
    done: bool = False

    def started(self, value: None = None) -> None:
        self.on_listening()
        if not self.done:
            self.done = True
            self.inner.started(value)


class RoomHub:
    def __init__(
        self,
        db: Database,
        store: RoomStore,
        encode: Callable[[EventRow], Any],
        *,
        clock: Callable[[], float] = trio.current_time,
        on_slow: Callable[[], None] = lambda: None,
        on_event: Callable[[EventRow], None] = lambda _event: None,
    ) -> None:
        self._db = db
        self._store = store
        self._encode = encode
        self._clock = clock
        self._on_slow = on_slow
        # Told of each event once, as it is delivered, after it was queued for the room's
        # connections (voice ends when a room turns it off; a kick ends the member's channel).
        self._on_event = on_event
        self._rooms: dict[str, _Room] = {}
        self._dirty: set[str] = set()
        self._wake = trio.Event()
        self.delivered_events = 0
        self.slow_cut = 0

    # -- connections ---------------------------------------------------------------------------

    @asynccontextmanager
    async def connect(self, room_id: str, after_seq: int) -> AsyncIterator[Subscription]:
        """Subscribe to the room from ``after_seq`` on (the caller sent what came before: a
        welcome snapshot at that sequence, or a replay). Every later event arrives, in order,
        once. :class:`TooFarBehind` when the gap to the room's stream is longer than
        :data:`MAX_QUEUED_FRAMES` (the caller sends a fresh snapshot instead)."""
        # Unbounded for trio; bounded by offer() (and the catch-up below) instead.
        send, receive = trio.open_memory_channel[Any](float("inf"))
        subscription = Subscription(room_id, receive, send, start=after_seq)
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room(after_seq)
        # Close the gap between the caller's sequence and what the room's connections were
        # given; the loop ends with no await between the last check and joining the room.
        start, queued = after_seq, 0
        while start < room.delivered:
            target = room.delivered
            for event in await self._store.events_after(room_id, start, target - start):
                if event.seq > target:
                    break
                queued += 1
                if queued > MAX_QUEUED_FRAMES:
                    send.close()
                    raise TooFarBehind(room_id)
                subscription._queue(self._encode(event))
            start = target
        subscription.start = start
        room.subscriptions.add(subscription)
        self._mark(room_id)
        try:
            yield subscription
        finally:
            room.subscriptions.discard(subscription)
            send.close()
            if not room.subscriptions and self._rooms.get(room_id) is room:
                del self._rooms[room_id]

    async def first_missed_at(self, room_id: str, after_seq: int) -> float | None:
        """When the first event after ``after_seq`` was written (Unix seconds); None if none."""
        events = await self._store.events_after(room_id, after_seq, 1)
        return events[0].created_at.timestamp() if events else None

    def _mark(self, room_id: str) -> None:
        if room_id in self._rooms:
            self._dirty.add(room_id)
            self._wake.set()

    def notified(self, payload: str) -> None:
        """A NOTIFY payload (``room:seq``): the room has news (asyncio callback: no awaits)."""
        room_id, _, _ = payload.partition(":")
        self._mark(room_id)

    def rooms(self) -> list[str]:
        """The rooms with connections on this node."""
        return list(self._rooms)

    def broadcast(self, room_id: str, frame: Any) -> int:
        """Offer a frame that is no event (no sequence, not replayed: a ``live_clock``) to the
        room's connections, with the same bounds as events; how many were offered it."""
        room = self._rooms.get(room_id)
        if room is None:
            return 0
        now = self._clock()
        offered = 0
        for subscription in list(room.subscriptions):
            if subscription.cut.is_set():
                continue
            if subscription.offer(frame, now):
                offered += 1
            else:
                subscription.cut.set()
                self.slow_cut += 1
                self._on_slow()
        return offered

    # -- running -------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self._listen)
            nursery.start_soon(self._deliver_forever)
            task_status.started()

    async def _listen(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        listening = _Listening(task_status, self._mark_all)
        while True:
            try:
                await self._db.listen(CHANNEL, self.notified, task_status=listening)
            except* DatabaseUnavailable as group:
                log.warning("room events: listening stopped (%s); catching up on reconnect", group)
            listening.started()  # a database down from the start must not hold the tree's start
            await trio.sleep(RECONNECT_SECONDS)

    def _mark_all(self) -> None:
        for room_id in list(self._rooms):
            self._mark(room_id)

    async def _deliver_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            began = trio.current_time()
            await self.deliver_once()
            await trio.sleep_until(began + PASS_INTERVAL_SECONDS)

    async def deliver_once(self) -> None:
        """One pass over the dirty rooms."""
        dirty, self._dirty = self._dirty, set()
        for room_id in dirty:
            room = self._rooms.get(room_id)
            if room is None:
                continue
            try:
                events = await self._store.events_after(room_id, room.delivered, READ_BATCH)
            except DatabaseUnavailable:
                self._dirty.add(room_id)  # try again once the database is back
                await trio.sleep(RECONNECT_SECONDS)
                self._wake.set()
                continue
            if len(events) == READ_BATCH:
                self._mark(room_id)  # more behind these
            self._fan_out(room, events)

    def _fan_out(self, room: _Room, events: list[EventRow]) -> None:
        """Offer the pass's events to the room's connections, a run of :data:`BATCHED_TYPES`
        at a time (one write per connection per run); ``on_event`` after each event's run."""
        now = self._clock()
        run: list[EventRow] = []
        for event in events:
            if event.seq <= room.delivered or (run and event.seq <= run[-1].seq):
                continue
            run.append(event)
            if event.type not in BATCHED_TYPES:
                self._offer_run(room, run, now)
                run = []
        if run:
            self._offer_run(room, run, now)

    def _offer_run(self, room: _Room, run: list[EventRow], now: float) -> None:
        frames = [self._encode(event) for event in run]
        first = run[0].seq
        for subscription in list(room.subscriptions):
            if subscription.cut.is_set() or subscription.ending is not None:
                continue
            batch = frames
            if subscription.start >= first:  # it joined with a snapshot inside this run
                batch = [f for e, f in zip(run, frames, strict=True) if e.seq > subscription.start]
                if not batch:
                    continue
            if not subscription.offer_many(batch, now):
                subscription.cut.set()
                self.slow_cut += 1
                self._on_slow()
        for event in run:
            room.delivered = event.seq
            self.delivered_events += 1
            self._on_event(event)

    def statistics(self) -> dict[str, Any]:
        return {
            "rooms": len(self._rooms),
            "connections": sum(len(r.subscriptions) for r in self._rooms.values()),
            "delivered_events": self.delivered_events,
            "slow_cut": self.slow_cut,
        }
