"""HTTP-FLV playback: ``GET|HEAD /live/{stream_id}.flv`` (raw ASGI streaming, the hot path).

The body is the FLV file header (audio/video flags from what is actually published), the join
snapshot (onMetaData, sequence headers, GOP cache from a key frame), then every batch of the
stream. Each wake-up is ONE ``http.response.body`` whose bytes are the hub's shared ``Batch.flv``
(several pending batches come merged), so per-viewer work is per batch, not per tag.

Resource handling
-----------------
Hypercorn shields its socket writes from cancellation, so ``trio.fail_after`` around ``send``
cannot abandon a write to a viewer that stopped reading. The viewer's receive/send loop therefore
runs as a writer task in the hub nursery (``StreamHub.start_viewer_task``); the request task
keeps the subscription, watches the writer, and when one ``send`` has been in progress for
``flv_write_timeout_seconds`` it returns: hypercorn sees the response unfinished and closes the
connection, which ends the stuck write. The watch wakes once per timeout period, not per batch.

Error handling
--------------
Unknown stream → 404 ``stream_not_found``; a viewer the gate refuses (a private room's stream
without a valid ``?token=``, :mod:`synctv.livestream.access`) → its code (401/403), before
anything about the stream is told; known but not live → 503 ``stream_not_live`` with
``Retry-After`` (after waiting up to ``flv_wait_for_publisher_seconds`` for it, GET only).
Stream end and the connection cap finish the body cleanly (``more_body: False``); a lagging or
stalled viewer is cut by closing the connection. Every end is counted by reason, and both kinds
of slow viewer (lagged, write_timeout) in the hub's dropped-slow-viewers counter.
"""

from __future__ import annotations

import logging

import trio

from synctv import errors
from synctv.api.http.asgi import Message, Request, Response, Route, Send
from synctv.api.http.routes.flv_body import (
    FLV_RESPONSE_HEADERS,
    first_media,
    opening_parts,
)
from synctv.api.http.routes.live_flv_native import NativeFlvDelivery
from synctv.config import LivestreamConfig
from synctv.errors import DomainError
from synctv.livestream.access import TOKEN_PARAMETER, ViewerGate, admit_everyone
from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import StreamDirectory
from synctv.livestream.stream import LiveStream, Subscription
from synctv.metrics import FLV_VIEWER_ENDS

__all__ = ["DIRECTORY_TIMEOUT_SECONDS", "RETRY_AFTER_SECONDS", "live_flv_routes"]

log = logging.getLogger("synctv.http.live_flv")

RETRY_AFTER_SECONDS = 5
DIRECTORY_TIMEOUT_SECONDS = 10.0


def live_flv_routes(
    hub: StreamHub,
    directory: StreamDirectory,
    config: LivestreamConfig,
    *,
    native: bool | NativeFlvDelivery = True,
    gate: ViewerGate = admit_everyone,
) -> list[Route]:
    """The HTTP-FLV route (CORS and preflights are the dispatcher's, ``asgi.App``).

    ``gate``: who may play which stream (every stream is public without one).

    ``native``: live viewers on connections that can be taken over are served by
    :mod:`~synctv.api.http.routes.live_flv_native` (False keeps every viewer on ASGI).
    """
    route = _LiveFlv(hub, directory, config, native, gate)
    path = "/live/{stream_id:[A-Za-z0-9_-]+}.flv"
    return [Route(("GET",), path, route.handle, "live_flv", streaming=True)]


class _LiveFlv:
    def __init__(
        self,
        hub: StreamHub,
        directory: StreamDirectory,
        config: LivestreamConfig,
        native: bool | NativeFlvDelivery,
        gate: ViewerGate,
    ) -> None:
        self._hub = hub
        self._directory = directory
        self._config = config
        self._gate = gate
        if native is True:
            native = NativeFlvDelivery(hub, config)
        self.native = native or None

    async def handle(self, request: Request) -> Response | None:
        stream = await self._find_stream(request)
        headers = list(FLV_RESPONSE_HEADERS)
        if request.method == "HEAD":
            return Response(200, b"", headers, content_type=None, length_known=False)
        if self.native is not None:
            connection = request.take_over_connection()
            if connection is not None:
                request.taken_over_status = 200
                chunked = request.scope.get("http_version") == "1.1"
                # The socket is ours now: the dispatcher's headers (request id, CORS) are
                # written here, as its send would have added them.
                native_headers = [*headers, *request.seam_headers]
                await self.native.serve(connection, stream, native_headers, chunked=chunked)
                return None
        with stream.subscribe(protocol="flv") as subscription:
            viewer = _Viewer(request.send, subscription, stream, headers, self._config)
            self._hub.start_viewer_task(viewer.run)
            try:
                await viewer.watch(self._config.flv_write_timeout_seconds)
            finally:
                viewer.cancel_scope.cancel()
                # A clean end makes hypercorn report http.disconnect, which cancels this task
                # before the writer is done: the writer's own reason wins.
                FLV_VIEWER_ENDS.labels(viewer.reason or "disconnected").inc()
                if viewer.reason == "write_timeout":  # lagged ones are counted by the hub
                    subscription.dropped("write_timeout")
        return None

    async def _find_stream(self, request: Request) -> LiveStream:
        stream_id = request.path_params["stream_id"]
        retry = ("retry-after", str(RETRY_AFTER_SECONDS))
        with trio.move_on_after(DIRECTORY_TIMEOUT_SECONDS) as lookup:
            record = await self._directory.get(stream_id)
            if record is not None:
                await self._gate(record, request.query.get(TOKEN_PARAMETER))
        if lookup.cancelled_caught:
            raise DomainError(
                errors.SERVICE_UNAVAILABLE, "stream lookup timed out", headers=[retry]
            )
        if record is None:
            raise DomainError(errors.STREAM_NOT_FOUND, "no such stream")
        stream = self._hub.get(stream_id)
        wait = self._config.flv_wait_for_publisher_seconds
        if stream is None and wait > 0 and request.method == "GET":
            with trio.move_on_after(wait):
                stream = await self._hub.wait_stream(stream_id)
        if stream is None:
            raise DomainError(errors.STREAM_NOT_LIVE, "the stream is not live", headers=[retry])
        return stream


class _Viewer:
    """One viewer's receive/send loop, run as a writer task outside the request task."""

    def __init__(
        self,
        send: Send,
        subscription: Subscription,
        stream: LiveStream,
        headers: list[tuple[str, str]],
        config: LivestreamConfig,
    ) -> None:
        self._send = send
        self._subscription = subscription
        self._stream = stream
        self._headers = headers
        self._config = config
        self.cancel_scope = trio.CancelScope()
        self.done = trio.Event()
        self.reason: str | None = None  # why the viewer ended, once known
        self.sending_since: float | None = None

    async def watch(self, timeout: float) -> None:
        """Wait for the writer; return early (reason ``write_timeout``) if one send stalls."""
        while not self.done.is_set():
            since = self.sending_since
            now = trio.current_time()
            if since is not None and now - since >= timeout:
                log.info("HTTP-FLV viewer cut: no write progress for %.1f s", now - since)
                self.reason = "write_timeout"
                return
            with trio.move_on_at((now if since is None else since) + timeout):
                await self.done.wait()

    async def run(self) -> None:
        try:
            with self.cancel_scope:
                await self._play()
        except Exception:
            # The send of a connection hypercorn already closed, typically.
            log.debug("HTTP-FLV writer ended with an error", exc_info=True)
            self.reason = self.reason or "error"
        finally:
            self.done.set()

    async def _write(self, message: Message) -> None:
        self.sending_since = trio.current_time()
        await self._send(message)
        self.sending_since = None

    async def _play(self) -> None:
        subscription = self._subscription
        first = await first_media(subscription)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self._headers]
        await self._write({"type": "http.response.start", "status": 200, "headers": headers})
        await self._write(
            {
                "type": "http.response.body",
                "body": b"".join(opening_parts(subscription, self._stream, first)),
                "more_body": True,
            }
        )
        cap = self._config.flv_max_connection_duration_seconds or float("inf")
        reason = "duration_cap"
        with trio.move_on_after(cap):
            reason = await self._live()
        if self.reason is None:
            self.reason = reason
        if reason == "lagged":
            return  # cut: the unfinished body makes hypercorn close the connection
        await self._write({"type": "http.response.body", "body": b"", "more_body": False})

    async def _live(self) -> str:
        receive = self._subscription.receive
        write = self._write
        try:
            while True:
                batch = await receive()
                if batch.flv:  # an ``unpublished`` signal has no bytes for FLV viewers
                    await write(
                        {"type": "http.response.body", "body": batch.flv, "more_body": True}
                    )
        except StreamEnded:
            return "stream_ended"
        except SubscriberLagged:
            return "lagged"
