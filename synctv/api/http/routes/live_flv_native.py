"""HTTP-FLV at RTMP cost: a live viewer's connection taken over from hypercorn and served by the
stream's fan-out writer.

Why: through ASGI every batch costs each viewer a wake-up and a ``send`` through hypercorn's
protocol layer (chunked framing, a lock, a shielded ``send_all``): two to three times the CPU
per viewer of our RTMP play, where one fan-out writer sends the shared bytes of a batch to every
caught-up player with a non-blocking write. So once the route has found a live stream for a
``GET``, it takes the connection over (``Request.take_over_connection``: HTTP/1.x on our
listener) and hands it to :meth:`NativeFlvDelivery.serve`. Everything before that (routing, 404,
503 with ``Retry-After``, the wait for a publisher, HEAD, OPTIONS, keep-alive of earlier
requests on the connection) is the ordinary ASGI route, so a browser whose player reuses the
connection that loaded the page is served natively too.

What the viewer gets, written here: the response head (``Connection: close``; HTTP/1.1 bodies
are chunked, one chunk per batch framed once per batch and shared; HTTP/1.0 bodies end with the
connection), the FLV header and join snapshot (shared objects, not copied per viewer), then the
stream's batches. While caught up the viewer is a member of the stream's HTTP-FLV
:class:`~synctv.livestream.delivery.FanoutWriter`; behind, its own task catches up from its
cursor (see :mod:`synctv.livestream.delivery`).

Ends, counted in ``synctv_livestream_flv_viewer_ends_total{reason}`` as on the ASGI path:
``stream_ended`` and ``duration_cap`` (the body is finished: last chunk, then close),
``lagged`` (cut by the hub's lag bound), ``write_timeout`` (a write did not complete within
``livestream.flv_write_timeout_seconds``), ``disconnected`` (the client closed: seen by a task
that waits for EOF, or by a failed write).

Resource handling: the viewer runs in the request's task (the HTTP connection's task group: it
drains at shutdown like any response); the fan-out writers run in the hub nursery.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import trio

from synctv.api.http import h1
from synctv.api.http.routes.flv_body import first_media, opening_parts
from synctv.config import LivestreamConfig
from synctv.livestream.delivery import FanoutMember, FanoutWriter, Output, follow
from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.fanout import Batch
from synctv.livestream.hub import StreamHub
from synctv.livestream.stream import LiveStream, Subscription
from synctv.metrics import FLV_VIEWER_ENDS

__all__ = ["NativeFlvDelivery"]


class _FlvMember(FanoutMember):
    """An HTTP/1.0 viewer: the body is ``Batch.flv`` itself, delimited by the close.

    Every viewer gets the same bytes, signals included (an ``unpublished`` batch has none).
    """

    __slots__ = ()

    def shared_bytes(self, batch: Batch) -> bytes:
        return batch.flv


class _ChunkedFlvMember(FanoutMember):
    """An HTTP/1.1 viewer: each batch is one chunk (RFC 9112 §7.1), framed once per batch and
    shared, so the end of the stream is a clean end of the body (FFmpeg's ``-xerror`` and
    players treat a close-delimited HTTP/1.1 body as truncated)."""

    __slots__ = ()

    def shared_bytes(self, batch: Batch) -> bytes:
        return batch.encoded("flv-chunked", _chunk_of_batch)


def _chunk_of_batch(batch: Batch) -> bytes:
    data = batch.flv
    return h1.chunk(data) if data else b""


class NativeFlvDelivery:
    """Serves taken-over HTTP-FLV connections; owns the streams' HTTP-FLV fan-out writers."""

    def __init__(self, hub: StreamHub, config: LivestreamConfig) -> None:
        self._hub = hub
        self._config = config
        self._fanouts: dict[LiveStream, FanoutWriter] = {}
        self.served = 0  # viewers served natively (tests and statistics)

    def fanout_of(self, live: LiveStream) -> FanoutWriter | None:
        """The stream's running HTTP-FLV fan-out writer, if any (tests look at its counts)."""
        fanout = self._fanouts.get(live)
        return fanout if fanout is not None and fanout.running else None

    async def serve(
        self,
        stream: trio.SocketStream,
        live: LiveStream,
        headers: Sequence[tuple[str, str]],
        *,
        chunked: bool,
    ) -> None:
        """Answer a ``GET`` for ``live`` on ``stream`` (taken over) until the viewer ends;
        ``headers`` are the route's response headers (CORS and the FLV ones)."""
        self.served += 1
        reason = "disconnected"
        with live.subscribe(protocol="flv") as sub:
            try:
                reason = await self._play(stream, live, sub, headers, chunked)
            finally:
                FLV_VIEWER_ENDS.labels(reason).inc()
                if reason == "write_timeout":  # lagged ones are counted by the hub
                    sub.dropped("write_timeout")

    def _fanout(self, live: LiveStream) -> FanoutWriter | None:
        fanout = self.fanout_of(live)
        if fanout is not None:
            return fanout
        fanout = FanoutWriter(live, self._fanout_stopped)
        try:
            self._hub.start_viewer_task(fanout.run)
        except RuntimeError:
            return None  # the hub is not running: the viewer writes from its own task
        self._fanouts[live] = fanout
        return fanout

    def _fanout_stopped(self, fanout: FanoutWriter) -> None:
        if self._fanouts.get(fanout.live) is fanout:
            del self._fanouts[fanout.live]

    async def _play(
        self,
        stream: trio.SocketStream,
        live: LiveStream,
        sub: Subscription,
        headers: Sequence[tuple[str, str]],
        chunked: bool,
    ) -> str:
        ended: list[str] = []
        try:
            async with trio.open_nursery() as nursery:

                def cut(reason: str | None, detail: str) -> None:
                    ended.append(reason or "disconnected")
                    nursery.cancel_scope.cancel()

                output = Output(
                    stream, timeout=self._config.flv_write_timeout_seconds, cut=cut, on_sent=_ignore
                )
                nursery.start_soon(_watch_eof, stream, cut)
                first = await first_media(sub)
                _write_opening(output, live, sub, first, headers, chunked)
                nursery.start_soon(output.run)
                member = (_ChunkedFlvMember if chunked else _FlvMember)(output, sub, chunked)
                fanout = self._fanout(live)
                if fanout is not None:
                    fanout.register()
                try:
                    ended.append(await _follow_until_end(member, fanout, self._config))
                    if ended[0] in ("stream_ended", "duration_cap"):
                        if chunked:
                            output.write_nowait(h1.LAST_CHUNK)
                        await output.drain()  # the rest of the body, within the write timeout
                        await _finish(stream)
                    nursery.cancel_scope.cancel()
                finally:
                    output.close()
                    if fanout is not None:
                        fanout.unregister()
        finally:
            await trio.aclose_forcefully(stream)
        return ended[0] if ended else "disconnected"


def _write_opening(
    output: Output,
    live: LiveStream,
    sub: Subscription,
    first: list[bytes],
    headers: Sequence[tuple[str, str]],
    chunked: bool,
) -> None:
    """The response head, then the body's opening parts (shared objects, not joined), in one
    gathered write."""
    head = list(headers)
    parts = opening_parts(sub, live, first)
    if chunked:  # one chunk around the opening parts, which stay shared objects
        head.append(("transfer-encoding", "chunked"))
        size = sum(len(part) for part in parts)
        parts = [b"%x\r\n%b" % (size, parts[0]), *parts[1:], b"\r\n"]
    output.write_parts_nowait([_response_head(head) + parts[0], *parts[1:]])


async def _follow_until_end(
    member: FanoutMember, fanout: FanoutWriter | None, config: LivestreamConfig
) -> str:
    cap = config.flv_max_connection_duration_seconds or float("inf")
    with trio.move_on_after(cap):
        try:
            await follow(member, fanout)
        except StreamEnded:
            return "stream_ended"
        except SubscriberLagged:
            return "lagged"
    return "duration_cap"


def _ignore(_: int) -> None:
    """Bytes sent are counted by the hub (``bytes_out``), not per connection here."""


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
    """The body is complete: half-close so the client sees the end."""
    try:
        await stream.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
