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

Phases: publish → poll the playlist every 20 ms until it lists a segment that can be fetched
(startup) → baseline (publisher only, server CPU measured) → viewers (server CPU measured).
Prints one JSON line:

startup_s          publish start (publisher process launched) → first playable playlist; includes
                   the publisher's own start-up (PyAV import, RTMP handshake)
keyframe_to_playlist_s  first keyframe sent (the publisher wrote it to the socket, stamped on
                   the shared CLOCK_MONOTONIC) → first playable playlist: what the issue's
                   "within hls_segment_seconds + 1 s of the first keyframe" bound is about
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
import statistics
import subprocess
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from live_rig import (
    FPS,
    HEIGHT,
    VIDEO_BITRATE,
    WIDTH,
    run_with_source,
    serve_one_stream,
)

STREAM_ID, STREAM_KEY = "hlsbench", "hls-bench-key"


# --------------------------------------------------------------------------- source + publisher


def publish(source: Path, url: str, seconds: float, keyframe_stamp: Path) -> None:
    """Child process: remux ``source`` to ``url`` in real time, looped, timestamps increasing.

    Writes ``time.monotonic()`` into ``keyframe_stamp`` once the first video keyframe has been
    handed to the socket (``flush_packets``: each packet is written out as it is muxed)."""
    import av

    with (
        av.open(str(source)) as inp,
        av.open(url, "w", format="flv", container_options={"flush_packets": "1"}) as out,
    ):
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
        stamped = False
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
                if key and not stamped and packet.stream.type == "video":
                    temp = keyframe_stamp.with_suffix(".tmp")
                    temp.write_text(repr(time.monotonic()))
                    temp.replace(keyframe_stamp)
                    stamped = True
            loop += 1


# --------------------------------------------------------------------------- our server


def serve_ours() -> None:
    """Child process: our server for the one bench stream (RTMP ingest + HLS)."""
    serve_one_stream(STREAM_ID, STREAM_KEY, flv=False, hls=True, livestream={})


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
    """Poll until the playlist lists a segment that can be fetched; returns the monotonic time
    the playlist was received (not when the segment fetch finished) and its text."""
    import httpx

    base = url.rsplit("/", 1)[0]
    with httpx.Client(timeout=10) as client:
        while time.monotonic() - started < timeout:
            try:
                reply = client.get(url)
                at = time.monotonic()
                listed = parse(reply.text) if reply.status_code == 200 else []
                if listed and client.get(f"{base}/{listed[0][0]}").status_code == 200:
                    return at, reply.text
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"no playable playlist at {url} within {timeout}s")


def read_stamp(path: Path, timeout: float = 10) -> float:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the publisher never sent a keyframe")
        time.sleep(0.02)
    return float(path.read_text())


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
    parser.add_argument("--publish-worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--viewers-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_ours:
        serve_ours()
        return
    if args.publish_worker:
        source, url, seconds, stamp = args.publish_worker
        publish(Path(source), url, float(seconds), Path(stamp))
        return
    if args.viewers_worker:
        print(json.dumps(run_viewers(args.viewers_worker, args.viewers, args.duration)))
        return
    run_with_source("hls-probe-", None, partial(run, args))


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
        playlist_url = f"http://127.0.0.1:{ports['http']}/live/{STREAM_ID}/index.m3u8"
        server_pid = server.pid
    total = args.baseline + args.duration + 60
    stamp = source.with_name("first_keyframe")
    started = time.monotonic()
    children.append(
        subprocess.Popen([*me, "--publish-worker", str(source), rtmp_url, str(total), str(stamp)])
    )
    playable_at, _ = probe_startup(playlist_url, started)
    first_keyframe_at = read_stamp(stamp)
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
        "startup_s": round(playable_at - started, 3),
        "keyframe_to_playlist_s": round(playable_at - first_keyframe_at, 3),
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
