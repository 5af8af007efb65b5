"""The RTMP server: a thin Trio driver around :class:`synctv.rtmp.session.ServerSession`.

Theory of operation
-------------------
:meth:`RtmpServer.serve` binds ``livestream.rtmp_host:rtmp_port``, reports the bound addresses
through ``task_status.started`` and accepts connections; each one is a task in the server's
handler nursery, running :meth:`RtmpServer.handle_connection`. A connection is one nursery: the
reader loop (receive → ``session.receive_data`` → ``match`` each event → act → write
``data_to_send()``) plus, for a player, one task per playing stream that writes the hub's
batches, and for a publisher one task that waits for an admin kick. Writers share one
``trio.Lock`` so replies and media never interleave mid-chunk.

Publish: ``connect(app)`` → ``publish(key)`` → ``authorizer.authorize_publish(app, key)``; no
record → ``NetStream.Publish.BadName`` and close. A record → ``hub.start_publish(record)`` →
``NetStream.Publish.Start``; each socket read's media goes to the handle and ends with one
``flush()`` (one hub batch per read). ``deleteStream``/``FCUnpublish``/EOF → ``handle.close()``.

Takeover policy (a second publisher for a stream that already has one on this node): if the
current publisher sent bytes within ``takeover_silence_seconds`` (2 s) it is live, and the
newcomer is refused with ``NetStream.Publish.BadName`` ("already publishing"). If it has been
silent longer, it is taken to be a dead TCP connection that OBS is reconnecting around: its
handle is closed (the hub keeps the stream through its reconnect grace), its connection is cut,
and the newcomer publishes in its place (``hub.start_publish`` replaces the old publisher).

Play: ``play(name)`` where ``name`` is the public stream id; the stream must exist in the
directory with the same app as the connection, and be live in the hub, otherwise
``NetStream.Play.StreamNotFound``. The player gets the join snapshot (metadata, sequence headers,
GOP cache) as bytes encoded once per snapshot and shared, then every batch as ``batch.rtmp()``: bytes chunked
once per batch for all RTMP viewers (``encode_media_chunks``), one ``send_all`` per batch.

Resource handling: at most ``max_rtmp_connections`` connections and
``max_rtmp_connections_per_ip`` per source address; one over either is closed at once and
counted. A connection must finish the handshake and start publishing or playing within
``handshake_timeout_seconds``; a publisher that sends nothing for
``publisher_idle_timeout_seconds`` is closed (this also ends a publisher stalled mid-chunk); a
player write that does not complete within ``flv_write_timeout_seconds`` cuts the player, as does
falling too far behind the hub (``SubscriberLagged``). Every connection's socket is closed when
its task ends, and its publisher handle closed, whatever ended it.

Error handling: bytes that break the RTMP protocol (``RtmpProtocolError``) are logged in one
line with the peer address and close that connection only. A registry that cannot be reached
answers the publish or play with an error status. Anything else is a bug and propagates.
"""

from __future__ import annotations

import errno
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import trio

from synctv import metrics
from synctv.livestream.errors import StreamEnded, SubscriberLagged, TagRejected
from synctv.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, FlvTag
from synctv.rtmp.errors import RtmpProtocolError
from synctv.rtmp.events import (
    AudioReceived,
    Event,
    MetadataReceived,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
    VideoReceived,
)
from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE
from synctv.rtmp.session import ServerSession, encode_media_chunks
from synctv.store.db import DatabaseUnavailable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from synctv.config import LivestreamConfig
    from synctv.livestream.fanout import Batch
    from synctv.livestream.hub import StreamHub
    from synctv.livestream.registry import PublishAuthorizer, StreamDirectory
    from synctv.livestream.stream import LiveStream, PublisherHandle

__all__ = [
    "CLOSE_REASONS",
    "REFUSE_REASONS",
    "RtmpServer",
    "RtmpStatistics",
    "encode_rtmp_join",
    "encode_rtmp_tags",
    "export_rtmp_metrics",
]

log = logging.getLogger(__name__)

# One read's worth: a 2.5 Mbit/s publisher sends ~300 KB/s, so a few reads per frame at most.
RECEIVE_SIZE: Final = 65536
# A publisher silent this long is presumed dead when the same stream is published again (OBS
# reconnecting around a dead TCP connection); a publisher heard from more recently is live, and
# the newcomer is refused. 2 s is several frames at any frame rate, and far below OBS's
# reconnect delay after its own send timeout.
PUBLISHER_TAKEOVER_SILENCE_SECONDS: Final = 2.0
# Writing our own replies (or an error status before closing) may take at most this long.
CONTROL_WRITE_TIMEOUT_SECONDS: Final = 10.0
# Streams whose latest RTMP join snapshot is kept encoded (one entry per live stream; least
# recently joined dropped first).
MAX_CACHED_JOINS: Final = 256
# Message stream ids that batch.rtmp() bytes are encoded for (the first createStream is 1).
FANOUT_STREAM_ID: Final = 1
_ACCEPT_RETRY_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})
_ACCEPT_RETRY_SLEEP: Final = 0.1

REFUSE_REASONS: Final = (
    "connection_limit",  # max_rtmp_connections open already
    "per_ip_limit",  # max_rtmp_connections_per_ip open from this address already
)
CLOSE_REASONS: Final = (
    "handshake_timeout",  # no publish/play within handshake_timeout_seconds
    "idle_timeout",  # a publisher silent for publisher_idle_timeout_seconds
    "protocol_error",  # malformed or out-of-order RTMP from the peer
    "bad_name",  # publish refused: wrong key, wrong app, or stream already live
    "replaced",  # a silent publisher replaced by a reconnecting one
    "kicked",  # an operator kicked the publisher
    "write_timeout",  # a write (media to a player) did not complete in time
    "lagged",  # a player fell behind the hub's bound
    "stream_ended",  # the stream a player watched ended
    "unavailable",  # the registry could not be reached
)


@dataclass(frozen=True, slots=True)
class RtmpStatistics:
    """Counters since start and what is open now (trio's ``statistics()`` convention)."""

    connections: int  # open now
    publishers: int  # publishing now
    viewers: int  # RTMP players playing now
    accepted: int  # connections admitted since start
    bytes_received: int
    bytes_sent: int
    refused: Mapping[str, int]  # by REFUSE_REASONS
    closed: Mapping[str, int]  # connections we closed, by CLOSE_REASONS


def encode_rtmp_join(tags: Iterable[FlvTag], stream_id: int = FANOUT_STREAM_ID) -> bytes:
    """A join snapshot (metadata, sequence headers, GOP cache) as shared fan-out bytes.

    Like :func:`encode_rtmp_tags`, except that onMetaData goes at timestamp 0, as FMS and
    nginx-rtmp send it (FFmpeg's reader takes a data message at any other time for a data track).
    """
    return b"".join(
        encode_media_chunks(
            tag.tag_type, stream_id, 0 if tag.tag_type == TAG_SCRIPT else tag.timestamp, tag.data
        )
        for tag in tags
    )


def encode_rtmp_tags(tags: Iterable[FlvTag], stream_id: int = FANOUT_STREAM_ID) -> bytes:
    """Chunk-encode FLV tags as RTMP messages once, for every player of ``stream_id``.

    This is ``Batch.rtmp()``'s encoder (the hub takes it as ``rtmp_encoder``): each tag becomes
    one message with a fmt 0 header on the fan-out chunk streams, so the bytes do not depend on
    what a viewer was sent before (see :func:`synctv.rtmp.session.encode_media_chunks`).
    """
    return b"".join(
        encode_media_chunks(tag.tag_type, stream_id, tag.timestamp, tag.data) for tag in tags
    )


class _Closing(Exception):
    """Raised inside a connection to end it; ``reason`` is counted (one of CLOSE_REASONS)."""

    def __init__(self, reason: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class RtmpServer:
    """RTMP ingest (publish) and RTMP play, on ``livestream.rtmp_host:rtmp_port``."""

    def __init__(
        self,
        config: LivestreamConfig,
        hub: StreamHub,
        authorizer: PublishAuthorizer,
        directory: StreamDirectory,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        takeover_silence_seconds: float = PUBLISHER_TAKEOVER_SILENCE_SECONDS,
    ) -> None:
        self.config = config
        self.hub = hub
        self.authorizer = authorizer
        self.directory = directory
        self.random_bytes = random_bytes
        self.takeover_silence_seconds = takeover_silence_seconds
        self._per_ip: dict[str, int] = {}
        self._connections = 0
        self._accepted = 0
        self._publishing: dict[str, _Connection] = {}  # stream id → its publisher here
        self._viewers = 0
        self._bytes_received = 0
        self._bytes_sent = 0
        self._refused = dict.fromkeys(REFUSE_REASONS, 0)
        self._closed = dict.fromkeys(CLOSE_REASONS, 0)
        # stream id -> (join snapshot, its RTMP bytes): viewers joining between the same two
        # batches share one snapshot object (the hub's join cache), so they share the bytes too.
        self._join_bytes: OrderedDict[str, tuple[tuple[FlvTag, ...], bytes]] = OrderedDict()

    def shared_join(self, stream_id: str, join: tuple[FlvTag, ...]) -> bytes:
        """The join snapshot's RTMP bytes, encoded once per snapshot (not once per viewer)."""
        cached = self._join_bytes.get(stream_id)
        if cached is not None and cached[0] is join:
            self._join_bytes.move_to_end(stream_id)
            return cached[1]
        data = encode_rtmp_join(join)
        self._join_bytes[stream_id] = (join, data)
        self._join_bytes.move_to_end(stream_id)
        while len(self._join_bytes) > MAX_CACHED_JOINS:
            self._join_bytes.popitem(last=False)
        return data

    def statistics(self) -> RtmpStatistics:
        return RtmpStatistics(
            connections=self._connections,
            publishers=len(self._publishing),
            viewers=self._viewers,
            accepted=self._accepted,
            bytes_received=self._bytes_received,
            bytes_sent=self._bytes_sent,
            refused=MappingProxyType(dict(self._refused)),
            closed=MappingProxyType(dict(self._closed)),
        )

    async def serve(
        self, *, task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Bind, report ``[(host, port), ...]`` through ``task_status``, serve until cancelled.

        Port 0 binds an ephemeral port (the reported one is real). Connections are tasks in a
        nursery owned here, cancelled with it.
        """
        listeners = await trio.open_tcp_listeners(
            self.config.rtmp_port, host=self.config.rtmp_host or None
        )
        bound = [_address(listener.socket.getsockname()) for listener in listeners]
        async with trio.open_nursery() as handlers:
            # Handlers outlive the accept loops' nursery on purpose: handlers is passed down so
            # every connection is a child of serve() and is cancelled with it.
            for listener in listeners:
                handlers.start_soon(self._accept_loop, listener, handlers)
            log.info("RTMP listening on %s", ", ".join(f"{h}:{p}" for h, p in bound))
            task_status.started(bound)

    async def _accept_loop(self, listener: trio.SocketListener, handlers: trio.Nursery) -> None:
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if exc.errno not in _ACCEPT_RETRY_ERRNOS:
                        raise
                    log.error("RTMP accept failed (%s); retrying", os.strerror(exc.errno))
                    await trio.sleep(_ACCEPT_RETRY_SLEEP)
                    continue
                try:
                    host, port = _address(stream.socket.getpeername())
                except OSError:  # already reset by the peer
                    await trio.aclose_forcefully(stream)
                    continue
                handlers.start_soon(self.handle_connection, stream, host, port)

    async def handle_connection(self, stream: trio.abc.Stream, host: str, port: int = 0) -> None:
        """Serve one connection from ``host``: admission, then the session until it ends.

        Public so tests can drive it over in-memory streams. Closes ``stream`` before returning.
        """
        refusal = self._admit(host)
        if refusal is not None:
            self._refused[refusal] += 1
            log.warning("RTMP %s:%d refused: %s", host, port, refusal)
            await trio.aclose_forcefully(stream)
            return
        try:
            await _Connection(self, stream, f"{host}:{port}").run()
        finally:
            self._release(host)

    def _admit(self, host: str) -> str | None:
        if self._connections >= self.config.max_rtmp_connections:
            return "connection_limit"
        if self._per_ip.get(host, 0) >= self.config.max_rtmp_connections_per_ip:
            return "per_ip_limit"
        self._connections += 1
        self._accepted += 1
        self._per_ip[host] = self._per_ip.get(host, 0) + 1
        return None

    def _release(self, host: str) -> None:
        self._connections -= 1
        left = self._per_ip[host] - 1
        if left:
            self._per_ip[host] = left
        else:
            del self._per_ip[host]

    def _claim(self, stream_id: str, conn: _Connection) -> bool:
        """Make ``conn`` the stream's publisher here, per the takeover policy (module doc)."""
        current = self._publishing.get(stream_id)
        if current is not None and current is not conn:
            silent = trio.current_time() - current.last_received
            if silent < self.takeover_silence_seconds:
                return False
            log.info(
                "RTMP %s: publisher of %s silent for %.1fs, replaced by %s",
                current.peer,
                stream_id,
                silent,
                conn.peer,
            )
            current.end_publish()
            current.cut("replaced")
        self._publishing[stream_id] = conn
        return True

    def _unclaim(self, stream_id: str, conn: _Connection) -> None:
        if self._publishing.get(stream_id) is conn:
            del self._publishing[stream_id]


class _Connection:
    """One RTMP connection: a session, a socket, and the tasks of one nursery."""

    def __init__(self, server: RtmpServer, stream: trio.abc.Stream, peer: str) -> None:
        self.server = server
        self.config = server.config
        self.stream = stream
        self.peer = peer
        self.session = ServerSession(
            server.random_bytes(HANDSHAKE_RANDOM_SIZE),
            max_message_size=self.config.max_flv_tag_size_bytes,
        )
        self.send_lock = trio.Lock()
        self.last_received = trio.current_time()
        self.setup_deadline = self.last_received + self.config.handshake_timeout_seconds
        self.publisher: PublisherHandle | None = None
        self.publish_stream = 0  # message stream id of the publish, while publishing
        self.stream_id = ""  # the hub stream id published, while publishing
        self.players: dict[int, trio.CancelScope] = {}  # message stream id → its play task
        self._scope = trio.CancelScope()
        self._closing: _Closing | None = None

    # -- lifetime ---------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    await self._read_loop(nursery)
                    nursery.cancel_scope.cancel()
        except* _Closing as group:
            self._closing = self._closing or _first_closing(group.exceptions)
        finally:
            self.end_publish()
            for scope in self.players.values():
                scope.cancel()
            if self._closing is not None:
                self._note_close(self._closing)
            await trio.aclose_forcefully(self.stream)

    def cut(self, reason: str, detail: str = "") -> None:
        """End this connection from any task (or from another connection)."""
        if self._closing is None:
            self._closing = _Closing(reason, detail or reason)
        self._scope.cancel()

    def _note_close(self, closing: _Closing) -> None:
        if closing.reason is None:  # the peer left; nothing to count
            log.debug("RTMP %s closed: %s", self.peer, closing)
            return
        self.server._closed[closing.reason] += 1
        quiet = closing.reason in ("replaced", "kicked", "stream_ended")
        level = logging.INFO if quiet else logging.WARNING
        log.log(level, "RTMP %s closed: %s: %s", self.peer, closing.reason, closing)

    def end_publish(self) -> None:
        """Close the publisher handle (idempotent); the hub starts its reconnect grace."""
        handle, self.publisher = self.publisher, None
        if handle is not None:
            handle.close()
            self.server._unclaim(self.stream_id, self)
        elif self.stream_id:
            self.server._unclaim(self.stream_id, self)

    # -- the reader ---------------------------------------------------------------------------

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        session = self.session
        while not session.closed:
            data = await self._receive()
            try:
                events = session.receive_data(data)
            except RtmpProtocolError as exc:
                await self._flush_quietly()
                raise _Closing("protocol_error", str(exc)) from None
            try:
                for event in events:
                    await self._on_event(event, nursery)
                    if _ended(session):  # refused: the rest of the read is moot
                        break
            except TagRejected as exc:
                raise _Closing("protocol_error", str(exc)) from None
            if self.publisher is not None:
                self.publisher.flush()
            await self._flush()

    async def _receive(self) -> bytes:
        if self.publisher is not None:
            deadline = trio.current_time() + self.config.publisher_idle_timeout_seconds
            reason = "idle_timeout"
        elif self.players:
            deadline, reason = math.inf, ""
        else:
            deadline, reason = self.setup_deadline, "handshake_timeout"
        with trio.move_on_at(deadline):
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return b""  # reset by the peer: the same as EOF
            self.server._bytes_received += len(data)
            self.last_received = trio.current_time()
            return bytes(data)
        if reason == "handshake_timeout":
            limit = self.config.handshake_timeout_seconds
            raise _Closing(reason, f"no publish or play within {limit:g}s of connecting")
        raise _Closing(reason, f"nothing received for {deadline - self.last_received:.1f}s")

    async def _on_event(self, event: Event, nursery: trio.Nursery) -> None:
        publisher = self.publisher
        match event:
            case AudioReceived(stream_id, timestamp, payload) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                publisher.publish_audio(timestamp, payload)
            case VideoReceived(stream_id, timestamp, payload) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                publisher.publish_video(timestamp, payload)
            case MetadataReceived(stream_id=stream_id, payload=payload) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                publisher.set_metadata(payload)
            case PublishRequested(stream_id=stream_id, stream_key=key):
                await self._on_publish(stream_id, key, nursery)
            case PlayRequested(stream_id=stream_id, stream_name=name):
                await self._on_play(stream_id, name, nursery)
            case StreamDeleted(stream_id=stream_id):
                self._on_stream_deleted(stream_id)
            case _:
                pass  # PeerClosed ends the loop (session.closed); the rest needs no action

    # -- publish ------------------------------------------------------------------------------

    async def _on_publish(self, stream_id: int, key: str, nursery: trio.Nursery) -> None:
        session = self.session
        if self.publisher is not None or self.players:
            session.reject_publish(stream_id, description="This connection is already in use.")
            raise _Closing("bad_name", "publish on a connection already publishing or playing")
        try:
            record = await self.server.authorizer.authorize_publish(session.app, key)
        except DatabaseUnavailable as exc:
            session.reject_publish(stream_id, "NetStream.Publish.Failed", "Try again later.")
            await self._flush_quietly()
            raise _Closing("unavailable", str(exc)) from None
        if record is None:
            session.reject_publish(stream_id, description="Invalid stream key for this app.")
            await self._flush_quietly()
            raise _Closing("bad_name", f"no stream for that key in app {session.app!r}")
        if not self.server._claim(record.stream_id, self):
            session.reject_publish(stream_id, description="The stream is already publishing.")
            await self._flush_quietly()
            raise _Closing("bad_name", f"stream {record.stream_id} is already publishing")
        self.stream_id = record.stream_id
        try:
            handle = await self.server.hub.start_publish(record)
        except BaseException:
            self.server._unclaim(record.stream_id, self)
            raise
        if not session.accept_publish(stream_id):  # withdrawn while we asked the hub
            handle.close()
            self.server._unclaim(record.stream_id, self)
            self.stream_id = ""
            return
        self.publisher, self.publish_stream = handle, stream_id
        nursery.start_soon(self._watch_kicked, handle)
        log.info("RTMP %s publishing %s (app %s)", self.peer, record.stream_id, session.app)

    async def _watch_kicked(self, handle: PublisherHandle) -> None:
        await handle.wait_kicked()
        if handle is self.publisher:
            self.cut("kicked", f"publisher of {self.stream_id} kicked")

    def _on_stream_deleted(self, stream_id: int) -> None:
        if self.publisher is not None and stream_id == self.publish_stream:
            log.info("RTMP %s stopped publishing %s", self.peer, self.stream_id)
            self.end_publish()
            self.stream_id = ""
        scope = self.players.pop(stream_id, None)
        if scope is not None:
            scope.cancel()

    # -- play ---------------------------------------------------------------------------------

    async def _on_play(self, stream_id: int, name: str, nursery: trio.Nursery) -> None:
        session = self.session
        if self.publisher is not None or stream_id in self.players:
            session.reject_play(stream_id, "NetStream.Play.Failed", "Stream is busy.")
            return
        try:
            record = await self.server.directory.get(name)
        except DatabaseUnavailable:
            session.reject_play(stream_id, "NetStream.Play.Failed", "Try again later.")
            return
        live = (
            self.server.hub.get(name) if record is not None and record.app == session.app else None
        )
        if live is None:
            session.reject_play(stream_id)
            return
        if not session.accept_play(stream_id):
            return
        scope = trio.CancelScope()
        self.players[stream_id] = scope
        nursery.start_soon(self._play, stream_id, live, scope)

    async def _play(self, stream_id: int, live: LiveStream, scope: trio.CancelScope) -> None:
        self.server._viewers += 1
        try:
            with scope, live.subscribe(protocol="rtmp") as subscription:
                join = subscription.join_tags
                if stream_id == FANOUT_STREAM_ID:
                    await self._send(self.server.shared_join(live.stream_id, join), "write_timeout")
                else:  # rare: a player's second stream gets its own encoding
                    for tag in join:
                        self._queue_tag(stream_id, tag)
                    await self._send(b"", "write_timeout")
                while True:
                    batch = await subscription.receive()
                    await self._send(self._batch_bytes(batch, stream_id), "write_timeout")
        except StreamEnded:
            self.cut("stream_ended", f"stream {live.stream_id} ended")
        except SubscriberLagged:
            self.cut("lagged", f"fell behind on {live.stream_id}")
        finally:
            self.server._viewers -= 1
            if self.players.get(stream_id) is scope:
                del self.players[stream_id]

    def _queue_tag(self, stream_id: int, tag: FlvTag) -> None:
        session = self.session
        if tag.tag_type == TAG_VIDEO:
            session.send_video(stream_id, tag.timestamp, tag.data)
        elif tag.tag_type == TAG_AUDIO:
            session.send_audio(stream_id, tag.timestamp, tag.data)
        elif tag.tag_type == TAG_SCRIPT:
            # At timestamp 0, as FMS and nginx-rtmp send it: FFmpeg's FLV reader takes
            # onMetaData at any other time for a data track and reports a "text" stream.
            session.send_metadata(stream_id, tag.data)

    @staticmethod
    def _batch_bytes(batch: Batch, stream_id: int) -> bytes:
        if stream_id == FANOUT_STREAM_ID:
            return batch.rtmp()  # encoded once per batch, shared by every RTMP viewer
        return encode_rtmp_tags(batch.tags, stream_id)  # rare: a player's second stream

    # -- writing ------------------------------------------------------------------------------

    async def _flush(self) -> None:
        await self._send(b"", "write_timeout", CONTROL_WRITE_TIMEOUT_SECONDS)

    async def _flush_quietly(self) -> None:
        """Best effort before closing (an error status): a failed write changes nothing."""
        try:
            await self._flush()
        except _Closing:
            pass

    async def _send(self, media: bytes, reason: str, timeout: float | None = None) -> None:
        """Write pending session bytes, then ``media``, under the lock; cut on timeout."""
        if timeout is None:
            timeout = self.config.flv_write_timeout_seconds
        async with self.send_lock:
            pending = self.session.data_to_send()
            if not pending and not media:
                return
            with trio.move_on_after(timeout) as scope:
                try:
                    for data in (pending, media):
                        if data:
                            await self.stream.send_all(data)
                            self.server._bytes_sent += len(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise _Closing(None, "the peer went away") from None
            if scope.cancelled_caught:
                raise _Closing(reason, f"a write did not complete within {timeout:.0f}s")


def _ended(session: ServerSession) -> bool:
    return session.closed


def _first_closing(exceptions: Iterable[BaseException]) -> _Closing:
    for exc in exceptions:
        if isinstance(exc, _Closing):
            return exc
    raise AssertionError("no _Closing in the group")  # pragma: no cover


def _address(sockname: object) -> tuple[str, int]:
    host, port = sockname[:2]  # type: ignore[index]
    return str(host), int(port)


def export_rtmp_metrics(server: RtmpServer) -> None:
    """Export :meth:`RtmpServer.statistics` at scrape time (called once by app.py)."""
    metrics.export_snapshot(
        metrics.SnapshotCollector(
            "synctv_rtmp",
            server.statistics,
            counters={
                "accepted": "RTMP connections admitted",
                "bytes_received": "Bytes read from RTMP connections",
                "bytes_sent": "Bytes written to RTMP connections",
            },
            gauges={
                "connections": "Open RTMP connections",
                "publishers": "RTMP connections publishing now",
                "viewers": "RTMP players playing now",
            },
            labelled={
                "refused": ("reason", "RTMP connections refused at accept, by reason"),
                "closed": ("reason", "RTMP connections closed by the server, by reason"),
            },
        )
    )
