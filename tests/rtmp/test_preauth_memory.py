"""The hardening issue's repro against a real ``synctv serve``: 60 connections from 3 addresses
each set a 16 MiB chunk size after the handshake and send a 10 MiB message before ``connect``.
Before, the server buffered every such message whole (measured here: RSS 75 → 920 MiB, never
given back); now the header announcing it is refused, so RSS stays within 20 MiB (+6 MiB)."""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from tests.support.process import environment, stop, wait_ready

pytestmark = pytest.mark.slow

CONNECTIONS = 60
SOURCES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
MESSAGE = 10 * 1024 * 1024 - 1  # just within the publish limit (max_flv_tag_size_bytes)
HANDSHAKE = 1536


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")  # pragma: no cover


def header0(csid: int, length: int, type_id: int) -> bytes:
    """RTMP chunk header, fmt 0 (§5.3.1.2.1): timestamp 0, length u24, type u8, stream id 0."""
    return bytes((csid,)) + bytes(3) + length.to_bytes(3, "big") + bytes((type_id,)) + bytes(4)


async def receive_exactly(stream: trio.SocketStream, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        if not chunk:
            raise trio.BrokenResourceError("closed during the handshake")
        data += chunk
    return data


async def attack(port: int, source: str, outcomes: list[str]) -> None:
    """Handshake, SetChunkSize 16 MiB, then a 10 MiB command message before connect."""
    stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    async with stream:
        try:
            await stream.send_all(b"\x03" + bytes(HANDSHAKE))  # C0 + C1 (simple handshake)
            s0s1s2 = await receive_exactly(stream, 1 + 2 * HANDSHAKE)
            await stream.send_all(s0s1s2[1 : 1 + HANDSHAKE])  # C2 echoes S1
            big_chunks = header0(2, 4, 1) + struct.pack(">I", 0xFFFFFF)  # ~16 MiB chunks
            await stream.send_all(big_chunks + header0(3, MESSAGE, 20))
            body = bytes(1024 * 1024)
            left = MESSAGE
            while left:
                await stream.send_all(body[:left])
                left -= min(left, len(body))
            # Everything was accepted into the kernel: wait for the server to close.
            with trio.fail_after(10):
                while await stream.receive_some(65536):
                    pass
            outcomes.append("closed after the body")
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            outcomes.append("cut")


async def test_pre_publish_messages_cannot_grow_the_server(tmp_path: Path, fresh_dsn: str) -> None:
    env = environment(tmp_path / "data")
    env["SYNCTV_DATABASE_URL"] = fresh_dsn
    env["SYNCTV_LIVESTREAM_RTMP_PORT"] = str(_free_port())
    process = subprocess.Popen(  # noqa: ASYNC220 (a long-lived child, awaited via threads)
        [sys.executable, "-m", "synctv", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await trio.to_thread.run_sync(wait_ready, env, process, 60.0)
        port = int(env["SYNCTV_LIVESTREAM_RTMP_PORT"])
        await trio.sleep(1.0)  # let start-up allocations settle
        before = rss_mib(process.pid)
        outcomes: list[str] = []
        with trio.fail_after(60):
            async with trio.open_nursery() as nursery:
                for index in range(CONNECTIONS):
                    nursery.start_soon(attack, port, SOURCES[index % len(SOURCES)], outcomes)
        after = rss_mib(process.pid)
        # Cut early: at the header, long before the 10 MiB body could all be sent.
        assert outcomes == ["cut"] * CONNECTIONS, sorted(set(outcomes))
        assert after - before < 20, (before, after, sorted(set(outcomes)))
        health = f"http://127.0.0.1:{env['SYNCTV_HEALTH_PORT']}/health/live"
        async with httpx.AsyncClient(timeout=2) as client:
            assert (await client.get(health)).status_code == 200
        assert process.poll() is None
    finally:
        code, _, _ = await trio.to_thread.run_sync(stop, process, signal.SIGTERM)
    assert code == 0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
