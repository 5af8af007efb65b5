"""The clock estimate and the drift correction: worked cases and a simulated player."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.realtime.sync import (
    CATCH_UP_SECONDS,
    DEADBAND_SECONDS,
    MAX_RATE_CHANGE,
    ClockEstimate,
    ClockSample,
    RoomClock,
    correct,
)


def sample(offset: float, up: float, down: float, sent: float = 100.0) -> ClockSample:
    """An exchange over a path with ``up``/``down`` one-way delays and a true ``offset``."""
    server_received = sent + up + offset
    server_sent = server_received + 0.001
    return ClockSample(sent, server_received, server_sent, server_sent - offset + down)


def test_symmetric_paths_give_the_exact_offset() -> None:
    s = sample(offset=-3.25, up=0.02, down=0.02)
    assert s.offset == pytest.approx(-3.25)
    assert s.round_trip == pytest.approx(0.04)


def test_the_estimate_keeps_the_shortest_round_trip() -> None:
    estimate = ClockEstimate(window=4)
    assert estimate.offset is None
    assert estimate.due(0)
    estimate.add(sample(2.0, up=0.3, down=0.01))  # asymmetric: off by 0.145
    estimate.add(sample(2.0, up=0.01, down=0.012))
    estimate.add(sample(2.0, up=0.2, down=0.05))
    assert estimate.offset == pytest.approx(2.0, abs=0.002)
    assert estimate.error_bound == pytest.approx(0.0115, abs=1e-3)
    for _ in range(4):  # the good sample leaves the window
        estimate.add(sample(2.0, up=0.1, down=0.1))
    assert estimate.offset == pytest.approx(2.0)
    estimate.add(ClockSample(10, 5, 6, 9))  # received before sent: dropped
    assert estimate.best is not None
    assert estimate.best.sent == 100.0
    assert not estimate.due(100.3)
    assert estimate.due(131.0)


@given(
    st.floats(-1e6, 1e6),
    st.floats(0, 0.5),
    st.floats(0, 0.5),
)
def test_the_offset_error_is_within_half_the_round_trip(
    offset: float, up: float, down: float
) -> None:
    s = sample(offset, up, down)
    assert abs(s.offset - offset) <= s.round_trip / 2 + 1e-6


def test_room_position_in_client_time() -> None:
    room = RoomClock(position=10.0, server_time=1000.0, speed=2.0, playing=True)
    # The client's clock is 5 s behind the server's: client 996 is server 1001.
    assert room.position_at(996.0, offset=5.0) == pytest.approx(12.0)
    assert RoomClock(10.0, 1000.0, 2.0, False).position_at(2000.0, 5.0) == 10.0


@pytest.mark.parametrize(
    ("player", "room", "playing", "kind"),
    [
        (10.02, 10.0, True, "none"),
        (10.1, 10.0, True, "rate"),
        (9.5, 10.0, True, "rate"),
        (12.5, 10.0, True, "seek"),
        (7.0, 10.0, True, "seek"),
        (10.05, 10.0, False, "none"),
        (10.5, 10.0, False, "seek"),
    ],
)
def test_correction_cases(player: float, room: float, playing: bool, kind: str) -> None:
    assert correct(player, room, 1.0, playing).kind == kind


def test_rate_is_proportional_bounded_and_scaled_by_speed() -> None:
    ahead = correct(10.06, 10.0, 1.0, True)
    assert ahead.rate == pytest.approx(1 - 0.06 / CATCH_UP_SECONDS)
    far = correct(11.5, 10.0, 2.0, True)
    assert far.rate == pytest.approx(2.0 * (1 - MAX_RATE_CHANGE))
    assert correct(8.5, 10.0, 1.0, True).rate == pytest.approx(1 + MAX_RATE_CHANGE)
    assert correct(20, 10, 1.0, True, seeking=True).kind == "none"
    assert correct(20, 10, 1.0, True, buffering=True).kind == "none"


@given(
    st.floats(-1.9, 1.9),
    st.floats(-0.005, 0.005),
)
def test_a_simulated_player_converges_without_seeking(drift: float, rate_error: float) -> None:
    """A player whose clock runs ±0.5 % off, corrected every 0.5 s, ends within the deadband
    (plus what its own error adds in one step) and never needs a seek below 2 s."""
    room, player, step = 0.0, drift, 0.5
    rate = 1.0
    for _ in range(200):  # 100 s
        decision = correct(player, room, 1.0, True)
        assert decision.kind != "seek"
        rate = decision.rate
        room += step
        player += step * rate * (1 + rate_error)
    assert abs(player - room) <= DEADBAND_SECONDS + step * 0.0051 + 0.02


def test_a_seek_while_playing_aims_ahead_by_the_startup_lead() -> None:
    assert correct(0.0, 10.0, 2.0, True, startup_lead=0.2).seek_to == pytest.approx(10.4)
    assert correct(0.0, 10.0, 1.0, False, startup_lead=0.2).seek_to == 10.0  # paused: no lead
    assert correct(10.5, 10.0, 1.0, True, startup_lead=0.2).kind == "rate"  # not a seek
