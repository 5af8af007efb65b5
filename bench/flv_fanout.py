"""Live fan-out: one RTMP publisher, N HTTP-FLV or RTMP viewers, server CPU per viewer-minute.

    .venv/bin/python bench/flv_fanout.py --viewers 100 [--viewer-protocol rtmp]
    .venv/bin/python bench/flv_fanout.py --viewers 100 \
        --target-rtmp rtmp://127.0.0.1:1936/live/s --target-http http://127.0.0.1:8000/live/s.flv \
        --server-pid 1234
    .venv/bin/python bench/flv_fanout.py --viewers 100 --viewer-protocol rtmp \
        --target-rtmp rtmp://127.0.0.1:1935/live/s --target-rtmp-play rtmp://127.0.0.1:1935/live/s \
        --server-pid 1234 --server-pid 1235

Three processes share the machine: the server (ours, started here in a child process, unless
``--target-*`` names another one), FFmpeg publishing a pre-encoded H.264/AAC loop in real time
(``-re -stream_loop -1 -c copy``), and one process holding every viewer (trio, raw sockets).
HTTP-FLV viewers (the default) send an HTTP/1.0 GET, so bodies are not chunked, and parse FLV
tag headers only (bodies are skipped). RTMP viewers (``--viewer-protocol rtmp``) do the
handshake, ``connect``, ``createStream`` and ``play`` with ``synctv.rtmp.session.ClientSession``,
then only scan chunk headers (``RtmpViewer``). Our server is started with
``max_rtmp_connections_per_ip`` raised for RTMP viewers (they all come from 127.0.0.1).

Prints one JSON line: viewers, all_kept_real_time (each viewer's media clock advanced at least
as fast as the wall clock, within 1 s, over the measured window), server CPU seconds per
viewer-minute and RSS (from /proc of the server process(es)), time to first byte (RTMP: first
audio/video message) and to first keyframe p50/p99 in ms for the N viewers joining together,
and first-keyframe time of single viewers joining one by one while the N watch
(``late_join_first_keyframe_ms``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from live_rig import (  # bench/ is the script's directory
    cpu_seconds,
    rss_mb,
    run_with_source,
    serve_one_stream,
)

# Single viewers joining, one by one, while the N viewers watch (first-keyframe latency).
LATE_JOINERS = 10
LATE_JOIN_TAIL = 3.0  # seconds at the end of the measured window with no new joiner
# A viewer whose media clock fell more than this behind the wall clock did not keep real time.
REAL_TIME_SLACK_SECONDS = 1.0
STREAM_KEY = "bench-key"
STREAM_ID = "bench"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 2)


# --------------------------------------------------------------------------- our server


def serve_ours() -> None:
    """Child process: our server for the one bench stream (HTTP-FLV + RTMP play)."""
    overrides = json.loads(os.environ.get("SYNCTV_BENCH_LIVESTREAM", "{}"))
    serve_one_stream(STREAM_ID, STREAM_KEY, flv=True, hls=False, livestream=overrides)


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


class RtmpViewer:
    """One RTMP player: ``ClientSession`` until play starts, then chunk headers only.

    The session does the handshake, ``connect``, ``createStream`` and ``play``. Every byte after
    the server's handshake (S0 S1 S2) also goes through a small chunk-header scanner, which is
    all that runs once ``NetStream.Play.Start`` (or the first media message) arrived: it follows
    §5.3 header compression per chunk stream to know each message's type and timestamp, reads
    the bodies of Set Chunk Size, Window Ack Size and ping requests (answered), the first two
    bytes of video messages until the first keyframe, and skips every other body unread. From
    then on it also sends the acknowledgements (§5.4.3) the session sent before.

    The first keyframe is a video message with frame type 1 that is a picture: for H.264
    (codec 7) AVCPacketType 1, not the sequence header (which nginx-rtmp sends to a joining
    player ahead of a mid-GOP frame). ``first_byte_at`` is the first audio or video message.
    """

    __slots__ = (
        "acked",
        "acks",
        "buf",
        "bytes",
        "chunk_size",
        "first_byte_at",
        "first_key_at",
        "handshake_left",
        "last_ts",
        "last_wall",
        "mark_ts",
        "mark_wall",
        "out",
        "play_name",
        "session",
        "skip",
        "started",
        "streams",
        "window",
    )

    def __init__(self, started: float, app: str, name: str, tc_url: str) -> None:
        from synctv.rtmp.client import ClientSession
        from synctv.rtmp.handshake import HANDSHAKE_RANDOM_SIZE, HANDSHAKE_SIZE

        self.started = started
        self.session: Any = ClientSession(os.urandom(HANDSHAKE_RANDOM_SIZE))
        self.session.connect(app, tc_url)
        self.play_name = name
        self.handshake_left = 1 + 2 * HANDSHAKE_SIZE  # S0 S1 S2: the session's business
        self.buf = bytearray()
        self.skip = 0
        self.chunk_size = 128  # §5.4.1 until the server's Set Chunk Size
        # chunk stream id → [timestamp, timestamp field, length, type id, bytes left, extended]
        self.streams: dict[int, list[Any]] = {}
        self.bytes = 0  # after the handshake, as the acknowledgement sequence counts them
        self.window = 0
        self.acked = 0
        self.acks = False  # the scanner acknowledges (after the session handed over)
        self.out = bytearray(self.session.data_to_send())  # C0 C1 (connect follows C2)
        self.first_byte_at: float | None = None
        self.first_key_at: float | None = None
        self.last_ts = -1
        self.last_wall = 0.0
        self.mark_ts: int | None = None
        self.mark_wall = 0.0

    def data_to_send(self) -> bytes:
        out = bytes(self.out)
        self.out.clear()
        return out

    def receive(self, data: bytes, now: float) -> None:
        """Feed bytes from the server; queue what to answer (``data_to_send``)."""
        self._scan(data, now)
        session = self.session
        if session is None:
            return
        from synctv.rtmp.events import (
            AudioReceived,
            ConnectAccepted,
            ConnectRejected,
            StatusReceived,
            StreamCreated,
            VideoReceived,
        )

        playing = False
        for event in session.receive_data(data):
            if isinstance(event, ConnectAccepted):
                session.create_stream()
            elif isinstance(event, ConnectRejected):
                raise RuntimeError(f"connect rejected: {event.information!r}")
            elif isinstance(event, StreamCreated):
                session.play(event.stream_id, self.play_name)
            elif isinstance(event, StatusReceived):
                if event.level == "error":
                    raise RuntimeError(f"play refused: {event.code}")
                playing = playing or event.code == "NetStream.Play.Start"
            elif isinstance(event, AudioReceived | VideoReceived):
                playing = True
        self.out += session.data_to_send()
        if playing:  # hand over: from now on only the scanner runs
            self.session = None
            self.acks, self.acked = True, self.bytes

    def _scan(self, data: bytes, now: float) -> None:
        view = memoryview(data)
        if self.handshake_left:
            n = min(self.handshake_left, len(view))
            self.handshake_left -= n
            view = view[n:]
        self.bytes += len(view)
        if self.skip:
            n = min(self.skip, len(view))
            self.skip -= n
            view = view[n:]
        if view:
            buf = self.buf
            buf += view
            self._chunks(buf, now)
        if self.acks and self.window and self.bytes - self.acked >= self.window:
            self.acked = self.bytes
            from synctv.rtmp.messages import Acknowledgement

            self._answer(Acknowledgement(self.bytes & 0xFFFFFFFF))

    def _chunks(self, buf: bytearray, now: float) -> None:
        pos, size, streams = 0, len(buf), self.streams
        while pos < size:
            b0 = buf[pos]
            fmt, csid, p = b0 >> 6, b0 & 0x3F, pos + 1
            if csid < 2:  # §5.3.1.1 2- and 3-byte forms
                if p + 1 + csid > size:
                    break
                csid, p = 64 + buf[p] + (buf[p + 1] << 8 if csid else 0), p + 1 + csid
            header = (11, 7, 3, 0)[fmt]
            if p + header > size:
                break
            state = streams.get(csid)
            if state is None:
                if fmt:
                    raise RuntimeError(f"fmt {fmt} on new chunk stream {csid}")
                state = streams[csid] = [0, 0, 0, 0, 0, False]
            ts, field, length, type_id, left, extended = state
            if fmt != 3:
                field = (buf[p] << 16) | (buf[p + 1] << 8) | buf[p + 2]
                extended = field == 0xFFFFFF
                if fmt <= 1:
                    length = (buf[p + 3] << 16) | (buf[p + 4] << 8) | buf[p + 5]
                    type_id = buf[p + 6]
                p += header
            if extended:  # repeated on fmt 3 chunks, as FFmpeg and nginx-rtmp write it
                if p + 4 > size:
                    break
                if fmt != 3:
                    field = int.from_bytes(buf[p : p + 4], "big")
                p += 4
            new = left == 0
            if new:
                left = length
            piece = min(self.chunk_size, left)
            peek = new and (type_id in (1, 4, 5) or (type_id == 9 and self.first_key_at is None))
            if peek and p + min(piece, 6) > size:  # the few body bytes read below
                break
            # the header (and any body bytes read) is here: commit
            if new:
                ts = field if fmt == 0 else (ts + field) & 0xFFFFFFFF
                if type_id == 8 or type_id == 9:
                    if self.first_byte_at is None:
                        self.first_byte_at = now
                    if type_id == 9 and self.first_key_at is None and piece >= 2:
                        b = buf[p]
                        if b >> 4 == 1 and ((b & 0x0F) != 7 or buf[p + 1] == 1):
                            self.first_key_at = now
                    self.last_ts, self.last_wall = ts, now
                elif type_id == 1 and piece >= 4:  # Set Chunk Size
                    self.chunk_size = int.from_bytes(buf[p : p + 4], "big") & 0x7FFFFFFF
                elif type_id == 5 and piece >= 4:  # Window Acknowledgement Size
                    self.window = int.from_bytes(buf[p : p + 4], "big")
                elif type_id == 4 and piece >= 6 and buf[p : p + 2] == b"\x00\x06":
                    self._ping_request(int.from_bytes(buf[p + 2 : p + 6], "big"))
            state[0], state[1], state[2], state[3] = ts, field, length, type_id
            state[4], state[5] = left - piece, extended
            end = p + piece
            if end > size:
                self.skip = end - size
                end = size
            pos = end
        del buf[:pos]

    def _ping_request(self, timestamp: int) -> None:
        from synctv.rtmp.messages import PingResponse

        if self.session is None:  # before the hand-over the session answers
            self._answer(PingResponse(timestamp))

    def _answer(self, msg: Any) -> None:
        from synctv.rtmp.chunk import encode_fmt0
        from synctv.rtmp.messages import encode_message

        type_id, body = encode_message(msg)
        self.out += encode_fmt0(2, 0, type_id, 0, body, 128)  # csid 2, our chunk size 128

    def mark(self) -> None:
        self.mark_ts, self.mark_wall = self.last_ts, self.last_wall


def split_rtmp_url(url: str) -> tuple[str, int, str, str, str]:
    """``rtmp://host:port/app/name`` → host, port, app, stream name, tcUrl."""
    parts = urlsplit(url)
    app, _, name = parts.path.lstrip("/").rpartition("/")
    host, port = parts.hostname or "127.0.0.1", parts.port or 1935
    return host, port, app, name, f"rtmp://{host}:{port}/{app}"


async def rtmp_watch(url: str, state: RtmpViewer, until_key: bool = False) -> None:
    """Play ``url`` into ``state`` until cancelled (or, with ``until_key``, the first keyframe)."""
    import trio

    host, port, *_ = split_rtmp_url(url)
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        await stream.send_all(state.data_to_send())
        while not (until_key and state.first_key_at is not None):
            data = await stream.receive_some(262144)
            if not data:
                raise RuntimeError("server closed the connection")
            state.receive(data, time.monotonic())
            if state.out:
                await stream.send_all(state.data_to_send())


def new_rtmp_viewer(url: str) -> RtmpViewer:
    _, _, app, name, tc_url = split_rtmp_url(url)
    return RtmpViewer(time.monotonic(), app, name, tc_url)


def run_viewers(url: str, viewers: int, warmup: float, duration: float) -> dict[str, Any]:
    """Hold ``viewers`` players of ``url`` (``http://`` = HTTP-FLV, ``rtmp://`` = RTMP play)."""
    import trio

    rtmp = url.startswith("rtmp://")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {parts.path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode()
    states: list[Any] = []
    errors: list[str] = []

    def new_state() -> Any:
        return new_rtmp_viewer(url) if rtmp else FlvViewer(time.monotonic())

    async def one(state: Any) -> None:
        if rtmp:
            try:
                await rtmp_watch(url, state)
            except Exception as exc:  # reported; one viewer fails
                errors.append(f"rtmp: {exc}")
            return
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

    late: list[Any] = []

    async def late_joiner() -> None:
        """A viewer arriving while N others watch: what requirement 2 measures (first keyframe)."""
        state = new_state()
        late.append(state)
        with trio.move_on_after(5):
            if rtmp:
                try:
                    await rtmp_watch(url, state, until_key=True)
                except Exception as exc:  # reported; one viewer fails
                    errors.append(f"late rtmp: {exc}")
                return
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
                state = new_state()
                states.append(state)
                nursery.start_soon(one, state)
            await trio.sleep_until(start + warmup)
            for state in states:
                state.mark()
            # One per slot of the measured window (the last LATE_JOIN_TAIL seconds left for the
            # last one to finish), at a random point of its slot, each on its own clock. Joins
            # evenly spaced, or started when the previous joiner got its keyframe, would land at
            # about the same phase of the 2 s GOP every time: that biases the figure for servers
            # that make a joiner wait for the next keyframe (nginx-rtmp) by up to a whole GOP.
            slot = max(0.1, duration - LATE_JOIN_TAIL) / LATE_JOINERS
            phases = random.Random(LATE_JOINERS)
            for i in range(LATE_JOINERS):
                await trio.sleep_until(start + warmup + slot * (i + phases.random()))
                nursery.start_soon(late_joiner)
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


def wait_for_rtmp(url: str, timeout: float) -> None:
    """Play ``url`` (blocking sockets) until 20 kB of media arrived, retrying until ``timeout``."""
    host, port, *_ = split_rtmp_url(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = new_rtmp_viewer(url)
        try:
            with socket.create_connection((host, port), timeout=2) as sock:
                sock.sendall(state.data_to_send())
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    state.receive(data, time.monotonic())
                    if state.out:
                        sock.sendall(state.data_to_send())
                    if state.first_key_at is not None and state.bytes >= 20_000:
                        return
        except (OSError, RuntimeError):
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
    parser.add_argument(
        "--target-rtmp-play", help="RTMP play URL of the --target-rtmp stream (rtmp://h:p/app/name)"
    )
    parser.add_argument(
        "--viewer-protocol",
        choices=("http-flv", "rtmp"),
        default="http-flv",
        help="how viewers watch: HTTP-FLV GET, or RTMP connect + createStream + play",
    )
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
    if args.target_rtmp:
        needed = "--target-rtmp-play" if args.viewer_protocol == "rtmp" else "--target-http"
        if not (args.target_rtmp_play if args.viewer_protocol == "rtmp" else args.target_http):
            parser.error(
                f"--target-rtmp with --viewer-protocol {args.viewer_protocol} needs {needed}"
            )
    if args.serve_ours:
        serve_ours()
        return
    if args.viewers_worker:
        result = run_viewers(args.viewers_worker, args.viewers, args.warmup, args.duration)
        print(json.dumps(result), flush=True)
        return
    run_with_source("flv-fanout-", args.source, partial(run, args))


def run(
    args: argparse.Namespace, source: Path, children: list[subprocess.Popen[bytes]]
) -> dict[str, Any]:
    me = [sys.executable, str(Path(__file__).resolve())]
    rtmp_viewers = args.viewer_protocol == "rtmp"
    if args.target_rtmp:
        rtmp_url, pids = args.target_rtmp, args.server_pid
        play_url = args.target_rtmp_play if rtmp_viewers else args.target_http
    else:
        overrides: dict[str, Any] = {}
        if args.batch_window_ms is not None:
            overrides["fanout_batch_window_ms"] = args.batch_window_ms
        if rtmp_viewers:  # every viewer comes from 127.0.0.1; the default allows 20 per address
            overrides["max_rtmp_connections_per_ip"] = args.viewers + LATE_JOINERS + 10
            overrides["max_rtmp_connections"] = max(1000, args.viewers + LATE_JOINERS + 10)
        server = subprocess.Popen(
            [*me, "--serve-ours"],
            stdout=subprocess.PIPE,
            env={**os.environ, "SYNCTV_BENCH_LIVESTREAM": json.dumps(overrides)},
        )
        children.append(server)
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        rtmp_url = f"rtmp://127.0.0.1:{ports['rtmp']}/live/{STREAM_KEY}"
        if rtmp_viewers:
            play_url = f"rtmp://127.0.0.1:{ports['rtmp']}/live/{STREAM_ID}"
        else:
            play_url = f"http://127.0.0.1:{ports['http']}/live/{STREAM_ID}.flv"
        pids = [server.pid]
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    publish = ["-re", "-stream_loop", "-1", "-i", str(source), "-c", "copy", "-f", "flv"]
    publisher = subprocess.Popen([ffmpeg, "-nostdin", "-loglevel", "error", *publish, rtmp_url])
    children.append(publisher)
    (wait_for_rtmp if rtmp_viewers else wait_for_flv)(play_url, 20.0)
    time.sleep(2.0)  # let the GOP cache fill: joins then start on a keyframe like in production
    timing = ["--warmup", str(args.warmup), "--duration", str(args.duration)]
    worker = subprocess.Popen(
        [*me, "--viewers-worker", play_url, "--viewers", str(args.viewers), *timing],
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
        "viewer_protocol": args.viewer_protocol,
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
