"""Fractional position keys: always a key between two, never a renumbering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.core.ordering import (
    DIGITS,
    InvalidKey,
    check_key,
    key_between,
    keys_between,
    spread,
)


def test_examples() -> None:
    assert key_between(None, None) == "V"
    assert "" < key_between(None, "1") < "1"
    assert "1" < key_between("1", "11") < "11"
    assert key_between("z", None) > "z"
    assert "V" < key_between("V", "W") < "W"


def test_refusals() -> None:
    for bad in ("", "10", "a-b", "é"):
        with pytest.raises(InvalidKey):
            check_key(bad)
    with pytest.raises(InvalidKey):
        key_between("b", "a")
    with pytest.raises(InvalidKey):
        key_between("a", "a")


@given(st.lists(st.tuples(st.integers(0, 10_000), st.booleans()), max_size=200))
def test_inserts_anywhere_keep_a_strict_order(inserts: list[tuple[int, bool]]) -> None:
    keys: list[str] = []
    for where, _ in inserts:
        at = where % (len(keys) + 1)
        before = keys[at - 1] if at > 0 else None
        after = keys[at] if at < len(keys) else None
        new = key_between(before, after)
        check_key(new)
        keys.insert(at, new)
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # Byte order is the order (what PostgreSQL's COLLATE "C" sorts by).
    assert [k.encode() for k in keys] == sorted(k.encode() for k in keys)


def test_repeated_inserts_at_one_spot_grow_slowly() -> None:
    low, high = "V", "W"
    for _ in range(300):
        high = key_between(low, high)  # always squeeze in right after "V"
    assert len(high) <= 300 // 5 + 2


@given(st.integers(0, 120), st.sampled_from([None, "1", "V"]), st.sampled_from([None, "z", "W"]))
def test_batches(count: int, before: str | None, after: str | None) -> None:
    keys = keys_between(before, after, count)
    assert len(keys) == count
    bounded = [before or "", *keys] + ([after] if after else [])
    assert bounded == sorted(bounded)
    assert len(set(bounded)) == len(bounded)
    assert all(len(k) <= 4 for k in keys)


def test_spread() -> None:
    keys = spread(100)
    assert keys == sorted(keys)
    assert max(map(len, keys)) <= 2
    assert set("".join(keys)) <= set(DIGITS)
