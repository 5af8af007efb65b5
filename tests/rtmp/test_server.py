"""The RTMP driver over loopback TCP and in-memory streams, with our ClientSession as the peer.

Everything behind the driver is real: StreamHub, and LiveStreamRegistry on PostgreSQL. Timeouts
are configured short (fractions of a second) rather than jumped with autojump_clock, because the
registry's queries are real I/O that a virtual clock would race past.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest
import trio
import trio.testing

from synctv import metrics
from synctv.livestream.registry import LiveStreamRecord, LiveStreamRegistry
from synctv.media.flv import TAG_SCRIPT, TAG_VIDEO, FlvTag
from synctv.rtmp.chunk import ChunkDecoder
from synctv.rtmp.events import (
    AudioReceived,
    DataReceived,
    MetadataReceived,
    PeerClosed,
    StatusReceived,
    StreamCreated,
    UserControlReceived,
    VideoReceived,
)
from synctv.rtmp.messages import StreamBegin, StreamEof
from synctv.rtmp.server import encode_rtmp_tags
from synctv.rtmp.session import encode_media_chunks
from synctv.store.audit import CLI_ACTOR
from tests.support.rtmp import MEDIA, TAGS, Peer, rig, wait_for

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
        # Live batches arrive as shared RTMP encodings of the batches on the fan-out chunk streams.
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
    """A publisher that stalls mid-chunk: what it sent whole reaches its viewers within the
    batch window (no later read is needed), it is closed after the idle timeout, and another
    stream's publisher and viewer carry on throughout."""
    async with rig(registry, publisher_idle_timeout_seconds=0.6, fanout_batch_window_ms=200) as r:
        other, other_key = await r.registry.create(room_id=None, title="other", by=CLI_ACTOR)
        bystander_pub = r.memory("192.0.2.7")
        await bystander_pub.publish("live", other_key)
        await bystander_pub.send_tags(MEDIA[:3])
        await r.live(other)
        bystander = _Reader(r.memory("192.0.2.8"))
        await bystander.peer.play("live", other.stream_id)
        r.nursery.start_soon(bystander.run)

        peer = r.memory()
        await peer.publish("live", r.key)
        await peer.send_tags(MEDIA[:3])
        await r.live()
        viewer = _Reader(r.memory("192.0.2.9"))
        await viewer.peer.play("live", r.record.stream_id)
        r.nursery.start_soon(viewer.run)
        await wait_for(lambda: len(viewer.video) >= 2)
        sent = _frames(3, 500, start=1000)
        await peer.send_tags(sent)  # whole messages, less than a window of media
        peer.session.send_video(peer.stream_id, 1200, MEDIA[1].data)
        data = peer.session.data_to_send()
        await peer.stream.send_all(data[: len(data) // 2])  # half a message, then silence
        stalled = trio.current_time()
        with trio.fail_after(1):
            await wait_for(lambda: viewer.video[-3:] == [t.data for t in sent])
        assert trio.current_time() - stalled < 0.5  # the batch deadline, not the idle timeout
        for i in range(10):  # meanwhile the other stream goes on
            await bystander_pub.send_tags(_frames(1, 100, start=2000 + 40 * i))
            await trio.sleep(0.06)
        with trio.fail_after(2):
            await peer.closed()
        assert r.closed("idle_timeout") == 1
        assert r.server.statistics().publishers == 1  # the other one
        await wait_for(lambda: len(bystander.video) >= 12)
        assert not bystander.closed
        assert not viewer.closed  # the stalled stream's viewer waits out the reconnect grace


async def test_viewer_that_stops_reading_is_cut(registry: LiveStreamRegistry) -> None:
    """Over a stream with no socket (its own task, not the fan-out writer): the stuck viewer is
    cut, counted as a dropped slow viewer; another viewer keeps every frame."""
    async with rig(registry, flv_write_timeout_seconds=0.3) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:4])
        live = await r.live()
        reader = _Reader(r.memory("192.0.2.3"))
        await reader.peer.play("live", r.record.stream_id)
        r.nursery.start_soon(reader.run)
        viewer = r.memory("192.0.2.2", lockstep=True)  # every send waits for our read
        await viewer.play("live", r.record.stream_id)
        await wait_for(lambda: len(reader.video) >= 3)
        joined = len(reader.video)
        sent: list[bytes] = []
        for i in range(5):  # the viewer stops reading; the publisher goes on
            frames = _frames(8, 2000, start=1000 + 400 * i)
            await publisher.send_tags(frames)
            sent += [t.data for t in frames]
            await trio.sleep(0.1)
        await wait_for(lambda: r.closed("write_timeout") == 1)
        await wait_for(lambda: r.server.statistics().viewers == 1)
        assert r.server.statistics().publishers == 1
        await wait_for(lambda: len(reader.video) >= joined + len(sent))
        assert reader.video[joined:] == sent
        assert not reader.closed
        assert live.statistics().dropped_viewers_by == {("rtmp", "write_timeout"): 1}


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
        metrics.export_snapshot(metrics.RTMP_SERVER, r.server.statistics)
        peer = r.memory()
        await peer.open_stream("live")
        assert REGISTRY.get_sample_value("synctv_rtmp_connections") == 1.0
        assert (
            REGISTRY.get_sample_value(
                "synctv_rtmp_connections_refused_total", {"reason": "per_ip_limit"}
            )
            == 0
        )


def test_encode_rtmp_tags_is_the_concatenation_of_fanout_messages() -> None:
    tags = (TAGS[0], TAGS[1], TAGS[2])
    assert TAGS[0].tag_type == TAG_SCRIPT
    assert encode_rtmp_tags(tags) == b"".join(
        encode_media_chunks(t.tag_type, 1, t.timestamp, t.data) for t in tags
    )


async def test_join_snapshot_bytes_are_encoded_once_per_snapshot_and_shared(
    registry: LiveStreamRegistry,
) -> None:
    async with rig(registry) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        publisher.session.send_metadata(publisher.stream_id, {"width": 1.0})
        await publisher.send_tags(MEDIA[:10])
        live = await r.live()
        await wait_for(lambda: live.statistics().batches > 0)
        for i in range(3):
            await r.memory(f"192.0.2.{10 + i}").play("live", r.record.stream_id)
        with live.subscribe() as probe:
            join = probe.join
        encoded = join._encoded
        assert list(encoded) == [("rtmp", 1)]  # one encoding for the three players
        # The snapshot puts onMetaData at timestamp 0; every tag goes at its own timestamp.
        assert [t.timestamp for t in join.tags if t.tag_type == TAG_SCRIPT] == [0]
        assert encoded[("rtmp", 1)] == b"".join(
            encode_media_chunks(t.tag_type, 1, t.timestamp, t.data) for t in join.tags
        )


def test_fanout_encoders_carry_hub_time_past_2_32_mod_2_32() -> None:
    """After ~49.7 days the hub's (never wrapping) timeline passes 2**32: the RTMP wire wraps
    (before, encoding raised RtmpLocalProtocolError inside RTMP play)."""
    tags = [FlvTag(TAG_VIDEO, 2**32 - 40 + 40 * i, b"\x27\x01") for i in range(3)]
    stamps = [raw.timestamp for raw in ChunkDecoder().receive_data(encode_rtmp_tags(tags))]
    assert stamps == [2**32 - 40, 0, 40]


# --------------------------------------------------------------------------- one client cannot
# take the server down (the audit's repro: answers to requests the same read withdrew)


@pytest.mark.parametrize("kind", ["play", "publish"])
async def test_request_close_request_in_one_write_leaves_everyone_else_up(
    registry: LiveStreamRegistry, kind: str
) -> None:
    """``play, closeStream, play`` (or ``publish, closeStream, publish`` with a valid key) in one
    TCP write used to raise RtmpLocalProtocolError out of serve(), ending the server."""
    async with rig(registry, tcp=True) as r:
        bystander = await r.tcp()
        await bystander.open_stream("live")
        publisher: Peer | None = None
        if kind == "play":
            publisher = await r.tcp()
            await publisher.publish("live", r.key)
            await publisher.send_tags(MEDIA[:6])
            await r.live()
        attacker = await r.tcp()
        sid = await attacker.open_stream("live")
        request = attacker.session.play if kind == "play" else attacker.session.publish
        name = r.record.stream_id if kind == "play" else r.key
        request(sid, name)
        attacker.session.close_stream(sid)
        request(sid, name)
        await attacker.flush()  # one write: the server answers after the whole read
        expected = "NetStream.Play.Start" if kind == "play" else "NetStream.Publish.Start"
        await attacker.expect(StatusReceived, lambda e: e.code == expected)
        if kind == "publish":  # the second request publishes for real
            publisher = attacker
            await publisher.send_tags(MEDIA[:6])
        assert publisher is not None
        # The server is up: the bystander's connection still works, newcomers are served.
        sid = bystander.stream_id
        bystander.session.play(sid, r.record.stream_id)
        await bystander.flush()
        await bystander.expect(StatusReceived, lambda e: e.code == "NetStream.Play.Start")
        await publisher.send_tags([FlvTag(t.tag_type, t.timestamp + 2000, t.data) for t in MEDIA])
        await bystander.expect(VideoReceived)
        newcomer = await r.tcp()
        assert await newcomer.open_stream("live") == 1
        stats = r.server.statistics()
        assert stats.closed["internal_error"] == stats.closed["protocol_error"] == 0


class _BuggyAuthorizer:
    async def authorize_publish(self, app: str, key: str) -> LiveStreamRecord | None:
        await trio.lowlevel.checkpoint()
        raise ZeroDivisionError("a bug in the authorizer")


async def test_a_bug_while_serving_one_connection_closes_only_that_one(
    registry: LiveStreamRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """The per-connection boundary: any exception from one connection (here a bug reached
    through the authorizer) is logged, counted and closes that connection only."""
    async with rig(registry, tcp=True) as r:
        bystander = await r.tcp()
        await bystander.open_stream("live")
        r.server.authorizer = _BuggyAuthorizer()  # type: ignore[assignment]
        victim = await r.tcp()
        sid = await victim.open_stream("live")
        victim.session.publish(sid, "anything")
        await victim.flush()
        await victim.closed()
        await wait_for(lambda: r.closed("internal_error") == 1)
        assert "ZeroDivisionError" in caplog.text
        # The listener and the other connection are untouched.
        r.server.authorizer = r.registry
        bystander.session.publish(bystander.stream_id, r.key)
        await bystander.flush()
        assert (await bystander.status()).code == "NetStream.Publish.Start"
        assert await (await r.tcp()).open_stream("live") == 1


# --------------------------------------------------------------------------- end of stream


@pytest.mark.parametrize("tcp", [False, True], ids=["memory", "tcp-fanout"])
async def test_players_get_stream_eof_begin_and_unpublish_notify(
    registry: LiveStreamRegistry, tcp: bool
) -> None:
    """nginx-rtmp's signalling: Stream EOF when the publisher leaves, Stream Begin when it comes
    back within the grace (before the new session's media), then at the end of the stream
    Stream EOF + NetStream.Play.UnpublishNotify before the server closes the connection."""
    async with rig(registry, tcp=tcp, publisher_reconnect_grace_seconds=0.5) as r:

        async def peer(host: str) -> Peer:
            return await r.tcp() if tcp else r.memory(host)

        publisher = await peer("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:8])
        await r.live()
        player = await peer("192.0.2.2")
        await player.play("live", r.record.stream_id)
        await player.expect(VideoReceived)
        publisher.session.delete_stream(publisher.stream_id)
        await publisher.flush()

        def is_user_control(kind: type[Any]) -> Callable[[Any], bool]:
            return lambda e: isinstance(e.message, kind)

        await player.expect(UserControlReceived, is_user_control(StreamEof))
        again = await peer("192.0.2.3")
        await again.publish("live", r.key)
        await again.send_tags(MEDIA[:8])
        await player.expect(UserControlReceived, is_user_control(StreamBegin))
        first = await player.expect(VideoReceived)
        assert first.payload == MEDIA[0].data  # the new session's sequence header, after Begin
        again.session.delete_stream(again.stream_id)
        await again.flush()
        await player.expect(UserControlReceived, is_user_control(StreamEof))
        status = await player.expect(StatusReceived)
        assert (status.level, status.code) == ("status", "NetStream.Play.UnpublishNotify")
        await player.closed()
        assert r.closed("stream_ended") == 1


# --------------------------------------------------------------------------- the fan-out writer


class _Reader:
    """A TCP player read in the background: every video payload, in order."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.video: list[bytes] = []
        self.closed = False

    async def run(self) -> None:
        while True:
            event = await self.peer.event()
            if isinstance(event, VideoReceived):
                self.video.append(event.payload)
            elif isinstance(event, PeerClosed):
                self.closed = True
                return


def _frames(count: int, size: int, start: int = 0) -> list[FlvTag]:
    """Distinct video frames of about ``size`` bytes, 40 ms apart (a key frame every 25)."""
    return [
        FlvTag(
            TAG_VIDEO,
            start + 40 * i,
            bytes((0x17 if i % 25 == 0 else 0x27, 1))
            + (start + i).to_bytes(4, "big")
            + bytes(size),
        )
        for i in range(count)
    ]


async def test_fanout_writer_serves_caught_up_tcp_players(registry: LiveStreamRegistry) -> None:
    async with rig(registry, tcp=True) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:3])
        live = await r.live()
        readers = []
        for _ in range(4):
            peer = await r.tcp()
            await peer.play("live", r.record.stream_id)
            readers.append(_Reader(peer))
        for reader in readers:
            r.nursery.start_soon(reader.run)
        await wait_for(lambda: all(reader.video for reader in readers))  # the join snapshot
        joined = [len(reader.video) for reader in readers]
        frames = _frames(60, 3000, start=1000)
        for frame in frames:
            await publisher.send_tags([frame])
            await trio.sleep(0.002)
        expected = [frame.data for frame in frames]
        await wait_for(
            lambda: all(len(x.video) >= n + 60 for x, n in zip(readers, joined, strict=True))
        )
        for reader, n in zip(readers, joined, strict=True):
            assert reader.video[n:] == expected  # every frame, once, in order
        fanout = r.server._fanouts[live]
        assert fanout.writes >= 4 * 50  # the batches went out from the one writer task
        assert r.server.statistics().viewers == 4


async def test_tcp_viewer_that_stops_reading_is_cut_and_the_others_keep_receiving(
    registry: LiveStreamRegistry,
) -> None:
    """Fast path → slow path → write timeout: a stuck TCP player is cut (counted as a dropped
    slow viewer), the players reading on keep every frame, and the publisher is unaffected."""
    async with rig(registry, tcp=True, flv_write_timeout_seconds=0.5) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:3])
        live = await r.live()
        readers = []
        for _ in range(2):
            peer = await r.tcp()
            await peer.play("live", r.record.stream_id)
            readers.append(_Reader(peer))
            r.nursery.start_soon(readers[-1].run)
        stuck = await r.tcp(receive_buffer=4096)
        await stuck.play("live", r.record.stream_id)  # then it never reads again
        await wait_for(lambda: all(reader.video for reader in readers))
        joined = [len(reader.video) for reader in readers]
        frames = _frames(100, 60_000, start=1000)  # 6 MB: far more than socket buffers hold
        for frame in frames:
            await publisher.send_tags([frame])
            await trio.sleep(0.01)
        await wait_for(lambda: r.closed("write_timeout") == 1)
        await wait_for(
            lambda: all(len(x.video) >= n + 100 for x, n in zip(readers, joined, strict=True))
        )
        for reader, n in zip(readers, joined, strict=True):
            assert reader.video[n:] == [frame.data for frame in frames]
            assert not reader.closed
        assert r.server.statistics().viewers == 2
        assert r.server.statistics().publishers == 1
        assert live.statistics().dropped_viewers_by == {("rtmp", "write_timeout"): 1}


async def test_tcp_viewer_that_pauses_catches_up_in_order_and_rejoins_the_writer(
    registry: LiveStreamRegistry,
) -> None:
    """A player that stops reading for a while (less than the write timeout) leaves the fast
    set, is caught up by its own task from the hub's ring, then rejoins: no frame lost, none
    twice, in order, acknowledgements and pings still answered in between."""
    async with rig(registry, tcp=True, flv_write_timeout_seconds=10) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:3])
        live = await r.live()
        paused = await r.tcp(receive_buffer=8192)
        await paused.play("live", r.record.stream_id)
        reader = _Reader(paused)
        frames = _frames(60, 50_000, start=1000)  # 3 MB, while the player reads nothing
        for frame in frames:
            await publisher.send_tags([frame])
            await trio.sleep(0.005)
        fanout = r.server._fanouts[live]
        assert fanout.handed_back >= 1
        r.nursery.start_soon(reader.run)  # it reads again
        await wait_for(lambda: len(reader.video) >= 60 and reader.video[-1] == frames[-1].data)
        later = _frames(20, 1000, start=4000)
        for frame in later:
            await publisher.send_tags([frame])
        await wait_for(lambda: reader.video[-1:] == [later[-1].data])
        media = [frame.data for frame in frames + later]
        assert reader.video[-len(media) :] == media  # in order, none lost, none twice
        assert media[0] not in reader.video[: -len(media)]
        await wait_for(lambda: len(fanout._members) == 1)  # back with the writer
        assert r.closed("write_timeout") == 0


async def test_kick_ends_players_with_stream_eof_and_unpublish_notify(
    registry: LiveStreamRegistry,
) -> None:
    async with rig(registry, tcp=True) as r:
        publisher = r.memory("192.0.2.1")
        await publisher.publish("live", r.key)
        await publisher.send_tags(MEDIA[:5])
        await r.live()
        player = await r.tcp()
        await player.play("live", r.record.stream_id)
        await player.expect(VideoReceived)
        assert r.hub.kick(r.record.stream_id)
        eof = await player.expect(UserControlReceived)
        assert eof.message == StreamEof(player.stream_id)
        status = await player.expect(StatusReceived)
        assert status.code == "NetStream.Play.UnpublishNotify"
        await player.closed()
        await wait_for(lambda: r.closed("stream_ended") == 1)


# --------------------------------------------------------------------------- publisher ends (issue 18)

OBS_FLASH_VER = "FMLE/3.0 (compatible; FMSc/1.0)"
OBS_METADATA: dict[str, Any] = {
    "width": 640.0,
    "height": 360.0,
    "framerate": 30.0,
    "videodatarate": 800.0,
    "audiodatarate": 128.0,
    "encoder": "obs-output module (libobs version 29.0.2)",
}
SEQUENCE_HEADERS = TAGS[1:3]  # AVC and AAC sequence headers of the fixture


async def obs_like_publish(peer: Peer, key: str) -> None:
    """connect with OBS's flashVer, publish, onMetaData, sequence headers, one key frame."""
    peer.session.connect("live", flashVer=OBS_FLASH_VER)
    peer.session.create_stream()
    await peer.flush()
    peer.stream_id = (await peer.expect(StreamCreated)).stream_id
    peer.session.publish(peer.stream_id, key)
    await peer.flush()
    assert (await peer.status()).code == "NetStream.Publish.Start"
    peer.session.send_metadata(peer.stream_id, OBS_METADATA)
    await peer.send_tags([*SEQUENCE_HEADERS, *_frames(1, 100)])


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


async def test_clean_unpublish_then_close_is_an_ended_publisher_not_a_timeout(
    registry: LiveStreamRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """OBS's clean stop: deleteStream, then the socket closes a moment later, long after the
    connection's setup deadline passed. Nothing is counted or warned as handshake_timeout."""
    caplog.set_level(logging.INFO, "synctv.rtmp")
    async with rig(registry, handshake_timeout_seconds=0.3) as r:
        peer = r.memory()
        await obs_like_publish(peer, r.key)
        await trio.sleep(0.5)  # past connect + handshake_timeout_seconds
        peer.session.delete_stream(peer.stream_id)
        await peer.flush()
        await wait_for(lambda: r.server.statistics().publishers == 0)
        await trio.sleep(0.05)  # OBS closes a few ms after deleteStream
        await peer.stream.aclose()
        await wait_for(lambda: r.server.statistics().connections == 0)
        assert r.server.statistics().closed == dict.fromkeys(r.server.statistics().closed, 0)
        assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING]
        [ended] = _records(caplog, "ended:")
        assert ended.levelno == logging.INFO
        message = ended.getMessage()
        assert f"publisher of {r.record.stream_id} ended: unpublished after 0." in message
        assert f"flashVer={OBS_FLASH_VER!r}" in message
        assert "encoder='obs-output module (libobs version 29.0.2)'" in message
        assert "video=avc 640x360 30fps 800kbps audio=aac 128kbps" in message


async def test_ended_publisher_that_lingers_is_closed_as_ended_idle(
    registry: LiveStreamRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "synctv.rtmp")
    async with rig(registry, handshake_timeout_seconds=0.3) as r:
        peer = r.memory()
        await obs_like_publish(peer, r.key)
        await trio.sleep(0.4)
        peer.session.delete_stream(peer.stream_id)
        await peer.flush()
        ended = trio.current_time()
        with trio.fail_after(2):
            await peer.closed()
        assert trio.current_time() - ended >= 0.25  # a fresh window after the unpublish
        assert r.closed("ended_idle") == 1
        assert r.closed("handshake_timeout") == 0


async def test_an_ended_publisher_may_publish_again_on_its_connection(
    registry: LiveStreamRegistry,
) -> None:
    async with rig(registry, handshake_timeout_seconds=0.3) as r:
        peer = r.memory()
        await obs_like_publish(peer, r.key)
        await trio.sleep(0.4)
        peer.session.delete_stream(peer.stream_id)
        peer.session.create_stream()
        await peer.flush()
        peer.stream_id = (await peer.expect(StreamCreated)).stream_id
        peer.session.publish(peer.stream_id, r.key)
        await peer.flush()
        assert (await peer.status()).code == "NetStream.Publish.Start"
        assert r.server.statistics().publishers == 1


@pytest.mark.parametrize("end", ["peer closed", "reset", "kicked", "timeout", "replaced"])
async def test_every_publisher_end_is_logged_with_reason_duration_and_announcement(
    registry: LiveStreamRegistry, caplog: pytest.LogCaptureFixture, end: str
) -> None:
    caplog.set_level(logging.INFO, "synctv.rtmp")
    async with rig(
        registry, tcp=end == "reset", publisher_idle_timeout_seconds=0.4, takeover=0.2
    ) as r:
        peer = await r.tcp() if end == "reset" else r.memory()
        await obs_like_publish(peer, r.key)
        frames = _frames(50, 10, start=40)  # two key frames, 1 s apart
        await peer.send_tags(frames)
        live = await r.live()
        await wait_for(lambda: live.statistics().bytes_in >= sum(len(f.data) for f in frames))
        [announced] = _records(caplog, "announced:")
        assert "encoder='obs-output module (libobs version 29.0.2)'" in announced.getMessage()
        match end:
            case "peer closed":  # OBS crashed: no deleteStream, the socket just closes
                await peer.stream.aclose()
            case "reset":  # the network failed: a TCP RST (SO_LINGER 0, then close)
                assert isinstance(peer.stream, trio.SocketStream)
                linger = struct.pack("ii", 1, 0)
                peer.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                peer.stream.socket.close()
            case "kicked":
                assert r.hub.kick(r.record.stream_id)
            case "timeout":
                pass  # silence past publisher_idle_timeout_seconds
            case "replaced":
                await trio.sleep(0.3)
                await obs_like_publish(r.memory("192.0.2.2"), r.key)
        await wait_for(lambda: bool(_records(caplog, "ended:")))
        [ended] = _records(caplog, "ended:")
        message = ended.getMessage()
        assert f"ended: {end} after " in message
        assert "keyframe_interval=1.00s" in message
        assert "encoder='obs-output module (libobs version 29.0.2)'" in message
        expected = logging.INFO if end in ("kicked", "replaced") else logging.WARNING
        assert ended.levelno == expected


@pytest.mark.parametrize(
    ("gop_ms", "warned"), [(8333, True), (2000, False), (1000, False)], ids=str
)
async def test_keyframe_interval_above_the_hls_segment_is_warned_once_per_publish(
    registry: LiveStreamRegistry, caplog: pytest.LogCaptureFixture, gop_ms: int, warned: bool
) -> None:
    caplog.set_level(logging.INFO, "synctv.rtmp")
    async with rig(registry, hls_segment_seconds=2.0) as r:
        peer = r.memory()
        await obs_like_publish(peer, r.key)
        key, inter = _frames(2, 10)
        for i in range(1, 4):  # three more key frames gop_ms apart, with inter frames between
            await peer.send_tags(
                [
                    FlvTag(TAG_VIDEO, gop_ms * i - 40, inter.data),
                    FlvTag(TAG_VIDEO, gop_ms * i, key.data),
                ]
            )
        peer.session.delete_stream(peer.stream_id)
        await peer.flush()
        await wait_for(lambda: bool(_records(caplog, "ended:")))
        warnings = _records(caplog, "sends a key frame every")
        assert len(warnings) == (1 if warned else 0)
        if warned:
            text = warnings[0].getMessage()
            assert "every 8.33s, more than livestream.hls_segment_seconds (2s)" in text
            assert "Keyframe Interval 2s" in text
            assert "keyint=60" in text
            assert warnings[0].levelno == logging.WARNING
        assert (
            f"keyframe_interval={gop_ms / 1000:.2f}s" in _records(caplog, "ended:")[0].getMessage()
        )
