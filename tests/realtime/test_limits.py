"""Per-connection limits: the message rate bucket, jittered pings, the idle deadline."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from synctv.realtime.limits import (
    IDLE_SECONDS,
    MESSAGES_PER_SECOND,
    PING_SECONDS,
    Idle,
    TokenBucket,
    next_ping,
)


def test_a_burst_then_the_rate() -> None:
    bucket = TokenBucket()
    allowed = sum(bucket.allow(10.0) for _ in range(80))
    assert allowed == MESSAGES_PER_SECOND  # the burst
    assert not bucket.allow(10.0)
    assert bucket.allow(10.0 + 1 / MESSAGES_PER_SECOND)  # one more after one interval
    assert not bucket.allow(10.0 + 1 / MESSAGES_PER_SECOND)


@given(st.lists(st.floats(0, 0.2), min_size=1, max_size=500))
def test_never_more_than_burst_plus_rate_times_time(gaps: list[float]) -> None:
    bucket, now, allowed = TokenBucket(), 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.allow(now)
    assert allowed <= MESSAGES_PER_SECOND + now * MESSAGES_PER_SECOND + 1e-6


def test_pings_are_jittered_within_ten_percent() -> None:
    rng = random.Random(4)
    times = [next_ping(100.0, rng.uniform) - 100.0 for _ in range(1000)]
    assert min(times) >= PING_SECONDS * 0.9
    assert max(times) <= PING_SECONDS * 1.1
    assert max(times) - min(times) > PING_SECONDS * 0.15


def test_idle() -> None:
    idle = Idle(last_heard=0.0)
    assert not idle.expired(IDLE_SECONDS - 1)
    idle.heard(100.0)
    assert not idle.expired(IDLE_SECONDS + 50)
    assert idle.expired(IDLE_SECONDS + 100)
    assert idle.deadline() == IDLE_SECONDS + 100
