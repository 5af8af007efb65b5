"""A real `synctv serve` under `ulimit -n 1024` with 1,100 idle HTTP connections from 20
addresses: health keeps answering, the admin CLI works, nothing floods the log, and everything
recovers when the clients leave. Before the fix the idle keep-alive connections were never
closed, nothing capped them, and the management socket's EMFILE ended the process."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio

from tests.support.process import admin_status, environment, stop, wait_ready

pytestmark = pytest.mark.slow

FD_LIMIT = 1024
CLIENTS = 1100
ADDRESSES = 20
REQUEST = b"GET /api/webrtc/ice-servers HTTP/1.1\r\nhost: x\r\n\r\n"


def limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def idle_client(index: int, port: int, statuses: list[bytes], holding: trio.Event) -> None:
    """One connection: a request, its answer, then idle keep-alive until told to leave."""
    source = f"127.0.0.{2 + index % ADDRESSES}"
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port, local_address=source)
    except OSError as exc:
        statuses.append(f"connect failed: {exc}".encode())
        return
    async with stream:
        try:
            await stream.send_all(REQUEST)
            with trio.fail_after(5):
                answer = await stream.receive_some(4096)
            statuses.append(answer[:12])
            await holding.wait()
        except (trio.BrokenResourceError, trio.TooSlowError) as exc:
            statuses.append(type(exc).__name__.encode())


@pytest.fixture
def own_descriptors() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 3 * CLIENTS:
        pytest.skip("the test itself needs more descriptors than the hard limit allows")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@pytest.mark.parametrize("cap", ["auto", "above_the_limit"])
async def test_idle_connection_flood_under_a_low_descriptor_limit(
    tmp_path: Path, fresh_dsn: str, own_descriptors: None, cap: str
) -> None:
    """``auto``: the connection cap keeps descriptors free, so nothing runs out. ``above the
    limit``: the process really runs out of descriptors (EMFILE on every listener and on the
    management socket's asyncio accept); it must survive that and recover."""
    env = environment(tmp_path / "data")
    env["SYNCTV_DATABASE_URL"] = fresh_dsn
    if cap == "above_the_limit":
        env["SYNCTV_SERVER_MAX_CONNECTIONS"] = str(4 * FD_LIMIT)
    env["SYNCTV_SERVER_KEEP_ALIVE_TIMEOUT_SECONDS"] = "60"  # the flood outlives the test
    process = subprocess.Popen(  # noqa: ASYNC220 (a long-lived child, awaited via threads)
        [sys.executable, "-m", "synctv", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=limit_descriptors,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    try:
        await trio.to_thread.run_sync(wait_ready, env, process, 60.0)
        reader.start()
        port = int(env["SYNCTV_SERVER_PORT"])
        health = f"http://127.0.0.1:{env['SYNCTV_HEALTH_PORT']}/health/ready"
        statuses: list[bytes] = []
        holding = trio.Event()
        async with trio.open_nursery() as nursery:
            for index in range(CLIENTS):
                nursery.start_soon(idle_client, index, port, statuses, holding)
                if index % 100 == 99:
                    await trio.sleep(0.05)
            with trio.fail_after(30):
                while len(statuses) < CLIENTS:  # noqa: ASYNC110 (filled by the clients)
                    await trio.sleep(0.1)
            served = statuses.count(b"HTTP/1.1 200")
            refused = statuses.count(b"HTTP/1.1 503")
            if cap == "auto":
                # Half the descriptor limit is served, the rest refused at once with 503.
                assert served == FD_LIMIT // 2, sorted(set(statuses))
                assert served + refused == CLIENTS, sorted(set(statuses))
                # While the flood holds its connections: health answers, the admin CLI works.
                async with httpx.AsyncClient(timeout=1.0) as client:
                    assert (await client.get(health)).status_code == 200
                status = await trio.to_thread.run_sync(admin_status, env)
                assert "ready" in status.lower(), status
            else:
                assert served > FD_LIMIT // 2  # no cap in the way: descriptors ran out
                # The management socket's accept now fails with EMFILE inside asyncio; that
                # used to end the process. The command itself may fail: no descriptor is free.
                await trio.to_thread.run_sync(
                    partial(
                        subprocess.run,
                        [sys.executable, "-m", "synctv", "admin", "status"],
                        env=env,
                        capture_output=True,
                        timeout=30,
                        check=False,
                    )
                )
                await trio.sleep(1.5)  # asyncio retries the accept after a second
            assert process.poll() is None
            holding.set()

        # Everything recovers once the clients leave: the main port serves again.
        last: object = None
        with trio.move_on_after(10):
            while last != 200:
                try:
                    async with httpx.AsyncClient(timeout=2.0) as client:
                        last = (
                            await client.get(f"http://127.0.0.1:{port}/api/webrtc/ice-servers")
                        ).status_code
                except httpx.HTTPError as exc:
                    last = repr(exc)
                if last != 200:
                    await trio.sleep(0.2)
        assert last == 200
        async with httpx.AsyncClient(timeout=1.0) as client:
            assert (await client.get(health)).status_code == 200
        status = await trio.to_thread.run_sync(admin_status, env)
        assert "ready" in status.lower(), status
        assert process.poll() is None
    finally:
        code, _, rest = await trio.to_thread.run_sync(stop, process, signal.SIGTERM)
    reader.join(timeout=5)
    log = "".join(output) + rest
    assert code == 0, log[-3000:]
    assert "accept returned" not in log  # trio's per-retry EMFILE line
    # No flood: apart from one access line per request served, a handful of lifecycle lines.
    other = [line for line in log.splitlines() if "synctv.access" not in line]
    assert len(other) < 30, "\n".join(other)
    if cap == "above_the_limit":
        assert "accept failed" in log, "\n".join(other)  # descriptors really ran out
