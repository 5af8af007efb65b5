"""HTTP-FLV route against the real ASGI app served by hypercorn on loopback."""

from __future__ import annotations

import logging
import socket
from functools import partial

import av
import httpx
import pytest
import trio

from synctv.media.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    is_sequence_header,
    is_video_keyframe,
)
from synctv.metrics import FLV_VIEWER_ENDS
from tests.support import flv_server
from tests.support.flv_server import (
    OFFLINE,
    RECORD,
    FlvClient,
    Publisher,
    fixture_tags,
    media_of,
    serve,
)
from tests.support.waiting import eventually

# so every viewer is served through ASGI ("asgi"), or the product's listener, where live
# viewers are taken over by the native path ("native"; tests/api/test_live_flv_native.py runs
# every test of this module that way).


async def test_not_found_not_live_and_cors_on_errors() -> None:
    with trio.fail_after(10):
        async with serve() as (server, _), httpx.AsyncClient() as client:
            missing = await client.get(server.url("nosuchstream"))
            assert missing.status_code == 404
            assert missing.json()["code"] == "stream_not_found"
            assert missing.headers["access-control-allow-origin"] == "*"
            offline = await client.get(server.url(OFFLINE.stream_id))
            assert offline.status_code == 503
            assert offline.json()["code"] == "stream_not_live"
            assert offline.headers["retry-after"] == "5"
            head = await client.head(server.url(OFFLINE.stream_id))
            assert head.status_code == 503
            assert head.content == b""
            bad = await client.get(f"{server.base}/live/a.b.flv")
            assert bad.status_code == 404


async def test_head_and_cors_for_a_live_stream() -> None:
    with trio.fail_after(10):
        async with serve(cors=("https://a.example",)) as (server, _):
            await server.hub.start_publish(RECORD)
            async with httpx.AsyncClient() as client:
                head = await client.head(server.url(), headers={"origin": "https://a.example"})
                assert head.status_code == 200
                assert head.content == b""
                assert head.headers["content-type"] == "video/x-flv"
                assert head.headers["cache-control"] == "no-cache"
                assert head.headers["access-control-allow-origin"] == "https://a.example"
                assert head.headers["vary"] == "Origin"
                # A streaming GET has no length: HEAD must not claim one (0 would mean empty).
                assert "content-length" not in head.headers
                other = await client.head(server.url(), headers={"origin": "https://b.example"})
                assert "access-control-allow-origin" not in other.headers
                assert server.hub.statistics().viewers == {}


async def test_cors_preflight_is_answered() -> None:
    with trio.fail_after(10):
        async with serve(cors=("https://a.example",)) as (server, _), httpx.AsyncClient() as client:
            asked = {
                "origin": "https://a.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": "range",
            }
            allowed = await client.options(server.url(), headers=asked)
            assert allowed.status_code == 204
            assert allowed.headers["access-control-allow-origin"] == "https://a.example"
            assert "GET" in allowed.headers["access-control-allow-methods"]
            assert "Range" in allowed.headers["access-control-allow-headers"]
            assert allowed.headers["vary"] == "Origin"
            other = await client.options(
                server.url(), headers={**asked, "origin": "https://b.example"}
            )
            assert other.status_code == 403
            assert other.json()["code"] == "cors_origin_denied"
            assert other.headers["vary"] == "Origin"
            assert "access-control-allow-origin" not in other.headers


async def test_video_and_audio_join_then_live_tags_then_clean_end() -> None:
    tags = fixture_tags("h264_aac.flv")
    with trio.fail_after(15):
        async with serve() as (server, _):
            publisher = Publisher(await server.hub.start_publish(RECORD), tags)
            await publisher.run()  # fills the GOP cache: 4 GOPs in the file, 2 kept
            joined_at = len(publisher.published)
            async with FlvClient.get(server) as flv:
                assert flv.status == 200
                assert flv.headers["content-type"] == "video/x-flv"
                assert flv.headers["cache-control"] == "no-cache"
                assert flv.headers["access-control-allow-origin"] == "*"
                first = await flv.read_tags(4)
                assert flv.reader.header is not None
                assert (flv.reader.header.has_audio, flv.reader.header.has_video) == (True, True)
                assert first[0].tag_type == TAG_SCRIPT
                assert first[0].data == tags[0].data
                assert is_sequence_header(TAG_VIDEO, first[1].data)
                assert is_sequence_header(TAG_AUDIO, first[2].data)
                assert first[3].tag_type == TAG_VIDEO
                assert is_video_keyframe(first[3].data)
                assert server.hub.statistics().viewers == {"flv": 1}
                await publisher.run(loops=2)
                assert server.hub.kick(RECORD.stream_id)
                received = media_of(await flv.read_to_end())
            await eventually(lambda: server.hub.statistics().viewers == {})
            # Join (from a key frame) + live = a contiguous run of what was published.
            start = publisher.published.index(received[2])
            assert start < joined_at
            assert received[2:] == publisher.published[start:]


async def test_audio_only_header_flags() -> None:
    with trio.fail_after(10):
        async with serve() as (server, _):
            publisher = Publisher(
                await server.hub.start_publish(RECORD), fixture_tags("aac_only.flv")
            )
            await publisher.run()
            async with FlvClient.get(server) as flv:
                first = await flv.read_tags(3)
                assert flv.reader.header is not None
                assert (flv.reader.header.has_audio, flv.reader.header.has_video) == (True, False)
                assert [t.tag_type for t in first[:3]] == [TAG_SCRIPT, TAG_AUDIO, TAG_AUDIO]
                assert is_sequence_header(TAG_AUDIO, first[1].data)


async def test_viewer_waits_for_the_publisher_and_for_firstmedia_of() -> None:
    tags = fixture_tags("h264_aac.flv")
    with trio.fail_after(10):
        async with serve(flv_wait_for_publisher_seconds=5) as (server, nursery):

            async def publish_later() -> None:
                await trio.sleep(0.3)
                handle = await server.hub.start_publish(RECORD)
                await trio.sleep(0.3)  # live, but nothing published yet
                await Publisher(handle, tags).run()

            nursery.start_soon(publish_later)
            async with FlvClient.get(server) as flv:
                assert flv.status == 200
                first = await flv.read_tags(4)
                assert flv.reader.header is not None
                assert (flv.reader.header.has_audio, flv.reader.header.has_video) == (True, True)
                assert [t.tag_type for t in first[:2]] == [TAG_SCRIPT, TAG_VIDEO]


async def test_connection_duration_cap_ends_the_body_cleanly() -> None:
    before = FLV_VIEWER_ENDS.labels("duration_cap")._value.get()
    with trio.fail_after(10):
        async with serve(flv_max_connection_duration_seconds=0.5) as (server, _):
            await Publisher(
                await server.hub.start_publish(RECORD), fixture_tags("h264_aac.flv")
            ).run()
            async with FlvClient.get(server) as flv:
                tags = await flv.read_to_end()
            assert is_video_keyframe(tags[3].data)
            assert server.hub.get(RECORD.stream_id) is not None
            await eventually(
                lambda: FLV_VIEWER_ENDS.labels("duration_cap")._value.get() == before + 1
            )


def _read_with_pyav(url: str, video_packets: int) -> list[tuple[str, bytes]]:
    packets: list[tuple[str, bytes]] = []
    with av.open(url, options={"rw_timeout": "5000000"}) as container:
        kinds = {s.index: s.type for s in container.streams}
        frames = 0
        for packet in container.demux():
            if packet.size == 0:
                continue
            kind = kinds[packet.stream_index]
            packets.append((kind, bytes(packet)))
            if kind == "video":
                frames += len(packet.decode())
                if frames >= video_packets:
                    break
    return packets


async def test_pyav_decodes_the_stream_and_packets_match_the_published_ones() -> None:
    tags = fixture_tags("h264_aac.flv")
    with trio.fail_after(20):
        async with serve() as (server, nursery):
            publisher = Publisher(await server.hub.start_publish(RECORD), tags)
            await publisher.run()
            stop = trio.Event()
            nursery.start_soon(partial(publisher.run, loops=20, speed=4.0, stop=stop))
            packets = await trio.to_thread.run_sync(_read_with_pyav, server.url(), 60)
            stop.set()
    # What PyAV hands out is the tag payload: after the 5-byte AVC / 2-byte AAC headers.
    published = {
        "video": [d[5:] for t, d in publisher.published if t == TAG_VIDEO and d[1] == 1],
        "audio": [d[2:] for t, d in publisher.published if t == TAG_AUDIO and d[1] == 1],
    }
    for kind in ("video", "audio"):
        got = [data for k, data in packets if k == kind]
        assert len(got) > 10
        start = published[kind].index(got[0])
        assert got == published[kind][start : start + len(got)]


async def test_a_viewer_that_stops_reading_is_cut_after_the_write_timeout() -> None:
    before = FLV_VIEWER_ENDS.labels("write_timeout")._value.get()
    with trio.fail_after(20):
        async with serve(flv_write_timeout_seconds=0.5) as (server, nursery):
            pub = await server.hub.start_publish(RECORD)
            stuck = trio.socket.socket()
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await stuck.connect(("127.0.0.1", server.port))
            await stuck.send(
                f"GET /live/{RECORD.stream_id}.flv HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            )
            fast: list[FlvClient] = []

            async def fast_viewer() -> None:
                async with FlvClient.get(server) as flv:
                    fast.append(flv)
                    while await flv.chunk() is not None:
                        pass

            nursery.start_soon(fast_viewer)
            frame = bytes((0x17, 1, 0, 0, 0)) + bytes(200_000)
            ts = 0
            while FLV_VIEWER_ENDS.labels("write_timeout")._value.get() == before:
                pub.publish_video(ts, frame)
                pub.flush()
                ts += 40
                await trio.sleep(0.02)
            assert server.hub.statistics().viewers == {"flv": 1}
            # counted with the lagging ones as a dropped slow viewer, by protocol and reason
            dropped = server.hub.statistics().dropped_viewers_by
            assert {key: n for key, n in dropped.items() if n} == {("flv", "write_timeout"): 1}
            at_cut = fast[0].body_bytes
            for _ in range(20):
                pub.publish_video(ts, frame)
                pub.flush()
                ts += 40
                await trio.sleep(0.02)
            assert fast[0].body_bytes > at_cut + 1_000_000  # the other viewer never noticed
            # hypercorn closed the stuck connection: draining it reaches EOF (or a reset).
            with trio.fail_after(5):
                try:
                    while await stuck.recv(1 << 20):
                        pass
                except ConnectionResetError:
                    pass
            stuck.close()


@pytest.fixture(autouse=True)
def _quiet_hypercorn(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "hypercorn.error")


@pytest.fixture(autouse=True, params=["asgi", "native"])
def front(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: on plain hypercorn, where connections cannot be taken over so every
    viewer is served through ASGI, and on the product's listener, where live viewers are taken
    over by the native path (tests/api/test_live_flv_native.py: what only that path has)."""
    monkeypatch.setattr(flv_server, "FRONT", request.param)
    return str(request.param)
