"""End to end: FFmpeg and PyAV publish RTMP; ffprobe, FFmpeg and PyAV play HTTP-FLV and RTMP.

Everything runs in the real server tree built by app.py (embedded in the test process, on a
real PostgreSQL); publishers and players are separate processes (FFmpeg) or PyAV.

The packet checks (Done means 1): a short sample with a 2 s GOP and B-frames is encoded at test
time, published once in real time (``ffmpeg -re -i sample.flv -c copy -f flv rtmp://…``), and
players that join mid-stream hash what they receive until the stream ends (``ffmpeg -c copy
-f framemd5``, or PyAV for HEVC, which the system FFmpeg cannot read from FLV). From the first
key frame the player got, every packet must be the source's, in order, to the last one, with
the same composition offset (pts − dts) and one constant timestamp offset for audio and video.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import av
import pytest
import trio

from synctv.api.http.asgi import Route
from synctv.app import Services
from synctv.livestream.hub import StreamHub
from tests.conftest import FIXTURES
from tests.support.server import create_live_stream, running_server, server_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg and ffprobe"),
]

H264_AAC = FIXTURES / "flv" / "h264_aac.flv"
ROOT = Path(__file__).resolve().parents[2]
GUARD = 40
# Seconds of the samples encoded at test time; players join after JOIN_AFTER seconds, so the
# GOP cache (2 GOPs of 2 s) starts them at a key frame past the first one.
SAMPLE_SECONDS = 8
JOIN_AFTER = 4.6
# A stream without publisher ends after this (the end of stream the players must see).
GRACE_SECONDS = 0.5


@dataclass
class Live:
    hub: StreamHub
    data_dir: Path
    rtmp_port: int
    http_port: int
    nursery: trio.Nursery

    async def new_stream(self) -> tuple[str, str]:
        return await create_live_stream(self.data_dir)

    def rtmp(self, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/live/{name}"

    def flv(self, stream_id: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/live/{stream_id}.flv"

    async def wait_live(self, stream_id: str, min_bytes: int = 20_000) -> None:
        with trio.fail_after(15):
            while True:
                stream = self.hub.get(stream_id)
                if stream is not None and stream.statistics().bytes_in >= min_bytes:
                    return
                await trio.sleep(0.05)

    async def ffmpeg_publish(self, source: Path, key: str, *args: str, loops: int = 4) -> None:
        """``ffmpeg -re [-stream_loop N] -i SOURCE -c copy -f flv rtmp://…`` in the background
        (``loops=0``: once, exactly OBS's wire behaviour in Done means 1)."""
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re"]
        if loops:
            command += ["-stream_loop", str(loops)]
        command += ["-i", str(source), *args, "-c", "copy", "-f", "flv", self.rtmp(key)]
        self.nursery.start_soon(partial(trio.run_process, command, check=False))


@pytest.fixture(autouse=True)
async def guard(nursery: trio.Nursery) -> None:
    """Fail a test that runs past GUARD seconds (trio-websocket's fail_after guard)."""
    test_task = trio.lowlevel.current_task()

    async def watchdog() -> None:
        await trio.sleep(GUARD)
        raise TimeoutError(f"e2e test still running after {GUARD}s (task {test_task.name})")

    nursery.start_soon(watchdog)


@pytest.fixture
async def live(fresh_dsn: str, tmp_path: Path) -> AsyncIterator[Live]:
    """The whole server tree (app.py), with its hub and registry reachable for the test."""
    captured: list[Services] = []

    def capture(services: Services) -> list[Route]:
        captured.append(services)
        return []

    config = server_config(
        tmp_path / "data",
        fresh_dsn,
        livestream={"publisher_reconnect_grace_seconds": GRACE_SECONDS},
    )
    async with trio.open_nursery() as nursery, running_server(config, capture) as server:
        services = captured[0]
        http_port = int(server.addresses.http[0].rsplit(":", 1)[1])
        yield Live(services.hub, config.data_dir, server.addresses.rtmp[0][1], http_port, nursery)
        nursery.cancel_scope.cancel()


async def ffprobe(url: str) -> list[str]:
    with trio.fail_after(20):
        result = await trio.run_process(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", url],
            capture_stdout=True,
        )
    return sorted(s["codec_name"] for s in json.loads(result.stdout)["streams"])


def read_packets(url: str, count: int) -> list[tuple[str, bytes]]:
    """(kind, bytes) of the first ``count`` packets PyAV demuxes from ``url`` (blocking)."""
    out: list[tuple[str, bytes]] = []
    with av.open(url, timeout=10) as container:
        for packet in container.demux():
            if packet.size == 0:
                continue
            out.append((packet.stream.type, bytes(packet)))
            if len(out) >= count:
                break
    return out


def source_packets(path: Path) -> list[tuple[str, bytes]]:
    with av.open(str(path)) as container:
        return [(p.stream.type, bytes(p)) for p in container.demux() if p.size]


def assert_contiguous(received: Sequence[bytes], source: Sequence[bytes]) -> None:
    """Every received packet is a source packet, in source order (the source loops)."""
    index = {data: i for i, data in enumerate(source)}
    assert len(index) == len(source), "fixture packets are not distinct"
    positions = [index[data] for data in received]  # KeyError: a packet we never published
    for before, after in itertools.pairwise(positions):
        assert after == (before + 1) % len(source), (before, after)


async def test_ffmpeg_publish_http_flv_and_rtmp_play(live: Live) -> None:
    stream_id, key = await live.new_stream()
    await live.ffmpeg_publish(H264_AAC, key)
    await live.wait_live(stream_id)
    assert await ffprobe(live.flv(stream_id)) == ["aac", "h264"]
    assert await ffprobe(live.rtmp(stream_id)) == ["aac", "h264"]
    # Packets a viewer gets after the join point are the published ones, none lost or doubled.
    source = source_packets(H264_AAC)
    for url in (live.flv(stream_id), live.rtmp(stream_id)):
        received = await trio.to_thread.run_sync(read_packets, url, 120, abandon_on_cancel=True)
        for kind in ("video", "audio"):
            got = [data for k, data in received if k == kind]
            assert len(got) > 20
            assert_contiguous(got, [data for k, data in source if k == kind])
    # The same publish is segmented for HLS by the stream's segmenter task.
    playlist = f"http://127.0.0.1:{live.http_port}/live/{stream_id}/index.m3u8"
    assert await ffprobe(playlist) == ["aac", "h264"]


def pyav_publish(source: Path, url: str, loops: int) -> None:
    """Remux ``source`` to RTMP with PyAV's own FFmpeg, paced in real time, ``loops`` times."""
    with av.open(str(source)) as src:
        packets = [p for p in src.demux() if p.size]
        duration = max(float(p.pts * p.time_base) for p in packets if p.pts is not None) + 0.04
        with av.open(url, "w", format="flv") as out:
            streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
            start = time.monotonic()
            for loop in range(loops):
                for packet in packets:
                    shift = round(loop * duration / packet.time_base)
                    at = float(packet.pts * packet.time_base) + loop * duration
                    delay = start + at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    packet.stream = streams[packet.stream.index]
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = None if packet.dts is None else packet.dts + shift
                    out.mux(packet)
                    packet.pts = None if packet.pts is None else packet.pts - shift
                    packet.dts = None if packet.dts is None else packet.dts - shift


def codecs_of(url: str) -> list[str]:
    with av.open(url, timeout=10) as container:
        return sorted(s.codec_context.name for s in container.streams)


def start_pyav_publisher(live: Live, source: Path, key: str, loops: int) -> None:
    # A process of its own: PyAV holds the GIL while its RTMP writer blocks on our server.
    code = "import sys; from pathlib import Path; from tests.e2e.test_livestream_e2e import "
    code += f"pyav_publish; pyav_publish(Path(sys.argv[1]), sys.argv[2], {loops})"
    command = [sys.executable, "-c", code, str(source), live.rtmp(key)]
    live.nursery.start_soon(partial(trio.run_process, command, check=False, cwd=ROOT))


async def test_pyav_publisher(live: Live) -> None:
    source, codecs = H264_AAC, ["aac", "h264"]
    stream_id, key = await live.new_stream()
    start_pyav_publisher(live, source, key, 3)
    await live.wait_live(stream_id, min_bytes=10_000)
    found = await trio.to_thread.run_sync(codecs_of, live.flv(stream_id), abandon_on_cancel=True)
    assert found == codecs
    packets = await trio.to_thread.run_sync(
        read_packets, live.rtmp(stream_id), 30, abandon_on_cancel=True
    )
    assert {kind for kind, _ in packets} >= {"video"}


# --------------------------------------------------------------------------- packets match


@dataclass(frozen=True)
class Packet:
    """One line of ``-f framemd5`` (or the same from PyAV): what a player received."""

    kind: str  # "video" or "audio"
    dts: int
    pts: int
    size: int
    md5: str


def parse_framemd5(text: str) -> list[Packet]:
    kinds: dict[str, str] = {}
    packets = []
    for line in text.splitlines():
        if line.startswith("#media_type"):
            index, kind = line.removeprefix("#media_type").split(":")
            kinds[index.strip()] = kind.strip()
        elif line and not line.startswith("#"):
            index, dts, pts, _duration, size, md5 = (field.strip() for field in line.split(","))
            packets.append(Packet(kinds[index], int(dts), int(pts), int(size), md5))
    return packets


def pyav_packets(url: str) -> list[Packet]:
    """Every packet PyAV demuxes from ``url`` until it ends (blocking)."""
    out = []
    with av.open(url, timeout=(10, 10)) as container:
        for packet in container.demux():
            if packet.size and packet.dts is not None and packet.pts is not None:
                digest = hashlib.md5(bytes(packet)).hexdigest()
                kind = packet.stream.type
                out.append(Packet(kind, packet.dts, packet.pts, packet.size, digest))
    return out


def keyframe_md5s(path: Path) -> set[str]:
    with av.open(str(path)) as container:
        return {
            hashlib.md5(bytes(p)).hexdigest()
            for p in container.demux(video=0)
            if p.size and p.is_keyframe
        }


def assert_packets_match(received: list[Packet], source: list[Packet], keyframes: set[str]) -> None:
    """From the player's join point to the end of the stream, every packet is the source's."""
    offsets = set()
    for kind in ("video", "audio"):
        want = [p for p in source if p.kind == kind]
        got = [p for p in received if p.kind == kind]
        assert bool(got) == bool(want), f"{kind}: {len(got)} packets, source has {len(want)}"
        if not want:
            continue
        index = {p.md5: i for i, p in enumerate(want)}
        assert len(index) == len(want), f"{kind}: source packets are not distinct"
        start = index[got[0].md5]  # KeyError: a packet that was never published
        if kind == "video":
            assert got[0].md5 in keyframes, "the first video packet is not a key frame"
        assert start > 0, f"{kind}: the player did not join mid-stream"
        assert [p.md5 for p in got] == [p.md5 for p in want[start:]], f"{kind}: packets differ"
        assert [p.size for p in got] == [p.size for p in want[start:]]
        # composition offsets (B-frames) untouched; one timestamp offset for the whole stream
        assert [p.pts - p.dts for p in got] == [p.pts - p.dts for p in want[start:]], kind
        offsets |= {g.dts - w.dts for g, w in zip(got, want[start:], strict=True)}
    assert len(offsets) == 1, f"timestamps moved by different amounts: {sorted(offsets)}"


async def encode_h264_sample(directory: Path) -> dict[str, Path]:
    """SAMPLE_SECONDS of 320x240p25 H.264 (2 s GOP, 2 B-frames) + AAC, and each track alone."""
    sample = directory / "sample.flv"
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
    command += ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    command += ["-t", str(SAMPLE_SECONDS), "-c:v", "libx264", "-preset", "veryfast"]
    command += ["-bf", "2", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0"]
    command += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-f", "flv", str(sample)]
    await trio.run_process(command)
    samples = {"h264+aac": sample}
    for name, drop in (("audio-only", "-vn"), ("video-only", "-an")):
        samples[name] = directory / f"{name}.flv"
        copy = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(sample), drop, "-c", "copy"]
        await trio.run_process([*copy, str(samples[name])])
    return samples


def encode_hevc_sample(path: Path) -> None:
    """SAMPLE_SECONDS of 320x240p25 HEVC (2 s GOP, B-frames) in Enhanced RTMP FLV, with PyAV."""
    from av.video.frame import PictureType

    with (
        av.open("testsrc2=size=320x240:rate=25", format="lavfi") as source,
        av.open(str(path), "w", format="flv") as out,
    ):
        params = "keyint=50:min-keyint=50:scenecut=0:bframes=2:log-level=error"
        stream = out.add_stream(
            "libx265", rate=25, options={"preset": "ultrafast", "x265-params": params}
        )
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for n, frame in enumerate(source.decode(video=0)):
            if n >= SAMPLE_SECONDS * 25:
                break
            frame.pict_type = PictureType.NONE  # lavfi frames come marked I: let x265 choose
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


async def framemd5(path_or_url: str) -> tuple[int, str, list[Packet]]:
    """``ffmpeg -c copy -f framemd5`` until the input ends: (exit code, stderr, packets).

    ``-xerror``: an input that ends in a read error (a server closing without end-of-stream
    signalling) is an error exit, not a quiet end.
    """
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-xerror", "-copyts", "-i"]
    command += [path_or_url, "-c", "copy", "-f", "framemd5", "-"]
    with trio.fail_after(30):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
    return (
        done.returncode,
        done.stderr.decode(errors="replace"),
        parse_framemd5(done.stdout.decode()),
    )


async def wait_uptime(live: Live, stream_id: str, seconds: float) -> None:
    with trio.fail_after(20):
        while True:
            stream = live.hub.get(stream_id)
            if stream is not None and stream.statistics().uptime_seconds >= seconds:
                return
            await trio.sleep(0.05)


async def test_players_receive_the_published_packets_ffmpeg(live: Live, tmp_path: Path) -> None:
    """H.264+AAC, audio only and video only, each published once with ``ffmpeg -re … -c copy``;
    FFmpeg players join mid-stream over HTTP-FLV and RTMP play and hash every packet to the end
    of the stream (both exit 0: RTMP players get NetStream.Play.UnpublishNotify)."""
    samples = await encode_h264_sample(tmp_path)
    sources = {name: await framemd5(str(path)) for name, path in samples.items()}
    keyframes = keyframe_md5s(samples["h264+aac"])
    streams: dict[str, str] = {}

    async def publish(name: str) -> None:
        stream_id, key = await live.new_stream()
        streams[name] = stream_id
        await live.ffmpeg_publish(samples[name], key, loops=0)

    async with trio.open_nursery() as nursery:
        for name in samples:
            nursery.start_soon(publish, name)
    results: dict[tuple[str, str], tuple[int, str, list[Packet]]] = {}
    probed: dict[str, list[str]] = {}

    async def play(name: str, protocol: str) -> None:
        stream_id = streams[name]
        await wait_uptime(live, stream_id, JOIN_AFTER)
        url = live.flv(stream_id) if protocol == "http-flv" else live.rtmp(stream_id)
        results[name, protocol] = await framemd5(url)

    async def probe_late(name: str) -> None:
        # A viewer joining seconds into the stream sees the published codecs and nothing else
        # (onMetaData stamped with the join time would show up as an extra data stream).
        stream_id = streams[name]
        await wait_uptime(live, stream_id, JOIN_AFTER)
        probed[name] = await ffprobe(live.flv(stream_id))

    async with trio.open_nursery() as nursery:
        for name in samples:
            for protocol in ("http-flv", "rtmp"):
                nursery.start_soon(play, name, protocol)
            nursery.start_soon(probe_late, name)
    assert probed == {"h264+aac": ["aac", "h264"], "audio-only": ["aac"], "video-only": ["h264"]}
    for (name, protocol), (code, stderr, packets) in sorted(results.items()):
        assert (code, stderr) == (0, ""), (name, protocol)
        try:
            assert_packets_match(packets, sources[name][2], keyframes)
        except AssertionError as exc:
            raise AssertionError(f"{name} over {protocol}: {exc}") from exc
    assert {p.kind for p in results["audio-only", "rtmp"][2]} == {"audio"}
    assert {p.kind for p in results["video-only", "rtmp"][2]} == {"video"}


async def test_hevc_players_receive_the_published_frames(live: Live, tmp_path: Path) -> None:
    """Enhanced RTMP (hvc1): PyAV publishes an HEVC sample once; PyAV players joining
    mid-stream over RTMP play and HTTP-FLV get every frame from their key frame to the end."""
    sample = tmp_path / "hevc.flv"
    await trio.to_thread.run_sync(encode_hevc_sample, sample)
    source = pyav_packets(str(sample))
    keyframes = keyframe_md5s(sample)
    stream_id, key = await live.new_stream()
    start_pyav_publisher(live, sample, key, 1)
    await wait_uptime(live, stream_id, JOIN_AFTER)
    results: dict[str, list[Packet]] = {}

    async def play(url: str) -> None:
        results[url] = await trio.to_thread.run_sync(pyav_packets, url, abandon_on_cancel=True)

    async with trio.open_nursery() as nursery:
        for url in (live.rtmp(stream_id), live.flv(stream_id)):
            nursery.start_soon(play, url)
    for url, packets in results.items():
        try:
            assert_packets_match(packets, source, keyframes)
        except AssertionError as exc:
            raise AssertionError(f"{url}: {exc}") from exc
