"""The playback state: anchor arithmetic, optimistic concurrency, seek compensation, auto-advance."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.core.playback import (
    MAX_TRANSIT_SECONDS,
    Conflict,
    Expectation,
    LiveNotSeekable,
    NoMedia,
    PlaybackRefused,
    PlaybackState,
    change_media,
    next_media,
    pause,
    play,
    seek,
    set_speed,
    stop,
    transit_seconds,
)

T0 = 1_000_000.0


def movie(duration: float | None = 600.0) -> PlaybackState:
    return change_media(PlaybackState(), T0, "m1", "regular", duration, playing=False)


def test_position_follows_the_anchor_and_speed() -> None:
    state = play(movie(), T0)
    assert state.position_at(T0 + 10) == pytest.approx(10)
    faster = set_speed(state, T0 + 10, 2.0)
    assert faster.position_at(T0 + 15) == pytest.approx(20)
    paused = pause(faster, T0 + 15)
    assert paused.position_at(T0 + 100) == pytest.approx(20)
    assert paused.version == state.version + 2
    # Clamped to the known length; ended once there.
    assert faster.position_at(T0 + 10_000) == 600
    assert faster.ended_at(T0 + 10_000)
    assert faster.seconds_to_end(T0 + 10) == pytest.approx(295)


def test_play_at_the_end_starts_over() -> None:
    state = play(movie(100), T0)
    again = play(state, T0 + 500)
    assert again.position_at(T0 + 500) == 0
    assert again.playing


def test_two_seeks_with_one_version_one_wins() -> None:
    state = play(movie(), T0)
    seen = Expectation(version=state.version, media_id="m1")
    first = seek(state, T0 + 1, 120, seen)
    assert first.position_at(T0 + 1) == 120
    with pytest.raises(Conflict, match="version"):
        seek(first, T0 + 1.1, 300, seen)


def test_a_seek_meant_for_the_previous_media_is_refused() -> None:
    state = play(movie(), T0)
    switched = change_media(state, T0 + 5, "m2", "regular", 300.0)
    with pytest.raises(Conflict):
        seek(switched, T0 + 6, 50, Expectation(media_id="m1"))


def test_seek_is_compensated_for_transit_while_playing() -> None:
    state = set_speed(play(movie(), T0), T0, 1.5)
    # The client sent at its 99.6 (clock 0.2 s behind the server's): it arrived 0.2 s later.
    transit = transit_seconds(now=100.0, client_sent_at=99.6, clock_offset=0.2)
    assert transit == pytest.approx(0.2)
    sought = seek(state, T0 + 1, 60, transit=transit)
    assert sought.position_at(T0 + 1) == pytest.approx(60.3)
    # Paused: no compensation; bounded; unknown clock: none.
    assert seek(pause(state, T0), T0 + 1, 60, transit=2).position_at(T0 + 5) == 60
    assert transit_seconds(100.0, 0.0, 0.0) == MAX_TRANSIT_SECONDS
    assert transit_seconds(100.0, 101.0, 0.0) == 0.0
    assert transit_seconds(100.0, 99.0, None) == 0.0


def test_refusals() -> None:
    with pytest.raises(NoMedia):
        play(PlaybackState(), T0)
    state = movie()
    for bad in (-1.0, float("nan"), float("inf"), 1e12):
        with pytest.raises(PlaybackRefused):
            seek(state, T0, bad)
    for speed in (0.2, 4.5, float("nan")):
        with pytest.raises(PlaybackRefused):
            set_speed(state, T0, speed)
    live = change_media(state, T0, "live1", "live", None)
    assert live.speed == 1.0
    with pytest.raises(LiveNotSeekable):
        seek(live, T0 + 1, 10)
    with pytest.raises(LiveNotSeekable):
        set_speed(live, T0 + 1, 2.0)
    assert live.seconds_to_end(T0 + 1) is None


def test_remembered_position_and_stop() -> None:
    state = change_media(movie(), T0, "m3", "regular", 200.0, start_at=80)
    assert state.position_at(T0) == 80
    at_the_end = change_media(state, T0, "m4", "regular", 200.0, start_at=200)
    assert at_the_end.position_at(T0) == 0
    stopped = stop(state, T0 + 1)
    assert stopped.media_id is None
    assert stopped.version == state.version + 1


operations = st.lists(
    st.tuples(
        st.sampled_from(["play", "pause", "seek", "speed"]),
        st.floats(0, 50),  # time step
        st.floats(0, 700),  # position
        st.floats(0.25, 4.0),  # speed
    ),
    max_size=30,
)


@given(operations)
def test_any_sequence_keeps_the_invariants(steps: list[tuple[str, float, float, float]]) -> None:
    state, now = movie(), T0
    for name, step, position, speed in steps:
        now += step
        before = state
        if name == "play":
            state = play(state, now)
        elif name == "pause":
            state = pause(state, now)
        elif name == "seek":
            state = seek(state, now, position)
        else:
            state = set_speed(state, now, speed)
        assert state.version == before.version + 1
        assert 0 <= state.position_at(now) <= 600
        # A change never moves the media except a seek (or play from the end).
        if name in ("pause", "speed") or (name == "play" and not before.ended_at(now)):
            assert state.position_at(now) == pytest.approx(before.position_at(now))
        # Time only moves a playing state forward.
        later = state.position_at(now + 3)
        assert later >= state.position_at(now)
        if not state.playing:
            assert later == state.position_at(now)


def test_next_media() -> None:
    order = ["a", "b", "c"]
    first = lambda n: 0  # noqa: E731
    assert next_media(order, "a", "sequential", first) == "b"
    assert next_media(order, "c", "sequential", first) is None
    assert next_media(order, "c", "repeat_all", first) == "a"
    assert next_media(order, "a", "repeat_all", first, backwards=True) == "c"
    assert next_media(order, "b", "repeat_one", first) == "b"
    assert next_media(order, "c", "repeat_one", first, manual=True) == "a"
    assert next_media(order, "gone", "sequential", first) == "a"
    assert next_media(order, None, "sequential", first, backwards=True) == "c"
    assert next_media([], "a", "repeat_all", first) is None
    assert next_media(["a"], "a", "shuffle", first) == "a"


@given(st.lists(st.text(min_size=1, max_size=3), min_size=2, max_size=8, unique=True), st.data())
def test_shuffle_never_repeats_the_current_one(order: list[str], data: st.DataObject) -> None:
    current = data.draw(st.sampled_from(order))
    rng = random.Random(data.draw(st.integers()))
    chosen = next_media(order, current, "shuffle", rng.randrange)
    assert chosen in order
    assert chosen != current
