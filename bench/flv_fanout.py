"""HTTP-FLV fan-out: one RTMP publisher, N HTTP-FLV viewers, server CPU per viewer-minute.

    .venv/bin/python bench/flv_fanout.py --viewers 100
    .venv/bin/python bench/flv_fanout.py --viewers 100 \
        --target-rtmp rtmp://127.0.0.1:1936/live/s --target-http http://127.0.0.1:8000/live/s.flv \
        --server-pid 1234

Three processes share the machine: the server (ours, started here in a child process, unless
``--target-*`` names another one), FFmpeg publishing a pre-encoded H.264/AAC loop in real time
(``-re -stream_loop -1 -c copy``), and one process holding every viewer (trio, raw sockets,
HTTP/1.0 so bodies are not chunked). Viewers parse FLV tag headers only (bodies are skipped).

Prints one JSON line: viewers, all_kept_real_time (each viewer's media clock advanced at least
as fast as the wall clock, within 1 s, over the measured window), server CPU seconds per
viewer-minute and RSS (from /proc of the server process(es)), time to first byte and to first
keyframe p50/p99 in ms for the N viewers joining together, and first-keyframe time of single
viewers joining one by one while the N watch (``late_join_first_keyframe_ms``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SOURCE_SECONDS = 10
# Single viewers joining, one by one, while the N viewers watch (first-keyframe latency).
LATE_JOINERS = 10
WIDTH, HEIGHT, FPS = 1280, 720, 30
VIDEO_BITRATE = 2_500_000
AUDIO_BITRATE = 128_000
GOP_FRAMES = 2 * FPS  # 2 s GOP
# A viewer whose media clock fell more than this behind the wall clock did not keep real time.
REAL_TIME_SLACK_SECONDS = 1.0
STREAM_KEY = "bench-key"
STREAM_ID = "bench"


# --------------------------------------------------------------------------- the source


def make_source(path: Path) -> None:
    """Encode ~10 s of 720p30 H.264 (2.5 Mbit/s CBR-ish, 2 s GOP) + AAC into an FLV with PyAV."""
    import av  # test/bench dependency only

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
    frames = SOURCE_SECONDS * FPS
    packets = []
    for i, frame in enumerate(video_in.decode(video=0)):
        if i >= frames:
            break
        packets += vs.encode(frame)
    packets += vs.encode(None)
    samples = 0
    for frame in audio_in.decode(audio=0):
        if samples >= SOURCE_SECONDS * 48000:
            break
        samples += frame.samples
        frame.pts = None
        packets += as_.encode(frame)
    packets += as_.encode(None)
    # Interleave by decode time, as a live encoder would (ffmpeg -re paces by it).
    packets.sort(key=lambda p: float((p.dts or 0) * p.time_base))
    for packet in packets:
        out.mux(packet)
    out.close()
    video_in.close()
    audio_in.close()


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pids: list[int]) -> float:
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


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


# --------------------------------------------------------------------------- our server


def serve_ours() -> None:
    """Child process: StreamHub + RtmpServer + the HTTP-FLV route, no database (one stream).

    Prints ``{"rtmp": port, "http": port}`` once both listen, then serves until SIGINT.
    """
    import trio
    from hypercorn.config import Config as HypercornConfig
    from hypercorn.trio import serve as hypercorn_serve

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from synctv.api.http.asgi import App
    from synctv.api.http.routes.live_flv import live_flv_routes
    from synctv.config import LivestreamConfig
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
        overrides = json.loads(os.environ.get("SYNCTV_BENCH_LIVESTREAM", "{}"))
        config = LivestreamConfig(rtmp_host="127.0.0.1", rtmp_port=0, **overrides)
        hub = StreamHub(config, rtmp_encoder=encode_rtmp_tags)
        directory = OneStream()
        app = App(live_flv_routes(hub, directory, config, ["*"]), clock=trio.current_time)
        hyper = HypercornConfig()
        hyper.bind = ["127.0.0.1:0"]
        hyper.accesslog = None
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            rtmp = await nursery.start(RtmpServer(config, hub, directory, directory).serve)
            binds = await nursery.start(partial(hypercorn_serve, app, hyper))
            http_port = int(binds[0].rsplit(":", 1)[1])
            print(json.dumps({"rtmp": rtmp[0][1], "http": http_port}), flush=True)

    signal.signal(signal.SIGINT, lambda *_: os._exit(0))  # the parent stops us; no teardown
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    trio.run(run)


# --------------------------------------------------------------------------- viewers


class FlvViewer:
    """Counts bytes and reads FLV tag headers of one HTTP-FLV response (bodies skipped)."""

    __slots__ = (
        "buf",
        "bytes",
        "first_byte_at",
        "first_key_at",
        "last_ts",
        "last_wall",
        "mark_ts",
        "mark_wall",
        "skip",
        "started",
        "state",
        "tags",
    )

    def __init__(self, started: float) -> None:
        self.started = started
        self.buf = bytearray()
        self.state = 0  # 0 = HTTP headers, 1 = FLV header, 2 = tags
        self.skip = 0
        self.bytes = 0
        self.tags = 0
        self.first_byte_at: float | None = None
        self.first_key_at: float | None = None
        self.last_ts = -1
        self.last_wall = 0.0
        self.mark_ts: int | None = None
        self.mark_wall = 0.0

    def feed(self, data: bytes, now: float) -> None:
        self.bytes += len(data)
        view = memoryview(data)
        if self.skip:
            n = min(self.skip, len(view))
            self.skip -= n
            view = view[n:]
            if not view:
                return
        self.buf += view
        buf = self.buf
        if self.state == 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 200" not in status:
                raise RuntimeError(f"HTTP-FLV answered {status!r}")
            del buf[: end + 4]
            self.state = 1
        if self.state == 1:
            if len(buf) < 13:
                return
            if self.first_byte_at is None:
                self.first_byte_at = now
            del buf[:13]
            self.state = 2
        pos = 0
        size = len(buf)
        while size - pos >= 12:
            tag_type = buf[pos]
            data_size = int.from_bytes(buf[pos + 1 : pos + 4], "big")
            ts = int.from_bytes(buf[pos + 4 : pos + 7], "big") | (buf[pos + 7] << 24)
            if tag_type == 9 and self.first_key_at is None and (buf[pos + 11] >> 4) == 1:
                self.first_key_at = now
            self.tags += 1
            self.last_ts = ts
            self.last_wall = now
            total = 11 + data_size + 4
            if size - pos >= total:
                pos += total
            else:
                self.skip = total - (size - pos)
                pos = size
        del buf[:pos]

    def mark(self) -> None:
        self.mark_ts, self.mark_wall = self.last_ts, self.last_wall


def run_viewers(url: str, viewers: int, warmup: float, duration: float) -> dict[str, Any]:
    import trio

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode()
    states: list[FlvViewer] = []
    errors: list[str] = []

    async def one(state: FlvViewer) -> None:
        try:
            stream = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            errors.append(f"connect: {exc}")
            return
        async with stream:
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            await stream.send_all(request)
            while True:
                data = await stream.receive_some(262144)
                if not data:
                    errors.append("server closed the response")
                    return
                state.feed(data, time.monotonic())

    late: list[FlvViewer] = []

    async def late_joiner() -> None:
        """A viewer arriving while N others watch: what requirement 2 measures (first keyframe)."""
        state = FlvViewer(time.monotonic())
        late.append(state)
        with trio.move_on_after(5):
            stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await stream.send_all(request)
                while state.first_key_at is None:
                    data = await stream.receive_some(262144)
                    if not data:
                        return
                    state.feed(data, time.monotonic())

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            start = trio.current_time()
            for _ in range(viewers):
                state = FlvViewer(time.monotonic())
                states.append(state)
                nursery.start_soon(one, state)
            await trio.sleep_until(start + warmup)
            for state in states:
                state.mark()
            for _ in range(LATE_JOINERS):  # one at a time, spread over the measured window
                await late_joiner()
                await trio.sleep(duration / (LATE_JOINERS + 1))
            await trio.sleep_until(start + warmup + duration)
            nursery.cancel_scope.cancel()

    trio.run(main)
    end_marks = [(s.last_ts, s.last_wall) for s in states]
    behind: list[float] = []
    for s, (ts, wall) in zip(states, end_marks, strict=True):
        if s.mark_ts is None or s.mark_ts < 0:
            behind.append(float("inf"))
            continue
        behind.append((wall - s.mark_wall) - (ts - s.mark_ts) / 1000)
    late_ttfk = [(s.first_key_at - s.started) * 1000 for s in late if s.first_key_at]
    ttfb = [(s.first_byte_at - s.started) * 1000 for s in states if s.first_byte_at]
    ttfk = [(s.first_key_at - s.started) * 1000 for s in states if s.first_key_at]
    total_bytes = sum(s.bytes for s in states)
    return {
        "viewers": viewers,
        "connected": sum(1 for s in states if s.first_byte_at),
        "all_kept_real_time": bool(behind) and max(behind) < REAL_TIME_SLACK_SECONDS,
        "worst_behind_s": round(max(behind), 3) if behind else None,
        "mbit_s_per_viewer": round(total_bytes * 8 / (warmup + duration) / 1e6 / viewers, 3),
        "ttfb_ms": {"p50": percentile(ttfb, 50), "p99": percentile(ttfb, 99)},
        "first_keyframe_ms": {"p50": percentile(ttfk, 50), "p99": percentile(ttfk, 99)},
        "late_join_first_keyframe_ms": {
            "count": len(late_ttfk),
            "p50": percentile(late_ttfk, 50),
            "max": max(late_ttfk) if late_ttfk else None,
        },
        "errors": sorted(set(errors))[:5],
    }


# --------------------------------------------------------------------------- orchestration


def wait_for_flv(url: str, timeout: float) -> None:
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    request = f"GET {parts.path} HTTP/1.0\r\nHost: x\r\n\r\n".encode()
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=2) as sock:
                sock.sendall(request)
                data = sock.recv(65536)
                if b" 200" in data.split(b"\r\n", 1)[0]:
                    got = len(data)
                    while got < 20_000:
                        chunk = sock.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
                    if got >= 20_000:
                        return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"no stream at {url} after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--target-rtmp", help="publish here instead of our own server")
    parser.add_argument("--target-http", help="HTTP-FLV URL of the --target-rtmp stream")
    parser.add_argument("--server-pid", type=int, action="append", default=[])
    parser.add_argument("--label", default="synctv")
    parser.add_argument("--source", type=Path, help="reuse this pre-encoded FLV")
    parser.add_argument(
        "--batch-window-ms",
        type=int,
        help="livestream.fanout_batch_window_ms for our server (default: the config default)",
    )
    parser.add_argument("--serve-ours", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--viewers-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ours:
        serve_ours()
        return
    if args.viewers_worker:
        result = run_viewers(args.viewers_worker, args.viewers, args.warmup, args.duration)
        print(json.dumps(result), flush=True)
        return
    with tempfile.TemporaryDirectory(prefix="flv-fanout-") as tmp:
        source = args.source or Path(tmp) / "source.flv"
        if not source.exists():
            make_source(source)
        children: list[subprocess.Popen[bytes]] = []
        try:
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
    if args.target_rtmp:
        rtmp_url, http_url, pids = args.target_rtmp, args.target_http, args.server_pid
    else:
        overrides = {}
        if args.batch_window_ms is not None:
            overrides["fanout_batch_window_ms"] = args.batch_window_ms
        server = subprocess.Popen(
            [*me, "--serve-ours"],
            stdout=subprocess.PIPE,
            env={**os.environ, "SYNCTV_BENCH_LIVESTREAM": json.dumps(overrides)},
        )
        children.append(server)
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        rtmp_url = f"rtmp://127.0.0.1:{ports['rtmp']}/live/{STREAM_KEY}"
        http_url = f"http://127.0.0.1:{ports['http']}/live/{STREAM_ID}.flv"
        pids = [server.pid]
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    publish = ["-re", "-stream_loop", "-1", "-i", str(source), "-c", "copy", "-f", "flv"]
    publisher = subprocess.Popen([ffmpeg, "-nostdin", "-loglevel", "error", *publish, rtmp_url])
    children.append(publisher)
    wait_for_flv(http_url, 20.0)
    time.sleep(2.0)  # let the GOP cache fill: joins then start on a keyframe like in production
    timing = ["--warmup", str(args.warmup), "--duration", str(args.duration)]
    worker = subprocess.Popen(
        [*me, "--viewers-worker", http_url, "--viewers", str(args.viewers), *timing],
        stdout=subprocess.PIPE,
    )
    children.append(worker)
    time.sleep(args.warmup)
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    time.sleep(args.duration)
    cpu1, t1 = cpu_seconds(pids), time.monotonic()
    rss = rss_mb(pids)
    out, _ = worker.communicate(timeout=60 + args.viewers / 10)
    viewers = json.loads(out)
    minutes = (t1 - t0) / 60
    return {
        "bench": "flv_fanout",
        "server": args.label,
        "viewers": args.viewers,
        "connected": viewers["connected"],
        "all_kept_real_time": viewers["all_kept_real_time"],
        "worst_behind_s": viewers["worst_behind_s"],
        "server_cpu_s_per_viewer_minute": round((cpu1 - cpu0) / args.viewers / minutes, 4),
        "server_cpu_percent": round((cpu1 - cpu0) / (t1 - t0) * 100, 1),
        "server_rss_mb": round(rss, 1),
        "mbit_s_per_viewer": viewers["mbit_s_per_viewer"],
        "ttfb_ms": viewers["ttfb_ms"],
        "first_keyframe_ms": viewers["first_keyframe_ms"],
        "late_join_first_keyframe_ms": viewers["late_join_first_keyframe_ms"],
        "errors": viewers["errors"],
        "load_average": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
