"""Live streams nobody watches: server CPU per stream with publishers and no viewers.

    .venv/bin/python bench/idle_streams.py --streams 20 --hls on-demand

Our server (a child process, ``live_rig.serve_streams``, HTTP-FLV + HLS routes as configured)
gets ``--streams`` publishers: FFmpeg processes each pushing the reference 720p30 2.5 Mbit/s
loop in real time (``-re -stream_loop -1 -c copy``). After ``--warmup`` seconds the server's
CPU time is read over ``--duration`` seconds from /proc. Nobody plays anything while it is
measured; afterwards every stream is checked live over HTTP-FLV, and with ``--hls on-demand``
one stream's first HLS playlist request is timed (it waits for the first segment).

``--hls``: ``off`` (no segmenter), ``on`` (a segmenter per stream, the default config), or
``on-demand`` (``livestream.hls_on_demand``: segment only while requested).

Prints one JSON line: streams, hls mode, server CPU as percent of one core (total and per
stream), server RSS, whether every stream was live, and the first-playlist wait.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from live_rig import cpu_seconds, rss_mb, run_with_source, serve_streams

HLS_MODES = ("off", "on", "on-demand")


def stream_names(count: int) -> dict[str, str]:
    """Stream key -> stream id."""
    return {f"key{n}": f"idle{n}" for n in range(count)}


def serve(count: int, hls: str) -> None:
    livestream: dict[str, Any] = {"hls_on_demand": hls == "on-demand"}
    serve_streams(stream_names(count), flv=True, hls=hls != "off", livestream=livestream)


def http_get_head(port: int, path: str, want_bytes: int, timeout: float) -> tuple[int, int]:
    """(status, body bytes read up to ``want_bytes``) of one HTTP/1.0 GET on 127.0.0.1."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        got = len(body)
        while got < want_bytes:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        return status, got


def wait_live(port: int, stream_id: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, got = http_get_head(port, f"/live/{stream_id}.flv", 20_000, 5)
            if status == 200 and got >= 20_000:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--hls", choices=HLS_MODES, default="on")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--source", type=Path, help="reuse this pre-encoded FLV")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.streams, args.hls)
        return
    run_with_source("idle-streams-", args.source, partial(run, args))


def run(
    args: argparse.Namespace, source: Path, children: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve())]
    server = subprocess.Popen(
        [*me, "--serve", "--streams", str(args.streams), "--hls", args.hls],
        stdout=subprocess.PIPE,
    )
    children.append(server)
    assert server.stdout is not None
    ports = json.loads(server.stdout.readline())
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    publish = ["-re", "-stream_loop", "-1", "-i", str(source), "-c", "copy", "-f", "flv"]
    for key in stream_names(args.streams):
        url = f"rtmp://127.0.0.1:{ports['rtmp']}/live/{key}"
        children.append(subprocess.Popen([ffmpeg, "-nostdin", "-loglevel", "error", *publish, url]))
    time.sleep(args.warmup)
    cpu0, t0 = cpu_seconds([server.pid]), time.monotonic()
    time.sleep(args.duration)
    cpu1, t1 = cpu_seconds([server.pid]), time.monotonic()
    rss = rss_mb([server.pid])
    names = list(stream_names(args.streams).values())
    all_live = all(wait_live(ports["http"], name, 10) for name in names)
    first_playlist_ms = None
    if args.hls != "off":
        asked = time.monotonic()
        status, _ = http_get_head(ports["http"], f"/live/{names[0]}/index.m3u8", 0, 30)
        if status == 200:
            first_playlist_ms = round((time.monotonic() - asked) * 1000)
    percent = (cpu1 - cpu0) / (t1 - t0) * 100
    return {
        "bench": "idle_streams",
        "streams": args.streams,
        "hls": args.hls,
        "all_live": all_live,
        "server_cpu_percent_of_core": round(percent, 2),
        "per_stream_percent_of_core": round(percent / args.streams, 3),
        "server_rss_mb": round(rss, 1),
        "first_playlist_ms": first_playlist_ms,
        "load_average": round(os.getloadavg()[0], 2),
    }


if __name__ == "__main__":
    main()
