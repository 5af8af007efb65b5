"""A local origin that hands out expiring signed links, the way an Alist server does (Trio + h11).

``POST /api/fs/get {path}`` answers Alist's ``{code, message, data: {name, is_dir, raw_url}}``
with ``raw_url = <base>/d<path>?n=<link number>&sign=<hmac>:<expiry>``, signed for ``lifetime``
seconds (Alist's own ``sign=<hmac>:<unix seconds>`` form; ``n`` makes every link distinct). ``GET|HEAD /d<path>?sign=…`` serves the file (single
byte ranges) while the signature is valid, and ``403`` once it has expired or if it is wrong.
``GET|HEAD /files<path>`` serves the same files unsigned (for tests that need a plain origin).
Every download request is recorded with the link number it carried and what it was answered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import h11
import trio

_RANGE = re.compile(r"bytes=(\d+)-(\d*)\Z")


@dataclass
class Download:
    link: str
    status: int
    at: float


@dataclass
class SignedOrigin:
    files: dict[str, bytes]
    lifetime: float = 20.0
    key: bytes = b"origin-signing-key"
    port: int = 0
    issued: list[str] = field(default_factory=list)
    downloads: list[Download] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sign(self, path: str, link: str, expiry: int) -> str:
        mac = hmac.new(self.key, f"{path}:{link}:{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode() + f":{expiry}"

    def valid(self, path: str, link: str, sign: str, now: float) -> bool:
        _, _, tail = sign.rpartition(":")
        if not tail.isdigit():
            return False
        return hmac.compare_digest(sign, self.sign(path, link, int(tail))) and now < int(tail)

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.base)
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            while True:
                request, body = await _read_request(conn, stream)
                if request is None:
                    return
                status, headers, payload = self._answer(request, body)
                await _send(conn, stream, h11.Response(status_code=status, headers=headers))
                if request.method != b"HEAD":
                    await _send(conn, stream, h11.Data(data=payload))
                await _send(conn, stream, h11.EndOfMessage())
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()

    def _answer(
        self, request: h11.Request, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(request.target.decode())
        if request.method == b"POST" and target.path == "/api/fs/get":
            return self._fs_get(json.loads(body or b"{}"))
        wanted = dict(request.headers).get(b"range")
        if target.path.startswith("/d/") and request.method in (b"GET", b"HEAD"):
            return self._download(target.path[2:], dict(parse_qsl(target.query)), wanted)
        if target.path.startswith("/files/") and target.path[6:] in self.files:
            return self._ranged(self.files[target.path[6:]], wanted)
        return 404, [("content-length", "0")], b""

    def _fs_get(self, body: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        path = str(body.get("path", ""))
        if path not in self.files:
            reply: dict[str, Any] = {"code": 404, "message": "object not found", "data": None}
        else:
            expiry = int(time.time() + self.lifetime)
            link = str(len(self.issued))
            self.issued.append(link)
            sign = quote(self.sign(path, link, expiry), safe="")
            raw_url = f"{self.base}/d{quote(path)}?n={link}&sign={sign}"
            data = {"name": path.rsplit("/", 1)[-1], "is_dir": False, "raw_url": raw_url}
            reply = {"code": 200, "message": "success", "data": data}
        encoded = json.dumps(reply).encode()
        return (
            200,
            [("content-type", "application/json"), ("content-length", str(len(encoded)))],
            encoded,
        )

    def _download(
        self, path: str, query: dict[str, str], wanted: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        sign, link = query.get("sign", ""), query.get("n", "")
        now = time.time()
        if path not in self.files or not self.valid(path, link, sign, now):
            self.downloads.append(Download(link, 403, now))
            return 403, [("content-length", "9")], b"forbidden"
        answer = self._ranged(self.files[path], wanted)
        self.downloads.append(Download(link, answer[0], now))
        return answer

    def _ranged(
        self, data: bytes, wanted: bytes | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = [("content-type", "video/mp4"), ("accept-ranges", "bytes"), ("etag", '"v1"')]
        match = _RANGE.match(wanted.decode()) if wanted else None
        if match is None:
            return 200, [*headers, ("content-length", str(len(data)))], data
        first = int(match[1])
        last = min(int(match[2]) if match[2] else len(data) - 1, len(data) - 1)
        if first >= len(data):
            return 416, [("content-range", f"bytes */{len(data)}"), ("content-length", "0")], b""
        part = data[first : last + 1]
        return (
            206,
            [
                *headers,
                ("content-range", f"bytes {first}-{last}/{len(data)}"),
                ("content-length", str(len(part))),
            ],
            part,
        )


async def _read_request(
    conn: h11.Connection, stream: trio.SocketStream
) -> tuple[h11.Request | None, bytes]:
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                return None, b""
            conn.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return request, bytes(body)
        else:  # ConnectionClosed, PAUSED
            return None, b""


async def _send(conn: h11.Connection, stream: trio.SocketStream, event: Any) -> None:
    data = conn.send(event)
    if data:
        try:
            await stream.send_all(data)
        except trio.BrokenResourceError:
            pass
