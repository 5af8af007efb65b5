"""The RTMP server: a thin Trio driver around :class:`synctv.rtmp.session.ServerSession`.

Theory of operation
-------------------
:meth:`RtmpServer.serve` binds ``livestream.rtmp_host:rtmp_port``, reports the bound addresses
through ``task_status.started`` and accepts connections; each one is a task in the server's
handler nursery, running :meth:`RtmpServer.handle_connection`. A connection is one nursery: the
reader loop (receive → ``session.receive_data`` → ``match`` each event → act → write
``data_to_send()``), the connection's writer task (``play.Output``: every byte goes through it,
in order, so replies and media never interleave mid-chunk), for a player one task per playing
stream, and for a publisher one task that waits for an admin kick.

Requests are answered with the ``request_id`` of their event: a read can hold ``play``,
``closeStream``, ``play``, and an answer to a request the peer already withdrew or replaced
is a no-op (the session decides; see session.py).

Publish: ``connect(app)`` → ``publish(key)`` → ``authorizer.authorize_publish(app, key)``; no
record → ``NetStream.Publish.BadName`` and close. A record → ``hub.start_publish(record)`` →
``NetStream.Publish.Start``; each socket read's media goes to the handle and ends with one
``flush()`` (one hub batch per read). ``deleteStream``/``FCUnpublish``/EOF → ``handle.close()``.

Takeover policy (a second publisher for a stream that already has one on this node): if the
current publisher delivered a whole media message (audio, video or data) within
``takeover_silence_seconds`` (2 s) it is live, and the newcomer is refused with
``NetStream.Publish.BadName`` ("already publishing"). Bytes do not count: one stalled
mid-message that trickles a byte a second is as dead as a silent one. If it has been without
media longer, it is taken to be a dead TCP connection that OBS is reconnecting around: its
handle is closed (the hub keeps the stream through its reconnect grace), its connection is cut,
and the newcomer publishes in its place (``hub.start_publish`` replaces the old publisher).

Play: ``play(name)`` where ``name`` is the public stream id; the stream must exist in the
directory with the same app as the connection, and be live in the hub, otherwise
``NetStream.Play.StreamNotFound``; the viewer gate (:mod:`synctv.livestream.access`) must admit
the play with the ``token`` of the play name's query (``rtmp://HOST/<room id>/<stream id>?token=
…``: a private room's stream), otherwise ``NetStream.Play.Failed`` whose description starts with
the gate's error code. The player gets the join snapshot (metadata, sequence headers,
GOP cache) as bytes encoded once per snapshot and stream id and shared (cached on the hub's
snapshot), then every batch's RTMP encoding (``Batch.encoded``): bytes chunked once per batch for all
RTMP viewers (``encode_media_chunks``). One fan-out writer per stream (``play.StreamFanout``)
writes each batch to every caught-up player with one non-blocking write; a player that cannot
keep up is served by its own task until it catches up again (see play.py). Players learn that
the publisher left (Stream EOF), came back (Stream Begin) and that the stream ended (Stream
EOF + NetStream.Play.UnpublishNotify, then the connection closes).

Resource handling: at most ``max_rtmp_connections`` connections and
``max_rtmp_connections_per_ip`` per source address; one over either is closed at once and
counted. A connection must finish the handshake and start publishing or playing within
``handshake_timeout_seconds``; a publisher that completes no media message for
``publisher_idle_timeout_seconds`` is closed (however many bytes it trickles meanwhile); a
player write that does not complete within ``flv_write_timeout_seconds`` cuts the player, as does
falling too far behind the hub (``SubscriberLagged``). Every connection's socket is closed when
its task ends, and its publisher handle closed, whatever ended it.

Error handling: bytes that break the RTMP protocol (``RtmpProtocolError``) are logged in one
line with the peer address and close that connection only. A registry that cannot be reached
answers the publish or play with an error status. Anything else raised while serving one
connection is a bug: it is logged with its traceback and counted (``internal_error``), and
closes that connection only; it never reaches the listener (``handle_connection`` is the
boundary), so one client cannot stop the server.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import trio

from synctv.accept import AcceptFailures, ConnectionLimiter, RepeatedEvents, accept_forever
from synctv.errors import DomainError
from synctv.livestream.access import ViewerGate, admit_everyone, token_from_query
from synctv.livestream.errors import StreamEnded, SubscriberLagged, TagRejected
from synctv.media.errors import ProtocolError, RemoteProtocolError
from synctv.media.flv import TAG_AUDIO, TAG_VIDEO
from synctv.rtmp.errors import RtmpProtocolError
from synctv.rtmp.events import (
    AudioReceived,
    ConnectRequested,
    DataReceived,
    Event,
    MetadataReceived,
    PlayRequested,
    PublishRequested,
    StreamDeleted,
    VideoReceived,
)
from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE
from synctv.rtmp.play import (
    FANOUT_STREAM_ID,
    Closing,
    Output,
    Player,
    StreamFanout,
    encode_rtmp_tags,
)
from synctv.rtmp.publisher_profile import PublisherProfile
from synctv.rtmp.session import PUBLISH_BAD_NAME, ServerSession
from synctv.store.db import DatabaseUnavailable
from synctv.supervision import record_crash

if TYPE_CHECKING:
    from collections.abc import Mapping

    from synctv.config import LivestreamConfig
    from synctv.livestream.hub import StreamHub
    from synctv.livestream.registry import PublishAuthorizer, StreamDirectory
    from synctv.livestream.stream import LiveStream, PublisherHandle
    from synctv.media.amf0 import Amf0Value

__all__ = [
    "CLOSE_REASONS",
    "FANOUT_STREAM_ID",
    "PUBLISHER_ENDS",
    "REFUSE_REASONS",
    "RtmpServer",
    "RtmpStatistics",
    "encode_rtmp_tags",
]

log = logging.getLogger(__name__)

# One read's worth: a 2.5 Mbit/s publisher sends ~300 KB/s, so a few reads per frame at most.
RECEIVE_SIZE: Final = 65536
# A publisher without a whole media message for this long is presumed dead when the same stream
# is published again (OBS reconnecting around a dead TCP connection); one whose media arrived
# more recently is live, and the newcomer is refused. 2 s is several frames at any frame rate,
# and far below OBS's reconnect delay after its own send timeout.
PUBLISHER_TAKEOVER_SILENCE_SECONDS: Final = 2.0
# Merged reads (SRS's "mr"): after handling a publisher's read, wait this share of the fan-out
# batch window before reading again, so one read takes the several frames the kernel gathered
# meanwhile. An encoder writes about once per audio or video frame (~75 writes/s); per-read work
# (a receive, a timeout scope, a decode call, a flush) was half of an idle live stream's CPU:
# 3.6 % of a core without viewers, 2.1 % with reads merged over 50 ms. Viewers see no added
# delay beyond the batch window they already wait for; a window of 0 (lowest latency) merges
# nothing.
MERGED_READ_SHARE_OF_BATCH_WINDOW: Final = 0.25
MERGED_READ_MAX_SECONDS: Final = 0.05
# A stream nobody waits on (no viewer; the HLS segmenter trails by whole segments anyway) merges
# reads over the whole batch window: a quarter of the wake-ups again (an idle stream with HLS
# on demand 1.9 -> 0.9 % of a core, bench/idle_streams.py). The first viewer to subscribe ends
# the wait, so joiners see the same cadence as on a watched stream.
UNWATCHED_MERGED_READ_MAX_SECONDS: Final = 0.25
# Writing our own replies (or an error status before closing) may take at most this long.
CONTROL_WRITE_TIMEOUT_SECONDS: Final = 10.0
# What a second publish (or a publish after play) on one connection is told.
IN_USE: Final = "This connection is already in use."
# A key frame gap may exceed livestream.hls_segment_seconds by this much before the publisher
# is warned: millisecond timestamps of 30 fps frames round, so keyint=60 measures 2000 ± 1 ms.
KEYFRAME_INTERVAL_TOLERANCE_MS: Final = 100
# How a publisher's end is named in the log (PUBLISHER_ENDS), from the connection's close
# reason; "unpublished" (deleteStream/FCUnpublish/closeStream), "peer closed" (EOF without
# unpublishing) and "reset" (a connection error) come from the peer's side.
_PUBLISHER_END_BY_CLOSE: Final = {
    "idle_timeout": "timeout",
    "write_timeout": "timeout",
    "kicked": "kicked",
    "replaced": "replaced",
}
PUBLISHER_ENDS: Final = (
    "unpublished",  # the peer sent deleteStream, FCUnpublish or closeStream: a clean stop
    "peer closed",  # the connection ended without an unpublish (encoder crashed or killed)
    "reset",  # the connection failed (reset by the peer, broken pipe)
    "timeout",  # no media message for publisher_idle_timeout_seconds
    "kicked",  # an operator kicked the publisher
    "replaced",  # a silent publisher replaced by a reconnecting one
    "protocol_error",  # the peer broke the protocol, or sent a tag over the size limit
    "server shutdown",  # the server stopped
    "internal_error",  # a bug on our side (logged with its traceback)
)
# Ends an operator expects (logged at INFO); the others are logged as warnings.
_CLEAN_PUBLISHER_ENDS: Final = frozenset({"unpublished", "kicked", "replaced", "server shutdown"})

# ConnectionLimiter's caps, as this server has always named them in metrics and logs.
_REFUSAL_REASON: Final = {"total": "connection_limit", "per_address": "per_ip_limit"}
REFUSE_REASONS: Final = (
    "connection_limit",  # max_rtmp_connections open already
    "per_ip_limit",  # max_rtmp_connections_per_ip open from this address already
)
CLOSE_REASONS: Final = (
    "handshake_timeout",  # no publish/play within handshake_timeout_seconds
    "ended_idle",  # its publish or play ended; nothing new within handshake_timeout_seconds
    "idle_timeout",  # a publisher silent for publisher_idle_timeout_seconds
    "protocol_error",  # malformed or out-of-order RTMP from the peer
    "bad_name",  # publish refused: wrong key, wrong app, or stream already live
    "replaced",  # a silent publisher replaced by a reconnecting one
    "kicked",  # an operator kicked the publisher
    "write_timeout",  # a write (media to a player) did not complete in time
    "lagged",  # a player fell behind the hub's bound
    "stream_ended",  # the stream a player watched ended
    "unavailable",  # the registry could not be reached
    "internal_error",  # a bug on our side (logged with its traceback); that connection only
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
        gate: ViewerGate = admit_everyone,
    ) -> None:
        self.config = config
        self.hub = hub
        self.authorizer = authorizer
        self.directory = directory
        self.gate = gate
        self.plays_refused = 0  # plays the viewer gate refused
        self.random_bytes = random_bytes
        self.takeover_silence_seconds = takeover_silence_seconds
        self._limiter = ConnectionLimiter(
            self.config.max_rtmp_connections, self.config.max_rtmp_connections_per_ip
        )
        self._accepted = 0
        self._publishing: dict[str, _Connection] = {}  # stream id → its publisher here
        self._viewers = 0
        self._bytes_received = 0
        self._bytes_sent = 0
        self._refused = dict.fromkeys(REFUSE_REASONS, 0)
        self._closed = dict.fromkeys(CLOSE_REASONS, 0)
        self._fanouts: dict[LiveStream, StreamFanout] = {}  # the running writer of each stream
        # Refusals and closes of unauthenticated connections, logged per reason and source per
        # interval: a burst of refused connections is a few lines, not one each.
        self.noise = RepeatedEvents(log)

    def fanout(self, live: LiveStream) -> StreamFanout | None:
        """The stream's fan-out writer, started in the hub's nursery on first use (None if the
        hub is not running: players then write from their own tasks)."""
        fanout = self._fanouts.get(live)
        if fanout is not None and fanout.running:
            return fanout
        fanout = StreamFanout(live, self._fanout_stopped)
        try:
            self.hub.start_viewer_task(fanout.run)
        except RuntimeError:
            return None
        self._fanouts[live] = fanout
        return fanout

    def _fanout_stopped(self, fanout: StreamFanout) -> None:
        if self._fanouts.get(fanout.live) is fanout:
            del self._fanouts[fanout.live]

    def _count_sent(self, size: int) -> None:
        self._bytes_sent += size

    def statistics(self) -> RtmpStatistics:
        return RtmpStatistics(
            connections=self._limiter.statistics().open,
            publishers=len(self._publishing),
            viewers=self._viewers,
            accepted=self._accepted,
            bytes_received=self._bytes_received,
            bytes_sent=self._bytes_sent,
            refused=MappingProxyType(dict(self._refused)),
            closed=MappingProxyType(dict(self._closed)),
        )

    async def serve(
        self,
        *,
        shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
        drain_timeout: float = 0.0,
        task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind, report ``[(host, port), ...]`` through ``task_status``, then serve.

        Port 0 binds an ephemeral port (the reported one is real). Connections are tasks in a
        nursery owned here, cancelled with it. When ``shutdown_trigger`` returns (the server's
        shutdown began) the listeners close at once; open sessions (publishers, players) get
        ``drain_timeout`` seconds to end, then are cut, and serve() returns.
        """
        listeners = await trio.open_tcp_listeners(
            self.config.rtmp_port, host=self.config.rtmp_host or None
        )
        bound = [_address(listener.socket.getsockname()) for listener in listeners]
        async with trio.open_nursery() as handlers:
            # Handlers outlive the accept loops' nursery on purpose: handlers is passed down so
            # every connection is a child of serve() and is cancelled with it, and so that it
            # can run on (drain) after the listeners closed.
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    accepting.start_soon(self._accept_loop, listener, handlers)
                log.info("RTMP listening on %s", ", ".join(f"{h}:{p}" for h, p in bound))
                task_status.started(bound)
                if shutdown_trigger is None:
                    await trio.sleep_forever()
                await shutdown_trigger()
                accepting.cancel_scope.cancel()  # each accept loop closes its listener
            log.info(
                "RTMP stopped listening; %d sessions draining", self._limiter.statistics().open
            )
            handlers.cancel_scope.deadline = trio.current_time() + drain_timeout

    async def _accept_loop(self, listener: trio.SocketListener, handlers: trio.Nursery) -> None:
        """Accept until cancelled; never leaves on an accept error (see ``synctv.accept``)."""

        def dispatch(stream: trio.SocketStream) -> None:
            try:
                host, port = _address(stream.socket.getpeername())
            except OSError:  # already reset by the peer
                handlers.start_soon(trio.aclose_forcefully, stream)
                return
            handlers.start_soon(self.handle_connection, stream, host, port)

        await accept_forever(listener, dispatch, AcceptFailures("RTMP listener", log))

    async def handle_connection(self, stream: trio.abc.Stream, host: str, port: int = 0) -> None:
        """Serve one connection from ``host``: admission, then the session until it ends.

        Public so tests can drive it over in-memory streams. Closes ``stream`` before returning.
        The supervision boundary of one connection: nothing raised here reaches the listener.
        """
        peer = f"{host}:{port}"
        admitted = False
        try:
            refusal = self._admit(host)
            if refusal is not None:
                self._refused[refusal] += 1
                self.noise.event(
                    logging.WARNING, refusal, host, "RTMP %s refused: %s", peer, refusal
                )
                return
            admitted = True
            await _Connection(self, stream, peer).run()
        except* RemoteProtocolError as group:  # pragma: no cover - the read loop handles these
            self._closed["protocol_error"] += 1
            log.warning("RTMP %s closed: protocol_error: %s", peer, group.exceptions[0])
        except* ProtocolError as group:
            # Our own misuse of a session (RtmpLocalProtocolError): a bug, but one connection's.
            self._closed["internal_error"] += 1
            record_crash("rtmp_connection", group, f"{peer}: {group.exceptions[0]}")
        except* Exception as group:
            self._closed["internal_error"] += 1
            record_crash("rtmp_connection", group, peer)
        finally:
            if admitted:
                self._release(host)
            else:
                await trio.aclose_forcefully(stream)

    def _admit(self, host: str) -> str | None:
        refusal = self._limiter.admit(host)
        if refusal is not None:
            return _REFUSAL_REASON[refusal]
        self._accepted += 1
        return None

    def _release(self, host: str) -> None:
        self._limiter.release(host)

    def _claim(self, stream_id: str, conn: _Connection) -> bool:
        """Make ``conn`` the stream's publisher here, per the takeover policy (module doc)."""
        current = self._publishing.get(stream_id)
        if current is not None and current is not conn:
            silent = trio.current_time() - current.last_media
            if silent < self.takeover_silence_seconds:
                return False
            log.info(
                "RTMP %s: publisher of %s silent for %.1fs, replaced by %s",
                current.peer,
                stream_id,
                silent,
                conn.peer,
            )
            current.end_publish("replaced")
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
        self.output = Output(
            stream, timeout=CONTROL_WRITE_TIMEOUT_SECONDS, cut=self.cut, on_sent=server._count_sent
        )
        self.last_received = trio.current_time()
        # A publisher is alive while whole media messages arrive, not bytes: one stalled
        # mid-message and trickling a byte a second is as dead as a silent one.
        self.last_media = self.last_received
        self.setup_deadline = self.last_received + self.config.handshake_timeout_seconds
        window = self.config.fanout_batch_window_ms / 1000
        self.merged_read_seconds = min(
            MERGED_READ_MAX_SECONDS, window * MERGED_READ_SHARE_OF_BATCH_WINDOW
        )
        self.unwatched_merged_read_seconds = min(UNWATCHED_MERGED_READ_MAX_SECONDS, window)
        self.publisher: PublisherHandle | None = None
        self.connect_object: dict[str, Amf0Value] = {}  # the peer's `connect` command object
        self.profile = PublisherProfile()  # what the current publish announced and measured
        self.publish_started = 0.0
        self.keyframe_warned = False  # the key-frame interval warning is given once per publish
        self.ended_once = False  # a publish or play of this connection ended (by the peer)
        self.peer_end = ""  # "peer closed" or "reset" once the peer's side ended
        self.publish_stream = 0  # message stream id of the publish, while publishing
        self.stream_id = ""  # the hub stream id published, while publishing
        self.players: dict[int, trio.CancelScope] = {}  # message stream id → its play task
        self._scope = trio.CancelScope()
        self._closing: Closing | None = None

    @property
    def closing_reason(self) -> str | None:
        return None if self._closing is None else self._closing.reason

    # -- lifetime ---------------------------------------------------------------------------

    async def run(self) -> None:
        failure = "internal_error"  # unless the session ends, is closed or is cancelled
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self.output.run)
                    await self._read_loop(nursery)
                    nursery.cancel_scope.cancel()
            failure = ""
        except* Closing as group:
            self._closing = self._closing or _first_closing(group.exceptions)
            failure = ""
        except* trio.Cancelled:
            failure = "server shutdown"
            raise
        finally:
            self.end_publish(failure or self._publisher_end_reason())
            for scope in self.players.values():
                scope.cancel()
            self.output.close()
            if self._closing is not None:
                self._note_close(self._closing)
            await trio.aclose_forcefully(self.stream)

    def cut(self, reason: str | None, detail: str = "") -> None:
        """End this connection from any task (or from another connection)."""
        if self._closing is None:
            self._closing = Closing(reason, detail or str(reason))
        self._scope.cancel()

    def _note_close(self, closing: Closing) -> None:
        if closing.reason is None:  # the peer left; nothing to count
            log.debug("RTMP %s closed: %s", self.peer, closing)
            return
        self.server._closed[closing.reason] += 1
        quiet = closing.reason in ("replaced", "kicked", "stream_ended")
        level = logging.INFO if quiet else logging.WARNING
        source = self.peer.rsplit(":", 1)[0]
        self.server.noise.event(
            level,
            closing.reason,
            source,
            "RTMP %s closed: %s: %s",
            self.peer,
            closing.reason,
            closing,
        )

    def end_publish(self, reason: str) -> None:
        """Close the publisher handle (idempotent) and log the end with ``reason`` (one of
        PUBLISHER_ENDS); the hub starts its reconnect grace."""
        handle, self.publisher = self.publisher, None
        if handle is not None:
            handle.close()
            duration = trio.current_time() - self.publish_started
            level = logging.INFO if reason in _CLEAN_PUBLISHER_ENDS else logging.WARNING
            log.log(
                level,
                "RTMP %s publisher of %s ended: %s after %.1fs; %s",
                self.peer,
                self.stream_id,
                reason,
                duration,
                self.profile.describe(),
            )
        if self.stream_id:
            self.server._unclaim(self.stream_id, self)

    def _publisher_end_reason(self) -> str:
        """Why the connection (and so its publish, if any) ended: our reason, else the peer's."""
        closing = self._closing
        if closing is not None and closing.reason is not None:
            return _PUBLISHER_END_BY_CLOSE.get(closing.reason, closing.reason)
        return self.peer_end or ("reset" if closing is not None else "server shutdown")

    # -- the reader ---------------------------------------------------------------------------

    async def _read_loop(self, nursery: trio.Nursery) -> None:
        session = self.session
        while not session.closed:
            data = await self._receive()
            try:
                events = session.receive_data(data)
            except RtmpProtocolError as exc:
                await self._refuse("protocol_error", str(exc))
            try:
                for event in events:
                    await self._on_event(event, nursery)
                    if _ended(session):  # refused: the rest of the read is moot
                        break
            except TagRejected as exc:
                await self._refuse("protocol_error", str(exc))
            if self.publisher is not None:
                self.publisher.flush()
            await self._flush()
            if self.publisher is not None and self.merged_read_seconds:
                if self.publisher.watched:
                    await trio.sleep(self.merged_read_seconds)
                else:  # until the first viewer arrives, then read at once
                    with trio.move_on_after(self.unwatched_merged_read_seconds):
                        await self.publisher.wait_watched()

    async def _receive(self) -> bytes:
        if self.publisher is not None:
            deadline = self.last_media + self.config.publisher_idle_timeout_seconds
            reason = "idle_timeout"
        elif self.players:
            deadline, reason = math.inf, ""
        else:
            # Before the first publish/play, and again after one ended (OBS sends deleteStream
            # and closes a moment later): an ended publisher is not a slow new one.
            deadline = self.setup_deadline
            reason = "ended_idle" if self.ended_once else "handshake_timeout"
        with trio.move_on_at(deadline):
            try:
                data = await self.stream.receive_some(RECEIVE_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.peer_end = self.peer_end or "reset"
                return b""  # reset by the peer: the same as EOF
            if not data:
                self.peer_end = self.peer_end or "peer closed"
            self.server._bytes_received += len(data)
            self.last_received = trio.current_time()
            return bytes(data)
        limit = self.config.handshake_timeout_seconds
        if reason == "handshake_timeout":
            raise Closing(reason, f"no publish or play within {limit:g}s of connecting")
        if reason == "ended_idle":
            raise Closing(reason, f"nothing within {limit:g}s after its publish or play ended")
        raise Closing(reason, f"no media message for {deadline - self.last_media:.1f}s")

    async def _on_event(self, event: Event, nursery: trio.Nursery) -> None:
        publisher = self.publisher
        match event:
            case AudioReceived(stream_id, timestamp, payload) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                publisher.publish_audio(timestamp, payload)
                self.profile.media(TAG_AUDIO, timestamp, payload)
                self.last_media = self.last_received
            case VideoReceived(stream_id, timestamp, payload) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                publisher.publish_video(timestamp, payload)
                gap = self.profile.media(TAG_VIDEO, timestamp, payload)
                if gap is not None:
                    self._check_keyframe_interval(gap)
                self.last_media = self.last_received
            case MetadataReceived(stream_id=stream_id, metadata=metadata, payload=payload) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                publisher.set_metadata(payload)
                first = not self.profile.encoder and not self.profile.width
                self.profile.metadata(metadata)
                if first:
                    log.info(
                        "RTMP %s publisher of %s announced: %s",
                        self.peer,
                        self.stream_id,
                        self.profile.describe(),
                    )
                self.last_media = self.last_received
            case ConnectRequested(command_object=command_object):
                self.connect_object = command_object
            case DataReceived(stream_id=stream_id) if (
                publisher is not None and stream_id == self.publish_stream
            ):
                # onTextData captions, onCuePoint: not relayed, but whole media messages, so
                # the publisher is alive (only onMetaData is kept for viewers).
                self.last_media = self.last_received
            case PublishRequested():
                await self._on_publish(event, nursery)
            case PlayRequested():
                await self._on_play(event, nursery)
            case StreamDeleted(stream_id=stream_id):
                self._on_stream_deleted(stream_id)
            case _:
                pass  # PeerClosed ends the loop (session.closed); the rest needs no action

    # -- publish ------------------------------------------------------------------------------

    async def _on_publish(self, request: PublishRequested, nursery: trio.Nursery) -> None:
        session = self.session
        sid, rid = request.stream_id, request.request_id
        refuse = partial(self._refuse_publish, request)
        if self.publisher is not None or self.players:
            await refuse("bad_name", "publish on a connection already in use", IN_USE)
            return
        try:
            record = await self.server.authorizer.authorize_publish(session.app, request.stream_key)
        except DatabaseUnavailable as exc:
            await refuse("unavailable", str(exc), "Try again later.", "NetStream.Publish.Failed")
            return
        if record is None:
            detail = f"no stream for that key in app {session.app!r}"
            await refuse("bad_name", detail, "Invalid stream key for this app.")
            return
        if self.publisher is not None or self.players:  # another request won while we asked
            await refuse("bad_name", "publish on a connection already in use", IN_USE)
            return
        if not self.server._claim(record.stream_id, self):
            detail = f"stream {record.stream_id} is already publishing"
            await refuse("bad_name", detail, "The stream is already publishing.")
            return
        self.stream_id = record.stream_id
        try:
            handle = await self.server.hub.start_publish(record)
        except BaseException:
            self.server._unclaim(record.stream_id, self)
            raise
        if not session.accept_publish(sid, rid):  # withdrawn while we asked the hub
            handle.close()
            self.server._unclaim(record.stream_id, self)
            self.stream_id = ""
            return
        self.publisher, self.publish_stream = handle, sid
        self.last_media = self.publish_started = trio.current_time()  # idle clock starts now
        self.profile = PublisherProfile()
        self.profile.connected(self.connect_object)
        handle.profile = self.profile  # the streamer's diagnostics read it through the hub
        self.keyframe_warned = False
        nursery.start_soon(self._watch_kicked, handle)
        log.info(
            "RTMP %s publishing %s (app %s, flashVer %r)",
            self.peer,
            record.stream_id,
            session.app,
            self.profile.flash_ver,
        )

    def _check_keyframe_interval(self, gap_ms: int) -> None:
        """Warn once per publish when key frames come less often than HLS segments should."""
        segment = self.config.hls_segment_seconds
        if self.keyframe_warned or gap_ms <= segment * 1000 + KEYFRAME_INTERVAL_TOLERANCE_MS:
            return
        self.keyframe_warned = True
        frames = round(segment * (self.profile.frame_rate or 30))
        log.warning(
            "RTMP %s publisher of %s sends a key frame every %.2fs, more than "
            "livestream.hls_segment_seconds (%gs): HLS segments get that long and new viewers "
            "wait that long for a picture. In OBS: Settings > Output, Output Mode Advanced, "
            "Streaming > Keyframe Interval %gs; or in Simple mode, tick Enable Custom Encoder "
            "Settings (Advanced) and set Custom Encoder Settings to keyint=%d (docs/obs.md)",
            self.peer,
            self.stream_id,
            gap_ms / 1000,
            segment,
            segment,
            frames,
        )

    async def _refuse_publish(
        self,
        request: PublishRequested,
        reason: str,
        detail: str,
        description: str,
        code: str = PUBLISH_BAD_NAME,
    ) -> None:
        """Answer ``request`` with an error status and close, unless the request is stale (its
        answer is then a no-op: a later request of the same read took its place)."""
        if self.session.reject_publish(request.stream_id, request.request_id, code, description):
            await self._refuse(reason, detail)

    async def _watch_kicked(self, handle: PublisherHandle) -> None:
        await handle.wait_kicked()
        if handle is self.publisher:
            self.cut("kicked", f"publisher of {self.stream_id} kicked")

    def _on_stream_deleted(self, stream_id: int) -> None:
        ended = False
        if self.publisher is not None and stream_id == self.publish_stream:
            self.end_publish("unpublished")
            self.stream_id = ""
            ended = True
        scope = self.players.pop(stream_id, None)
        if scope is not None:
            scope.cancel()
            ended = not self.players
        if ended:
            # The peer may publish or play again on this connection, or (OBS, FFmpeg) close it.
            self.ended_once = True
            self.setup_deadline = trio.current_time() + self.config.handshake_timeout_seconds

    # -- play ---------------------------------------------------------------------------------

    async def _on_play(self, request: PlayRequested, nursery: trio.Nursery) -> None:
        session = self.session
        sid, rid, name = request.stream_id, request.request_id, request.stream_name
        if self.publisher is not None or sid in self.players:
            session.reject_play(sid, rid, "NetStream.Play.Failed", "Stream is busy.")
            return
        try:
            record = await self.server.directory.get(name)
            if record is not None and record.app == session.app:
                await self.server.gate(record, token_from_query(request.query))
        except DatabaseUnavailable:
            session.reject_play(sid, rid, "NetStream.Play.Failed", "Try again later.")
            return
        except DomainError as refused:
            self.server.plays_refused += 1
            log.info("RTMP play of %s refused from %s: %s", name, self.peer, refused.code)
            session.reject_play(sid, rid, "NetStream.Play.Failed", str(refused))
            return
        live = (
            self.server.hub.get(name) if record is not None and record.app == session.app else None
        )
        if live is None:
            session.reject_play(sid, rid)
            return
        if self.publisher is not None or sid in self.players:  # another request won meanwhile
            session.reject_play(sid, rid, "NetStream.Play.Failed", "Stream is busy.")
            return
        if not session.accept_play(sid, rid):
            return
        self.output.write_nowait(session.data_to_send())  # the play replies go before media
        self.output.timeout = self.config.flv_write_timeout_seconds
        scope = trio.CancelScope()
        self.players[sid] = scope
        nursery.start_soon(self._play, sid, live, scope)

    async def _play(self, stream_id: int, live: LiveStream, scope: trio.CancelScope) -> None:
        server = self.server
        server._viewers += 1
        fanout = server.fanout(live) if self.output.can_write_nowait else None
        if fanout is not None:
            fanout.register()
        try:
            with scope, live.subscribe(protocol="rtmp") as subscription:
                player = Player(self, stream_id, live, subscription, fanout)
                try:
                    await player.run()
                except StreamEnded:
                    await player.end_of_stream()
                    self.cut("stream_ended", f"stream {live.stream_id} ended")
                except SubscriberLagged:
                    self.cut("lagged", f"fell behind on {live.stream_id}")
        finally:
            server._viewers -= 1
            if fanout is not None:
                fanout.unregister()
            if self.players.get(stream_id) is scope:
                del self.players[stream_id]

    # -- writing ------------------------------------------------------------------------------

    async def _flush(self) -> None:
        """Write what the session queued; wait while earlier bytes are still queued, so a peer
        that does not read stops being read from (bounded output)."""
        data = self.session.data_to_send()
        if data:
            self.output.write_nowait(data)
        if self.output.queued:
            await self.output.drain()

    async def _refuse(self, reason: str, detail: str) -> None:
        """Close with ``reason`` after a best-effort flush of what the session queued (an error
        status): the reason is kept even if that write fails."""
        if self._closing is None:
            self._closing = Closing(reason, detail)
        with trio.move_on_after(CONTROL_WRITE_TIMEOUT_SECONDS):
            self.output.write_nowait(self.session.data_to_send())
            await self.output.drain()
        raise Closing(reason, detail)


def _ended(session: ServerSession) -> bool:
    return session.closed


def _first_closing(exceptions: Iterable[BaseException]) -> Closing:
    for exc in exceptions:
        if isinstance(exc, Closing):
            return exc
    raise AssertionError("no Closing in the group")  # pragma: no cover


def _address(sockname: object) -> tuple[str, int]:
    host, port = sockname[:2]  # type: ignore[index]
    return str(host), int(port)
