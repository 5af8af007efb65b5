"""Our own HTTP/1.1 loop (h1_server.H1Connection) behind HttpServer, on real loopback sockets.

What hypercorn did for plain requests must still happen (keep-alive, pipelining, bodies read or
drained, framing of every kind of response, 500s, disconnect as cancellation, idle timeouts and
shutdown), what it is handed over must still work (WebSocket, chunked bodies, Expect, malformed
requests, after earlier plain requests too), and a table of requests is answered alike by both
engines (``own_http1`` True and False).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import trio
import trio.lowlevel
from trio_websocket import open_websocket_url

from synctv import metrics
from synctv.api.http.asgi import App, Receive, Request, Response, Route, Scope, Send, WebSocketRoute
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.api.http.websocket import WebSocket

GUARD = 10


@dataclass
class Events:
    """What the app saw, for the tests to wait on."""

    cancelled: trio.Event = field(default_factory=trio.Event)
    sleeping: trio.Event = field(default_factory=trio.Event)
    release: trio.Event = field(default_factory=trio.Event)
    send_errors: list[BaseException] = field(default_factory=list)


class TestApp(App):
    """The dispatcher's routes, plus ``/raw/...`` answered by a bare ASGI callable (to do what
    the dispatcher never does: raise before answering, answer nothing, unwritable fields)."""

    __test__ = False

    def __init__(self, events: Events) -> None:
        self.events = events

        async def hello(request: Request) -> Response:
            return Response(200, b"hello")

        async def echo(request: Request) -> Response:
            return Response(200, await request.body(), content_type="application/octet-stream")

        async def ignore(request: Request) -> Response:
            return Response(200, b"ignored")

        async def sleep(request: Request) -> Response:
            events.sleeping.set()
            try:
                await trio.sleep(GUARD)
            except trio.Cancelled:
                events.cancelled.set()
                raise
            return Response(200, b"woke")

        async def hold(request: Request) -> Response:
            events.sleeping.set()
            await events.release.wait()
            return Response(200, b"held")

        async def takeover(request: Request) -> Response | None:
            stream = request.take_over_connection()
            assert stream is not None
            request.taken_over_status = 200
            await trio.sleep(0.2)  # a viewer's life, on the socket it took
            await stream.send_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\ntaken"
            )
            return None

        async def upload(request: Request) -> Response:
            events.sleeping.set()
            try:
                return Response(200, await request.body())
            except trio.Cancelled:
                events.cancelled.set()
                raise

        async def ws_echo(socket: WebSocket) -> None:
            await socket.accept()
            while True:
                await socket.send(await socket.receive())

        super().__init__(
            [
                Route(("GET",), "/hello", hello, "hello"),
                Route(("POST",), "/echo", echo, "echo"),
                Route(("POST",), "/ignore", ignore, "ignore"),
                Route(("POST",), "/upload", upload, "upload"),
                Route(("GET",), "/sleep", sleep, "sleep"),
                Route(("GET",), "/hold", hold, "hold"),
                Route(("GET",), "/takeover", takeover, "takeover", streaming=True),
            ],
            clock=trio.current_time,
            observe=None,
            websocket_routes=[WebSocketRoute("/ws/echo", ws_echo, "ws_echo")],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/raw/"):
            await self._raw(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _raw(self, scope: Scope, receive: Receive, send: Send) -> None:
        what = scope["path"].removeprefix("/raw/")

        async def start(status: int, *headers: tuple[bytes, bytes]) -> None:
            await send({"type": "http.response.start", "status": status, "headers": headers})

        if what == "raise":
            raise RuntimeError("injected: the app fails before answering")
        if what == "nothing":
            return
        if what == "start-then-raise":
            await start(200, (b"content-type", b"text/plain"), (b"x-started", b"1"))
            raise RuntimeError("injected: the app fails between its head and its body")
        if what == "too-long":
            await start(200, (b"content-length", b"2"), (b"x-started", b"1"))
            await send({"type": "http.response.body", "body": b"abc"})
            return
        if what == "crlf":
            await start(200, (b"x-bad", b"a\r\nset-cookie: injected=1"))
            try:
                await send({"type": "http.response.body", "body": b"never"})
            except Exception as exc:
                self.events.send_errors.append(exc)
                raise
            return
        if what == "204":
            await start(204)
            await send({"type": "http.response.body", "body": b""})
        elif what == "304":
            await start(304, (b"etag", b'"v1"'), (b"content-length", b"5"))
            await send({"type": "http.response.body", "body": b""})
        elif what == "stream":
            await start(200, (b"content-type", b"text/plain"))
            for piece in (b"one,", b"", b"two,", b"three"):
                await send({"type": "http.response.body", "body": piece, "more_body": True})
                await trio.lowlevel.checkpoint()
            await send({"type": "http.response.body", "body": b""})
        elif what == "nolength":
            await start(200, (b"content-type", b"text/plain"))
            await send({"type": "http.response.body", "body": b"no length given"})
        elif what.split("/")[0] == "scope":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            seen = {
                "type": scope["type"],
                "http_version": scope["http_version"],
                "method": scope["method"],
                "scheme": scope["scheme"],
                "path": scope["path"],
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query_string": scope["query_string"].decode("latin-1"),
                "root_path": scope["root_path"],
                "headers": [
                    [k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]
                ],
                "client_host": scope["client"][0],
                "server": list(scope["server"]),
                "body": body.decode("latin-1"),
            }
            encoded = json.dumps(seen).encode()
            await start(200, (b"content-type", b"application/json"))
            await send({"type": "http.response.body", "body": encoded})
        else:
            await start(404)
            await send({"type": "http.response.body", "body": b"no such raw route"})


def settings(**overrides: Any) -> HttpListenerSettings:
    values: dict[str, Any] = {
        "name": "h1test",
        "host": "127.0.0.1",
        "port": 0,
        "max_connections": 100,
        "max_connections_per_address": 100,
        "keep_alive_timeout": 5.0,
    }
    values.update(overrides)
    return HttpListenerSettings(**values)


@asynccontextmanager
async def serving(events: Events | None = None, **overrides: Any) -> AsyncIterator[int]:
    server = HttpServer(TestApp(events or Events()), settings(**overrides))
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(server.serve)
        yield int(binds[0].rsplit(":", 1)[1])
        nursery.cancel_scope.cancel()


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k == name]
        assert len(values) <= 1, (name, values)
        return values[0] if values else None


class Client:
    """A raw connection that reads responses itself (every framing, interim 1xx skipped)."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def connect(cls, port: int) -> Client:
        return cls(await trio.open_tcp_stream("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _more(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError
        self.buffer += data

    async def _until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            await self._more()
        found = bytes(self.buffer[:end])
        del self.buffer[: end + len(marker)]
        return found

    async def _exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self._more()
        found = bytes(self.buffer[:size])
        del self.buffer[:size]
        return found

    async def read_head(self) -> tuple[int, list[tuple[str, str]]]:
        lines = (await self._until(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, status, *_ = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip().lower(), value.strip()))
        return int(status), headers

    async def reply(self, method: str = "GET") -> Reply:
        status, headers = await self.read_head()
        while 100 <= status < 200 and status != 101:
            status, headers = await self.read_head()
        names = dict(headers)
        if method == "HEAD" or status in (204, 304) or status < 200:
            body = b""
        elif names.get("transfer-encoding", "").lower() == "chunked":
            pieces = []
            while size := int((await self._until(b"\r\n")).split(b";")[0], 16):
                pieces.append(await self._exactly(size))
                assert await self._exactly(2) == b"\r\n"
            while await self._until(b"\r\n"):  # trailers
                pass
            body = b"".join(pieces)
        elif "content-length" in names:
            body = await self._exactly(int(names["content-length"]))
        else:  # delimited by the end of the connection
            while True:
                try:
                    await self._more()
                except EOFError:
                    break
            body, self.buffer = bytes(self.buffer), bytearray()
        return Reply(status, headers, body)

    async def request(self, data: bytes, method: str = "GET") -> Reply:
        await self.send(data)
        return await self.reply(method)

    async def closed(self) -> bool:
        """True when the server closed its side with nothing more sent."""
        if self.buffer:
            return False
        try:
            return await self.stream.receive_some(65536) == b""
        except trio.BrokenResourceError:
            return True

    async def aclose(self) -> None:
        await self.stream.aclose()


def get(path: str, *extra: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "host: x", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post(path: str, body: bytes, *extra: str) -> bytes:
    return get(path, f"content-length: {len(body)}", *extra, method="POST") + body


# --- Plain requests on our loop --------------------------------------------------------------


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            for _ in range(5):
                reply = await client.request(get("/hello"))
                assert (reply.status, reply.body) == (200, b"hello")
                assert reply.header("connection") is None
            reply = await client.request(post("/echo", b"posted"))
            assert (reply.status, reply.body) == (200, b"posted")
            await client.aclose()


async def test_pipelined_requests_are_answered_in_order() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            await client.send(get("/hello") + get("/nothing") + post("/echo", b"third"))
            first, second, third = [await client.reply() for _ in range(3)]
            assert (first.status, first.body) == (200, b"hello")
            assert second.status == 404
            assert json.loads(second.body)["code"] == "not_found"
            assert (third.status, third.body) == (200, b"third")
            await client.aclose()


async def test_a_request_arriving_byte_by_byte_is_read_whole() -> None:
    body = b'{"a body": "in small pieces"}'
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            for byte in post("/echo", body):
                await client.send(bytes([byte]))
                await trio.sleep(0.001)
            reply = await client.reply()
            assert (reply.status, reply.body) == (200, body)
            # The body alone byte by byte too, after a head that came whole.
            await client.send(get("/echo", f"content-length: {len(body)}", method="POST"))
            for byte in body:
                await client.send(bytes([byte]))
                await trio.sleep(0.001)
            reply = await client.reply()
            assert (reply.status, reply.body) == (200, body)
            await client.aclose()


async def test_a_small_unread_body_is_drained_and_the_connection_goes_on() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(post("/ignore", b"x" * 1000))
            assert (reply.status, reply.body) == (200, b"ignored")
            assert (await client.request(get("/hello"))).body == b"hello"
            # The unread body arrives only after the response: still drained.
            await client.send(get("/ignore", "content-length: 3000", method="POST"))
            reply = await client.reply()
            assert (reply.status, reply.body) == (200, b"ignored")
            await client.send(b"y" * 3000)
            assert (await client.request(get("/hello"))).body == b"hello"
            # An app that never calls receive at all (no dispatcher pump reading for it).
            reply = await client.request(post("/raw/nolength", b"z" * 60000))
            assert (reply.status, reply.body) == (200, b"no length given")
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()


async def test_a_large_unread_body_closes_the_connection_after_the_response() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            # 100 KB declared (over the 64 KiB drained), a little of it sent.
            for path, answer in (("/ignore", b"ignored"), ("/raw/nolength", b"no length given")):
                client = await Client.connect(port)
                head = get(path, "content-length: 100000", method="POST")
                reply = await client.request(head + b"x" * 1000)
                assert (reply.status, reply.body) == (200, answer)
                assert await client.closed()
                await client.aclose()


async def test_http_1_0_closes_after_the_response() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get("/hello", version="1.0"))
            assert (reply.status, reply.body) == (200, b"hello")
            assert reply.header("connection") == "close"
            assert await client.closed()
            await client.aclose()


async def test_connection_close_closes_after_the_response() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get("/hello", "Connection: close"))
            assert (reply.status, reply.body) == (200, b"hello")
            assert reply.header("connection") == "close"
            assert await client.closed()
            await client.aclose()


async def test_head_has_no_body_and_keeps_the_content_length() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get("/hello", method="HEAD"), method="HEAD")
            assert reply.status == 200
            assert reply.header("content-length") == "5"
            # Had a body been written, this reply would start with "hello".
            assert (await client.request(get("/hello"))).body == b"hello"
            # The method is upper-cased as hypercorn did: a "head" is a HEAD, body and all.
            reply = await client.request(b"head /hello HTTP/1.1\r\nhost: x\r\n\r\n", "HEAD")
            assert (reply.status, reply.header("content-length")) == (200, "5")
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()


@pytest.mark.parametrize("status", [204, 304])
async def test_204_and_304_have_no_body(status: int) -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get(f"/raw/{status}"))
            assert reply.status == status
            assert reply.header("transfer-encoding") is None
            if status == 304:
                assert reply.header("content-length") == "5"  # the app's, kept
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()


async def test_a_streamed_response_of_unknown_length_is_chunked() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                reply = await http.get("/raw/stream")
                assert reply.status_code == 200
                assert reply.headers["transfer-encoding"] == "chunked"
                assert "content-length" not in reply.headers
                assert reply.content == b"one,two,three"
                # The same connection goes on (the last chunk ended the body).
                assert (await http.get("/hello")).content == b"hello"
            client = await Client.connect(port)
            raw = await client.request(get("/raw/stream"))
            assert raw.body == b"one,two,three"
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()


async def test_a_single_message_without_a_length_gets_one() -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get("/raw/nolength"))
            assert (reply.status, reply.body) == (200, b"no length given")
            assert reply.header("content-length") == str(len(b"no length given"))
            assert reply.header("transfer-encoding") is None
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()


INTERNAL_ERROR_BODY = b'{"code":"internal_error","message":"internal error"}'


def assert_internal_error(reply: Reply) -> None:
    assert reply.status == 500
    assert reply.header("content-type") == "application/json"
    assert reply.header("connection") == "close"
    assert json.loads(reply.body) == {"code": "internal_error", "message": "internal error"}


@pytest.mark.parametrize(
    "path", ["/raw/raise", "/raw/nothing", "/raw/start-then-raise", "/raw/too-long"]
)
async def test_an_app_that_fails_or_answers_nothing_gets_a_500_and_the_connection_closes(
    path: str,
) -> None:
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get(path))
            assert_internal_error(reply)
            assert reply.header("x-started") is None  # the app's head was never written
            assert await client.closed()
            await client.aclose()


async def test_a_header_value_with_crlf_is_never_written() -> None:
    events = Events()
    with trio.fail_after(GUARD):
        async with serving(events) as port:
            client = await Client.connect(port)
            reply = await client.request(get("/raw/crlf"))
            assert_internal_error(reply)
            assert reply.header("set-cookie") is None
            assert reply.header("x-bad") is None
            assert await client.closed()
            await client.aclose()
    assert len(events.send_errors) == 1  # the app's send raised


@pytest.mark.parametrize("path", ["/raw/raise", "/raw/crlf"])
async def test_the_500_to_a_head_request_has_no_body(path: str) -> None:
    """Both ways to a 500 (the app failed; its head was unwritable) frame it for the method."""
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(get(path, method="HEAD"), method="HEAD")
            assert reply.status == 500
            assert reply.header("connection") == "close"
            assert reply.header("content-length") == str(len(INTERNAL_ERROR_BODY))
            assert await client.closed()  # nothing after the head: no body
            await client.aclose()


async def test_a_client_leaving_cancels_the_waiting_handler() -> None:
    events = Events()
    with trio.fail_after(GUARD):
        async with serving(events) as port:
            client = await Client.connect(port)
            await client.send(get("/sleep"))
            await events.sleeping.wait()
            await client.aclose()
            await events.cancelled.wait()


async def test_an_idle_keep_alive_connection_closes_at_the_timeout() -> None:
    with trio.fail_after(GUARD):
        async with serving(keep_alive_timeout=0.3) as port:
            client = await Client.connect(port)
            assert (await client.request(get("/hello"))).body == b"hello"
            started = trio.current_time()
            assert await client.closed()
            assert 0.25 <= trio.current_time() - started < 2
            # A connection that never sends a request closes at the same timeout.
            silent = await Client.connect(port)
            started = trio.current_time()
            assert await silent.closed()
            assert 0.25 <= trio.current_time() - started < 2
            await client.aclose()
            await silent.aclose()


async def test_a_head_trickling_in_slower_than_the_timeout_is_closed() -> None:
    with trio.fail_after(GUARD):
        async with serving(keep_alive_timeout=0.3) as port:
            client = await Client.connect(port)
            started = trio.current_time()
            closed_at: list[float] = []

            async def watch() -> None:
                assert await client.closed()  # no response at all, just the close
                closed_at.append(trio.current_time() - started)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(watch)
                try:
                    for byte in get("/hello", "x-padding: " + "p" * 40):
                        if closed_at:
                            break
                        await client.send(bytes([byte]))
                        await trio.sleep(0.02)  # ~80 bytes: 1.6 s in all
                except trio.BrokenResourceError:
                    pass
            assert 0.25 <= closed_at[0] < 1.2
            await client.aclose()


async def test_shutdown_closes_idle_connections_at_once_and_lets_a_busy_one_finish(
    nursery: trio.Nursery,
) -> None:
    events = Events()
    stop = trio.Event()
    done = trio.Event()
    server = HttpServer(TestApp(events), settings(graceful_timeout=3.0, keep_alive_timeout=30))

    async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await server.serve(shutdown_trigger=stop.wait, task_status=task_status)
        done.set()

    with trio.fail_after(GUARD):
        binds = await nursery.start(run)
        port = int(binds[0].rsplit(":", 1)[1])
        idle = await Client.connect(port)
        assert (await idle.request(get("/hello"))).body == b"hello"
        fresh = await Client.connect(port)  # connected, no request yet: idle too
        busy = await Client.connect(port)
        await busy.send(get("/hold"))
        await events.sleeping.wait()
        stop.set()
        assert await idle.closed()  # at once: the busy response is still held
        assert await fresh.closed()
        events.release.set()
        reply = await busy.reply()
        assert (reply.status, reply.body) == (200, b"held")
        assert await busy.closed()
        await done.wait()
        for client in (idle, fresh, busy):
            await client.aclose()


@pytest.mark.parametrize("own_http1", [True, False])
async def test_a_handler_that_takes_the_connection_over_answers_on_it(own_http1: bool) -> None:
    with trio.fail_after(GUARD):
        async with serving(own_http1=own_http1) as port:
            client = await Client.connect(port)
            assert (await client.request(get("/hello"))).body == b"hello"
            reply = await client.request(get("/takeover"))
            assert (reply.status, reply.body) == (200, b"taken")
            assert await client.closed()
            await client.aclose()


async def test_a_client_leaving_during_the_body_cancels_the_reading_handler() -> None:
    events = Events()
    with trio.fail_after(GUARD):
        async with serving(events) as port:
            client = await Client.connect(port)
            await client.send(get("/upload", "content-length: 1000", method="POST") + b"x" * 10)
            await events.sleeping.wait()
            await client.aclose()
            await events.cancelled.wait()


async def test_requests_pipelined_past_the_read_ahead_limit_are_all_answered() -> None:
    # More than MAX_PIPELINED_BYTES arrives while /hold runs: reading pauses, then resumes.
    requests = [get(f"/raw/nolength?{n}", "x-pad: " + "p" * 200) for n in range(200)]
    assert sum(map(len, requests)) > 40_000
    events = Events()
    with trio.fail_after(GUARD):
        async with serving(events) as port:
            client = await Client.connect(port)
            await client.send(get("/hold") + b"".join(requests))
            await events.sleeping.wait()
            await trio.sleep(0.1)  # let the server read ahead what it will
            events.release.set()
            assert (await client.reply()).body == b"held"
            for _ in requests:
                assert (await client.reply()).body == b"no length given"
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()


async def test_a_crlf_after_a_body_is_handed_over_and_refused_as_before() -> None:
    # An empty line before a request (RFC 9112 §2.2 says a server SHOULD ignore it) is left to
    # hypercorn, whose h11 answers 400 (as it did when it served every request).
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            await client.send(post("/echo", b"body") + b"\r\n" + get("/hello"))
            assert (await client.reply()).body == b"body"
            assert (await client.reply()).status == 400
            assert await client.closed()
            await client.aclose()


# --- Handed over to hypercorn ----------------------------------------------------------------


def handovers(kind: str) -> float:
    """``synctv_http_handovers_total`` of the tests' listener for ``kind``."""
    value: float = metrics.HTTP_HANDOVERS.labels("h1test", kind)._value.get()
    return value


async def test_a_websocket_upgrade_is_handed_over() -> None:
    before = handovers("upgrade")
    with trio.fail_after(GUARD):
        async with serving() as port, open_websocket_url(f"ws://127.0.0.1:{port}/ws/echo") as ws:
            await ws.send_message("ping")
            assert await ws.get_message() == "ping"
    assert handovers("upgrade") == before + 1


async def test_a_chunked_request_body_reaches_the_app_whole() -> None:
    before = handovers("chunked_body")
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            head = get("/echo", "transfer-encoding: chunked", method="POST")
            await client.send(head + b"5\r\nhello\r\n")
            await trio.sleep(0.01)
            await client.send(b"7\r\n, world\r\n0\r\n\r\n")
            reply = await client.reply()
            assert (reply.status, reply.body) == (200, b"hello, world")
            # hypercorn goes on serving the connection.
            assert (await client.request(get("/hello"))).body == b"hello"
            await client.aclose()
    assert handovers("chunked_body") == before + 1


async def test_expect_100_continue_is_handed_over_and_works() -> None:
    before = handovers("expect")
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            await client.send(
                get("/echo", "content-length: 4", "expect: 100-continue", method="POST")
            )
            status, _ = await client.read_head()
            assert status == 100
            await client.send(b"body")
            reply = await client.reply()
            assert (reply.status, reply.body) == (200, b"body")
            await client.aclose()
    assert handovers("expect") == before + 1


async def test_a_malformed_request_line_gets_hypercorns_400() -> None:
    before = handovers("malformed")
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            reply = await client.request(b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n")
            assert reply.status == 400
            assert await client.closed()
            await client.aclose()
    assert handovers("malformed") == before + 1


async def test_a_request_handed_over_after_plain_ones_on_the_same_connection() -> None:
    chunked = get("/echo", "transfer-encoding: chunked", method="POST") + b"3\r\nabc\r\n0\r\n\r\n"
    with trio.fail_after(GUARD):
        async with serving() as port:
            client = await Client.connect(port)
            assert (await client.request(get("/hello"))).body == b"hello"
            reply = await client.request(chunked)
            assert (reply.status, reply.body) == (200, b"abc")
            # Pipelined: a plain request, then one to hand over, then a plain one, in one write.
            await client.send(get("/hello") + chunked + get("/raw/nolength"))
            replies = [await client.reply() for _ in range(3)]
            assert [r.body for r in replies] == [b"hello", b"abc", b"no length given"]
            await client.aclose()


# --- Both engines answer alike ---------------------------------------------------------------

ORIGIN = "origin: https://elsewhere.example"
DIFFERENTIAL: list[tuple[str, bytes]] = [
    ("get", get("/hello")),
    ("head", get("/hello", method="HEAD")),
    ("not found", get("/nothing/here")),
    ("method not allowed", post("/hello", b"")),
    ("post echo", post("/echo", b"some body \x00\xff")),
    ("post empty", post("/echo", b"")),
    ("http/1.0", get("/hello", version="1.0")),
    ("connection close", get("/hello", "Connection: close")),
    ("http/1.0 keep-alive", get("/hello", "connection: keep-alive", version="1.0")),
    ("request id", get("/hello", "x-request-id: fixed-id.1")),
    (
        "cors preflight",
        get("/hello", ORIGIN, "access-control-request-method: GET", method="OPTIONS"),
    ),
    ("204", get("/raw/204")),
    ("304", get("/raw/304")),
    ("stream", get("/raw/stream")),
    ("stream http/1.0", get("/raw/stream", version="1.0")),
    ("no length", get("/raw/nolength")),
    ("scope", get("/raw/scope?q=1%202&r", "X-Mixed-Case:  padded \t", "x-dup: 1", "x-dup: 2")),
    ("scope quoted path", get("/raw/sc%6fpe/%E2%82%AC%20x%FF?%41")),
    ("head no length", get("/raw/nolength", method="HEAD")),
    ("head stream", get("/raw/stream", method="HEAD")),
    ("lowercase method", b"get /hello HTTP/1.1\r\nhost: x\r\n\r\n"),
    (
        "scope mixed-case method",
        b"pOsT /raw/scope HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n!",
    ),
    ("scope empty field values", get("/raw/scope", "x-empty:", "x-spaces:   ")),
    ("head too large (handed over)", get("/hello", "x-big: " + "b" * 17000)),
    ("no host (handed over)", b"GET /hello HTTP/1.1\r\n\r\n"),
    (
        "two lengths (handed over)",
        get("/echo", "content-length: 1", "content-length: 2", method="POST") + b"ab",
    ),
    ("obs-fold (handed over)", get("/hello", "x-folded: a", " b")),
    ("bad request line (handed over)", b"GET /a b HTTP/1.1\r\nhost: x\r\n\r\n"),
    (
        "scope chunked body (handed over)",
        get("/raw/scope", "transfer-encoding: chunked", method="POST") + b"2\r\nhi\r\n0\r\n\r\n",
    ),
    ("scope body", post("/raw/scope", b"abc", "x-obs: caf\xe9")),
    ("scope http/1.0", get("/raw/scope", version="1.0")),
    ("too large", get("/echo", "content-length: 99999999", method="POST")),
]
IGNORED = {"date", "x-request-id", "content-length", "transfer-encoding"}


async def one_reply(port: int, request: bytes) -> Reply:
    client = await Client.connect(port)
    method = request.split(b" ", 1)[0].decode()
    reply = await client.request(request, method)
    await client.aclose()
    return reply


async def test_both_engines_answer_a_table_of_requests_alike() -> None:
    with trio.fail_after(GUARD):
        async with serving(own_http1=True) as ours, serving(own_http1=False) as theirs:
            differences = []
            for name, request in DIFFERENTIAL:
                mine, hypercorn = await one_reply(ours, request), await one_reply(theirs, request)
                if name.startswith("scope"):
                    for reply, port in ((mine, ours), (hypercorn, theirs)):
                        seen = json.loads(reply.body)
                        assert seen.pop("server") == ["127.0.0.1", port], name
                        reply.body = json.dumps(seen).encode()
                compared = [
                    (
                        reply.status,
                        reply.body,
                        sorted((k, v) for k, v in reply.headers if k not in IGNORED),
                    )
                    for reply in (mine, hypercorn)
                ]
                if compared[0] != compared[1]:
                    differences.append((name, *compared))
            assert differences == []
