"""Live in step: the media-to-server-time mapping, the safe latency, the room's target and the
steering to it (pure rules; the whole server's test is tests/rooms/test_live_in_step_http.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synctv.realtime.sync import (
    DEADBAND_SECONDS,
    LATENCY_MARGIN_SECONDS,
    LIVE_FLOOR_SECONDS,
    MAX_TARGET_LATENCY_SECONDS,
    LatencyMeter,
    LiveMapping,
    correct_live,
    live_floor,
    room_target_latency,
)


def test_the_target_position_is_the_frame_that_arrived_the_target_latency_ago() -> None:
    mapping = LiveMapping(media_time=100.0, server_time=5_000.0, target_latency=1.5)
    # Client clock 2 s behind the server's; 3 s after the mapping's server time.
    position = mapping.target_position(client_now=5_001.0, offset=2.0)
    assert position == pytest.approx(101.5)
    assert mapping.arrived_at(101.5) == pytest.approx(5_001.5)
    assert mapping.latency(position, 5_001.0, 2.0) == pytest.approx(1.5)


@given(
    st.floats(0, 1e5),
    st.floats(1e9, 2e9),
    st.floats(0, 30),
    st.floats(-1e4, 1e4),
    st.floats(-100, 100),
)
def test_a_player_at_the_target_position_has_the_target_latency(
    media: float, server: float, target: float, now: float, offset: float
) -> None:
    mapping = LiveMapping(media, server, target)
    client_now = server + now - offset
    position = mapping.target_position(client_now, offset)
    assert mapping.latency(position, client_now, offset) == pytest.approx(target, abs=1e-5)


def test_floors_flv_one_second_hls_three_segments() -> None:
    assert live_floor("flv") == LIVE_FLOOR_SECONDS == 1.0
    assert live_floor("rtmp") == 1.0
    assert live_floor("hls", 2.0) == 6.0
    assert live_floor("hls", 0.2) == 1.0  # never under the FLV floor


def test_the_safe_latency_is_the_worst_of_the_window_plus_the_margin() -> None:
    meter = LatencyMeter(floor=1.0, window=10.0)
    assert meter.safe(0.0) == 1.0  # nothing measured: the floor
    meter.add(0.0, 0.9)
    meter.add(1.0, 1.4)
    meter.add(2.0, 0.5)
    assert meter.safe(2.0) == pytest.approx(1.4 + LATENCY_MARGIN_SECONDS)
    assert meter.safe(10.5) == pytest.approx(1.4 + LATENCY_MARGIN_SECONDS)
    assert meter.safe(11.5) == 1.0  # 1.4 left the window; 0.5 + margin is under the floor
    assert meter.worst(11.5) == pytest.approx(0.5)
    assert meter.safe(13.0) == 1.0
    assert meter.worst(13.0) is None


@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 30)), max_size=60))
def test_the_worst_latency_is_the_maximum_over_the_window(steps: list[tuple[float, float]]) -> None:
    meter = LatencyMeter(floor=0.0, window=10.0)
    now, seen = 0.0, []
    for step, latency in steps:
        now += step
        meter.add(now, latency)
        seen.append((now, latency))
        expected = max((lat for at, lat in seen if at >= now - 10.0), default=None)
        assert meter.worst(now) == expected


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True)))
def test_the_room_target_is_the_largest_believable_report_at_least_the_floor(
    reports: list[float],
) -> None:
    target = room_target_latency(reports)
    believable = [r for r in reports if 0 <= r <= MAX_TARGET_LATENCY_SECONDS]
    assert target == max([LIVE_FLOOR_SECONDS, *believable])


def test_live_correction_rate_seek_and_buffer_bound() -> None:
    mapping = LiveMapping(10.0, 1_000.0, 1.0)  # at server 1000.0 the room shows 9.0
    assert correct_live(9.01, mapping, 1_000.0, 0.0).kind == "none"
    ahead = correct_live(9.5, mapping, 1_000.0, 0.0)
    assert ahead.kind == "rate"
    assert ahead.rate < 1.0
    behind = correct_live(8.8, mapping, 1_000.0, 0.0)
    assert behind.kind == "rate"
    assert behind.rate > 1.0
    far = correct_live(2.0, mapping, 1_000.0, 0.0, buffered_until=8.5)
    assert (far.kind, far.seek_to) == ("seek", 8.5)  # not past what the player holds
    assert correct_live(2.0, mapping, 1_000.0, 0.0).seek_to == 9.0
    assert correct_live(2.0, mapping, 1_000.0, 0.0, buffering=True).kind == "none"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 2.0),  # one-way network delay to the player: past the 1 s floor
            st.floats(-0.005, 0.005),  # its media clock's rate error
            st.floats(-5.0, 5.0),  # its clock offset to the server's
            st.floats(0.0, 3.0),  # when it joins
        ),
        min_size=2,
        max_size=8,
    )
)
def test_simulated_live_players_end_within_200_ms_of_each_other(
    players: list[tuple[float, float, float, float]],
) -> None:
    """Players behind different delays (up to 2 s: the slowest sets the target), with rate
    errors and skewed clocks, each measuring its safe latency from the frames it receives and
    steering to the room's target (the largest report) with a mapping received a second at a
    time: in the end all are within 200 ms, at the target, and nobody runs out of frames. (A
    slow path that joins late raises the target by up to 1.5 s here, which the others make up
    at 5 %: 30 s and the tail.)"""
    positions, worst_late, target = simulate(players, seconds=60.0, settled_after=50.0)
    assert worst_late == 0.0
    assert max(positions) - min(positions) <= 0.2
    # ... each at the target, within what the deadband and one step allow.
    assert all(abs(p - target) <= DEADBAND_SECONDS + 0.05 for p in positions)


def test_a_slower_viewer_joining_moves_the_whole_room_to_its_latency() -> None:
    """Three viewers in step at about 1 s; a viewer behind 1.5 s joins at 20 s: the target
    rises to its safe latency, everyone slows down by at most 5 % (1.2 s takes some 25 s) and
    the room is in step again, at the new latency, without anyone running out of frames."""
    players = [(0.05, 0.003, 1.0, 0.0), (0.3, -0.004, -2.0, 0.0), (0.5, 0.0, 0.0, 0.0)]
    positions, _late, _target = simulate(players, seconds=20.0, settled_after=15.0)
    assert max(positions) - min(positions) <= 0.1
    late_joiner = (*players, (1.5, 0.002, 0.5, 20.0))
    positions, worst_late, target = simulate(late_joiner, seconds=60.0, settled_after=55.0)
    assert worst_late == 0.0
    assert max(positions) - min(positions) <= 0.2
    assert all(abs(p - target) <= DEADBAND_SECONDS + 0.05 for p in positions)


def simulate(
    players: Sequence[tuple[float, float, float, float]], *, seconds: float, settled_after: float
) -> tuple[list[float], float, float]:
    """A room of players (delay, rate error, clock offset, join time) for ``seconds``: their
    positions at the end, how far any ran past its newest frame after ``settled_after``, and the
    target position at the end."""
    step = 0.1
    positions: list[float | None] = [None] * len(players)
    rates = [1.0] * len(players)
    meters = [LatencyMeter() for _ in players]
    reported = [LIVE_FLOOR_SECONDS] * len(players)
    mapping = LiveMapping(0.0, 0.0, LIVE_FLOOR_SECONDS)
    server = 0.0
    worst_late = 0.0
    for tick in range(round(seconds / step)):  # the frame at media m arrives at server m
        server = tick * step
        if tick % 10 == 0:  # the server's live_clock, once a second
            mapping = LiveMapping(server, server, room_target_latency(reported))
        for i, (delay, rate_error, offset, join) in enumerate(players):
            client_now = server - offset
            # The newest frame the player holds: frames come in 200 ms batches.
            newest = math.floor((server - delay) / 0.2 + 1e-9) * 0.2
            if server < join or newest < 0:
                continue
            meters[i].add(client_now, mapping.latency(newest, client_now, offset))
            if tick % 20 == 0:
                reported[i] = meters[i].safe(client_now)
            position = positions[i]
            if position is None:
                positions[i] = min(newest, mapping.target_position(client_now, offset))
                continue
            decision = correct_live(position, mapping, client_now, offset, buffered_until=newest)
            if decision.kind == "seek":
                assert decision.seek_to is not None
                positions[i] = decision.seek_to
                continue
            rates[i] = decision.rate
            advanced = position + step * rates[i] * (1 + rate_error)
            positions[i] = min(advanced, newest)  # a player stalls when it runs out of frames
            if server > settled_after:
                worst_late = max(worst_late, advanced - newest)
    settled = [p for p in positions if p is not None]
    assert len(settled) == len(players)
    # The target where the room is after the last step.
    return settled, worst_late, mapping.target_position(server + step, 0.0)
