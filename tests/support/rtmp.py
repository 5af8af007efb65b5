"""Shared test helpers (moved out of test modules: no test module imports another)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from synctv.config import LivestreamConfig
from synctv.livestream.access import ViewerGate, admit_everyone
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord, LiveStreamRegistry
from synctv.livestream.stream import LiveStream
from synctv.media.flv import TAG_AUDIO, TAG_VIDEO, FlvReader, FlvTag
from synctv.rtmp.client import ClientSession
from synctv.rtmp.events import (
    Event,
    PeerClosed,
    StatusReceived,
    StreamCreated,
)
from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE
from synctv.rtmp.server import RtmpServer
from synctv.store.audit import CLI_ACTOR
from synctv.store.db import Database
from tests.conftest import fixture_bytes

GUARD = 15  # seconds: every test ends well within this (trio-websocket's fail_after guard)


def fixture_tags() -> list[FlvTag]:
    """The tags of tests/fixtures/flv/h264_aac.flv: onMetaData, sequence headers, 2 GOPs."""
    return FlvReader().receive_data(fixture_bytes("flv/h264_aac.flv"))


TAGS = fixture_tags()

MEDIA = [tag for tag in TAGS if tag.tag_type in (TAG_AUDIO, TAG_VIDEO)]


class Peer:
    """One RTMP client connection: a trio stream plus the sans-IO ClientSession."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.session = ClientSession(os.urandom(HANDSHAKE_RANDOM_SIZE))
        self.pending: list[Event] = []
        self.stream_id = 0

    async def flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            try:
                await self.stream.send_all(data)
            except trio.BrokenResourceError:
                pass  # the server closed; what it said is still read by event()

    async def event(self) -> Event:
        while not self.pending:
            try:
                data = await self.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            self.pending += self.session.receive_data(data)
            await self.flush()
        return self.pending.pop(0)

    async def expect(self, kind: type[Any], test: Callable[[Any], bool] = lambda _: True) -> Any:
        while True:
            event = await self.event()
            if isinstance(event, kind) and test(event):
                return event
            if isinstance(event, PeerClosed):
                raise AssertionError(f"closed while waiting for {kind.__name__}")

    async def status(self) -> StatusReceived:
        return await self.expect(StatusReceived)  # type: ignore[no-any-return]

    async def closed(self) -> None:
        """Read until the server closes the connection."""
        while not isinstance(await self.event(), PeerClosed):
            pass

    async def open_stream(self, app: str) -> int:
        self.session.connect(app)
        self.session.create_stream()
        await self.flush()
        self.stream_id = (await self.expect(StreamCreated)).stream_id
        return self.stream_id

    async def publish(self, app: str, key: str) -> StatusReceived:
        sid = await self.open_stream(app)
        self.session.publish(sid, key)
        await self.flush()
        return await self.status()

    async def play(self, app: str, name: str) -> StatusReceived:
        sid = await self.open_stream(app)
        self.session.play(sid, name)
        await self.flush()
        status = await self.status()
        if status.code == "NetStream.Play.Reset":
            status = await self.status()
        return status

    async def send_tags(self, tags: list[FlvTag]) -> None:
        for tag in tags:
            if tag.tag_type == TAG_VIDEO:
                self.session.send_video(self.stream_id, tag.timestamp, tag.data)
            elif tag.tag_type == TAG_AUDIO:
                self.session.send_audio(self.stream_id, tag.timestamp, tag.data)
        await self.flush()


@dataclass
class Rig:
    server: RtmpServer
    hub: StreamHub
    registry: LiveStreamRegistry
    record: LiveStreamRecord
    key: str
    nursery: trio.Nursery
    address: tuple[str, int] | None = None
    peers: list[Peer] = field(default_factory=list)

    async def tcp(self, receive_buffer: int | None = None) -> Peer:
        """A TCP client; ``receive_buffer`` (SO_RCVBUF, set before connecting so the window
        scale fits it) makes a player that stops reading stall the server's writes sooner."""
        assert self.address is not None
        if receive_buffer is None:
            stream = await trio.open_tcp_stream(*self.address)
        else:
            sock = trio.socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            await sock.connect(self.address)
            stream = trio.SocketStream(sock)
        peer = Peer(stream)
        self.peers.append(peer)
        return peer

    def memory(self, host: str = "192.0.2.1", lockstep: bool = False) -> Peer:
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        client, server = pair()
        self.nursery.start_soon(self.server.handle_connection, server, host, 40000)
        peer = Peer(client)
        self.peers.append(peer)
        return peer

    def closed(self, reason: str) -> int:
        return self.server.statistics().closed[reason]

    async def live(self, record: LiveStreamRecord | None = None) -> LiveStream:
        """The hub's stream, once it is live."""
        stream_id = (record or self.record).stream_id
        await wait_for(lambda: self.hub.get(stream_id) is not None)
        stream = self.hub.get(stream_id)
        assert stream is not None
        return stream


@pytest.fixture
def registry(database: Database) -> LiveStreamRegistry:
    return LiveStreamRegistry(database)


@asynccontextmanager
async def rig(
    registry: LiveStreamRegistry,
    *,
    tcp: bool = False,
    takeover: float = 2.0,
    gate: ViewerGate = admit_everyone,
    **config: Any,
) -> AsyncIterator[Rig]:
    settings: dict[str, Any] = {
        "rtmp_host": "127.0.0.1",
        "rtmp_port": 0,
        "fanout_batch_window_ms": 0,
    }
    settings.update(config)
    livestream = LivestreamConfig(**settings)
    record, key = await registry.create(room_id=None, title="test", by=CLI_ACTOR)
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            hub = StreamHub(livestream)
            await nursery.start(hub.run)
            server = RtmpServer(
                livestream, hub, registry, registry, takeover_silence_seconds=takeover, gate=gate
            )
            rig = Rig(server, hub, registry, record, key, nursery)
            if tcp:
                rig.address = (await nursery.start(server.serve))[0]
            try:
                yield rig
            finally:
                for peer in rig.peers:
                    await trio.aclose_forcefully(peer.stream)
                nursery.cancel_scope.cancel()


async def wait_for(condition: Callable[[], bool]) -> None:
    """Poll a statistics snapshot (the objects under test expose no event for these)."""
    while not condition():  # noqa: ASYNC110
        await trio.sleep(0.01)
