"""HTTP-FLV at RTMP cost: live ``GET /live/<id>.flv`` served on the connection itself.

Why: through ASGI every batch costs each viewer a wake-up, a ``send`` through hypercorn's
protocol layer (chunked framing, a lock, a shielded ``send_all``): two to three times the CPU
per viewer of our RTMP play, where one fan-out writer sends the shared bytes of a batch to every
caught-up player with a non-blocking write. ASGI cannot hand a socket over, so the HTTP listener
(:class:`~synctv.api.http.server.HttpServer`) offers each new connection to this front first.

Theory of operation
-------------------
:meth:`LiveFlvFront.take` reads the connection's first request head. Anything that is not a
plain ``GET /live/<id>.flv`` (another path or method, a body, pipelined requests, a malformed
head) and any stream that is not live right now is handed on untouched: the bytes read so far
are replayed to hypercorn, which answers exactly as before (404, 503 with ``Retry-After``, the
wait for a publisher, HEAD, OPTIONS, keep-alive). A live stream's viewer gets, written here: the
response head (``Connection: close``, no length: the body ends when the connection does, RFC
9112 §6.3), the FLV header and join snapshot, and then the stream's batches. While caught up
the viewer is a member of the stream's HTTP-FLV :class:`~synctv.livestream.delivery.FanoutWriter`
(one non-blocking write of ``Batch.flv`` per batch, no task wake-up); behind, its own task
catches up from its cursor (see :mod:`synctv.livestream.delivery`).

Ends, counted in ``synctv_livestream_flv_viewer_ends_total{reason}`` as on the ASGI path:
``stream_ended`` (the body is finished and the connection closed cleanly), ``lagged`` (cut by the
hub's lag bound), ``write_timeout`` (a write did not complete within
``livestream.flv_write_timeout_seconds``), ``duration_cap``, ``disconnected`` (the client closed:
seen by a reader that waits for EOF, or by a failed write).

Resource handling: the viewer runs in the HTTP connection's task (in the listener's handler
nursery: it drains at shutdown like any response); the fan-out writers run in the hub nursery.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

import h11
import trio

from synctv.api.http.routes.live_flv import (
    DIRECTORY_TIMEOUT_SECONDS,
    FLV_RESPONSE_HEADERS,
    first_media,
    flv_cors_headers,
    opening_parts,
)
from synctv.config import LivestreamConfig
from synctv.livestream.delivery import FanoutMember, FanoutWriter, Output, follow
from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.fanout import Batch
from synctv.livestream.hub import StreamHub
from synctv.livestream.metrics import FLV_VIEWER_ENDS
from synctv.livestream.registry import StreamDirectory
from synctv.livestream.stream import LiveStream, Subscription

__all__ = ["LiveFlvFront", "ReplayedStream"]

log = logging.getLogger("synctv.http.live_flv")

# A request head larger than this is not ours (hypercorn answers it: 431 or 400).
MAX_HEAD_BYTES = 16 * 1024
_PREFIX = b"GET /live/"
_TARGET = re.compile(rb"/live/([A-Za-z0-9_-]+)\.flv(?:\?[^#]*)?")

ObserveRequest = Callable[[str, str, int, float], None]


class ReplayedStream(trio.abc.Stream):
    """A socket stream whose first ``receive_some`` returns bytes already read from it.

    Exposes ``socket`` (hypercorn reads the addresses from it) and has no ``do_handshake`` (so
    hypercorn treats it as plain TCP).
    """

    def __init__(self, stream: trio.SocketStream, pending: bytes) -> None:
        self.stream = stream
        self.socket = stream.socket
        self._pending = pending

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._pending:
            await trio.lowlevel.checkpoint()
            data, self._pending = self._pending, b""
            return data
        return bytes(await self.stream.receive_some(max_bytes))

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.stream.send_eof()

    async def aclose(self) -> None:
        await self.stream.aclose()


class _FlvMember(FanoutMember):
    """An HTTP/1.0 viewer: the body is ``Batch.flv`` itself, delimited by the close.

    Every viewer gets the same bytes, signals included (an ``unpublished`` batch has none).
    """

    __slots__ = ()

    def shared_bytes(self, batch: Batch) -> bytes:
        return batch.flv


class _ChunkedFlvMember(FanoutMember):
    """An HTTP/1.1 viewer: each batch is one chunk (RFC 9112 §7.1), framed once per batch and
    shared, so that the end of the stream is a clean end of the body (FFmpeg's ``-xerror`` and
    players treat a close-delimited HTTP/1.1 body as truncated)."""

    __slots__ = ()

    def shared_bytes(self, batch: Batch) -> bytes:
        return batch.encoded("flv-chunked", _chunk_of_batch)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


def _chunk_of_batch(batch: Batch) -> bytes:
    return _chunk(batch.flv)


_LAST_CHUNK = b"0\r\n\r\n"


class _Ended(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LiveFlvFront:
    """The native HTTP-FLV path (see the module docstring); ``take`` is the listener's hook."""

    def __init__(
        self,
        hub: StreamHub,
        directory: StreamDirectory,
        config: LivestreamConfig,
        cors_origins: Sequence[str],
        *,
        head_timeout: float,
        observe: ObserveRequest | None = None,
    ) -> None:
        self._hub = hub
        self._directory = directory
        self._config = config
        self._cors_origins = tuple(cors_origins)
        self._head_timeout = head_timeout
        self._observe = observe
        self._fanouts: dict[LiveStream, FanoutWriter] = {}
        self.served = 0  # viewers served natively (tests and statistics)

    async def take(self, stream: trio.SocketStream) -> trio.abc.Stream | None:
        """Serve the connection if it is a live HTTP-FLV viewer (then None), else hand it on."""
        head = await self._read_head(stream)
        if head is None:
            return None  # closed, or no request within the timeout
        request = _flv_request(head)
        if request is None:
            return ReplayedStream(stream, head)
        stream_id, origin, chunked = request
        live = await self._live_stream(stream_id)
        if live is None:
            return ReplayedStream(stream, head)  # 404/503/waiting: the ASGI route's answers
        await self._serve(stream, live, origin, chunked)
        return None

    async def _read_head(self, stream: trio.SocketStream) -> bytes | None:
        buffer = bytearray()
        with trio.move_on_after(self._head_timeout):
            while True:
                try:
                    data = await stream.receive_some(MAX_HEAD_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return None
                if not data:
                    return bytes(buffer) if buffer else None
                buffer += data
                if not _may_be_flv(buffer) or b"\r\n\r\n" in buffer:
                    return bytes(buffer)
                if len(buffer) > MAX_HEAD_BYTES:
                    return bytes(buffer)
        return None

    async def _live_stream(self, stream_id: str) -> LiveStream | None:
        live = self._hub.get(stream_id)
        if live is None:
            return None
        with trio.move_on_after(DIRECTORY_TIMEOUT_SECONDS):
            record = await self._directory.get(stream_id)
            return live if record is not None else None
        return None

    def _fanout(self, live: LiveStream) -> FanoutWriter | None:
        fanout = self._fanouts.get(live)
        if fanout is not None and fanout.running:
            return fanout
        fanout = FanoutWriter(live, self._fanout_stopped)
        try:
            self._hub.start_viewer_task(fanout.run)
        except RuntimeError:
            return None
        self._fanouts[live] = fanout
        return fanout

    def _fanout_stopped(self, fanout: FanoutWriter) -> None:
        if self._fanouts.get(fanout.live) is fanout:
            del self._fanouts[fanout.live]

    async def _serve(
        self, stream: trio.SocketStream, live: LiveStream, origin: str | None, chunked: bool
    ) -> None:
        started = trio.current_time()
        self.served += 1
        reason = "disconnected"
        with live.subscribe(protocol="flv") as sub:
            try:
                reason = await self._play(stream, live, sub, origin, chunked)
            finally:
                FLV_VIEWER_ENDS.labels(reason).inc()
                if reason == "write_timeout":  # lagged ones are counted by the hub
                    sub.dropped("write_timeout")
                if self._observe is not None:
                    self._observe("GET", "live_flv", 200, trio.current_time() - started)

    async def _play(
        self,
        stream: trio.SocketStream,
        live: LiveStream,
        sub: Subscription,
        origin: str | None,
        chunked: bool,
    ) -> str:
        ended: list[str] = []
        async with trio.open_nursery() as nursery:

            def cut(reason: str | None, detail: str) -> None:
                ended.append(reason or "disconnected")
                nursery.cancel_scope.cancel()

            output = Output(
                stream, timeout=self._config.flv_write_timeout_seconds, cut=cut, on_sent=_ignore
            )
            first = await first_media(sub)
            headers = [*flv_cors_headers(self._cors_origins, origin), *FLV_RESPONSE_HEADERS]
            parts = opening_parts(sub, live, first)
            if chunked:  # one chunk around the opening parts, which stay shared objects
                headers.append(("transfer-encoding", "chunked"))
                size = sum(len(part) for part in parts)
                parts = [b"%x\r\n%b" % (size, parts[0]), *parts[1:], b"\r\n"]
            output.write_nowait(_response_head(headers) + parts[0])
            for part in parts[1:]:
                output.write_nowait(part)
            nursery.start_soon(output.run)
            nursery.start_soon(_watch_eof, stream, cut)
            member = (_ChunkedFlvMember if chunked else _FlvMember)(output, sub, chunked)
            fanout = self._fanout(live)
            if fanout is not None:
                fanout.register()
            try:
                cap = self._config.flv_max_connection_duration_seconds or float("inf")
                with trio.move_on_after(cap):
                    try:
                        await follow(member, fanout)
                    except StreamEnded:
                        ended.append("stream_ended")
                    except SubscriberLagged:
                        ended.append("lagged")
                if not ended:
                    ended.append("duration_cap")
                if ended[0] in ("stream_ended", "duration_cap"):
                    if chunked:
                        output.write_nowait(_LAST_CHUNK)
                    await output.drain()  # the rest of the body, within the write timeout
                    await _finish(stream)
                nursery.cancel_scope.cancel()
            finally:
                output.close()
                if fanout is not None:
                    fanout.unregister()
        await trio.aclose_forcefully(stream)
        return ended[0] if ended else "disconnected"


def _ignore(_: int) -> None:
    """Bytes sent are counted by the hub (``bytes_out``), not per connection here."""


def _may_be_flv(buffer: bytearray) -> bool:
    """Could this still be ``GET /live/...``? (False as soon as the first bytes say no.)"""
    size = min(len(buffer), len(_PREFIX))
    return buffer[:size] == _PREFIX[:size]


def _flv_request(head: bytes) -> tuple[str, str | None, bool] | None:
    """``(stream id, Origin, chunked)`` of a plain live-FLV GET with nothing after its head,
    else None. ``chunked``: the client speaks HTTP/1.1 (the body is sent chunked)."""
    end = head.find(b"\r\n\r\n")
    if end < 0 or end + 4 != len(head) or not head.startswith(_PREFIX):
        return None
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(head)
    try:
        event = connection.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(event, h11.Request) or event.method != b"GET":
        return None
    match = _TARGET.fullmatch(event.target)
    if match is None:
        return None
    origin = None
    for name, value in event.headers:
        if name in (b"content-length", b"transfer-encoding") and value not in (b"0", b""):
            return None  # a body: not a plain GET
        if name == b"origin":
            origin = value.decode("latin-1")
    return match.group(1).decode("ascii"), origin, event.http_version != b"1.0"


def _response_head(headers: list[tuple[str, str]]) -> bytes:
    lines = ["HTTP/1.1 200 OK", *(f"{name}: {value}" for name, value in headers)]
    lines += ["connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _watch_eof(stream: trio.SocketStream, cut: Callable[[str | None, str], None]) -> None:
    """A viewer sends nothing after its request: EOF (or a reset) means it left."""
    try:
        while await stream.receive_some(4096):
            pass  # anything else a client sends (a second request) is not answered
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    cut(None, "the client closed the connection")


async def _finish(stream: trio.SocketStream) -> None:
    """The body is complete: half-close so the client sees the end (read until close)."""
    try:
        await stream.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
