"""Redis-only behaviour: failing closed when the server is away or stalls, and cancellation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import trio
import trio_asyncio
from pydantic import SecretStr

from synctv.config import RedisConfig
from synctv.state import MemoryState, open_state
from synctv.state.base import StateUnavailable
from synctv.state.redis import open_redis_state
from tests.support.redis import RedisServer, free_port, redis_server, send_command

# Client timeout for the failure tests: short, so they finish quickly.
TIMEOUT = 0.3
# How long the server stalls (CLIENT PAUSE), longer than TIMEOUT.
PAUSE_MS = 600
# Slack for the timing assertions on a loaded 2-core machine.
SLACK = 1.0


def _prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server this test alone may stop or pause."""
    with redis_server() as server:
        yield server


async def test_open_fails_closed_when_nothing_listens() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with trio_asyncio.open_loop():
        start = trio.current_time()
        with pytest.raises(StateUnavailable, match=r"redis at 127\.0\.0\.1:\d+"):
            async with open_redis_state(url, key_prefix=_prefix(), timeout_seconds=TIMEOUT):
                pass  # pragma: no cover
        assert trio.current_time() - start < TIMEOUT + SLACK


async def test_operations_and_subscriptions_fail_closed_when_the_server_stops(
    own_redis: RedisServer,
) -> None:
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(own_redis.url, key_prefix=_prefix(), timeout_seconds=TIMEOUT) as state,
    ):
        await state.set("k", b"v", None)
        async with state.subscribe("room") as subscription:
            await trio.to_thread.run_sync(own_redis.stop)
            with pytest.raises(StateUnavailable, match="SUBSCRIBE"), trio.fail_after(SLACK):
                async for _ in subscription:
                    pass  # pragma: no cover
        with pytest.raises(StateUnavailable, match=r"redis GET at 127\.0\.0\.1"):
            await state.get("k")
        with pytest.raises(StateUnavailable):
            async with state.subscribe("room"):
                pass  # pragma: no cover
        assert state.statistics().unavailable_errors == 3


async def test_a_stalled_server_times_out_then_recovers(own_redis: RedisServer) -> None:
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(own_redis.url, key_prefix=_prefix(), timeout_seconds=TIMEOUT) as state,
    ):
        await state.set("k", b"v", None)
        assert b"+OK" in await send_command(own_redis.port, "CLIENT", "PAUSE", str(PAUSE_MS))
        start = trio.current_time()
        with pytest.raises(StateUnavailable, match=r"timed out after 0\.3 s"):
            await state.get("k")
        assert TIMEOUT <= trio.current_time() - start < TIMEOUT + SLACK
        await trio.sleep(PAUSE_MS / 1000)
        assert await state.get("k") == b"v"


async def test_cancelling_a_call_leaves_the_state_usable(own_redis: RedisServer) -> None:
    """A cancelled command must not leave its reply on a pooled connection for the next one."""
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(own_redis.url, key_prefix=_prefix(), timeout_seconds=5.0) as state,
    ):
        await state.set("a", b"A", None)
        await state.set("b", b"B", None)
        await send_command(own_redis.port, "CLIENT", "PAUSE", str(PAUSE_MS))
        with trio.move_on_after(0.05) as scope:
            await state.get("a")
        assert scope.cancelled_caught
        # Blocks until the pause ends; must be b's reply, never a's stale one.
        assert await state.get("b") == b"B"
        assert [await state.get("a") for _ in range(5)] == [b"A"] * 5
        assert state.statistics().unavailable_errors == 0


async def test_keys_and_channels_are_prefixed(redis_url: str) -> None:
    port = _port(redis_url)
    prefix = _prefix()
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(redis_url, key_prefix=prefix, timeout_seconds=TIMEOUT) as state,
    ):
        await state.set("k", b"v", None)
        assert await send_command(port, "GET", f"{prefix}k") == b"$1\r\nv\r\n"
        async with state.subscribe("room") as subscription:
            assert await send_command(port, "PUBLISH", f"{prefix}room", "raw") == b":1\r\n"
            with trio.fail_after(SLACK):
                assert await subscription.__anext__() == b"raw"


async def test_open_state_picks_memory_without_url() -> None:
    async with open_state(RedisConfig()) as state:
        assert isinstance(state, MemoryState)
        await state.set("k", b"v", None)
        assert await state.get("k") == b"v"


async def test_open_state_picks_redis_with_url(redis_url: str) -> None:
    config = RedisConfig(url=SecretStr(redis_url), key_prefix=_prefix(), timeout_seconds=TIMEOUT)
    async with trio_asyncio.open_loop(), open_state(config) as state:
        await state.set("k", b"v", None)
        assert await state.get("k") == b"v"
        assert state.statistics().backend == "redis"


async def test_open_redis_state_needs_the_asyncio_bridge(redis_url: str) -> None:
    with pytest.raises(RuntimeError, match="trio_asyncio"):
        async with open_redis_state(redis_url, key_prefix=_prefix(), timeout_seconds=TIMEOUT):
            pass  # pragma: no cover
