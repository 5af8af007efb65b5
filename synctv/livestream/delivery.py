"""Delivery of live batches to viewer sockets: one ordered output per connection, one fan-out
writer per stream and protocol (Trio; shared by RTMP play and the native HTTP-FLV front).

Theory of operation
-------------------
Everything a connection sends goes through its :class:`Output`, in the order given and never
interleaved mid-message. ``write_nowait(data)`` sends at once with one non-blocking write when
nothing is queued (the connection is a plain TCP socket) and queues whatever the kernel did not
take; the output's writer task (:meth:`Output.run`) drains the queue as the socket becomes
writable. A queue that does not drain within the write timeout cuts the connection
(``write_timeout``). ``write_parts_nowait(parts)`` does the same for several pieces with one
gathered write (a viewer's response head and the shared join snapshot, never joined into a copy).

Fan-out. A stream with viewers of one protocol on this node has one :class:`FanoutWriter`. It
follows the broadcast with one tap (``LiveStream.tap``) and, for each batch, makes one
non-blocking write of the batch's shared bytes (``member.shared_bytes``: the FLV bytes, or the
RTMP chunks of one message stream id, built once per batch and key) to every member that is
caught up (the *fast set*): no per-viewer task wakes, no lock, no cancel scope, no copy. A
member whose write was partial, or whose output already had bytes queued, leaves the fast set:
the rest of the batch is queued on its output, its subscription moves to the writer's position,
and its own task (:func:`follow`) takes over. That task waits for the queue to drain, catches up
from its own cursor (merged batches; the hub's lag bound applies there) and rejoins the fast set
once it is caught up and in step with the writer. A member whose connection cannot write without
blocking (not a plain socket: tests' memory streams) always uses its own task.

Signal batches (``unpublished``) and the first batch of a new publisher session
(``discontinuity``) may mean different bytes per member (RTMP control messages):
``member.batch_bytes`` answers for those, one member at a time.

Resource handling: an output queues at most what one batch, one join snapshot and replies leave
over; members are cut by the hub's lag bound, outputs by their write timeout. The writer runs
in the hub's nursery (``StreamHub.start_viewer_task``) until its last member leaves or the
stream ends, and hands every member back to its own task whenever it stops.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import trio

from synctv.livestream.errors import StreamEnded, SubscriberLagged

if TYPE_CHECKING:
    from synctv.livestream.fanout import Batch
    from synctv.livestream.stream import LiveStream, Subscription

__all__ = ["FanoutMember", "FanoutWriter", "Output", "follow"]

# Pieces per gathered write (Linux takes up to IOV_MAX, 1024); more go in several writes.
_MAX_GATHER = 64


def _nonblocking_write(stream: trio.abc.Stream) -> tuple[Callable[[bytes | memoryview], int], int]:
    """``os.write`` on the socket of a plain TCP stream (trio keeps it non-blocking), and its fd.

    Raises TypeError for any other stream (TLS, in-memory): those write through ``send_all``.
    """
    if type(stream) is not trio.SocketStream:
        raise TypeError(f"{type(stream).__name__} has no socket to write to directly")
    fd = stream.socket.fileno()
    return partial(os.write, fd), fd


class Output:
    """One connection's outgoing bytes, in order (see the module docstring).

    ``cut(reason, detail)`` ends the connection (a write timeout, the peer gone);
    ``on_sent(n)`` counts bytes written.
    """

    __slots__ = (
        "_cut",
        "_drained",
        "_fd",
        "_has_data",
        "_on_sent",
        "_queue",
        "_stream",
        "_write",
        "closed",
        "timeout",
    )

    def __init__(
        self,
        stream: trio.abc.Stream,
        *,
        timeout: float,
        cut: Callable[[str | None, str], None],
        on_sent: Callable[[int], None],
    ) -> None:
        self._stream = stream
        self._write: Callable[[bytes | memoryview], int] | None
        try:
            self._write, self._fd = _nonblocking_write(stream)
        except TypeError:
            self._write, self._fd = None, -1
        self._queue: list[bytes | memoryview] = []
        self._has_data = trio.Event()
        self._drained = trio.Event()
        self._drained.set()
        self._cut = cut
        self._on_sent = on_sent
        self.timeout = timeout
        self.closed = False

    @property
    def can_write_nowait(self) -> bool:
        """Writes can complete without the writer task (a plain socket, not closed)."""
        return self._write is not None

    @property
    def queued(self) -> bool:
        return bool(self._queue)

    def write_nowait(self, data: bytes | memoryview) -> bool:
        """Send ``data`` after everything given before; True if all of it is written already.

        Never blocks: what cannot be written now is queued for the writer task.
        """
        if self.closed:
            return False
        if not data:
            return not self._queue
        if not self._queue and self._write is not None:
            try:
                written = self._write(data)
            except BlockingIOError:
                written = 0
            except OSError:
                self._gone()
                return False
            if written:
                self._on_sent(written)
                if written == len(data):
                    return True
                data = memoryview(data)[written:]
        self._enqueue((data,))
        return False

    def write_parts_nowait(self, parts: Sequence[bytes | memoryview]) -> bool:
        """``write_nowait`` of several pieces in one gathered write (``writev``).

        Why: a joining viewer's opening is its response head and the join snapshot, often a
        megabyte shared by every viewer joining between the same two batches. Gathered, the
        head does not cost a system call and a small segment of its own, and the snapshot is
        sent from the shared object, never joined into a copy per viewer.
        """
        if self.closed:
            return False
        pieces = [part for part in parts if part]
        if not pieces:
            return not self._queue
        if self._queue or self._write is None:
            self._enqueue(pieces)
            return False
        start = 0
        while start < len(pieces):
            run = pieces[start : start + _MAX_GATHER]
            try:
                written = os.writev(self._fd, run)
            except BlockingIOError:
                written = 0
            except OSError:
                self._gone()
                return False
            if written:
                self._on_sent(written)
            start += len(run)
            rest = _unwritten(run, written)
            if rest:
                self._enqueue([*rest, *pieces[start:]])
                return False
        return True

    def _enqueue(self, items: Sequence[bytes | memoryview]) -> None:
        self._queue.extend(items)
        if self._drained.is_set():
            self._drained = trio.Event()
        self._has_data.set()

    async def drain(self) -> None:
        """Wait until everything given so far is written (a checkpoint in any case)."""
        if self._queue:
            await self._drained.wait()
        else:
            await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """No more writes (synchronously: the socket is about to be closed)."""
        self.closed = True
        self._write = None
        self._queue.clear()
        self._drained.set()

    async def run(self) -> None:
        """The connection's writer task: drain the queue; cut the connection on a timeout."""
        with trio.CancelScope() as scope:
            while True:
                scope.deadline = math.inf
                while not self._queue:
                    self._drained.set()
                    self._has_data = trio.Event()
                    await self._has_data.wait()
                scope.deadline = trio.current_time() + self.timeout
                if not await self._write_queue():
                    return
        self._cut("write_timeout", f"a write did not complete within {self.timeout:g}s")

    async def _write_queue(self) -> bool:
        """Write until the queue is empty; False if the peer went away."""
        queue = self._queue
        if self._write is None:
            data = b"".join(queue)
            queue.clear()
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._gone()
                return False
            self._on_sent(len(data))
            return True
        write = self._write
        while queue and not self.closed:
            item = queue[0]
            try:
                written = write(item)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._fd)
                continue
            except OSError:
                self._gone()
                return False
            self._on_sent(written)
            if written == len(item):
                del queue[0]
            else:
                queue[0] = memoryview(item)[written:]
        return not self.closed

    def _gone(self) -> None:
        self._cut(None, "the peer went away")


def _unwritten(pieces: list[bytes | memoryview], written: int) -> list[bytes | memoryview]:
    """What of ``pieces`` remains after the first ``written`` bytes went out."""
    for index, piece in enumerate(pieces):
        if written < len(piece):
            return [memoryview(piece)[written:] if written else piece, *pieces[index + 1 :]]
        written -= len(piece)
    return []


class FanoutMember:
    """A viewer a :class:`FanoutWriter` can serve: its output, its subscription, and its bytes.

    Subclasses say what a batch means for them: ``share_key`` names the shared encoding
    (members with equal keys get the very same bytes object) and :meth:`shared_bytes` builds it;
    :meth:`batch_bytes` answers for signal and discontinuity batches (default: the shared bytes).
    """

    __slots__ = ("_back", "output", "share_key", "sub")

    def __init__(self, output: Output, sub: Subscription, share_key: Hashable) -> None:
        self.output = output
        self.sub = sub
        self.share_key = share_key
        self._back = trio.Event()  # set when the fan-out writer hands this member back

    def shared_bytes(self, batch: Batch) -> bytes:
        raise NotImplementedError

    def batch_bytes(self, batch: Batch) -> bytes:
        return self.shared_bytes(batch)

    def hand_back(self) -> None:
        """Called by the fan-out writer: this member's own task continues from here."""
        self._back.set()


async def follow(member: FanoutMember, fanout: FanoutWriter | None) -> None:
    """Deliver batches to ``member``: by the fan-out writer while caught up, else from here.

    Raises StreamEnded / SubscriberLagged for the connection to act on.
    """
    sub, output = member.sub, member.output
    try:
        while True:
            await output.drain()
            if fanout is not None and fanout.running and sub.caught_up:
                if not sub.in_step_with(fanout.tap):
                    await fanout.wait_step()  # it has a batch to deliver first
                    continue
                member._back = trio.Event()
                fanout.add(member)
                await member._back.wait()
                continue
            batch = await sub.receive()
            output.write_nowait(member.batch_bytes(batch))
    finally:
        if fanout is not None:
            fanout.remove(member)


class FanoutWriter:
    """The fan-out writer of one stream (see the module docstring).

    ``done(fanout)`` is called once it stops (its last member left, the stream ended, or it
    fell behind the ring), after every member in its fast set was handed back.
    """

    def __init__(self, live: LiveStream, done: Callable[[FanoutWriter], None]) -> None:
        self.live = live
        self.tap = live.tap()
        self.running = True
        self._members: dict[FanoutMember, None] = {}  # the fast set, in join order
        self._registered = 0  # members of this stream that may join (fast or not)
        self._stepped = trio.Event()
        self._scope = trio.CancelScope()
        self._done = done
        self.batches = 0
        self.writes = 0
        self.handed_back = 0

    def register(self) -> None:
        self._registered += 1

    def unregister(self) -> None:
        self._registered -= 1
        if self._registered <= 0:
            self.stop()

    def stop(self) -> None:
        if self.running:
            self.running = False
            self._scope.cancel()
            self._done(self)

    def add(self, member: FanoutMember) -> None:
        """``member`` is caught up and in step with the tap: serve it from the next batch."""
        self._members[member] = None

    def remove(self, member: FanoutMember) -> None:
        """``member`` leaves (its task ends); its subscription catches up with the tap."""
        if member in self._members:
            del self._members[member]
            member.sub.move_to(self.tap)

    async def wait_step(self) -> None:
        """Until the writer delivered the batch it was woken for (or stopped)."""
        if self.running:
            await self._stepped.wait()
        else:
            await trio.lowlevel.checkpoint()

    async def run(self) -> None:
        try:
            with self._scope:
                while True:
                    try:
                        batch = await self.tap.receive()
                    except (StreamEnded, SubscriberLagged):
                        return
                    self._deliver(batch)
                    stepped, self._stepped = self._stepped, trio.Event()
                    stepped.set()
        finally:
            self.stop()
            for member in list(self._members):
                self._hand_back(member)
            self._stepped.set()

    def _deliver(self, batch: Batch) -> None:
        """One non-blocking write per caught-up member; the others go back to their task."""
        members = self._members
        self.batches += 1
        self.writes += len(members)
        if batch.unpublished or batch.discontinuity:
            for member in list(members):
                if not member.output.write_nowait(member.batch_bytes(batch)):
                    self._hand_back(member)
            return
        shared: dict[Hashable, bytes] = {}
        slow: list[FanoutMember] = []
        for member in members:
            key = member.share_key
            data = shared.get(key)
            if data is None:
                data = shared[key] = member.shared_bytes(batch)
            if not member.output.write_nowait(data):
                slow.append(member)
        for member in slow:
            self._hand_back(member)

    def _hand_back(self, member: FanoutMember) -> None:
        del self._members[member]
        self.handed_back += 1
        member.sub.move_to(self.tap)
        member.hand_back()
