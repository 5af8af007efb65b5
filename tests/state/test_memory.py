"""Memory-only behaviour: the key bound, purging and the optional purge task."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from synctv.state.memory import HEAP_SLACK_ITEMS, PURGE_INTERVAL_SECONDS, MemoryState


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_full_state_evicts_the_least_recently_written_key() -> None:
    state = MemoryState(FakeClock(), max_keys=3)
    for key in ("a", "b", "c"):
        await state.set(key, key.encode(), None)
    await state.set("a", b"rewritten", None)  # a is now the newest
    await state.set("d", b"d", None)
    assert await state.get("b") is None
    assert [await state.get(key) for key in ("a", "c", "d")] == [b"rewritten", b"c", b"d"]
    stats = state.statistics()
    assert (stats.keys, stats.evicted_keys) == (3, 1)


async def test_full_state_drops_an_expired_key_before_evicting() -> None:
    clock = FakeClock()
    state = MemoryState(clock, max_keys=2)
    await state.set("old", b"kept", None)
    await state.set("short", b"v", 1.0)
    clock.now = 2.0
    await state.set("new", b"v", None)
    assert await state.get("old") == b"kept"
    assert state.statistics().evicted_keys == 0


async def test_purge_expired_is_bounded_and_skips_rewritten_keys() -> None:
    clock = FakeClock()
    state = MemoryState(clock)
    for n in range(10):
        await state.set(f"k{n}", b"v", 1.0)
    await state.set("k0", b"kept", None)  # its old expiry is stale now
    assert state.purge_expired(5.0, limit=4) == 4
    assert state.purge_expired(5.0) == 5
    assert state.purge_expired(5.0) == 0
    assert state.statistics().keys == 1
    assert await state.get("k0") == b"kept"


async def test_expiry_heap_stays_bounded_under_rewrites() -> None:
    state = MemoryState(FakeClock())
    for n in range(5_000):
        await state.set("same", str(n).encode(), 60.0)
    assert len(state._expiries) <= 2 * 1 + HEAP_SLACK_ITEMS + 1
    assert await state.get("same") == b"4999"


@pytest.mark.parametrize("bad", [0, -1])
def test_key_bound_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryState(max_keys=bad)


async def test_subscriber_queue_must_hold_a_message() -> None:
    state = MemoryState(subscriber_queue_messages=0)
    with pytest.raises(ValueError, match="queue_messages"):
        async with state.subscribe("room"):
            pass  # pragma: no cover


async def test_run_purges_periodically(autojump_clock: trio.testing.MockClock) -> None:
    state = MemoryState()  # reads trio's (mock) clock
    await state.set("k", b"v", 1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(state.run)
        assert state.statistics().keys == 1
        await trio.sleep(PURGE_INTERVAL_SECONDS + 0.5)
        assert state.statistics().keys == 0
        nursery.cancel_scope.cancel()
