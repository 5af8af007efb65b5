"""One HTTP/1.1 connection served on our own loop, for plain requests (:mod:`synctv.api.http.h1`).

Why: a request through hypercorn's HTTP/1.1 cost ~2.3 times the CPU of the same request here
(``bench/http_micro.py``, bench/README.md), and every REST call, sign-in, HLS segment and
static file is one. The loop is: read a head, call the ASGI app, write what it sends, repeat.
What it does not serve it hands over: :meth:`H1Connection.serve` returns the bytes read so far,
and the caller gives them and the socket to hypercorn for the rest of the connection (WebSocket
upgrades, chunked request bodies, ``Expect``, HTTP/2, malformed requests, whose 400s stay
hypercorn's). A handover happens only between requests, so nothing is ever half-answered.

Behaviour kept from hypercorn, so that the app cannot tell them apart:

* The ASGI scope (``state`` with :data:`~synctv.api.http.asgi.CONNECTION_TAKEOVER`, empty
  ``extensions``), ``http.disconnect`` once the client has gone (read only while the app waits
  for it, after the body: a pipelined request read meanwhile is kept), and sends after that
  are dropped. A handler that takes the socket over (live HTTP-FLV viewers) keeps it until it
  returns: its ``receive`` then waits, as hypercorn's stopped reading, instead of reporting a
  disconnect that would cancel it.
* Idle keep-alive connections close after ``keep_alive_timeout`` (a head must also arrive
  within it) and at once when the server stops; a busy one closes after its response.
* An app that fails or answers nothing gets a 500 (the error catalogue's body); one that stops
  in the middle of a body has its connection closed, since the body's framing is unfinished.

Differences, each on purpose: a single-message body without ``Content-Length`` gets one instead
of chunked framing; a response's ``date`` is formatted once per second; no ``server`` field; an
app that fails after ``http.response.start`` but before its first body message is written
(fails, or sends more than its ``Content-Length``) gets the 500 (its head is only written with
the body; hypercorn wrote it at once, then cut the connection); the status line carries its
reason phrase (``200 OK``; hypercorn wrote none).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote

import trio

from synctv import errors
from synctv.api.http import h1
from synctv.api.http.asgi import CONNECTION_TAKEOVER, error_response
from synctv.errors import DomainError
from synctv.supervision import record_crash

log = logging.getLogger("synctv.http")

MAX_RECV = 65536
# While the app waits for a disconnect, a client may already send its next requests; this much
# is kept, then reading pauses until the response is done (back-pressure, not a refusal).
MAX_PIPELINED_BYTES = 2 * h1.MAX_HEAD_BYTES
# A body the app did not read is read and dropped up to this size so the connection can be
# reused; a larger one closes the connection instead.
MAX_DRAIN_BYTES = 65536
_DRAIN_SECONDS = 1.0

_INTERNAL_ERROR_BODY = error_response(DomainError(errors.INTERNAL_ERROR, "internal error")).body
# Its length declared, so that the answer to a HEAD says what a GET would get.
_INTERNAL_ERROR_FIELDS = (
    (b"content-type", b"application/json"),
    (b"content-length", b"%d" % len(_INTERNAL_ERROR_BODY)),
)
_DISCONNECT = {"type": "http.disconnect"}
_STREAM_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class _DateCache:
    """``date`` as RFC 9110 §5.6.7 IMF-fixdate, formatted when the second changes."""

    second = -1
    value = b""

    @classmethod
    def now(cls) -> bytes:
        second = int(time.time())
        if second != cls.second:
            cls.value = formatdate(second, usegmt=True).encode("ascii")
            cls.second = second
        return cls.value


class ServerState:
    """What a listener's connections share: whether it is stopping, and who is idle now."""

    def __init__(self, keep_alive_timeout: float) -> None:
        self.keep_alive_timeout = keep_alive_timeout
        self.stopping = False
        self.idle: set[trio.CancelScope] = set()

    def stop(self) -> None:
        """Idle connections close now; busy ones after their response."""
        self.stopping = True
        for scope in self.idle:
            scope.cancel()


class _Exchange:
    """One request and its response on a connection."""

    __slots__ = (
        "body_left",
        "body_sent",
        "complete",
        "disconnected",
        "framing",
        "head",
        "response_start",
        "written",
    )

    def __init__(self, head: h1.RequestHead) -> None:
        self.head = head
        self.body_left = head.content_length
        self.body_sent = False  # the last http.request message went to the app
        self.response_start: dict[str, Any] | None = None
        self.framing: h1.ResponseFraming | None = None
        self.written = 0  # body bytes written (checked against a declared length)
        self.complete = False
        self.disconnected = False


class H1Connection:
    """Serve plain requests on ``stream`` until it closes or a request is not one of ours."""

    def __init__(
        self,
        stream: trio.SocketStream,
        app: App,
        server_state: ServerState,
        *,
        client: tuple[str, int] | None,
        server: tuple[str, int] | None,
    ) -> None:
        self._stream = stream
        self._app = app
        self._state = server_state
        self._client = client
        self._server = server
        self._buffer = bytearray()
        self._taken_over = False
        self._watch: trio.CancelScope | None = None
        self._exchange: _Exchange | None = None
        self.handover_kind = ""  # why hypercorn took over (h1.HANDOVER_KINDS), once it has

    async def serve(self) -> bytes | None:
        """Serve requests; the bytes read so far when hypercorn should take over, else None."""
        while True:
            try:
                head = await self._next_head()
            except h1.NotServedHere as not_ours:
                self.handover_kind = not_ours.kind
                return bytes(self._buffer)
            if head is None:
                return None
            del self._buffer[: head.size]
            if not head.method.isupper():
                # hypercorn's scope has the method upper-cased (``get`` is a GET); so does ours,
                # and the response's framing (a ``head`` has no body) follows it.
                head = replace(head, method=head.method.upper())
            exchange = self._exchange = _Exchange(head)
            await self._run_app(exchange)
            if self._taken_over or not await self._reusable(exchange):
                return None

    async def _next_head(self) -> h1.RequestHead | None:
        """The next request head; None to close (EOF, idle timeout, server stopping)."""
        head = h1.parse_request_head(self._buffer) if self._buffer else None
        if head is not None:
            return head  # pipelined: already here
        state = self._state
        if state.stopping:
            return None
        with trio.CancelScope(deadline=trio.current_time() + state.keep_alive_timeout) as idle:
            state.idle.add(idle)
            try:
                while head is None:
                    data = await self._stream.receive_some(MAX_RECV)
                    if not data:
                        return None
                    self._buffer += data
                    head = h1.parse_request_head(self._buffer)
            except _STREAM_GONE:
                return None
            finally:
                state.idle.discard(idle)
        return head

    def _scope(self, head: h1.RequestHead) -> dict[str, Any]:
        return {
            "type": "http",
            "http_version": head.http_version,
            "asgi": {"spec_version": "2.1", "version": "3.0"},
            "method": head.method,
            "scheme": "http",
            "path": _unquote(head.raw_path),
            "raw_path": head.raw_path,
            "query_string": head.query_string,
            "root_path": "",
            "headers": head.headers,
            "client": self._client,
            "server": self._server,
            "state": {CONNECTION_TAKEOVER: self._take_over},
            "extensions": {},
        }

    async def _run_app(self, exchange: _Exchange) -> None:
        scope = self._scope(exchange.head)
        try:
            await self._app(scope, self._receive, self._send)
        except Exception as exc:
            record_crash("http_request", exc, f"{exchange.head.method} (below the app's chain)")
        if self._taken_over or exchange.complete or exchange.disconnected:
            return
        if exchange.framing is None:
            # Nothing written: the app answered nothing, or failed before its first body
            # message (a head alone is only kept until then). A 500, as hypercorn does.
            await self._answer_500(exchange)

    async def _reusable(self, exchange: _Exchange) -> bool:
        """Whether the next request may follow on this connection."""
        framing = exchange.framing
        if not exchange.complete or exchange.disconnected or framing is None or framing.close:
            return False
        length = framing.content_length
        if length is not None and not framing.no_body and exchange.written != length:
            return False  # the app's body did not match its Content-Length
        if self._state.stopping:
            return False
        if exchange.body_left:
            return await self._drain(exchange)
        return True

    async def _drain(self, exchange: _Exchange) -> bool:
        """Read and drop a small body the app did not read, so the connection can go on."""
        if exchange.body_left > MAX_DRAIN_BYTES:
            return False
        with trio.move_on_after(_DRAIN_SECONDS):
            while exchange.body_left:
                if await self._body_piece(exchange) is None:
                    return False
            return True
        return False

    async def _body_piece(self, exchange: _Exchange) -> bytes | None:
        """Up to 64 KiB more of the request body; None if the client has gone."""
        want = min(exchange.body_left, MAX_RECV)
        buffer = self._buffer
        if buffer:
            piece = bytes(buffer[:want])
            del buffer[:want]
        else:
            try:
                piece = await self._stream.receive_some(want)
            except _STREAM_GONE:
                return None
            if not piece:
                return None
        exchange.body_left -= len(piece)
        return piece

    async def _receive(self) -> dict[str, Any]:
        exchange = self._exchange
        assert exchange is not None
        if not exchange.body_sent:
            if exchange.body_left == 0:
                exchange.body_sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            piece = await self._body_piece(exchange)
            if piece is None:
                exchange.disconnected = True
                return _DISCONNECT
            exchange.body_sent = exchange.body_left == 0
            return {"type": "http.request", "body": piece, "more_body": not exchange.body_sent}
        if not (exchange.complete or exchange.disconnected or self._taken_over):
            await self._watch_for_disconnect(exchange)
        if self._taken_over and not (exchange.complete or exchange.disconnected):
            # The socket is the handler's now (a takeover also ends the watch): nothing more
            # comes through ASGI, as with hypercorn. A disconnect here would make the app's
            # pump cancel the very handler that took the socket to answer on it.
            await trio.sleep_forever()
        return _DISCONNECT

    async def _watch_for_disconnect(self, exchange: _Exchange) -> None:
        """Return when the client goes away or the response is complete (which cancels this).

        Reads through the socket, not ``receive_some``: cancelling a task that waits on the
        socket frees the socket at once (trio aborts the wait synchronously), while
        ``receive_some`` stays "in use" until the task runs again. A handler that takes the
        connection over (:meth:`_take_over` cancels this) reads the socket right after."""
        socket = self._stream.socket
        with trio.CancelScope() as self._watch:
            try:
                while len(self._buffer) < MAX_PIPELINED_BYTES:
                    data = await socket.recv(MAX_RECV)
                    if not data:
                        break
                    self._buffer += data
                else:
                    await trio.sleep_forever()  # enough pipelined: wait for the response's end
            except OSError:
                pass  # reset: gone
            exchange.disconnected = True
        self._watch = None

    def _take_over(self) -> trio.SocketStream | None:
        if self._taken_over:
            return None
        self._taken_over = True
        if self._watch is not None:
            self._watch.cancel()
        return self._stream

    async def _send(self, message: dict[str, Any]) -> None:
        exchange = self._exchange
        assert exchange is not None
        kind = message["type"]
        if kind == "http.response.start":
            if exchange.response_start is not None:
                raise RuntimeError("http.response.start sent twice")
            exchange.response_start = message
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if exchange.response_start is None or exchange.complete:
            raise RuntimeError("http.response.body outside a response")
        if self._taken_over or exchange.disconnected:
            return  # nobody to write to (taken over: the socket is the handler's)
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        framing = exchange.framing
        if framing is None:
            framing = self._framing(exchange, None if more else body)
            if framing is None:
                # The app's head could not be written: it gets an exception from this send,
                # the client a 500.
                await self._answer_500(exchange)
                raise h1.ResponseHeadError("the response head could not be written")
            # Kept once its first body is framed: a body longer than the head's Content-Length
            # leaves nothing written, and the app that sent it gets the 500 (_run_app).
            data = framing.head + self._framed(exchange, framing, body, more)
            exchange.framing = framing
        else:
            data = self._framed(exchange, framing, body, more)
        if not more:
            exchange.complete = True
            if self._watch is not None:
                self._watch.cancel()
        if data:
            await self._write(exchange, data)

    async def _answer_500(self, exchange: _Exchange) -> None:
        """The catalogue's ``internal_error`` in place of the app's answer. The connection
        closes after it (``framing`` stays None): what the app left unread is unknown."""
        head = exchange.head
        framing = h1.response_head(
            500,
            _INTERNAL_ERROR_FIELDS,
            date=_DateCache.now(),
            method=head.method,
            http_version=head.http_version,
            keep_alive=False,
            body_if_complete=None,
        )
        exchange.complete = True
        await self._write(
            exchange, framing.head + (b"" if framing.no_body else _INTERNAL_ERROR_BODY)
        )

    async def _write(self, exchange: _Exchange, data: bytes) -> None:
        try:
            await self._stream.send_all(data)
        except _STREAM_GONE:
            exchange.disconnected = True
            if self._watch is not None:
                self._watch.cancel()

    def _framing(self, exchange: _Exchange, body: bytes | None) -> h1.ResponseFraming | None:
        start = exchange.response_start
        assert start is not None
        head = exchange.head
        try:
            return h1.response_head(
                int(start["status"]),
                start.get("headers", ()),
                date=_DateCache.now(),
                method=head.method,
                http_version=head.http_version,
                keep_alive=head.keep_alive,
                body_if_complete=body,
            )
        except (h1.ResponseHeadError, TypeError, ValueError) as exc:
            record_crash("http_request", exc, f"{head.method}: an unwritable response head")
            return None

    @staticmethod
    def _framed(exchange: _Exchange, framing: h1.ResponseFraming, body: bytes, more: bool) -> bytes:
        if framing.no_body:
            return b""
        written = exchange.written + len(body)
        limit = framing.content_length
        if limit is not None and written > limit:
            raise RuntimeError("response body longer than its Content-Length")
        exchange.written = written
        if framing.chunked:
            framed = h1.chunk(body) if body else b""
            return framed + h1.LAST_CHUNK if not more else framed
        return body


def _unquote(raw_path: bytes) -> str:
    """The ASGI ``path``: percent-decoded as hypercorn decodes it (invalid UTF-8 replaced)."""
    text = raw_path.decode("ascii")  # h1's grammar allows visible ASCII only
    return unquote(text) if "%" in text else text
