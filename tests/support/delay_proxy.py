"""A loopback TCP proxy that holds every chunk for a while: one simulated network path.

Each direction keeps its order; a chunk read at ``t`` is written at ``max(t + d, the previous
chunk's release)``, where ``d`` is ``delay`` plus a uniform jitter of ``± jitter`` seconds.
"""

from __future__ import annotations

import random
from collections import deque

import trio


async def _pump(
    source: trio.SocketStream,
    sink: trio.SocketStream,
    delay: float,
    jitter: float,
    rng: random.Random,
) -> None:
    held: deque[tuple[float, bytes]] = deque()
    arrived = trio.Event()

    async def write() -> None:
        nonlocal arrived
        while True:
            while not held:
                await arrived.wait()
                arrived = trio.Event()
            release, data = held.popleft()
            await trio.sleep_until(release)
            if not data:
                await sink.send_eof()
                return
            await sink.send_all(data)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(write)
        last = 0.0
        while True:
            try:
                data = await source.receive_some(65536)
            except trio.BrokenResourceError:
                data = b""
            hold = max(0.0, delay + rng.uniform(-jitter, jitter))
            last = max(last, trio.current_time() + hold)
            held.append((last, data))
            arrived.set()
            if not data:
                return


async def delay_proxy(
    upstream_port: int,
    delay: float,
    *,
    jitter: float = 0.0,
    seed: int = 0,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen on a loopback port (given to ``task_status``) and relay each connection to
    ``upstream_port``, both directions held ``delay`` ± ``jitter`` seconds."""
    rng = random.Random(seed)

    async def relay(client: trio.SocketStream) -> None:
        try:
            async with (
                client,
                await trio.open_tcp_stream("127.0.0.1", upstream_port) as server,
                trio.open_nursery() as nursery,
            ):
                nursery.start_soon(_pump, client, server, delay, jitter, rng)
                nursery.start_soon(_pump, server, client, delay, jitter, rng)
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # either side went away: so does the path

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(relay, listeners)
