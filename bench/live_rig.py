"""What the live benches share: the source they publish, our server, and /proc readings.

``make_source`` encodes the reference stream once (720p30 H.264 at 2.5 Mbit/s with a 2 s GOP,
plus AAC) with PyAV. ``serve_streams`` (``serve_one_stream`` for one) is the child-process
server the benches measure: StreamHub + the RTMP driver + HTTP-FLV and/or HLS routes, no
database. ``cpu_seconds`` and ``rss_mb`` read a process's CPU time and memory from /proc.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, FPS = 1280, 720, 30
SOURCE_SECONDS = 10
GOP_FRAMES = 2 * FPS
VIDEO_BITRATE = 2_500_000
AUDIO_BITRATE = 128_000


def make_source(path: Path) -> None:
    """Encode the reference stream into an FLV (what FFmpeg then publishes in a loop)."""
    import av  # test/bench dependency only
    from av.video.frame import PictureType

    video_in = av.open(f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", format="lavfi")
    audio_in = av.open("sine=frequency=440:sample_rate=48000", format="lavfi")
    out = av.open(str(path), "w", format="flv")
    vs = out.add_stream(
        "libx264",
        rate=FPS,
        options={
            "preset": "veryfast",
            "g": str(GOP_FRAMES),
            "keyint_min": str(GOP_FRAMES),
            "sc_threshold": "0",
            "b": str(VIDEO_BITRATE),
            "maxrate": str(VIDEO_BITRATE),
            "bufsize": str(2 * VIDEO_BITRATE),
            "x264-params": "nal-hrd=cbr",
        },
    )
    vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    vs.bit_rate = VIDEO_BITRATE
    as_ = out.add_stream("aac", rate=48000)
    as_.bit_rate = AUDIO_BITRATE
    packets = []
    for i, frame in enumerate(video_in.decode(video=0)):
        if i >= SOURCE_SECONDS * FPS:
            break
        # Decoded lavfi frames come marked I, and libx264 honours a frame's picture type: left
        # as is, every frame is an IDR (an all-intra stream, no 2 s GOP). Let x264 choose.
        frame.pict_type = PictureType.NONE
        packets += vs.encode(frame)
    packets += vs.encode(None)
    samples = 0
    for audio_frame in audio_in.decode(audio=0):
        if samples >= SOURCE_SECONDS * 48000:
            break
        samples += audio_frame.samples
        audio_frame.pts = None
        packets += as_.encode(audio_frame)
    packets += as_.encode(None)
    # Interleave by decode time, as a live encoder would (ffmpeg -re paces by it).
    packets.sort(key=lambda p: float((p.dts or 0) * p.time_base))
    for packet in packets:
        out.mux(packet)
    out.close()
    video_in.close()
    audio_in.close()


def serve_one_stream(
    stream_id: str, stream_key: str, *, flv: bool, hls: bool, livestream: dict[str, Any]
) -> None:
    """Child process: serve one stream until SIGINT; prints ``{"rtmp": port, "http": port}``."""
    serve_streams({stream_key: stream_id}, flv=flv, hls=hls, livestream=livestream)


def serve_streams(
    ids_by_key: dict[str, str], *, flv: bool, hls: bool, livestream: dict[str, Any]
) -> None:
    """Child process: serve these streams (stream key -> stream id) until SIGINT; prints
    ``{"rtmp": port, "http": port}``."""
    import trio

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from synctv.api.http.asgi import App, Route
    from synctv.api.http.routes.live_flv import live_flv_routes
    from synctv.api.http.routes.live_hls import live_hls_routes
    from synctv.api.http.server import HttpListenerSettings, HttpServer
    from synctv.config import LivestreamConfig
    from synctv.livestream.hls import HlsDemand, HlsSegmenter
    from synctv.livestream.hls_store import MemoryHlsStore
    from synctv.livestream.hub import StreamHub
    from synctv.livestream.registry import LiveStreamRecord
    from synctv.rtmp.server import RtmpServer

    records = {
        key: LiveStreamRecord(stream_id, "live", None, "bench", 0)
        for key, stream_id in ids_by_key.items()
    }
    by_id = {record.stream_id: record for record in records.values()}

    class Streams:
        async def authorize_publish(self, app: str, key: str) -> LiveStreamRecord | None:
            return records.get(key) if app == "live" else None

        async def get(self, wanted: str) -> LiveStreamRecord | None:
            return by_id.get(wanted)

    async def run() -> None:
        config = LivestreamConfig(rtmp_host="127.0.0.1", rtmp_port=0, **livestream)
        hub = StreamHub(config)
        directory = Streams()
        store = MemoryHlsStore(config.hls_storage.memory_max_mb * 1024 * 1024)
        routes: list[Route] = []
        if flv:
            routes += live_flv_routes(hub, directory, config)
        if hls:
            demand = HlsDemand(config.hls_on_demand_idle_seconds)
            segmenter = HlsSegmenter.from_config(store, config, demand)
            hub.add_stream_task_factory(segmenter.task_factory)
            routes += live_hls_routes(store, config=config, directory=directory, demand=demand)
        # Every bench viewer comes from 127.0.0.1: lift the per-address cap (and the total).
        listener = HttpListenerSettings(
            "http", "127.0.0.1", 0, max_connections=20_000, max_connections_per_address=20_000
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            await nursery.start(store.run)
            rtmp = await nursery.start(RtmpServer(config, hub, directory, directory).serve)
            app = App(routes, clock=trio.current_time)
            binds = await nursery.start(HttpServer(app, listener).serve)
            http_port = int(binds[0].rsplit(":", 1)[1])
            gc.freeze()  # as synctv.app.tree does once the server is up
            print(json.dumps({"rtmp": rtmp[0][1], "http": http_port}), flush=True)

    signal.signal(signal.SIGINT, lambda *_: os._exit(0))  # the parent stops us; no teardown
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    trio.run(run)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """Stop a bench's child processes, newest first: SIGINT, then SIGKILL after 5 s."""
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


Children = list[subprocess.Popen[bytes]]


def run_with_source(
    prefix: str, source: Path | None, run: Callable[[Path, Children], dict[str, Any]]
) -> None:
    """A bench's main: the pre-encoded source (made in a temporary directory unless given),
    ``run(source, children)`` printed as one JSON line, every child stopped whatever happens."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        path = source or Path(tmp) / "source.flv"
        if not path.exists():
            make_source(path)
        children: Children = []
        try:
            print(json.dumps(run(path, children)), flush=True)
        finally:
            stop_children(children)
