"""One behaviour suite for every ShortLivedState backend: memory (fake clock) and real Redis."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import trio
import trio_asyncio

from synctv.state.base import ShortLivedState, StateUnavailable, Subscription
from synctv.state.memory import MemoryState
from synctv.state.redis import open_redis_state
from tests.support.waiting import eventually

# Small, so the slow-subscriber test overflows it quickly.
QUEUE_MESSAGES = 8
# Short TTLs keep the Redis runs fast; the memory backend jumps its fake clock instead.
TTL = 0.2
PAST_TTL = 0.3
# Guard for anything that waits on pub/sub delivery or on Redis settling.
WAIT_LIMIT = 3.0


class FakeClock:
    """A clock the memory backend reads; tests move it forward instantly."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    state: ShortLivedState
    # Let `seconds` pass as far as TTLs are concerned.
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """None for memory; the Redis URL (starting the session server) for redis."""
    if request.param == "memory":
        return None
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
async def backend(backend_url: str | None) -> AsyncIterator[Backend]:
    if backend_url is None:
        clock = FakeClock()
        memory = MemoryState(clock, subscriber_queue_messages=QUEUE_MESSAGES)

        async def advance(seconds: float) -> None:
            clock.now += seconds
            await trio.lowlevel.checkpoint()

        yield Backend("memory", memory, advance)
        await memory.aclose()
        return
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(
            backend_url,
            key_prefix=f"test:{uuid.uuid4().hex}:",
            timeout_seconds=WAIT_LIMIT,
            subscriber_queue_messages=QUEUE_MESSAGES,
        ) as redis_state,
    ):
        yield Backend("redis", redis_state, trio.sleep)


async def receive(subscription: Subscription, count: int) -> list[bytes]:
    received: list[bytes] = []
    with trio.fail_after(WAIT_LIMIT):
        async for message in subscription:
            received.append(message)
            if len(received) == count:
                break
    return received


# -- key/value ----------------------------------------------------------------------------------


async def test_set_get_delete(backend: Backend) -> None:
    state = backend.state
    assert await state.get("k") is None
    await state.set("k", b"v", None)
    assert await state.get("k") == b"v"
    await state.set("k", b"\x00binary\xff", None)
    assert await state.get("k") == b"\x00binary\xff"
    assert await state.delete("k") is True
    assert await state.delete("k") is False
    assert await state.get("k") is None


async def test_ttl_expiry(backend: Backend) -> None:
    state = backend.state
    await state.set("k", b"v", TTL)
    await state.set("forever", b"v", None)
    assert await state.get("k") == b"v"
    await backend.advance(PAST_TTL)
    assert await state.get("k") is None
    assert await state.delete("k") is False
    assert await state.get("forever") == b"v"


async def test_set_replaces_ttl(backend: Backend) -> None:
    await backend.state.set("k", b"old", TTL)
    await backend.state.set("k", b"new", None)
    await backend.advance(PAST_TTL)
    assert await backend.state.get("k") == b"new"


@pytest.mark.parametrize("ttl", [0.0, -1.0, math.nan, math.inf])
async def test_bad_ttl_is_refused(backend: Backend, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        await backend.state.set("k", b"v", ttl)
    with pytest.raises(ValueError, match="ttl_seconds"):
        await backend.state.set_if_absent("k", b"v", ttl)


async def test_set_if_absent(backend: Backend) -> None:
    state = backend.state
    assert await state.set_if_absent("ticket", b"first", TTL) is True
    assert await state.set_if_absent("ticket", b"second", TTL) is False
    assert await state.get("ticket") == b"first"
    await backend.advance(PAST_TTL)
    assert await state.set_if_absent("ticket", b"third", None) is True
    assert await state.get("ticket") == b"third"


async def test_set_if_absent_has_one_winner_under_concurrency(backend: Backend) -> None:
    wins: list[bytes] = []

    async def issue(n: int) -> None:
        value = str(n).encode()
        if await backend.state.set_if_absent("ticket", value, None):
            wins.append(value)

    async with trio.open_nursery() as nursery:
        for n in range(50):
            nursery.start_soon(issue, n)
    assert len(wins) == 1
    assert await backend.state.get("ticket") == wins[0]


async def test_take_once(backend: Backend) -> None:
    state = backend.state
    assert await state.take("ticket") is None
    await state.set("ticket", b"login-state", TTL)
    assert await state.take("ticket") == b"login-state"
    assert await state.take("ticket") is None
    assert await state.get("ticket") is None


async def test_take_of_expired_key_is_none(backend: Backend) -> None:
    await backend.state.set("ticket", b"v", TTL)
    await backend.advance(PAST_TTL)
    assert await backend.state.take("ticket") is None


async def test_take_has_one_winner_under_concurrency(backend: Backend) -> None:
    await backend.state.set("ticket", b"secret", None)
    taken: list[bytes | None] = []

    async def taker() -> None:
        taken.append(await backend.state.take("ticket"))

    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(taker)
    assert len(taken) == 50
    assert taken.count(b"secret") == 1
    assert taken.count(None) == 49


# -- rate windows -------------------------------------------------------------------------------


async def test_incr_window_counts_then_resets(backend: Backend) -> None:
    state = backend.state
    assert [await state.incr_window("hits", TTL) for _ in range(3)] == [1, 2, 3]
    assert await state.get("hits") == b"3"
    await backend.advance(PAST_TTL)
    assert await state.get("hits") is None
    assert await state.incr_window("hits", TTL) == 1


async def test_incr_window_is_per_key(backend: Backend) -> None:
    assert await backend.state.incr_window("a", TTL) == 1
    assert await backend.state.incr_window("b", TTL) == 1
    assert await backend.state.incr_window("a", TTL) == 2


async def test_incr_window_counts_concurrent_hits(backend: Backend) -> None:
    async with trio.open_nursery() as nursery:
        for _ in range(50):
            nursery.start_soon(backend.state.incr_window, "hits", 60.0)
    assert await backend.state.incr_window("hits", 60.0) == 51


async def test_incr_window_refuses_a_non_counter(backend: Backend) -> None:
    await backend.state.set("k", b"not a number", None)
    with pytest.raises(ValueError, match="not a counter"):
        await backend.state.incr_window("k", TTL)
    await backend.advance(PAST_TTL)
    assert await backend.state.get("k") == b"not a number"


async def test_incr_window_gives_an_untimed_counter_a_window(backend: Backend) -> None:
    await backend.state.set("hits", b"5", None)
    assert await backend.state.incr_window("hits", TTL) == 6
    await backend.advance(PAST_TTL)
    assert await backend.state.incr_window("hits", TTL) == 1


# -- pub/sub ------------------------------------------------------------------------------------


async def test_publish_without_subscribers(backend: Backend) -> None:
    assert await backend.state.publish("room", b"nobody") == 0


async def test_pubsub_order_and_fan_out(backend: Backend) -> None:
    state = backend.state
    messages = [f"event {n}".encode() for n in range(QUEUE_MESSAGES)]
    async with state.subscribe("room") as first, state.subscribe("room") as second:
        assert isinstance(first, Subscription)
        assert isinstance(second, Subscription)
        assert state.statistics().subscribers == 2
        for message in messages:
            assert await state.publish("room", message) == 2
        assert await receive(first, len(messages)) == messages
        assert await receive(second, len(messages)) == messages


async def test_channels_are_separate(backend: Backend) -> None:
    state = backend.state
    async with state.subscribe("a") as on_a, state.subscribe("b") as on_b:
        assert await state.publish("b", b"for b") == 1
        assert await state.publish("a", b"for a") == 1
        assert await receive(on_a, 1) == [b"for a"]
        assert await receive(on_b, 1) == [b"for b"]


async def test_slow_subscriber_drops_are_bounded_and_counted(backend: Backend) -> None:
    state = backend.state
    published = [str(n).encode() for n in range(QUEUE_MESSAGES + 12)]
    async with state.subscribe("room") as slow:
        for message in published:
            await state.publish("room", message)

        async def dropped_all() -> bool:
            return state.statistics().dropped_messages == 12

        await eventually(dropped_all)
        assert slow.dropped == 12
        # The oldest messages were kept; the newest were dropped while the queue was full.
        assert await receive(slow, QUEUE_MESSAGES) == published[:QUEUE_MESSAGES]
        await state.publish("room", b"after catching up")
        assert await receive(slow, 1) == [b"after catching up"]


async def test_leaving_the_context_unsubscribes(backend: Backend) -> None:
    state = backend.state
    async with state.subscribe("room") as subscription:
        assert await state.publish("room", b"hello") == 1
    assert state.statistics().subscribers == 0

    async def nobody_listens() -> bool:
        return await state.publish("room", b"anyone?") == 0

    await eventually(nobody_listens)
    # What was queued before leaving can still be read; then iteration ends.
    assert [message async for message in subscription] == [b"hello"]


async def test_body_exceptions_leave_subscribe_unwrapped(backend: Backend) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with backend.state.subscribe("room"):
            raise Boom
    assert backend.state.statistics().subscribers == 0


async def test_cancelling_a_subscriber_is_clean(backend: Backend) -> None:
    state = backend.state
    with trio.move_on_after(0.05):
        async with state.subscribe("room") as subscription:
            async for _ in subscription:
                pass  # pragma: no cover - nothing is published
    assert state.statistics().subscribers == 0
    async with state.subscribe("room") as subscription:
        await state.publish("room", b"still works")
        assert await receive(subscription, 1) == [b"still works"]


async def test_aclose_ends_subscriptions_and_refuses_use(backend: Backend) -> None:
    state = backend.state
    async with state.subscribe("room") as subscription:
        await state.aclose()
        with trio.fail_after(WAIT_LIMIT):
            assert [message async for message in subscription] == []
    with pytest.raises(StateUnavailable, match="closed"):
        await state.get("k")


async def test_statistics_shape(backend: Backend) -> None:
    await backend.state.set("k", b"v", None)
    stats = backend.state.statistics()
    assert stats.backend == backend.name
    assert stats.subscribers == 0
    assert stats.dropped_messages == 0
    assert stats.unavailable_errors == 0
    assert stats.keys == (1 if backend.name == "memory" else None)
