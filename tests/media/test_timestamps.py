"""Timestamp conversion and the shared per-stream normaliser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media.timestamps import (
    DEFAULT_MAX_GAP_MS,
    DEFAULT_STEP_MS,
    TimestampNormalizer,
    ms_to_90khz,
    pts_90khz_to_ms,
)

U32 = 1 << 32


@pytest.mark.parametrize(("ms", "ticks"), [(0, 0), (1, 90), (1000, 90_000), (U32, U32 * 90)])
def test_ms_to_90khz(ms: int, ticks: int) -> None:
    assert ms_to_90khz(ms) == ticks
    assert pts_90khz_to_ms(ticks) == ms
    assert pts_90khz_to_ms(ticks + 89) == ms


# (name, raw inputs from both tracks in arrival order, outputs) with default limits
# (gap 10 s, backward 1 s, step 20 ms).
CASES = [
    ("starts_at_zero", [1000, 1040, 1080], [0, 40, 80]),
    ("av_interleave_jitter", [1000, 1040, 1020, 1080, 1043], [0, 40, 20, 80, 43]),
    ("backward_within_limit", [5000, 7000, 6000, 7040], [0, 2000, 1000, 2040]),
    ("wraparound", [U32 - 256, U32 - 16, 0x10, 0x100], [0, 240, 272, 512]),
    ("jitter_across_wrap", [U32 - 16, 0x10, U32 - 8, 0x20], [0, 32, 8, 48]),
    ("backward_jump", [5000, 5040, 100, 140, 120], [0, 40, 60, 100, 80]),
    ("forward_gap", [0, 40, 20_000, 20_040], [0, 40, 60, 100]),
    ("gap_at_limit_is_content", [0, DEFAULT_MAX_GAP_MS], [0, DEFAULT_MAX_GAP_MS]),
    ("gap_just_over_limit", [0, DEFAULT_MAX_GAP_MS + 1], [0, DEFAULT_STEP_MS]),
    ("start_clamped_at_zero", [1000, 990, 1040], [0, 0, 40]),
    ("inputs_taken_mod_2_32", [U32 + 5, 45, -U32 + 85], [0, 40, 80]),
    # after a jump that lands below an earlier high-water mark, the step counts from the top
    ("jump_after_jitter", [1000, 3000, 2500, 90_000], [0, 2000, 1500, 2020]),
]


@pytest.mark.parametrize(("raw", "out"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_normalize(raw: list[int], out: list[int]) -> None:
    n = TimestampNormalizer()
    assert [n.normalize(r) for r in raw] == out
    assert n.last_output == max(out)


def test_discontinuities_are_counted() -> None:
    n = TimestampNormalizer()
    for raw in (0, 40, 100_000, 100_040, 5, 45):
        n.normalize(raw)
    assert n.discontinuities == 2


def test_custom_limits() -> None:
    n = TimestampNormalizer(max_gap_ms=100, max_backward_ms=0, step_ms=1)
    assert [n.normalize(r) for r in (0, 100, 201, 200, 210)] == [0, 100, 101, 102, 112]


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        TimestampNormalizer(max_gap_ms=0)
    with pytest.raises(ValueError):
        TimestampNormalizer(step_ms=-1)


def test_rebase_continues_after_last_output() -> None:
    n = TimestampNormalizer()
    assert [n.normalize(r) for r in (1000, 1040)] == [0, 40]
    n.rebase()  # publisher reconnects and restarts its clock
    assert [n.normalize(r) for r in (0, 40, 20)] == [60, 100, 80]
    assert n.discontinuities == 0


def test_rebase_even_when_timestamps_look_continuous() -> None:
    n = TimestampNormalizer()
    n.normalize(1000)
    n.rebase()
    assert n.normalize(1040) == DEFAULT_STEP_MS


def test_rebase_floor_clamps_a_track_starting_behind() -> None:
    n = TimestampNormalizer()
    n.normalize(5000)
    n.rebase()
    assert [n.normalize(r) for r in (500, 480, 540)] == [20, 20, 60]


def test_rebase_after_a_later_presentation_time() -> None:
    """The old session's last B-frame is shown at 140 though decoded at 40: the new session
    starts after 140, so no frame of it is shown before the old session's last."""
    n = TimestampNormalizer()
    assert [n.normalize(r) for r in (1000, 1040)] == [0, 40]
    n.rebase(after=140)
    assert [n.normalize(r) for r in (0, 33)] == [160, 193]
    n.rebase(after=10)  # earlier than the last output: the last output wins
    assert n.normalize(0) == 213


def test_rebase_before_first_timestamp_is_noop() -> None:
    n = TimestampNormalizer()
    assert n.last_output is None
    n.rebase()
    assert n.normalize(7000) == 0


@given(st.lists(st.integers(0, U32 - 1), min_size=1, max_size=60))
def test_arbitrary_inputs_bounded(raw: list[int]) -> None:
    n = TimestampNormalizer()
    high = 0
    for r in raw:
        out = n.normalize(r)
        assert 0 <= out <= high + DEFAULT_MAX_GAP_MS
        high = max(high, out)
        assert n.last_output == high


@given(st.integers(0, U32 - 1), st.lists(st.integers(0, 200), max_size=60))
def test_forward_steps_pass_through_across_wrap(start: int, steps: list[int]) -> None:
    n = TimestampNormalizer()
    raw = start
    assert n.normalize(raw) == 0
    total = 0
    for step in steps:
        raw, total = raw + step, total + step
        assert n.normalize(raw) == total
