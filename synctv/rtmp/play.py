"""RTMP play: one ordered output per connection, one fan-out writer per stream (Trio driver).

Theory of operation
-------------------
Everything a connection sends (the session's replies and control messages, its players' media)
goes through its :class:`Output`, in the order given and never interleaved mid-message.
``write_nowait(data)`` sends at once with one non-blocking write when nothing is queued (the
connection is a plain TCP socket) and queues whatever the kernel did not take; the connection's
writer task (:meth:`Output.run`) drains the queue as the socket becomes writable. A queue that
does not drain within the write timeout cuts the connection (``write_timeout``).

Fan-out. A stream with RTMP players on this node has one :class:`StreamFanout` writer. It
follows the broadcast with one tap (``LiveStream.tap``) and, for each batch, makes one
non-blocking write of the batch's shared RTMP bytes to every player that is caught up (the
*fast set*): no per-viewer task wakes, no lock, no cancel scope, no copy. A player whose write
was partial, or whose output already had bytes queued (a reply, an earlier batch), leaves the
fast set: the rest of the batch is queued on its output, its subscription moves to the
writer's position, and its own task (:meth:`Player.run`) takes over. That task waits for the
queue to drain, catches up from its own cursor (merged batches; the hub's lag bound applies
there) and rejoins the fast set once it is caught up and in step with the writer. A player
whose connection cannot write without blocking (not a plain socket: tests' memory streams)
always uses its own task: the same bytes, one wake-up per batch.

Signals in the broadcast become per-player control messages, at their place in the byte
stream, on either path (nginx-rtmp's behaviour): an ``unpublished`` batch (the publisher left,
the reconnect grace began) → Stream EOF; the first batch of a new publisher session after it
→ Stream Begin; the end of the stream → Stream EOF (if not sent) and
NetStream.Play.UnpublishNotify, then the connection closes (FFmpeg and librtmp players end
cleanly on it).

Resource handling: an output queues at most what one batch, one join snapshot and replies
leave over; players are cut by the hub's lag bound, outputs by their write timeout. The fan-out
writer runs in the hub's nursery (``StreamHub.start_viewer_task``) until its last player leaves
or the stream ends, and hands every player back to its own task whenever it stops.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Final, Protocol

import trio

from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.media.flv import FlvTag
from synctv.rtmp.session import encode_media_chunks

if TYPE_CHECKING:
    from synctv.livestream.fanout import Batch
    from synctv.livestream.stream import LiveStream, Subscription
    from synctv.rtmp.session import ServerSession

__all__ = [
    "FANOUT_STREAM_ID",
    "Closing",
    "Output",
    "Player",
    "PlayerHost",
    "StreamFanout",
    "encode_rtmp_tags",
]

# The message stream id of a connection's first createStream, which players nearly always use.
FANOUT_STREAM_ID: Final = 1


def encode_rtmp_tags(tags: Iterable[FlvTag], stream_id: int = FANOUT_STREAM_ID) -> bytes:
    """Chunk-encode FLV tags as RTMP messages once, for every player of ``stream_id``.

    This is ``Batch.rtmp()``'s encoder (the hub takes it as ``rtmp_encoder``): each tag becomes
    one message with a fmt 0 header on the fan-out chunk streams, so the bytes do not depend on
    what a viewer was sent before (see :func:`synctv.rtmp.session.encode_media_chunks`).
    """
    return b"".join(
        encode_media_chunks(tag.tag_type, stream_id, tag.timestamp, tag.data) for tag in tags
    )


class Closing(Exception):
    """Raised inside a connection to end it; ``reason`` is counted (one of CLOSE_REASONS), or
    None when the peer left."""

    def __init__(self, reason: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


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
        self._queue.append(data)
        if self._drained.is_set():
            self._drained = trio.Event()
        self._has_data.set()
        return False

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


class PlayerHost(Protocol):
    """What a player needs of its connection."""

    @property
    def session(self) -> ServerSession: ...

    @property
    def output(self) -> Output: ...

    @property
    def closing_reason(self) -> str | None: ...

    def cut(self, reason: str | None, detail: str = "") -> None: ...


class Player:
    """One playing message stream of a connection: its subscription and its own task."""

    __slots__ = ("_back", "eof_sent", "fanout", "host", "live", "output", "stream_id", "sub")

    def __init__(
        self,
        host: PlayerHost,
        stream_id: int,
        live: LiveStream,
        subscription: Subscription,
        fanout: StreamFanout | None,
    ) -> None:
        self.host = host
        self.output = host.output
        self.stream_id = stream_id
        self.live = live
        self.sub = subscription
        self.fanout = fanout
        self.eof_sent = False  # Stream EOF sent and no Stream Begin since
        self._back = trio.Event()  # set when the fan-out writer hands this player back

    def batch_bytes(self, batch: Batch) -> bytes:
        """What this player is sent for ``batch``: the shared bytes, or control messages."""
        if batch.unpublished:
            session = self.host.session
            if not self.eof_sent and session.notify_stream_eof(self.stream_id):
                self.eof_sent = True
            return session.data_to_send()
        if self.eof_sent and batch.discontinuity:
            session = self.host.session
            self.eof_sent = False
            session.notify_stream_begin(self.stream_id)
            return session.data_to_send() + batch.rtmp(self.stream_id)
        return batch.rtmp(self.stream_id)

    def hand_back(self) -> None:
        """Called by the fan-out writer: this player's own task continues from here."""
        self._back.set()

    async def run(self) -> None:
        """Join snapshot, then batches: by the fan-out writer while caught up, else here.

        Raises StreamEnded / SubscriberLagged for the connection to act on.
        """
        sub, output, sid = self.sub, self.output, self.stream_id
        output.write_nowait(
            sub.join.encoded(("rtmp", sid), partial(encode_rtmp_tags, stream_id=sid))
        )
        try:
            while True:
                await output.drain()
                fanout = self.fanout
                if fanout is not None and fanout.running and sub.caught_up:
                    if not sub.in_step_with(fanout.tap):
                        await fanout.wait_step()  # it has a batch to deliver first
                        continue
                    self._back = trio.Event()
                    fanout.add(self)
                    await self._back.wait()
                    continue
                batch = await sub.receive()
                output.write_nowait(self.batch_bytes(batch))
        finally:
            if self.fanout is not None:
                self.fanout.remove(self)
            if self.host.closing_reason == "write_timeout":
                sub.dropped("write_timeout")

    async def end_of_stream(self) -> None:
        """The stream ended: Stream EOF (unless sent) and UnpublishNotify, written out."""
        session = self.host.session
        if not self.eof_sent:
            session.notify_stream_eof(self.stream_id)
        session.notify_unpublished(self.stream_id)
        self.output.write_nowait(session.data_to_send())
        await self.output.drain()


class StreamFanout:
    """The fan-out writer of one stream (see the module docstring).

    ``done(fanout)`` is called once it stops (its last player left, the stream ended, or it
    fell behind the ring), after every player in its fast set was handed back.
    """

    def __init__(self, live: LiveStream, done: Callable[[StreamFanout], None]) -> None:
        self.live = live
        self.tap = live.tap()
        self.running = True
        self._players: dict[Player, None] = {}  # the fast set, in join order
        self._registered = 0  # players of this stream that may join (fast or not)
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

    def add(self, player: Player) -> None:
        """``player`` is caught up and in step with the tap: serve it from the next batch."""
        self._players[player] = None

    def remove(self, player: Player) -> None:
        """``player`` leaves (its task ends); its subscription catches up with the tap."""
        if player in self._players:
            del self._players[player]
            player.sub.move_to(self.tap)

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
            for player in list(self._players):
                self._hand_back(player)
            self._stepped.set()

    def _deliver(self, batch: Batch) -> None:
        """One non-blocking write per caught-up player; the others go back to their task."""
        players = self._players
        self.batches += 1
        self.writes += len(players)
        if batch.unpublished or batch.discontinuity:
            for player in list(players):
                if not player.output.write_nowait(player.batch_bytes(batch)):
                    self._hand_back(player)
            return
        shared: dict[int, bytes] = {}
        slow: list[Player] = []
        for player in players:
            sid = player.stream_id
            data = shared.get(sid)
            if data is None:
                data = shared[sid] = batch.rtmp(sid)
            if not player.output.write_nowait(data):
                slow.append(player)
        for player in slow:
            self._hand_back(player)

    def _hand_back(self, player: Player) -> None:
        del self._players[player]
        self.handed_back += 1
        player.sub.move_to(self.tap)
        player.hand_back()
