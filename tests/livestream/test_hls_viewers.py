"""The HLS viewer session table (pure): window and expiry, caps, keys and the fallback."""

from __future__ import annotations

import sys

import pytest

from synctv.livestream.hls_viewers import (
    MAX_USER_AGENT_CHARS,
    MIN_WINDOW_SECONDS,
    HlsViewerTable,
    RedirectGuard,
    session_key,
    valid_session_id,
    window_seconds,
)

SID_A = "A" * 22
SID_B = "b_-" + "9" * 19


def test_a_session_counts_for_three_target_durations_after_its_last_segment() -> None:
    table = HlsViewerTable()
    table.target_duration("s", 4)  # window 12 s
    assert table.segment("s", session_key(SID_A, "10.0.0.1", "ua"), 100.0)
    assert table.count("s", 100.0) == 1
    assert table.count("s", 111.9) == 1
    assert table.count("s", 112.0) == 0
    assert table.statistics().sessions == 0


def test_each_segment_extends_the_window() -> None:
    table = HlsViewerTable()
    table.target_duration("s", 2)  # window 6 s
    key = session_key(SID_A, None, None)
    for now in (0.0, 2.0, 4.0, 6.0, 8.0):
        table.segment("s", key, now)
        assert table.count("s", now + 5.9) == 1
    assert table.count("s", 14.0) == 0


def test_sessions_expire_in_last_seen_order() -> None:
    table = HlsViewerTable()
    table.target_duration("s", 2)
    table.segment("s", "s" + SID_A, 0.0)
    table.segment("s", "s" + SID_B, 1.0)
    table.segment("s", "s" + SID_A, 3.0)  # A refreshed: now younger than B
    assert table.count("s", 7.5) == 1  # B (last 1.0) expired, A (last 3.0) still counts
    assert table.count("s", 9.0) == 0


@pytest.mark.parametrize(
    ("target", "window"), [(None, MIN_WINDOW_SECONDS), (1, MIN_WINDOW_SECONDS), (2, 6.0), (8, 24.0)]
)
def test_window_is_three_target_durations_at_least_the_minimum(
    target: int | None, window: float
) -> None:
    assert window_seconds(target) == window


def test_default_window_before_any_playlist() -> None:
    table = HlsViewerTable(default_target_duration=4)
    table.segment("s", "k", 0.0)
    assert table.count("s", 11.9) == 1
    assert table.count("s", 12.0) == 0


def test_streams_are_counted_apart() -> None:
    table = HlsViewerTable()
    table.segment("one", "k", 0.0)
    table.segment("two", "k", 0.0)
    table.segment("two", "k2", 0.0)
    assert (table.count("one", 1.0), table.count("two", 1.0), table.count("three", 1.0)) == (
        1,
        2,
        0,
    )


def test_fallback_key_is_address_and_user_agent() -> None:
    table = HlsViewerTable()
    same = session_key(None, "10.0.0.1", "VLC/3.0")
    table.segment("s", same, 0.0)
    table.segment("s", session_key(None, "10.0.0.1", "VLC/3.0"), 1.0)
    assert table.count("s", 1.0) == 1
    table.segment("s", session_key(None, "10.0.0.1", "Lavf/60"), 1.0)  # another player
    table.segment("s", session_key(None, "10.0.0.2", "VLC/3.0"), 1.0)  # another address
    assert table.count("s", 1.0) == 3


def test_a_session_id_and_the_fallback_are_different_viewers() -> None:
    assert session_key(SID_A, "10.0.0.1", "ua") != session_key(None, "10.0.0.1", "ua")
    assert session_key(SID_A, "10.0.0.1", "ua") == session_key(SID_A, "10.0.0.9", "other")


@pytest.mark.parametrize("bad", ["", "short", "A" * 21, "A" * 23, "A" * 21 + "=", "Ä" * 22])
def test_ill_formed_ids_fall_back_to_address_and_agent(bad: str) -> None:
    assert not valid_session_id(bad)
    assert session_key(bad, "10.0.0.1", "ua") == session_key(None, "10.0.0.1", "ua")


def test_the_fallback_key_keeps_a_bounded_user_agent() -> None:
    key = session_key(None, "10.0.0.1", "x" * 100_000)
    assert len(key) < MAX_USER_AGENT_CHARS + 50
    assert sys.getsizeof(key) < 1024


def test_per_stream_cap_refuses_new_sessions_and_keeps_counting_the_old() -> None:
    table = HlsViewerTable(max_per_stream=3, max_total=100)
    for index in range(3):
        assert table.segment("s", f"k{index}", 0.0)
    assert not table.segment("s", "k3", 1.0)
    assert table.segment("s", "k0", 1.0)  # a tracked session is refreshed at the cap
    assert table.count("s", 1.0) == 3
    assert table.statistics().refused == 1
    assert table.segment("other", "k3", 1.0)  # the cap is per stream


def test_at_a_cap_expired_sessions_make_room() -> None:
    table = HlsViewerTable(max_per_stream=2, max_total=100)
    table.segment("s", "k0", 0.0)
    table.segment("s", "k1", 5.0)
    assert table.segment("s", "k2", 6.0)  # k0 expired (window 6 s)
    assert table.count("s", 6.0) == 2
    assert table.statistics().refused == 0


def test_total_cap_over_all_streams() -> None:
    table = HlsViewerTable(max_per_stream=10, max_total=3)
    table.segment("a", "k0", 0.0)
    table.segment("b", "k0", 0.0)
    table.segment("c", "k0", 5.0)
    assert not table.segment("d", "k0", 5.0)
    assert table.statistics().refused == 1
    # Once sessions of other streams expire, a new one is tracked (they are dropped first).
    assert table.segment("d", "k0", 6.0)
    assert table.statistics().sessions == 2  # c and d


def test_sweep_drops_expired_sessions_and_empty_streams() -> None:
    table = HlsViewerTable()
    table.segment("gone", "k", 0.0)
    table.segment("live", "k", 5.0)
    stats = table.sweep(7.0)
    assert (stats.sessions, stats.streams) == (1, 1)
    assert table.sweep(20.0).streams == 0


def test_many_sessions_stay_cheap() -> None:
    """Expiry pops from the front: a churn of sessions costs O(1) each (no rescans)."""
    table = HlsViewerTable(max_per_stream=1000, max_total=1000)
    for index in range(50_000):
        table.segment("s", f"k{index}", index * 0.001)
    assert table.count("s", 50.0) <= 1000
    assert table.statistics().sessions <= 1000


def test_redirects_per_address_and_agent_are_bounded() -> None:
    guard = RedirectGuard(max_redirects=4, window=10.0)
    key = session_key(None, "10.0.0.1", "Stripper/1.0")
    assert [guard.redirect(key, 0.0) for _ in range(6)] == [True] * 4 + [False] * 2
    # Still looping: served without a redirect as long as it keeps coming back.
    assert not guard.redirect(key, 9.0)
    assert not guard.redirect(key, 18.0)
    # Others are redirected meanwhile.
    assert guard.redirect(session_key(None, "10.0.0.2", "Stripper/1.0"), 18.0)
    # Idle for a whole window: forgotten, redirected again.
    assert guard.redirect(key, 28.1)


def test_a_player_that_behaves_gets_a_new_window() -> None:
    guard = RedirectGuard(max_redirects=4, window=10.0)
    key = session_key(None, "10.0.0.1", "hls.js")
    for start in (0.0, 10.5, 21.0, 31.5, 42.0):  # one player restarting every ~10 s
        assert guard.redirect(key, start)
        assert guard.redirect(key, start + 0.1)  # and a second one behind the same address


def test_the_guard_remembers_a_bounded_number_of_keys() -> None:
    guard = RedirectGuard(max_keys=100)
    for index in range(10_000):
        guard.redirect(f"k{index}", 0.0)
    assert len(guard) <= 100
