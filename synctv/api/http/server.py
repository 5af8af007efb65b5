"""The HTTP listener: our accept loop and admission, hypercorn's protocol per connection.

Why not ``hypercorn.trio.serve``: its accept loop is trio's ``serve_listeners``, which logs every
100 ms retry while descriptors are exhausted and admits any number of connections from one
address, so ~20,000 idle keep-alive connections from a few addresses fill ``RLIMIT_NOFILE`` and
every port of the process stops answering. Here the listener is ours
(:func:`synctv.accept.accept_forever`: backoff, one log line per interval, never leaves its task)
and each accepted connection passes :class:`synctv.accept.ConnectionLimiter` (a cap per client
address and in total) before hypercorn's ``TCPServer`` gets it; a refused one gets a short
``503`` with ``Retry-After`` and is closed, and is counted in
``synctv_http_connections_refused_total{listener,cap}``.

Resource handling: connections are tasks in a handler nursery owned by :meth:`HttpServer.serve`.
When ``shutdown_trigger`` returns the listeners close, hypercorn's ``terminated`` event makes idle
keep-alive connections close and stops recycling busy ones, and open responses get
``graceful_timeout`` seconds before they are cancelled.

Error handling: every connection runs under a supervision boundary (``http_connection``); hypercorn
already answers 500 for an app that raises, so an escape here is a bug in the protocol layer, and
it ends that connection only.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Closed, Event, RawData, Updated
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import AppWrapper, ConnectionState
from hypercorn.utils import parse_socket_addr, wrap_app

from synctv import errors, metrics
from synctv.accept import AcceptFailures, ConnectionLimiter, accept_forever
from synctv.api.http.asgi import CONNECTION_TAKEOVER, App
from synctv.api.http.h1 import HANDOVER_KINDS
from synctv.api.http.h1_server import H1Connection, ServerState
from synctv.api.http.ws_raw import CONNECTION_WRITER, ConnectionWriter
from synctv.errors import DomainError, error_body
from synctv.supervision import boundary

log = logging.getLogger("synctv.http")

# A refused connection gets this long to take its 503 before it is closed regardless.
REFUSAL_SEND_TIMEOUT_SECONDS = 0.5
_REFUSAL_BODY = json.dumps(
    error_body(DomainError(errors.TOO_MANY_CONNECTIONS, "too many connections, retry later")),
    separators=(",", ":"),
).encode()
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)


@dataclass(frozen=True, slots=True)
class HttpListenerSettings:
    """What one HTTP listener needs besides its app: ``name`` labels logs and metrics."""

    name: str
    host: str
    port: int
    max_connections: int
    max_connections_per_address: int
    keep_alive_timeout: float = 15.0
    graceful_timeout: float = 0.0
    # Plain HTTP/1.1 requests on our own loop (h1_server); False: hypercorn serves them all.
    own_http1: bool = True


class _Connection(TCPServer):
    """hypercorn's TCPServer with two additions.

    * A peer that closes an idle keep-alive connection frees it now: hypercorn (0.17, 0.18)
      kept the connection's task group open until its idle timer ran out, so a client that
      left still held a descriptor and a connection slot for the whole ``keep_alive_timeout``.
    * One idle timer for the connection's life (:meth:`watch_idle`) instead of hypercorn's,
      which starts a new timer task at the end of every keep-alive request and cancels it at
      the start of the next (``Updated`` events): that task per request was ~0.1 ms of a
      request's ~0.8 ms floor (``bench/http_micro.py``). Here an ``Updated`` event only moves
      the timer's deadline. The rules are hypercorn's: an idle connection closes after
      ``keep_alive_timeout`` or when the server shuts down; a busy one never does (hypercorn
      closes it after its response when the server is shutting down).
    * Takeover (``asgi.CONNECTION_TAKEOVER`` in the scope's ``state``): a handler may take the
      socket of an HTTP/1.x connection and answer on it itself (live HTTP-FLV viewers join
      the stream's fan-out writer: one non-blocking write per batch instead of an ASGI
      ``send`` per viewer). Hypercorn then stops reading the connection, and whatever it would
      still write (its 500 for a request whose app "sent no response") is dropped; when the
      handler returns, hypercorn closes the connection as usual.
    * Raw WebSocket writes (``ws_raw.CONNECTION_WRITER``): the room channel writes frames it
      encoded once for many connections under hypercorn's own send lock (:mod:`ws_raw`).
    """

    def __init__(
        self,
        app: AppWrapper,
        config: HypercornConfig,
        context: WorkerContext,
        stream: Any,
        replay: bytes = b"",
    ) -> None:
        self._replay = replay
        self._taken_over = False
        self._reading: trio.CancelScope | None = None
        # Our idle timer: the deadline while idle, inf while a request is under way. Until
        # the first request, hypercorn's own timer (started by its run) is the one running.
        self._idle_deadline = math.inf
        self._idle_scope: trio.CancelScope | None = None
        self._own_idle_timer = False
        state = ConnectionState({CONNECTION_TAKEOVER: self.take_over})
        super().__init__(app, config, context, state, stream)
        if ConnectionWriter.usable(self):
            state[CONNECTION_WRITER] = ConnectionWriter(self)

    def take_over(self) -> trio.SocketStream | None:
        stream: object = self.stream  # hypercorn annotates it as a TLS stream
        if self._taken_over or type(stream) is not trio.SocketStream:
            return None  # once only; TLS or a wrapped stream cannot be written around
        self._taken_over = True
        if self._reading is not None:
            self._reading.cancel()
        return stream

    async def _read_data(self) -> None:
        with trio.CancelScope() as self._reading:
            if self._replay:  # what our own HTTP/1.1 loop read before handing over (h1_server)
                replay, self._replay = self._replay, b""
                await self.protocol.handle(RawData(replay))
            await super()._read_data()
        if not self._taken_over:
            await self.idle_task.stop()

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):
            if not self._own_idle_timer:
                # The first request: hypercorn stops the timer its run started; ours from now.
                self._own_idle_timer = True
                await super().protocol_send(event)
            idle = event.idle
            self._idle_deadline = (
                trio.current_time() + self.config.keep_alive_timeout if idle else math.inf
            )
            if self._idle_scope is not None:
                self._idle_scope.deadline = self._idle_deadline
            return
        if isinstance(event, RawData) and (self._taken_over or not event.data):
            # Taken over: the socket belongs to the handler that took it over. Empty: the end
            # of every body with a content-length (h11 has nothing to write for it); writing
            # nothing still cost the send lock, a shielded cancel scope and a checkpoint.
            return
        try:
            await super().protocol_send(event)
        except trio.BusyResourceError:
            # Hypercorn sends EOF outside its send lock once the peer has closed; a write racing
            # it (a WebSocket close frame sent as the client leaves) finds the stream busy.
            # The connection is ending: the bytes have nowhere to go.
            if not isinstance(event, RawData):
                raise

    async def watch_idle(self) -> None:
        """The connection's idle timer; runs beside it and is cancelled when it ends."""
        terminated = self.context.terminated
        with trio.CancelScope(deadline=self._idle_deadline) as self._idle_scope:
            await terminated.wait()  # the server is shutting down
            while self._idle_deadline == math.inf:  # busy: hypercorn closes it after the
                await trio.sleep_forever()  # response; this task ends with the connection
        # Idle past the timeout, or idle while the server shuts down: close it, as hypercorn's
        # own idle timer does.
        self._idle_scope = None
        with trio.CancelScope(shield=True):
            await self.protocol.handle(Closed())
            await self.stream.aclose()


class HttpServer:
    """One listening address family set (``host``/``port``) serving one ASGI app."""

    def __init__(self, app: App, settings: HttpListenerSettings) -> None:
        self.settings = settings
        self.limiter = ConnectionLimiter(
            settings.max_connections, settings.max_connections_per_address
        )
        self._app = wrap_app(app, 0, "asgi")  # type: ignore[arg-type]
        self._hyper = HypercornConfig()
        self._hyper.accesslog = None
        self._hyper.errorlog = logging.getLogger("hypercorn.error")
        self._hyper.keep_alive_timeout = settings.keep_alive_timeout
        self._hyper.include_server_header = False  # as h1_server: no need to name the server
        self._hyper.graceful_timeout = settings.graceful_timeout
        # An oversized WebSocket message is refused (1009) as it arrives, not assembled first.
        self._hyper.websocket_max_message_size = app.policy.websocket_max_message_bytes
        self._context = WorkerContext(None)
        self._h1_state = ServerState(settings.keep_alive_timeout)
        self._raw_app = app
        self._open = metrics.HTTP_CONNECTIONS.labels(settings.name)
        self._handovers = {
            kind: metrics.HTTP_HANDOVERS.labels(settings.name, kind) for kind in HANDOVER_KINDS
        }
        self._refused = {
            cap: metrics.HTTP_CONNECTIONS_REFUSED.labels(settings.name, cap)
            for cap in ("total", "per_address")
        }

    async def serve(
        self,
        *,
        shutdown_trigger: object = None,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind, report ``["http://host:port", ...]``, serve until ``shutdown_trigger`` returns.

        Without a trigger it serves until cancelled (health and metrics: no drain).
        """
        settings = self.settings
        listeners = await trio.open_tcp_listeners(settings.port, host=settings.host or None)
        binds = [_url(listener.socket.getsockname()) for listener in listeners]
        async with trio.open_nursery() as handlers:
            # The handler nursery outlives the accept loops so that open responses can drain
            # after the listeners closed; it is passed to the accept loops for that reason.
            async with trio.open_nursery() as accepting:
                for listener in listeners:
                    failures = AcceptFailures(f"{settings.name} listener", log)
                    accepting.start_soon(
                        accept_forever, listener, partial(self._dispatch, handlers), failures
                    )
                task_status.started(binds)
                if shutdown_trigger is None:
                    await trio.sleep_forever()
                await shutdown_trigger()  # type: ignore[operator]
                accepting.cancel_scope.cancel()
            await self._context.terminated.set()
            self._h1_state.stop()
            handlers.cancel_scope.deadline = trio.current_time() + settings.graceful_timeout

    def _dispatch(self, handlers: trio.Nursery, stream: trio.SocketStream) -> None:
        try:
            host = str(stream.socket.getpeername()[0])
        except OSError:  # reset between accept and here
            handlers.start_soon(trio.aclose_forcefully, stream)
            return
        refused_by = self.limiter.admit(host)
        if refused_by is not None:
            self._refused[refused_by].inc()
            handlers.start_soon(_refuse, stream)
            return
        self._open.inc()
        handlers.start_soon(self._connection, stream, host)

    async def _connection(self, stream: trio.SocketStream, host: str) -> None:
        try:
            with boundary("http_connection", host):
                replay = b""
                if self.settings.own_http1:
                    handed_over = await self._own_http1(stream)
                    if handed_over is None:
                        return
                    replay = handed_over
                connection = _Connection(self._app, self._hyper, self._context, stream, replay)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(connection.watch_idle)
                    await connection
                    nursery.cancel_scope.cancel()
        finally:
            self.limiter.release(host)
            self._open.dec()
            await trio.aclose_forcefully(stream)

    async def _own_http1(self, stream: trio.SocketStream) -> bytes | None:
        """Serve plain requests ourselves; the bytes for hypercorn if it should go on."""
        socket = stream.socket
        try:
            client = parse_socket_addr(socket.family, socket.getpeername())
            server = parse_socket_addr(socket.family, socket.getsockname())
        except OSError:
            return None  # reset already
        connection = H1Connection(
            stream, self._raw_app, self._h1_state, client=client, server=server
        )
        replay = await connection.serve()
        if replay is not None:
            self._handovers[connection.handover_kind].inc()
        return replay


async def _refuse(stream: trio.SocketStream) -> None:
    """Answer 503 without reading the request, then close (never blocks past the timeout)."""
    with trio.move_on_after(REFUSAL_SEND_TIMEOUT_SECONDS):
        try:
            await stream.send_all(_REFUSAL)
            await stream.send_eof()
            # Let the request arrive before closing, so the client reads the 503 instead of
            # a reset caused by closing with unread data.
            await stream.receive_some(65536)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
    await trio.aclose_forcefully(stream)


def _url(sockname: tuple[object, ...]) -> str:
    host, port = str(sockname[0]), int(sockname[1])  # type: ignore[call-overload]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
