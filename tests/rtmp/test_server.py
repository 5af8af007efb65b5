"""The RTMP driver over loopback TCP and in-memory streams, with our ClientSession as the peer.

Everything behind the driver is real: StreamHub, and LiveStreamRegistry on PostgreSQL. Timeouts
are configured short (fractions of a second) rather than jumped with autojump_clock, because the
registry's queries are real I/O that a virtual clock would race past.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import trio
import trio.testing

from synctv.config import LivestreamConfig
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord, LiveStreamRegistry
from synctv.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, FlvReader, FlvTag
from synctv.rtmp.client import ClientSession
from synctv.rtmp.events import (
    AudioReceived,
    DataReceived,
    Event,
    MetadataReceived,
    PeerClosed,
    StatusReceived,
    StreamCreated,
    VideoReceived,
)
from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE
from synctv.rtmp.server import RtmpServer, encode_rtmp_tags, export_rtmp_metrics
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

    async def tcp(self) -> Peer:
        assert self.address is not None
        peer = Peer(await trio.open_tcp_stream(*self.address))
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


@pytest.fixture
def registry(database: Database) -> LiveStreamRegistry:
    return LiveStreamRegistry(database)


@asynccontextmanager
async def rig(
    registry: LiveStreamRegistry, *, tcp: bool = False, takeover: float = 2.0, **config: Any
) -> AsyncIterator[Rig]:
    settings: dict[str, Any] = {
        "rtmp_host": "127.0.0.1",
        "rtmp_port": 0,
        "fanout_batch_window_ms": 0,
    }
    settings.update(config)
    livestream = LivestreamConfig(**settings)
    record, key = await registry.create(room_id=None, title="test")
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery:
            hub = StreamHub(livestream, rtmp_encoder=encode_rtmp_tags)
            await nursery.start(hub.run)
            server = RtmpServer(
                livestream, hub, registry, registry, takeover_silence_seconds=takeover
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


# --------------------------------------------------------------------------- publish and play


async def test_publish_then_play_over_tcp(registry: LiveStreamRegistry) -> None:
    async with rig(registry, tcp=True) as r:
        publisher = await r.tcp()
        status = await publisher.publish("live", r.key)
        assert status.code == "NetStream.Publish.Start"
        publisher.session.send_metadata(publisher.stream_id, {"width": 320.0, "height": 240.0})
        first_gop = [tag for tag in MEDIA if tag.timestamp < 1000]
        second_gop = [tag for tag in MEDIA if tag.timestamp >= 1000]
        await publisher.send_tags(first_gop)
        await wait_for(lambda: r.hub.get(r.record.stream_id) is not None)
        stream = r.hub.get(r.record.stream_id)
        assert stream is not None
        await wait_for(lambda: stream.statistics().bytes_in >= sum(len(t.data) for t in first_gop))

        player = await r.tcp()
        assert (await player.play("live", r.record.stream_id)).code == "NetStream.Play.Start"
        meta = await player.expect(MetadataReceived)
        assert meta.metadata["width"] == 320.0
        # The join snapshot: sequence headers, then the cached GOP from its key frame.
        received: list[tuple[str, bytes]] = []
        while len(received) < len(first_gop):
            event = await player.expect((AudioReceived, VideoReceived))  # type: ignore[arg-type]
            received.append((type(event).__name__, event.payload))
        assert sorted(received) == sorted(
            ("VideoReceived" if t.tag_type == TAG_VIDEO else "AudioReceived", t.data)
            for t in first_gop
        )
        # Live batches arrive as shared batch.rtmp() bytes on the fan-out chunk streams.
        await publisher.send_tags(second_gop)
        live: list[bytes] = []
        while len(live) < len(second_gop):
            event = await player.expect((AudioReceived, VideoReceived))  # type: ignore[arg-type]
            live.append(event.payload)
        assert live == [t.data for t in second_gop]
        stats = r.server.statistics()
        assert (stats.connections, stats.publishers, stats.viewers) == (2, 1, 1)
        assert stats.bytes_received > 0
        assert stats.bytes_sent > 0

        # deleteStream ends the publish: the hub keeps the stream for its reconnect grace.
        publisher.session.delete_stream(publisher.stream_id)
        await publisher.flush()
        await wait_for(lambda: r.server.statistics().publishers == 0)
        assert not stream.live


async def test_metadata_reaches_players_as_on_metadata(registry: LiveStreamRegistry) -> None:
    async with rig(registry) as r:
        publisher = r.memory()
        await publisher.publish("live", r.key)
        publisher.session.send_metadata(publisher.stream_id, {"framerate": 25.0})
        await publisher.send_tags(MEDIA[:4])
        await wait_for(lambda: r.hub.get(r.record.stream_id) is not None)
        player = r.memory("192.0.2.2")
        await player.play("live", r.record.stream_id)
        meta = await player.expect(MetadataReceived)
        assert meta.metadata == {"framerate": 25.0}
        assert not any(isinstance(e, DataReceived) for e in player.pending)


async def test_wrong_key_is_bad_name_and_closed(registry: LiveStreamRegistry) -> None:
    async with rig(registry) as r:
        peer = r.memory()
        status = await peer.publish("live", "not-the-key")
        assert (status.level, status.code) == ("error", "NetStream.Publish.BadName")
        await peer.closed()
        await wait_for(lambda: r.closed("bad_name") == 1)
        assert r.hub.get(r.record.stream_id) is None


async def test_right_key_wrong_app_is_refused(registry: LiveStreamRegistry) -> None:
    async with rig(registry) as r:
        peer = r.memory()
        status = await peer.publish("some-room", r.key)
        assert status.code == "NetStream.Publish.BadName"
        await peer.closed()


async def test_play_unknown_or_offline_stream_is_not_found(registry: LiveStreamRegistry) -> None:
    async with rig(registry) as r:
        peer = r.memory()
        assert (await peer.play("live", "nosuchstream")).code == "NetStream.Play.StreamNotFound"
        # Known but not live: the same answer; the connection stays for another try.
        peer.session.play(peer.stream_id, r.record.stream_id)
        await peer.flush()
        assert (await peer.status()).code == "NetStream.Play.StreamNotFound"
        # Live, but asked for under another app.
        publisher = r.memory("192.0.2.9")
        await publisher.publish("live", r.key)
        other = r.memory("192.0.2.3")
        assert (await other.play("room1", r.record.stream_id)).code == (
            "NetStream.Play.StreamNotFound"
        )


# --------------------------------------------------------------------------- takeover policy


async def test_second_publisher_of_a_live_stream_is_refused(registry: LiveStreamRegistry) -> None:
    async with rig(registry) as r:
        first = r.memory("192.0.2.1")
        assert (await first.publish("live", r.key)).code == "NetStream.Publish.Start"
        second = r.memory("192.0.2.2")
        status = await second.publish("live", r.key)
        assert status.code == "NetStream.Publish.BadName"
        await second.closed()
        # The first goes on publishing.
        await first.send_tags(MEDIA[:3])
        stream = r.hub.get(r.record.stream_id)
        assert stream is not None
        await wait_for(lambda: stream.statistics().bytes_in > 0)
        assert stream.live


async def test_silent_publisher_is_replaced_by_a_reconnect(registry: LiveStreamRegistry) -> None:
    async with rig(registry, takeover=0.2) as r:
        first = r.memory("192.0.2.1")
        assert (await first.publish("live", r.key)).code == "NetStream.Publish.Start"
        await first.send_tags(MEDIA[:3])
        player = r.memory("192.0.2.5")
        await wait_for(lambda: r.hub.get(r.record.stream_id) is not None)
        await player.play("live", r.record.stream_id)
        await trio.sleep(0.3)  # the first connection goes silent (a dead TCP connection)
        second = r.memory("192.0.2.2")
        assert (await second.publish("live", r.key)).code == "NetStream.Publish.Start"
        await first.closed()
        assert r.closed("replaced") == 1
        # The viewer stays subscribed across the takeover and gets the new session's media.
        await second.send_tags(MEDIA[:2])
        event = await player.expect(VideoReceived, lambda e: e.payload == MEDIA[0].data)
        assert event.payload == MEDIA[0].data
        assert r.server.statistics().publishers == 1


async def test_kick_closes_the_publisher(registry: LiveStreamRegistry) -> None:
    async with rig(registry) as r:
        peer = r.memory()
        await peer.publish("live", r.key)
        assert r.hub.kick(r.record.stream_id)
        await peer.closed()
        await wait_for(lambda: r.closed("kicked") == 1)


# --------------------------------------------------------------------------- timeouts


async def test_handshake_timeout(registry: LiveStreamRegistry) -> None:
    async with rig(registry, handshake_timeout_seconds=0.2) as r:
        peer = r.memory()
        await peer.stream.send_all(b"\x03" + b"\x00" * 100)  # C0 and part of C1, then nothing
        with trio.fail_after(2):
            await peer.closed()
        assert r.closed("handshake_timeout") == 1


async def test_connected_but_never_publishing_times_out(registry: LiveStreamRegistry) -> None:
    async with rig(registry, handshake_timeout_seconds=0.3) as r:
        peer = r.memory()
        await peer.open_stream("live")
        with trio.fail_after(2):
            await peer.closed()
        assert r.closed("handshake_timeout") == 1


async def test_publisher_stalled_mid_chunk_is_closed(registry: LiveStreamRegistry) -> None:
    async with rig(registry, publisher_idle_timeout_seconds=0.3) as r:
        peer = r.memory()
        await peer.publish("live", r.key)
        peer.session.send_video(peer.stream_id, 0, MEDIA[1].data)
        data = peer.session.data_to_send()
        await peer.stream.send_all(data[: len(data) // 2])  # half a message, then silence
        with trio.fail_after(2):
            await peer.closed()
        assert r.closed("idle_timeout") == 1
        assert r.server.statistics().publishers == 0


async def test_viewer_that_stops_reading_is_cut(registry: LiveStreamRegistry) -> None:
    async with rig(registry, flv_write_timeout_seconds=0.3) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:4])
        viewer = r.memory("192.0.2.2", lockstep=True)  # every send waits for our read
        await viewer.play("live", r.record.stream_id)
        for _ in range(5):  # the viewer stops reading; the publisher goes on
            await publisher.send_tags(MEDIA[4:12])
            await trio.sleep(0.1)
        await wait_for(lambda: r.closed("write_timeout") == 1)
        await wait_for(lambda: r.server.statistics().viewers == 0)
        assert r.server.statistics().publishers == 1


# --------------------------------------------------------------------------- errors and limits


async def test_garbage_closes_only_that_connection(registry: LiveStreamRegistry) -> None:
    async with rig(registry, tcp=True) as r:
        publisher = await r.tcp()
        await publisher.publish("live", r.key)
        bad = await r.tcp()
        await bad.open_stream("live")
        # A chunk header on a new chunk stream that claims fmt 3 with no prior header.
        await bad.stream.send_all(b"\xc9" + os.urandom(64))
        await bad.closed()
        await wait_for(lambda: r.closed("protocol_error") == 1)
        await publisher.send_tags(MEDIA[:5])
        stream = r.hub.get(r.record.stream_id)
        assert stream is not None
        await wait_for(lambda: stream.statistics().bytes_in > 0)
        assert r.server.statistics().publishers == 1


async def test_per_ip_limit(registry: LiveStreamRegistry) -> None:
    async with rig(registry, max_rtmp_connections_per_ip=2) as r:
        first, second = r.memory("198.51.100.1"), r.memory("198.51.100.1")
        await first.open_stream("live")
        await second.open_stream("live")
        third = r.memory("198.51.100.1")
        await third.closed()
        other = r.memory("198.51.100.2")
        await other.open_stream("live")
        assert r.server.statistics().refused["per_ip_limit"] == 1
        # A slot frees when a connection ends.
        await first.stream.aclose()
        await wait_for(lambda: r.server.statistics().connections == 2)
        again = r.memory("198.51.100.1")
        await again.open_stream("live")


async def test_global_limit_over_tcp(registry: LiveStreamRegistry) -> None:
    async with rig(registry, tcp=True, max_rtmp_connections=1) as r:
        first = await r.tcp()
        await first.open_stream("live")
        second = await r.tcp()
        await second.closed()
        assert r.server.statistics().refused["connection_limit"] == 1
        assert r.server.statistics().accepted == 1


async def test_metrics_export(registry: LiveStreamRegistry) -> None:
    from prometheus_client import REGISTRY

    async with rig(registry) as r:
        export_rtmp_metrics(r.server)
        peer = r.memory()
        await peer.open_stream("live")
        assert REGISTRY.get_sample_value("synctv_rtmp_connections") == 1.0
        assert (
            REGISTRY.get_sample_value("synctv_rtmp_refused_total", {"reason": "per_ip_limit"}) == 0
        )


def test_encode_rtmp_tags_is_the_concatenation_of_fanout_messages() -> None:
    from synctv.rtmp.session import encode_media_chunks

    tags = (TAGS[0], TAGS[1], TAGS[2])
    assert TAGS[0].tag_type == TAG_SCRIPT
    assert encode_rtmp_tags(tags) == b"".join(
        encode_media_chunks(t.tag_type, 1, t.timestamp, t.data) for t in tags
    )


def test_join_snapshot_bytes_are_encoded_once_per_snapshot_and_shared() -> None:
    from synctv.rtmp import server as rtmp_server
    from synctv.rtmp.session import encode_media_chunks

    rtmp = RtmpServer(LivestreamConfig(), None, None, None)  # type: ignore[arg-type]
    join = tuple(TAGS[:5])
    first = rtmp.shared_join("s", join)
    assert rtmp.shared_join("s", join) is first  # the same snapshot: the same bytes object
    # onMetaData at timestamp 0; everything else at its own timestamp.
    assert first == b"".join(
        encode_media_chunks(t.tag_type, 1, 0 if t.tag_type == TAG_SCRIPT else t.timestamp, t.data)
        for t in join
    )
    newer = tuple(TAGS[:6])
    assert rtmp.shared_join("s", newer) is not first  # a new snapshot is encoded afresh
    for n in range(rtmp_server.MAX_CACHED_JOINS + 10):
        rtmp.shared_join(f"stream-{n}", join)
    assert len(rtmp._join_bytes) == rtmp_server.MAX_CACHED_JOINS  # bounded
