"""Shared test helpers (moved out of test modules: no test module imports another)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import h11
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from synctv.api.http.asgi import App, WebPolicy
from synctv.api.http.cors import CorsPolicy
from synctv.api.http.routes.live_flv import live_flv_routes
from synctv.api.http.routes.live_flv_native import NativeFlvDelivery
from synctv.api.http.server import HttpListenerSettings, HttpServer
from synctv.config import LivestreamConfig
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from synctv.livestream.stream import PublisherHandle
from synctv.media.flv import (
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvReader,
    FlvTag,
    is_sequence_header,
)
from tests.conftest import fixture_bytes

RECORD = LiveStreamRecord("livestream1", "live", None, "t", 0)

OFFLINE = LiveStreamRecord("offline1", "live", None, "t", 0)


class Directory:
    def __init__(self, *records: LiveStreamRecord) -> None:
        self.records = {record.stream_id: record for record in records}

    async def get(self, stream_id: str) -> LiveStreamRecord | None:
        await trio.lowlevel.checkpoint()
        return self.records.get(stream_id)


@dataclass
class Server:
    hub: StreamHub
    base: str
    port: int
    front: NativeFlvDelivery | None = None

    def url(self, stream_id: str = RECORD.stream_id) -> str:
        return f"{self.base}/live/{stream_id}.flv"


# Which HTTP server ``serve`` starts: plain hypercorn ("asgi") or the product's listener
# ("native"), where live viewers are taken over by the native path. Tests set it by fixture.
FRONT = "asgi"


@asynccontextmanager
async def serve(
    cors: tuple[str, ...] = ("*",), **config: Any
) -> AsyncIterator[tuple[Server, trio.Nursery]]:
    livestream = LivestreamConfig.model_validate(config)
    hub = StreamHub(livestream)
    directory = Directory(RECORD, OFFLINE)
    front = NativeFlvDelivery(hub, livestream)
    routes = live_flv_routes(hub, directory, livestream, native=front)
    app = App(routes, clock=trio.current_time, policy=WebPolicy(cors=CorsPolicy(cors)))
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        if FRONT == "native":
            settings = HttpListenerSettings(
                "test", "127.0.0.1", 0, max_connections=1000, max_connections_per_address=1000
            )
            binds = await nursery.start(HttpServer(app, settings).serve)
        else:
            hyper = HypercornConfig()
            hyper.bind = ["127.0.0.1:0"]
            hyper.accesslog = None
            hyper.errorlog = logging.getLogger("hypercorn.error")
            binds = await nursery.start(partial(hypercorn_serve, app, hyper))  # type: ignore[arg-type]
        base = binds[0]
        yield Server(hub, base, int(base.rsplit(":", 1)[1]), front), nursery
        nursery.cancel_scope.cancel()


def fixture_tags(name: str) -> list[FlvTag]:
    reader = FlvReader()
    tags = reader.receive_data(fixture_bytes(f"flv/{name}"))
    reader.receive_data(b"")
    return tags


@dataclass
class Publisher:
    """Feeds a fixture file into the hub, looped with continuing timestamps."""

    handle: PublisherHandle
    tags: list[FlvTag]
    published: list[tuple[int, bytes]] = field(default_factory=list)

    async def run(
        self, *, loops: int = 1, speed: float = 0.0, stop: trio.Event | None = None
    ) -> None:
        span = self.tags[-1].timestamp + 40
        last = 0
        for loop in range(loops):
            for n, tag in enumerate(self.tags):
                if stop is not None and stop.is_set():
                    return
                ts = tag.timestamp + loop * span
                if tag.tag_type == TAG_SCRIPT:
                    if loop == 0:
                        self.handle.set_metadata(tag.data)
                    continue
                if loop and is_sequence_header(tag.tag_type, tag.data):
                    continue
                if tag.tag_type == TAG_VIDEO:
                    self.handle.publish_video(ts, tag.data)
                else:
                    self.handle.publish_audio(ts, tag.data)
                self.published.append((tag.tag_type, tag.data))
                if n % 3 == 0:
                    self.handle.flush()
                    if speed:
                        await trio.sleep(max(0, ts - last) / 1000 / speed)
                        last = ts
            self.handle.flush()


class FlvClient:
    """A streaming HTTP/1.1 GET (h11 over a trio TCP stream) that parses the FLV body as it comes."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.http = h11.Connection(h11.CLIENT)
        self.reader = FlvReader()
        self.tags: list[FlvTag] = []
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body_bytes = 0

    @classmethod
    @asynccontextmanager
    async def get(
        cls, server: Server, headers: tuple[tuple[str, str], ...] = ()
    ) -> AsyncIterator[FlvClient]:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            client = cls(stream)
            target = f"/live/{RECORD.stream_id}.flv"
            request = h11.Request(method="GET", target=target, headers=[("host", "x"), *headers])
            await stream.send_all(client.http.send(request) or b"")
            await client._start()
            yield client

    async def _next(self) -> h11.Event:
        while True:
            event = self.http.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            self.http.receive_data(await self.stream.receive_some(1 << 16))

    async def _start(self) -> None:
        event = await self._next()
        assert isinstance(event, h11.Response)
        self.status = event.status_code
        self.headers = {k.decode(): v.decode() for k, v in event.headers}

    async def chunk(self) -> bytes | None:
        """The next piece of body, or None at the clean end of the body."""
        event = await self._next()
        if isinstance(event, h11.EndOfMessage):
            return None
        assert isinstance(event, h11.Data), event
        self.body_bytes += len(event.data)
        return bytes(event.data)

    async def read_tags(self, count: int) -> list[FlvTag]:
        while len(self.tags) < count:
            data = await self.chunk()
            assert data is not None, "body ended early"
            self.tags += self.reader.receive_data(data)
        return self.tags

    async def read_to_end(self) -> list[FlvTag]:
        while (data := await self.chunk()) is not None:
            self.tags += self.reader.receive_data(data)
        self.reader.receive_data(b"")
        return self.tags


def media_of(tags: list[FlvTag]) -> list[tuple[int, bytes]]:
    return [(t.tag_type, t.data) for t in tags if t.tag_type != TAG_SCRIPT]
