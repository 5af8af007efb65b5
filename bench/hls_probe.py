"""HLS probe: startup time, live-edge latency, segment durations, server CPU per HLS viewer-minute.

    .venv/bin/python bench/hls_probe.py [--viewers 50] [--baseline 20] [--duration 30]
    .venv/bin/python bench/hls_probe.py --rtmp rtmp://HOST:1935/live --key KEY \
        --http http://HOST:8080 --stream-id ID [--server-pid PID]

Self-contained by default: a child process runs the live pieces of the server (StreamHub, the
RTMP server, the HLS segmenter with the memory store, hypercorn with the HLS routes; no database,
one stream). A second child publishes over RTMP with PyAV: a pre-encoded 10 s loop of 720p30
H.264 at 2.5 Mbit/s (2 s GOP) + AAC, remuxed in real time with increasing timestamps. A third
holds N viewers that behave like hls.js: start three segments behind the live edge, reload the
playlist every (newest EXTINF) seconds, and fetch each new segment once. With ``--rtmp/--http``
a running server is probed instead (CPU figures need ``--server-pid``).

Phases: publish → poll the playlist every 50 ms until it lists a segment (startup) → baseline
(publisher only, server CPU measured) → viewers (server CPU measured). Prints one JSON line:

startup_s          publish start → first playlist listing a segment
live_edge_s        wall clock − (PDT + EXTINF of the newest segment) at each poll: p50/max
segment_s          EXTINF min/avg/max over every distinct segment seen
viewer_cpu_s_per_viewer_minute  (CPU with viewers − CPU without) / (viewers × minutes)
viewers_kept_up    every viewer fetched every segment listed after it joined
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, FPS, SOURCE_SECONDS = 1280, 720, 30, 10
VIDEO_BITRATE = 2_500_000
STREAM_ID, STREAM_KEY = "hlsbench", "hls-bench-key"


# --------------------------------------------------------------------------- source + publisher


def make_source(path: Path) -> None:
    """10 s of FFmpeg's testsrc2 + a sine tone, encoded once with PyAV into an FLV file."""
    import av

    video_in = av.open(f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}", format="lavfi")
    audio_in = av.open("sine=frequency=330:sample_rate=48000", format="lavfi")
    gop = str(2 * FPS)
    with av.open(str(path), "w", format="flv") as out:
        video = out.add_stream(
            "libx264",
            rate=FPS,
            options={"preset": "veryfast", "g": gop, "keyint_min": gop, "sc_threshold": "0"},
        )
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = VIDEO_BITRATE
        audio = out.add_stream("aac", rate=48000)
        packets = []
        for n, frame in enumerate(video_in.decode(video=0)):
            if n >= SOURCE_SECONDS * FPS:
                break
            packets += video.encode(frame)
        packets += video.encode(None)
        samples = 0
        for sound in audio_in.decode(audio=0):
            if samples >= SOURCE_SECONDS * 48000:
                break
            samples += sound.samples
            sound.pts = None
            packets += audio.encode(sound)
        packets += audio.encode(None)
        packets.sort(key=lambda p: float((p.dts or 0) * p.time_base))
        for packet in packets:
            out.mux(packet)
    video_in.close()
    audio_in.close()


def publish(source: Path, url: str, seconds: float) -> None:
    """Child process: remux ``source`` to ``url`` in real time, looped, timestamps increasing."""
    import av

    with av.open(str(source)) as inp, av.open(url, "w", format="flv") as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        packets = [
            (p.stream.index, p.pts, p.dts, p.time_base, bytes(p), p.is_keyframe, p.duration)
            for p in inp.demux()
            if p.dts is not None and p.pts is not None and p.size
        ]
        # One loop lasts until the end of its longest track, so each track's DTS keeps rising.
        span = max((dts + (length or 0)) * base for _, _, dts, base, _, _, length in packets)
        start = time.monotonic()
        loop = 0
        while time.monotonic() - start < seconds:
            for index, pts, dts, base, data, key, _ in packets:
                offset = math.ceil(span * loop / base)
                due = start + float((dts + offset) * base)
                if (delay := due - time.monotonic()) > 0:
                    time.sleep(delay)
                packet = av.Packet(data)
                packet.stream = mapping[index]
                packet.time_base = base
                packet.pts, packet.dts = pts + offset, dts + offset
                packet.is_keyframe = key
                out.mux(packet)
            loop += 1


# --------------------------------------------------------------------------- our server


def serve_ours() -> None:
    """Child process: hub + RTMP + HLS segmenter/store + HLS routes; prints the ports as JSON."""
    import logging

    import trio
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.trio import serve as hypercorn_serve

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from synctv.api.http.asgi import App
    from synctv.api.http.routes.live_hls import live_hls_routes
    from synctv.config import LivestreamConfig
    from synctv.livestream.hls import HlsSegmenter
    from synctv.livestream.hls_store import MemoryHlsStore
    from synctv.livestream.hub import StreamHub
    from synctv.livestream.registry import LiveStreamRecord
    from synctv.rtmp.server import RtmpServer, encode_rtmp_tags

    record = LiveStreamRecord(STREAM_ID, "live", None, "bench", 0)

    class OneStream:
        async def authorize_publish(self, app: str, key: str) -> LiveStreamRecord | None:
            return record if (app, key) == ("live", STREAM_KEY) else None

        async def get(self, stream_id: str) -> LiveStreamRecord | None:
            return record if stream_id == STREAM_ID else None

    async def run() -> None:
        config = LivestreamConfig(rtmp_host="127.0.0.1", rtmp_port=0)
        hub = StreamHub(config, rtmp_encoder=encode_rtmp_tags)
        store = MemoryHlsStore(config.hls_storage.memory_max_mb * 1024 * 1024)
        hub.add_stream_task_factory(HlsSegmenter.from_config(store, config).task_factory)
        directory = OneStream()
        routes = live_hls_routes(store, config=config, cors_origins=["*"], directory=directory)
        hyper = HypercornConfig()
        hyper.bind = ["127.0.0.1:0"]
        hyper.accesslog = None
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            await nursery.start(store.run)
            rtmp = await nursery.start(RtmpServer(config, hub, directory, directory).serve)
            app = App(routes, clock=trio.current_time)
            binds = await nursery.start(hypercorn_serve, app, hyper)
            print(json.dumps({"rtmp": rtmp[0][1], "http": binds[0]}), flush=True)

    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    trio.run(run)


# --------------------------------------------------------------------------- playlist parsing


def parse(text: str) -> list[tuple[str, float, float | None]]:
    """[(uri, EXTINF seconds, PDT epoch seconds or None)] of a media playlist."""
    out: list[tuple[str, float, float | None]] = []
    duration, pdt = 0.0, None
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            value = line.split(":", 1)[1].replace("Z", "+00:00")
            pdt = datetime.fromisoformat(value).timestamp()
        elif line and not line.startswith("#"):
            out.append((line, duration, pdt))
            pdt = None
    return out


# --------------------------------------------------------------------------- viewers


def run_viewers(playlist_url: str, viewers: int, seconds: float) -> dict[str, Any]:
    """Child process: ``viewers`` hls.js-like pollers for ``seconds``."""
    import httpx
    import trio

    base = playlist_url.rsplit("/", 1)[0]
    missed = fetched = 0
    errors: set[str] = set()

    async def viewer(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal missed, fetched
        seen: set[str] = set()
        first = True
        while trio.current_time() < deadline:
            reply = await client.get(playlist_url)
            if reply.status_code != 200:
                errors.add(f"playlist {reply.status_code}")
                await trio.sleep(1)
                continue
            listed = parse(reply.text)
            if first:  # a player starts near the live edge: skip all but the last three
                seen.update(uri for uri, _, _ in listed[:-3])
                first = False
            for uri, _, _ in listed:
                if uri in seen:
                    continue
                seen.add(uri)
                segment = await client.get(f"{base}/{uri}")
                if segment.status_code == 200:
                    fetched += 1
                else:
                    missed += 1
                    errors.add(f"segment {segment.status_code}")
            await trio.sleep(listed[-1][1] if listed else 1.0)

    async def main() -> None:
        deadline = trio.current_time() + seconds
        limits = httpx.Limits(max_connections=viewers * 2)
        async with (
            httpx.AsyncClient(timeout=10, limits=limits) as client,
            trio.open_nursery() as nursery,
        ):
            for _ in range(viewers):
                nursery.start_soon(viewer, client, deadline)
                await trio.sleep(2.0 / viewers)  # spread joins over one segment

    trio.run(main)
    return {"segments_fetched": fetched, "segments_missed": missed, "errors": sorted(errors)}


# --------------------------------------------------------------------------- orchestration


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe_startup(url: str, started: float, timeout: float = 30) -> tuple[float, str]:
    import httpx

    with httpx.Client(timeout=10) as client:
        while time.monotonic() - started < timeout:
            try:
                reply = client.get(url)
            except httpx.TransportError:
                reply = None
            if reply is not None and reply.status_code == 200 and parse(reply.text):
                return time.monotonic() - started, reply.text
            time.sleep(0.05)
    raise SystemExit(f"no playable playlist at {url} within {timeout}s")


def observe(url: str, seconds: float, durations: dict[str, float], edges: list[float]) -> None:
    """Poll the playlist twice a second: collect EXTINFs and live-edge latencies."""
    import httpx

    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            listed = parse(client.get(url).text)
            durations.update((uri, duration) for uri, duration, _ in listed)
            _, duration, pdt = listed[-1]
            if pdt is not None:
                edges.append(time.time() - (pdt + duration))
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds without viewers")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds with viewers")
    parser.add_argument("--rtmp", help="RTMP app URL of a running server, e.g. rtmp://h:1935/live")
    parser.add_argument("--key", help="publish key for --rtmp")
    parser.add_argument("--http", help="HTTP base URL of the running server")
    parser.add_argument("--stream-id", help="public stream id of --key's stream")
    parser.add_argument("--server-pid", type=int, help="pid of the running server (CPU figures)")
    parser.add_argument("--serve-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--publish-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--viewers-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ours:
        serve_ours()
        return
    if args.publish_worker:
        source, url, seconds = args.publish_worker
        publish(Path(source), url, float(seconds))
        return
    if args.viewers_worker:
        print(json.dumps(run_viewers(args.viewers_worker, args.viewers, args.duration)))
        return
    children: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="hls-probe-") as tmp:
            source = Path(tmp) / "source.flv"
            make_source(source)
            print(json.dumps(run(args, source, children)), flush=True)
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
                try:
                    child.wait(5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def run(
    args: argparse.Namespace, source: Path, children: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve())]
    if args.rtmp:
        rtmp_url = f"{args.rtmp.rstrip('/')}/{args.key}"
        playlist_url = f"{args.http.rstrip('/')}/live/{args.stream_id}/index.m3u8"
        server_pid = args.server_pid
    else:
        server = subprocess.Popen([*me, "--serve-ours"], stdout=subprocess.PIPE)
        children.append(server)
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        rtmp_url = f"rtmp://127.0.0.1:{ports['rtmp']}/live/{STREAM_KEY}"
        playlist_url = f"{ports['http']}/live/{STREAM_ID}/index.m3u8"
        server_pid = server.pid
    total = args.baseline + args.duration + 60
    started = time.monotonic()
    children.append(subprocess.Popen([*me, "--publish-worker", str(source), rtmp_url, str(total)]))
    startup, _ = probe_startup(playlist_url, started)
    durations: dict[str, float] = {}
    edges: list[float] = []
    time.sleep(4)  # let the window fill past the join GOP
    cpu0, t0 = cpu_seconds(server_pid), time.monotonic()
    observe(playlist_url, args.baseline, durations, edges)
    cpu1, t1 = cpu_seconds(server_pid), time.monotonic()
    worker = subprocess.Popen(
        [*me, "--viewers-worker", playlist_url, "--viewers", str(args.viewers),
         "--duration", str(args.duration)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    children.append(worker)
    observe(playlist_url, args.duration, durations, edges)
    out, _ = worker.communicate(timeout=args.duration + 60)
    cpu2, t2 = cpu_seconds(server_pid), time.monotonic()
    viewers = json.loads(out)
    values = list(durations.values())
    cost = None
    if cpu0 is not None and cpu1 is not None and cpu2 is not None:
        base_rate = (cpu1 - cpu0) / (t1 - t0)
        with_viewers = (cpu2 - cpu1) / (t2 - t1)
        cost = round((with_viewers - base_rate) * 60 / args.viewers, 4)
    edges.sort()
    return {
        "bench": "hls_probe",
        "source": f"{WIDTH}x{HEIGHT}p{FPS} h264 {VIDEO_BITRATE // 1000} kbit/s + aac, 2 s GOP",
        "startup_s": round(startup, 3),
        "live_edge_s": {
            "p50": round(statistics.median(edges), 3),
            "max": round(edges[-1], 3),
        },
        "segment_s": {
            "min": min(values),
            "avg": round(statistics.fmean(values), 3),
            "max": max(values),
            "count": len(values),
        },
        "viewers": args.viewers,
        "publisher_only_cpu_s_per_s": None
        if cpu0 is None or cpu1 is None
        else round((cpu1 - cpu0) / (t1 - t0), 4),
        "viewer_cpu_s_per_viewer_minute": cost,
        "viewers_kept_up": viewers["segments_missed"] == 0 and not viewers["errors"],
        **viewers,
    }


if __name__ == "__main__":
    main()
