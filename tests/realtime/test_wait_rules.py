"""Wait for everyone, the rules alone: when the room pauses for a buffering member, when it
plays on, and that a change by anybody else ends the wait."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from synctv.realtime.wait_rules import (
    BUFFERING_GRACE_SECONDS,
    Forget,
    LookAgainAt,
    Nothing,
    Pause,
    Resume,
    RoomNow,
    decide,
)

PLAYING = RoomNow(wait_for_everyone=True, playing=True, version=7)


def test_a_member_buffering_past_the_grace_pauses_the_room_for_them() -> None:
    since = {"ann": 10.0, "bob": 10.4}
    assert decide(10.5, PLAYING, since, None) == Pause(("ann",))
    assert decide(10.9, PLAYING, since, None) == Pause(("ann", "bob"))


def test_a_short_buffering_is_looked_at_again_when_the_grace_ends() -> None:
    assert decide(10.1, PLAYING, {"ann": 10.0, "bob": 10.05}, None) == LookAgainAt(
        10.0 + BUFFERING_GRACE_SECONDS
    )


def test_nothing_happens_when_off_paused_or_nobody_buffers() -> None:
    off = RoomNow(wait_for_everyone=False, playing=True, version=7)
    paused = RoomNow(wait_for_everyone=True, playing=False, version=7)
    assert decide(20.0, off, {"ann": 10.0}, None) == Nothing()
    assert decide(20.0, paused, {"ann": 10.0}, None) == Nothing()
    assert decide(20.0, PLAYING, {}, None) == Nothing()


def test_the_room_plays_on_when_nobody_buffers_any_more() -> None:
    waited = RoomNow(wait_for_everyone=True, playing=False, version=8)
    assert decide(30.0, waited, {"ann": 29.0}, 8) == Nothing()
    assert decide(30.0, waited, {}, 8) == Resume(8)
    # Turning the setting off while waiting still lets the room play on.
    assert decide(30.0, RoomNow(False, False, 8), {}, 8) == Resume(8)


def test_a_change_by_anybody_else_ends_the_wait() -> None:
    assert decide(30.0, RoomNow(True, False, 9), {}, 8) == Forget()  # a seek while paused
    assert decide(30.0, RoomNow(True, True, 9), {"ann": 1.0}, 8) == Forget()  # someone played


times = st.floats(0, 1e6, allow_nan=False)
rooms = st.builds(RoomNow, st.booleans(), st.booleans(), st.integers(0, 20))
buffering = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), times, max_size=4)


@given(times, rooms, buffering, st.none() | st.integers(0, 20))
def test_the_rules_hold_for_any_room(
    now: float, room: RoomNow, since: dict[str, float], paused_at: int | None
) -> None:
    decision = decide(now, room, since, paused_at)
    if isinstance(decision, Pause):  # only a playing room that waits, only for long buffering
        assert paused_at is None
        assert room.wait_for_everyone
        assert room.playing
        assert decision.waiting_for
        assert all(now - since[u] >= BUFFERING_GRACE_SECONDS for u in decision.waiting_for)
    if isinstance(decision, Resume):  # only what this rule paused, only when nobody buffers
        assert decision.version == paused_at == room.version
        assert not since
        assert not room.playing
    if isinstance(decision, Forget):
        assert paused_at is not None
    if isinstance(decision, LookAgainAt):
        assert decision.at > now
