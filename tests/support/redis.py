"""A real, throwaway redis-server for tests: loopback only, no persistence, killed afterwards.

Missing ``redis-server`` skips the Redis tests locally and fails them in CI (``CI=true``), where
``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# How long a fresh server may take to answer PING (it usually takes a few milliseconds).
STARTUP_TIMEOUT_SECONDS = 10.0
STARTUP_POLL_SECONDS = 0.01
# How long a server may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 5.0


@dataclass
class RedisServer:
    """A running server; :meth:`stop` lets a test take it away mid-test."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def redis_server_binary() -> str:
    """The redis-server path, or skip (fail in CI)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server is not installed")
    return binary


def free_port() -> int:
    """A loopback port nothing listens on right now (closed again, so it also serves as 'down')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start redis-server on a free loopback port in a temporary directory; stop it on exit."""
    binary = redis_server_binary()
    with tempfile.TemporaryDirectory(prefix="synctv-redis-") as directory:
        port = free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", directory, "--logfile", "redis.log"]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=directory
        )
        server = RedisServer(port, process)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
            while not ping(port):
                if process.poll() is not None:
                    log = Path(directory, "redis.log")
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    pytest.fail(f"redis-server exited with {process.returncode}: {tail}")
                if time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not answer PING in {STARTUP_TIMEOUT_SECONDS} s")
                time.sleep(STARTUP_POLL_SECONDS)
            yield server
        finally:
            server.stop()


async def send_command(port: int, *args: str) -> bytes:
    """Send one command over a fresh connection and return the start of the raw reply.

    For server administration in tests (``CLIENT PAUSE``), without going through the code under
    test.
    """
    import trio  # deferred: the rest of the harness is synchronous

    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(b"".join(parts))
        return await stream.receive_some()
