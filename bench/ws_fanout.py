"""The room channel at scale: one room's playback change reaching N connections, chat sustained
into that room, and many idle connections across rooms (server memory per connection).

    .venv/bin/python bench/ws_fanout.py [--connections 1000] [--changes 20] [--chat-rate 100]
        [--chat-seconds 60] [--idle 10000]

Starts ``synctv serve`` as a user does (``api_bench.started_server``; the per-address connection
cap raised, since every connection comes from 127.0.0.1, the channel's caps raised, since every
connection is the same account, the chat rate limit per user off, and this process's and the
server's descriptor limit raised to the hard limit). The clients here are deliberately thin: a WebSocket
handshake written by hand and frames parsed by hand on plain Trio sockets, one task per
connection that reads (none for idle ones), so the client process is not what is measured.

1. **Fan-out**: ``--connections`` connections to one room (hello, welcome). A commander on its
   own connection sends ``--changes`` seeks, one at a time; each change's latency per
   connection is from the commander's send to the ``playback_changed`` event's arrival there.
2. **Chat**: into the same room, ``--chat-senders`` more connections send ``--chat-rate`` chat
   messages per second in all (each under the channel's 50 messages/s) for ``--chat-seconds``,
   from a process of their own (spawned; so the 1,000 readers' work cannot make them late).
   Each message's delivery latency is from its send to its ``chat_message`` event's arrival, at
   ``--chat-sample`` of the connections; every connection only scans the bytes it reads for the
   events (server frames are unmasked, so no frame parsing: a Python client parsing 100,000
   frames a second would measure itself), the timed ones also for each message's text, taking
   the time of the read that completed it. Reported: the latency percentiles, the events missing at the end anywhere, the
   connections the server closed meanwhile (cut as too slow when their queues stay full), the
   server's CPU (percent of one core) and RSS over the phase, and this client's CPU.
3. **Idle**: ``--idle`` connections spread over rooms of ``--per-room``; the server's RSS before
   and with them all open (KiB per connection), and its CPU over ``--idle-seconds`` while they
   sit (the server sends no pings: it should be ~0).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import math
import multiprocessing
import os
import re
import resource
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from api_bench import cpu_seconds, register, set_setting, started_server  # bench/ is here

# -- a thin WebSocket client (RFC 6455) ----------------------------------------------------------


async def ws_open(port: int, path: str, token: str) -> trio.SocketStream:
    """Connect and complete the opening handshake (subprotocol synctv.v1)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: synctv.v1\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    await stream.send_all(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = await stream.receive_some(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise ConnectionError(status.decode(errors="replace"))
    return stream


def text_frame(text: str) -> bytes:
    """One masked text frame (RFC 6455 §5.2: FIN|opcode 1, MASK|length, masking key, data)."""
    data = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    n = len(data)
    if n < 126:
        header = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    return header + mask + masked


class FrameReader:
    """Server frames (unmasked) out of a byte stream: text payloads, in order."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def _need(self, n: int) -> None:
        while len(self.buffer) < n:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise EOFError
            self.buffer += chunk

    async def next_text(self) -> bytes:
        while True:
            await self._need(2)
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                await self._need(4)
                length, offset = struct.unpack_from("!H", self.buffer, 2)[0], 4
            elif length == 127:
                await self._need(10)
                length, offset = struct.unpack_from("!Q", self.buffer, 2)[0], 10
            await self._need(offset + length)
            payload = bytes(self.buffer[offset : offset + length])
            del self.buffer[: offset + length]
            if opcode == 0x8:
                raise EOFError
            if opcode == 0x1:
                return payload


async def join(port: int, room: str, token: str) -> tuple[trio.SocketStream, FrameReader]:
    """Open the channel, say hello, wait for the welcome."""
    stream = await ws_open(port, f"/ws/rooms/{room}", token)
    await stream.send_all(text_frame(json.dumps({"hello": {}})))
    reader = FrameReader(stream)
    first = await reader.next_text()
    if b'"welcome"' not in first:
        raise ConnectionError(first[:200].decode(errors="replace"))
    return stream, reader


# -- the measurements ----------------------------------------------------------------------------


@dataclass
class Fanout:
    sent: list[float] = field(default_factory=list)  # perf_counter() of each change's send
    latencies: list[float] = field(default_factory=list)
    arrived: list[int] = field(default_factory=list)  # connections that got change k
    all_in: list[trio.Event] = field(default_factory=list)
    connections: int = 0


async def follow(reader: FrameReader, fanout: Fanout) -> None:
    seen = 0
    try:
        while True:
            payload = await reader.next_text()
            if b'"playback_changed"' not in payload:
                continue
            now = time.perf_counter()
            if seen < len(fanout.sent):
                fanout.latencies.append(now - fanout.sent[seen])
                fanout.arrived[seen] += 1
                if fanout.arrived[seen] == fanout.connections:
                    fanout.all_in[seen].set()
            seen += 1
    except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def open_many(
    port: int, rooms: list[str], token: str, count: int, limit: int = 64
) -> tuple[list[tuple[trio.SocketStream, FrameReader]], int]:
    """``count`` connections spread over ``rooms`` round robin; (connections, failures)."""
    opened: list[tuple[trio.SocketStream, FrameReader]] = []
    failed = 0
    limiter = trio.CapacityLimiter(limit)

    async def one(n: int) -> None:
        nonlocal failed
        async with limiter:
            try:
                opened.append(await join(port, rooms[n % len(rooms)], token))
            except (OSError, ConnectionError, EOFError, trio.BrokenResourceError):
                failed += 1

    async with trio.open_nursery() as nursery:
        for n in range(count):
            nursery.start_soon(one, n)
    return opened, failed


CHAT_MARK = b'"chat_message"'
CHAT_TEXT = re.compile(rb'"text":\s*"bench (\d+)"')
# Bytes of a read kept for the next (a mark or a text split across two reads is seen once).
TAIL = 64


@dataclass
class ChatRun:
    arrived: list[tuple[int, float]] = field(default_factory=list)  # (k, perf_counter())
    delivered: int = 0  # chat_message events seen, over every measured connection
    expected: int = 0
    all_in: trio.Event = field(default_factory=trio.Event)
    closed: int = 0  # measured connections the server closed (4408: could not keep up)

    def seen(self, count: int) -> None:
        self.delivered += count
        if self.delivered >= self.expected:
            self.all_in.set()


async def chat_counted(
    stream: trio.SocketStream, reader: FrameReader, run: ChatRun, timed: bool
) -> None:
    """A connection that counts chat_message events in the raw bytes (server frames are
    unmasked, and a message's JSON is in one frame: no frame parsing); a timed one also notes
    when each message's text arrived (the time of the read that completed it). What a read
    shares with the one before (its last TAIL bytes) counts only where it ends in the new
    bytes."""
    tail = b""
    data = bytes(reader.buffer)
    reader.buffer.clear()
    try:
        while True:
            now = time.perf_counter()
            start = len(tail)
            marks = data.count(CHAT_MARK) - tail.count(CHAT_MARK)
            run.seen(marks)
            if timed and marks:
                for found in CHAT_TEXT.finditer(data):
                    if found.end() > start:
                        run.arrived.append((int(found.group(1)), now))
            tail = data[-TAIL:]
            chunk = await stream.receive_some(65536)
            if not chunk:
                run.closed += 1  # the server closed it
                return
            data = tail + chunk
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


def chat_senders_process(
    port: int, room: str, token: str, senders: int, total: int, rate: float, start_at: float
) -> dict[str, Any]:
    """The senders, in a process of their own (so the readers' work does not make them late):
    ``senders`` connections send ``total`` messages at ``rate`` in all, on a common schedule
    starting at ``start_at`` (perf_counter). Each message's send time (perf_counter, the same
    clock in every process on Linux), the errors they were sent back, their CPU."""

    async def run() -> dict[str, Any]:
        opened = [await join(port, room, token) for _ in range(senders)]
        sent: dict[int, float] = {}
        errors = 0
        begin = start_at

        async def reads(reader: FrameReader) -> None:
            nonlocal errors
            try:
                while True:
                    if (await reader.next_text()).startswith(b'{"error"'):
                        errors += 1
            except (EOFError, trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        async def send(stream: trio.SocketStream, first: int) -> None:
            for k in range(first, total, senders):
                await trio.sleep(max(0.0, begin + k / rate - time.perf_counter()))
                sent[k] = time.perf_counter()
                message = {"opId": f"m{k}", "chat": {"text": f"bench {k}"}}
                await stream.send_all(text_frame(json.dumps(message)))

        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        async with trio.open_nursery() as nursery:
            for _, reader in opened:
                nursery.start_soon(reads, reader)
            async with trio.open_nursery() as sending:
                for n, (stream, _) in enumerate(opened):
                    sending.start_soon(send, stream, n)
            ended = time.perf_counter()
            await trio.sleep(2.0)  # the last answers (refusals)
            nursery.cancel_scope.cancel()
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        for stream, _ in opened:
            await stream.aclose()
        cpu = usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime
        return {"sent": sent, "errors": errors, "began": begin, "ended": ended, "cpu": cpu}

    return trio.run(run)


async def measure_chat(
    args: argparse.Namespace,
    port: int,
    pid: int,
    token: str,
    room: str,
    fan: list[tuple[trio.SocketStream, FrameReader]],
) -> dict[str, Any]:
    total = int(args.chat_rate * args.chat_seconds)
    run = ChatRun(expected=total * len(fan))
    sampled = min(args.chat_sample, len(fan))
    stride = max(1, len(fan) // max(sampled, 1))
    timed = set(range(0, stride * sampled, stride))  # spread over the room's connections
    senders = concurrent.futures.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn")
    )
    # Time for the process to start and its connections to open.
    start_at = time.perf_counter() + 5.0
    outcome = senders.submit(
        chat_senders_process,
        port,
        room,
        token,
        args.chat_senders,
        total,
        args.chat_rate,
        start_at,
    )
    async with trio.open_nursery() as nursery:
        for n, (stream, reader) in enumerate(fan):
            nursery.start_soon(chat_counted, stream, reader, run, n in timed)
        await trio.sleep(start_at - time.perf_counter())
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        sending = await trio.to_thread.run_sync(outcome.result)
        sent_s = sending["ended"] - sending["began"]
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        rss = rss_mb(pid)
        with trio.move_on_after(30):
            await run.all_in.wait()
        all_cpu = cpu_seconds(pid) - cpu0
        nursery.cancel_scope.cancel()
    senders.shutdown()
    client_cpu = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime) / sent_s
    sent: dict[int, float] = sending["sent"]
    latencies = [at - sent[k] for k, at in run.arrived if k in sent]
    return {
        "chat_messages": total,
        "chat_rate_per_s": round(len(sent) / sent_s, 1),
        "chat_seconds": round(sent_s, 1),
        "chat_connections": len(fan),
        "chat_sampled_connections": sampled,
        "chat_errors": sending["errors"],
        "chat_missing": run.expected - run.delivered,
        "chat_connections_closed": run.closed,
        "chat_latency_ms_p50": percentile(latencies, 0.50),
        "chat_latency_ms_p95": percentile(latencies, 0.95),
        "chat_latency_ms_p99": percentile(latencies, 0.99),
        "chat_latency_ms_max": percentile(latencies, 1.0),
        "server_cpu_percent_chat": round(cpu * 100, 1),
        "server_rss_mb_chat": round(rss, 1),
        # The server's CPU from the first message until every event arrived (or the wait
        # ended) over the chat_message events delivered meanwhile: CPU per frame per connection.
        "server_cpu_us_per_frame_chat": round(all_cpu * 1e6 / max(run.delivered, 1), 1),
        # The readers' process (1,000 connections) and the senders' (its own process).
        "client_cpu_percent_chat": round(client_cpu * 100, 1),
        "sender_cpu_percent_chat": round(sending["cpu"] * 100 / sent_s, 1),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


async def measure(
    args: argparse.Namespace, port: int, pid: int, token: str, room: str, idle_rooms: list[str]
) -> dict[str, Any]:
    figures: dict[str, Any] = {"bench": "ws_fanout"}
    rss_base = rss_mb(pid)
    began = time.perf_counter()
    fan, failed = await open_many(port, [room], token, args.connections)
    figures["fanout_connections"] = len(fan)
    figures["fanout_connect_failures"] = failed
    figures["connects_per_s"] = round(len(fan) / (time.perf_counter() - began), 1)
    fanout = Fanout(connections=len(fan))
    async with trio.open_nursery() as nursery:
        for _, reader in fan:
            nursery.start_soon(follow, reader, fanout)
        commander, commander_reader = await join(port, room, token)
        nursery.start_soon(follow, commander_reader, Fanout())  # keeps its socket drained
        missing = 0
        fan_cpu0 = cpu_seconds(pid)
        for k in range(args.changes):
            fanout.arrived.append(0)
            fanout.all_in.append(trio.Event())
            fanout.sent.append(time.perf_counter())
            command = {"opId": f"c{k}", "playback": {"action": "seek", "position": 10.0 + k}}
            await commander.send_all(text_frame(json.dumps(command)))
            with trio.move_on_after(10):
                await fanout.all_in[k].wait()
            missing += fanout.connections - fanout.arrived[k]
            await trio.sleep(args.gap)
        fan_cpu = cpu_seconds(pid) - fan_cpu0
        nursery.cancel_scope.cancel()
    figures.update(
        {
            "changes": args.changes,
            "fanout_missing": missing,
            "fanout_latency_ms_p50": percentile(fanout.latencies, 0.50),
            "fanout_latency_ms_p95": percentile(fanout.latencies, 0.95),
            "fanout_latency_ms_p99": percentile(fanout.latencies, 0.99),
            "fanout_latency_ms_max": percentile(fanout.latencies, 1.0),
            "server_rss_mb_with_fanout": round(rss_mb(pid), 1),
            # All the server's CPU over the changes (the commands, their commits, the
            # deliveries) over the events delivered: what one event costs per connection.
            "server_cpu_us_per_frame_fanout": round(
                fan_cpu * 1e6 / max(len(fanout.latencies), 1), 1
            ),
        }
    )
    if args.chat_rate > 0 and args.chat_seconds > 0:
        figures.update(await measure_chat(args, port, pid, token, room, fan))
    for stream, _ in [*fan, (commander, commander_reader)]:
        await stream.aclose()
    await trio.sleep(1.0)

    rss_before_idle = rss_mb(pid)
    began = time.perf_counter()
    idle, failed = await open_many(port, idle_rooms, token, args.idle)
    connect_s = time.perf_counter() - began
    await trio.sleep(1.0)
    rss_idle = rss_mb(pid)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    await trio.sleep(args.idle_seconds)
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    # Still open? Every idle connection answers a clock ping.
    answered = 0
    with trio.move_on_after(30):
        for stream, reader in idle:
            await stream.send_all(text_frame(json.dumps({"clock": {"clientSent": 1.0}})))
            if b'"clockAck"' in await reader.next_text():
                answered += 1
    for stream, _ in idle:
        await stream.aclose()
    figures.update(
        {
            "idle_connections": len(idle),
            "idle_connect_failures": failed,
            "idle_rooms": len(idle_rooms),
            "idle_connect_s": round(connect_s, 1),
            "idle_still_open": answered,
            "server_rss_mb_base": round(rss_base, 1),
            "server_rss_mb_idle": round(rss_idle, 1),
            "server_kib_per_idle_connection": round(
                (rss_idle - rss_before_idle) * 1024 / max(len(idle), 1), 1
            ),
            "server_cpu_percent_idle": round(cpu * 100, 2),
            "load_average": round(os.getloadavg()[0], 2),
        }
    )
    return figures


def raise_fd_limit() -> int:
    """Raise this process's descriptor limit to the hard limit (the server inherits it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def prepare(base: str, idle_rooms: int) -> tuple[str, str, list[str]]:
    """(token, fan-out room, idle rooms): the fan-out room plays one media item."""
    token = register(base, f"fanout{os.getpid()}{int(time.time() * 1000) % 100_000}")
    with httpx.Client(
        base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as http:

        def room(name: str) -> str:
            made = http.post("/api/rooms", json={"name": name})
            assert made.status_code < 300, made.text
            return str(made.json()["room"]["id"])

        fan = room("fanout")
        items = [{"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}]
        media = http.post(f"/api/rooms/{fan}/media", json={"items": items}).json()["media"]
        started = http.post(f"/api/rooms/{fan}/playback/start", json={"mediaId": media[0]["id"]})
        assert started.status_code < 300, started.text
        return token, fan, [room(f"idle{n}") for n in range(idle_rooms)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=1000, help="fan-out room")
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between changes")
    parser.add_argument("--chat-rate", type=float, default=100.0, help="messages/s (0: none)")
    parser.add_argument("--chat-seconds", type=float, default=60.0)
    parser.add_argument("--chat-senders", type=int, default=4, help="connections that send")
    parser.add_argument("--chat-sample", type=int, default=100, help="connections that time")
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--per-room", type=int, default=100, help="idle connections per room")
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--database-url", help="a database for the server (default embedded)")
    args = parser.parse_args()
    hard = raise_fd_limit()
    total = args.connections + args.idle + args.chat_senders + 100
    if total * 1.05 > hard:
        raise SystemExit(f"{total} connections need a descriptor limit above {hard}")
    env = {
        "SYNCTV_SERVER_MAX_CONNECTIONS": str(hard - 500),
        "SYNCTV_SERVER_MAX_CONNECTIONS_PER_ADDRESS": str(total + 100),
        # One account holds every connection: its cap and the room's are raised to fit.
        "SYNCTV_REALTIME_MAX_CONNECTIONS_PER_USER": str(total),
        "SYNCTV_REALTIME_MAX_CONNECTIONS_PER_ROOM": str(total),
        "SYNCTV_REALTIME_MAX_CONNECTIONS": str(total),
    }
    idle_rooms = max(1, math.ceil(args.idle / args.per_room))
    with started_server(args, extra_env=env) as rig:
        if idle_rooms >= 10:
            set_setting(rig, "server.maxRoomsPerUser", str(idle_rooms + 10))
        if args.chat_rate > 0:  # one account sends it all: measured is fan-out, not the limit
            set_setting(rig, "ratelimit.chatMessagesPerUserPerSecond", "0")
        token, room, rooms = prepare(rig.http_base, idle_rooms)
        port = int(rig.http_base.rsplit(":", 1)[1])
        figures = trio.run(measure, args, port, rig.pid, token, room, rooms)
    figures["descriptor_limit"] = hard
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
