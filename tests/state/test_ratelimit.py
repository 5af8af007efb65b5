"""GCRA: the rule math under hypothesis, then one check suite for memory (fake clock) and Redis."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import trio
import trio_asyncio
from hypothesis import given
from hypothesis import strategies as st

from synctv.state.base import ShortLivedState
from synctv.state.memory import MemoryState
from synctv.state.ratelimit import (
    MICROSECONDS,
    GcraTable,
    RateDecision,
    RateLimitRule,
    gcra_step,
)
from synctv.state.redis import _GCRA_LUA, open_redis_state
from tests.support.redis import send_command

# --- the rule math ------------------------------------------------------------------------------

rules = st.builds(
    RateLimitRule,
    name=st.just("r"),
    limit=st.integers(1, 50).map(float),
    period_seconds=st.sampled_from([0.01, 0.5, 1.0, 60.0]),
    burst=st.none() | st.integers(1, 60).map(float),
)
# Gaps between requests, in microseconds: many at the same instant, some far apart.
gaps = st.lists(st.integers(0, 200_000) | st.just(0), min_size=1, max_size=120)


def _run(rule: RateLimitRule, times: list[int]) -> list[tuple[int, RateDecision]]:
    tat: int | None = None
    out = []
    for now in times:
        decision, tat = gcra_step(tat, now, rule)
        out.append((now, decision))
    return out


def _times(start: int, steps: list[int]) -> list[int]:
    times, now = [], start
    for gap in steps:
        now += gap
        times.append(now)
    return times


@given(rules, gaps)
def test_no_window_lets_more_through_than_burst_plus_rate(
    rule: RateLimitRule, steps: list[int]
) -> None:
    allowed = [now for now, d in _run(rule, _times(10**12, steps)) if d.allowed]
    burst = rule.tolerance_us // rule.interval_us
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            span = allowed[j] - start
            # burst at once, then one per interval (the integer interval is the rule's truth)
            assert j - i + 1 <= burst + span // rule.interval_us


@given(rules, gaps)
def test_retry_after_is_exact(rule: RateLimitRule, steps: list[int]) -> None:
    tat: int | None = None
    for now in _times(10**12, steps):
        before = tat
        decision, tat = gcra_step(tat, now, rule)
        if not decision.allowed:
            wait_us = round(decision.retry_after_seconds * MICROSECONDS)
            assert wait_us > 0
            assert tat == max(before or now, now)  # a refusal costs nothing
            assert not gcra_step(tat, now + wait_us - 1, rule)[0].allowed
            assert gcra_step(tat, now + wait_us, rule)[0].allowed


@given(rules, st.integers(0, 10**6))
def test_a_fresh_key_allows_burst_back_to_back_and_remaining_counts_down(
    rule: RateLimitRule, now: int
) -> None:
    tat: int | None = None
    burst = int(rule.effective_burst)
    for expected_remaining in range(burst - 1, -1, -1):
        decision, tat = gcra_step(tat, now, rule)
        assert decision.allowed
        assert decision.remaining == expected_remaining
    decision, tat = gcra_step(tat, now, rule)
    assert not decision.allowed
    assert 0 < decision.retry_after_seconds <= rule.interval_us / MICROSECONDS


@given(rules, gaps, st.integers(1, 4))
def test_the_table_fast_path_agrees_with_check(
    rule: RateLimitRule, steps: list[int], keys: int
) -> None:
    checked, fast = GcraTable(max_keys=keys), GcraTable(max_keys=keys)
    for index, now in enumerate(_times(10**12, steps)):
        key = str(index % (keys + 1))  # one key more than the table holds: evictions happen
        seconds = now / MICROSECONDS
        assert checked.check(rule, key, seconds).allowed == fast.allow(rule, key, seconds)
    assert len(fast) <= keys
    assert fast.evictions == checked.evictions


@pytest.mark.parametrize(
    ("limit", "period", "burst"),
    [(0, 1, None), (1, 0, None), (1, float("inf"), None), (1, 1, 0.5), (float("nan"), 1, None)],
)
def test_bad_rules_are_refused(limit: float, period: float, burst: float | None) -> None:
    with pytest.raises(ValueError, match="rule x"):
        RateLimitRule("x", limit, period, burst)


def test_rule_names_cannot_collide_with_key_separators() -> None:
    with pytest.raises(ValueError, match="name"):
        RateLimitRule("a:b", 1, 1)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.001, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")]
)
def test_retry_after_header_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    assert RateDecision(False, seconds, 0).retry_after_header == header


def test_the_table_forgets_the_least_recently_seen_key() -> None:
    rule = RateLimitRule("r", 1, 60)
    table = GcraTable(max_keys=2)
    assert table.allow(rule, "a", 0.0)
    assert table.allow(rule, "b", 0.0)
    assert not table.allow(rule, "a", 0.0)  # "a" is now the most recent
    assert table.allow(rule, "c", 0.0)  # evicts "b"
    assert table.evictions == 1
    assert table.allow(rule, "b", 0.0)  # forgotten: fresh again (lenient, never stricter)
    assert not table.allow(rule, "c", 0.0)


# --- one suite, both backends -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    state: ShortLivedState
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()
        memory = MemoryState(clock)

        async def advance(seconds: float) -> None:
            clock.now += seconds

        yield Backend("memory", memory, advance)
        await memory.aclose()
        return
    url: str = request.getfixturevalue("redis_url")
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(
            url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=3.0
        ) as redis_state,
    ):
        yield Backend("redis", redis_state, trio.sleep)


# Small periods so Redis (real time) runs quickly: 3 per 0.3 s, i.e. one per 0.1 s.
RULE = RateLimitRule("t", 3, 0.3)


async def test_burst_then_refusal_then_allowed_after_retry_after(backend: Backend) -> None:
    state = backend.state
    for _ in range(3):
        assert (await state.check_rate(RULE, "k")).allowed
    refused = await state.check_rate(RULE, "k")
    assert not refused.allowed
    assert 0 < refused.retry_after_seconds <= 0.1
    await backend.advance(refused.retry_after_seconds + 0.01)
    assert (await state.check_rate(RULE, "k")).allowed
    assert not (await state.check_rate(RULE, "k")).allowed


async def test_keys_and_rules_have_separate_buckets(backend: Backend) -> None:
    state = backend.state
    other_rule = RateLimitRule("u", 1, 60)
    assert (await state.check_rate(other_rule, "k")).allowed
    assert not (await state.check_rate(other_rule, "k")).allowed
    assert (await state.check_rate(other_rule, "k2")).allowed
    assert (await state.check_rate(RULE, "k")).allowed  # same key, other rule


async def test_a_full_period_of_quiet_restores_the_whole_burst(backend: Backend) -> None:
    state = backend.state
    while (await state.check_rate(RULE, "q")).allowed:
        pass
    await backend.advance(RULE.period_seconds + 0.02)
    results = [(await state.check_rate(RULE, "q")).allowed for _ in range(4)]
    assert results == [True, True, True, False]


async def test_concurrent_checks_never_overshoot(backend: Backend) -> None:
    rule = RateLimitRule("c", 10, 60)
    allowed = 0

    async def one() -> None:
        nonlocal allowed
        decision = await backend.state.check_rate(rule, "same")
        allowed += decision.allowed

    async with trio.open_nursery() as nursery:
        for _ in range(40):
            nursery.start_soon(one)
    assert allowed == 10


async def test_redis_reloads_the_script_after_a_flush(redis_url: str) -> None:
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(
            redis_url, key_prefix=f"test:{uuid.uuid4().hex}:", timeout_seconds=3.0
        ) as state,
    ):
        assert (await state.check_rate(RULE, "f")).allowed
        port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
        sha = hashlib.sha1(_GCRA_LUA.encode()).hexdigest()
        assert await send_command(port, "SCRIPT", "FLUSH") == b"+OK\r\n"
        assert await send_command(port, "SCRIPT", "EXISTS", sha) == b"*1\r\n:0\r\n"
        assert (await state.check_rate(RULE, "f")).allowed  # EVALSHA: NOSCRIPT, then loaded
        assert await send_command(port, "SCRIPT", "EXISTS", sha) == b"*1\r\n:1\r\n"
        assert (await state.check_rate(RULE, "f")).allowed


# --- the table as STUN uses it (moved here with the token-bucket table it replaced) -------------

STUN_LIKE = RateLimitRule("s", 10, 1, 20)


def test_burst_then_refill_at_rate() -> None:
    table = GcraTable(max_keys=4)
    assert [table.allow(STUN_LIKE, "a", 0.0) for _ in range(21)] == [True] * 20 + [False]
    assert not table.allow(STUN_LIKE, "a", 0.05)  # half a request's worth so far
    assert table.allow(STUN_LIKE, "a", 0.1)
    assert not table.allow(STUN_LIKE, "a", 0.1)
    burst = [table.allow(STUN_LIKE, "a", 100.0) for _ in range(21)]
    assert burst == [True] * 20 + [False]  # capped at burst however long it was quiet


def test_a_clock_stepping_back_refills_nothing() -> None:
    rule = RateLimitRule("r", 1, 1)
    table = GcraTable(max_keys=2)
    assert table.allow(rule, "a", 10.0)
    assert not table.allow(rule, "a", 5.0)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1e6)), max_size=300))
def test_the_table_never_exceeds_its_bound(events: list[tuple[int, float]]) -> None:
    table = GcraTable(max_keys=16)
    for key, now in sorted(events, key=lambda e: e[1]):
        table.allow(STUN_LIKE, str(key), now)
        assert len(table) <= 16


def test_a_table_needs_room_for_one_key() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        GcraTable(max_keys=0)


async def test_redis_keys_expire_once_they_mean_nothing(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    rule = RateLimitRule("e", 2, 10.0)  # one request back every 5 s
    async with (
        trio_asyncio.open_loop(),
        open_redis_state(redis_url, key_prefix=prefix, timeout_seconds=3.0) as state,
    ):
        await state.check_rate(rule, "x")
        port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
        key = f"{prefix}ratelimit:{rule.bucket}:x"
        reply = await send_command(port, "PTTL", key)
        ttl_ms = int(reply.strip().lstrip(b":"))
        assert 4_000 < ttl_ms <= 5_000  # the TAT is one interval ahead: then the key is "fresh"
        await state.check_rate(rule, "x")
        reply = await send_command(port, "PTTL", key)
        assert 9_000 < int(reply.strip().lstrip(b":")) <= 10_000
