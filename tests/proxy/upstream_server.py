"""A small real HTTP/1.1 origin (Trio + h11) for the proxy tests, on 127.0.0.1.

It serves byte objects with single-range support, and can misbehave on demand: ignore Range,
hide the size (chunked, no Content-Range total), answer a fixed status, stall, redirect, or run
a hook before each response (to change the object mid-stream). Every request is recorded so
tests can count what reached the origin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11
import trio

_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")


@dataclass
class Obj:
    data: bytes
    etag: str | None = '"v1"'
    last_modified: str | None = "Mon, 01 Jan 2024 00:00:00 GMT"
    content_type: str = "video/mp4"
    ranges: bool = True
    known_size: bool = True
    status: int | None = None
    delay: float = 0.0
    redirect: str | None = None
    body_delay: float = 0.0
    # The object is served only to requests carrying this header / this query substring.
    require_header: tuple[str, str] | None = None
    require_query: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


Handler = Callable[[Seen], tuple[int, list[tuple[str, str]], bytes] | None]


@dataclass
class UpstreamServer:
    objects: dict[str, Obj] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    hook: Callable[[Seen], None] | None = None
    handler: Handler | None = None
    port: int = 0
    host: str = "127.0.0.1"
    # Body bytes of objects handed to the kernel, by path (a reader that stops early stops this).
    sent: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ranges_seen(self, path: str) -> list[str | None]:
        return [s.headers.get("range") for s in self.seen if s.path == path]

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._read_request(conn, stream)
                if request is None:
                    return
                await self._respond(conn, stream, request)
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
            return
        finally:
            await stream.aclose()

    async def _read_request(self, conn: h11.Connection, stream: trio.SocketStream) -> Seen | None:
        seen: Seen | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.DONE:
                    return None
                continue
            if isinstance(event, h11.Request):
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                seen = Seen(event.method.decode(), event.target.decode(), headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert seen is not None
                seen.body = bytes(body)
                return seen
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _respond(self, conn: h11.Connection, stream: trio.SocketStream, seen: Seen) -> None:
        self.seen.append(seen)
        if self.hook is not None:
            self.hook(seen)
        if self.handler is not None:
            custom = self.handler(seen)
            if custom is not None:
                status, headers, body = custom
                headers = [*headers, ("content-length", str(len(body)))]
                await _send(conn, stream, h11.Response(status_code=status, headers=headers))
                await _send(conn, stream, h11.Data(data=body))
                await _send(conn, stream, h11.EndOfMessage())
                return
        obj = self.objects.get(seen.path.split("?", 1)[0])
        if obj is None:
            await _simple(conn, stream, 404, b"not found")
            return
        if (
            obj.require_header is not None
            and seen.headers.get(obj.require_header[0]) != obj.require_header[1]
        ) or (obj.require_query is not None and obj.require_query not in seen.path):
            await _simple(conn, stream, 401, b"unauthorised")
            return
        if obj.delay:
            await trio.sleep(obj.delay)
        if obj.redirect is not None:
            headers = [("location", obj.redirect), ("content-length", "0")]
            await _send(conn, stream, h11.Response(status_code=302, headers=headers))
            await _send(conn, stream, h11.EndOfMessage())
            return
        if obj.status is not None:
            await _simple(conn, stream, obj.status, b"forced")
            return
        await self._object(conn, stream, seen, obj)

    async def _object(
        self, conn: h11.Connection, stream: trio.SocketStream, seen: Seen, obj: Obj
    ) -> None:
        size = len(obj.data)
        headers = [("content-type", obj.content_type)]
        if obj.etag:
            headers.append(("etag", obj.etag))
        if obj.last_modified:
            headers.append(("last-modified", obj.last_modified))
        if obj.etag and seen.headers.get("if-none-match") == obj.etag:
            await _send(conn, stream, h11.Response(status_code=304, headers=headers))
            await _send(conn, stream, h11.EndOfMessage())
            return
        status, start, stop = 200, 0, size
        if_range = seen.headers.get("if-range")
        honour = obj.ranges and (if_range is None or if_range == obj.etag)
        match = _RANGE.match(seen.headers.get("range", "")) if honour else None
        if match is not None:
            first, last = match.groups()
            if first:
                start = int(first)
                stop = min(size, int(last) + 1) if last else size
            else:
                start = max(0, size - int(last))
            if start >= size:
                headers.append(("content-range", f"bytes */{size}"))
                await _send(
                    conn,
                    stream,
                    h11.Response(status_code=416, headers=[*headers, ("content-length", "0")]),
                )
                await _send(conn, stream, h11.EndOfMessage())
                return
            status = 206
            total = str(size) if obj.known_size else "*"
            headers.append(("content-range", f"bytes {start}-{stop - 1}/{total}"))
        if obj.known_size:
            headers.append(("content-length", str(stop - start)))
        if obj.ranges:
            headers.append(("accept-ranges", "bytes"))
        await _send(conn, stream, h11.Response(status_code=status, headers=headers))
        if seen.method != "HEAD":
            view = memoryview(obj.data)[start:stop]
            for offset in range(0, len(view), 256 * 1024):
                if obj.body_delay:
                    await trio.sleep(obj.body_delay)
                piece = bytes(view[offset : offset + 256 * 1024])
                await _send(conn, stream, h11.Data(data=piece))
                path = seen.path.split("?", 1)[0]
                self.sent[path] = self.sent.get(path, 0) + len(piece)
        await _send(conn, stream, h11.EndOfMessage())


async def _simple(
    conn: h11.Connection, stream: trio.SocketStream, status: int, body: bytes
) -> None:
    headers = [("content-length", str(len(body))), ("content-type", "text/plain")]
    await _send(conn, stream, h11.Response(status_code=status, headers=headers))
    await _send(conn, stream, h11.Data(data=body))
    await _send(conn, stream, h11.EndOfMessage())


async def _send(conn: h11.Connection, stream: trio.SocketStream, event: Any) -> None:
    data = conn.send(event)
    if data:
        await stream.send_all(data)


def json_reply(data: object, status: int = 200) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("content-type", "application/json")], json.dumps(data).encode()
