"""The pure token-bucket table: burst, refill, per-key isolation, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.stun.errors import StunUsageError
from synctv.stun.ratelimit import TokenBucketTable


def test_burst_then_refill_at_rate() -> None:
    table = TokenBucketTable(10.0, burst=20.0, max_keys=4)
    assert [table.allow("a", 0.0) for _ in range(21)] == [True] * 20 + [False]
    assert not table.allow("a", 0.05)  # half a token so far
    assert table.allow("a", 0.1)
    assert not table.allow("a", 0.1)
    assert [table.allow("a", 100.0) for _ in range(21)] == [True] * 20 + [False]  # capped at burst


def test_keys_are_independent() -> None:
    table = TokenBucketTable(1.0, burst=2.0, max_keys=4)
    assert table.allow("a", 0.0)
    assert table.allow("a", 0.0)
    assert not table.allow("a", 0.0)
    assert table.allow("b", 0.0)
    assert len(table) == 2


def test_least_recently_used_key_is_evicted() -> None:
    table = TokenBucketTable(1.0, burst=1.0, max_keys=2)
    assert table.allow("a", 0.0)
    assert table.allow("b", 0.0)
    assert not table.allow("a", 0.0)  # "a" is now the most recently used
    assert table.allow("c", 0.0)  # evicts "b"
    assert len(table) == 2
    assert table.evictions == 1
    assert not table.allow("a", 0.0)  # "a" kept its empty bucket
    assert table.allow("b", 0.0)  # "b" comes back with a full one


def test_clock_stepping_back_refills_nothing() -> None:
    table = TokenBucketTable(1.0, burst=1.0, max_keys=2)
    assert table.allow("a", 10.0)
    assert not table.allow("a", 5.0)


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"), [(0.0, 1.0, 1), (1.0, 0.5, 1), (1.0, 1.0, 0)]
)
def test_bad_parameters(rate: float, burst: float, max_keys: int) -> None:
    with pytest.raises(StunUsageError):
        TokenBucketTable(rate, burst=burst, max_keys=max_keys)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1e6)), max_size=300))
def test_table_never_exceeds_its_bound(events: list[tuple[int, float]]) -> None:
    table = TokenBucketTable(5.0, burst=10.0, max_keys=16)
    for key, now in sorted(events, key=lambda e: e[1]):
        table.allow(str(key), now)
        assert len(table) <= 16
