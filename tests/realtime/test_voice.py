"""VoiceSessions: slots up to the limit, relays only between two participants, size and rate
bounds, leaving and ending (pure: the clock is passed in)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.errors import DomainError
from synctv.realtime.voice import (
    MAX_CANDIDATE_BYTES,
    MAX_SDP_BYTES,
    VOICE_BURST,
    VOICE_MESSAGES_PER_SECOND,
    Participant,
    VoiceSessions,
)


def code_of(exc: pytest.ExceptionInfo[DomainError]) -> str:
    return str(exc.value.error)


def joined(n: int, limit: int = 8) -> VoiceSessions:
    sessions = VoiceSessions()
    for i in range(n):
        sessions.join("r", Participant(f"c{i}", f"u{i}"), limit)
    return sessions


def test_join_returns_the_others_in_join_order_and_stops_at_the_limit() -> None:
    sessions = VoiceSessions()
    assert sessions.join("r", Participant("a", "u1"), 3) == []
    assert sessions.join("r", Participant("b", "u2"), 3) == [Participant("a", "u1")]
    assert [p.connection_id for p in sessions.join("r", Participant("c", "u1"), 3)] == ["a", "b"]
    with pytest.raises(DomainError) as full:
        sessions.join("r", Participant("d", "u3"), 3)
    assert code_of(full) == "voice_full"
    assert full.value.details == {"maxParticipants": 3}
    with pytest.raises(DomainError) as twice:
        sessions.join("r", Participant("a", "u1"), 9)
    assert code_of(twice) == "voice_already_joined"
    # Another room has its own slots.
    assert sessions.join("other", Participant("d", "u3"), 3) == []
    assert sessions.statistics().participants == 4


def test_leave_frees_the_slot_and_names_whom_to_tell() -> None:
    sessions = joined(2, limit=2)
    assert sessions.leave("r", "c0") == [Participant("c1", "u1")]
    assert sessions.leave("r", "c0") is None
    sessions.join("r", Participant("c2", "u2"), 2)
    assert sessions.leave("r", "c1") == [Participant("c2", "u2")]
    assert sessions.leave("r", "c2") == []
    assert sessions.statistics().sessions == 0


def test_end_empties_the_room() -> None:
    sessions = joined(3)
    assert [p.connection_id for p in sessions.end("r")] == ["c0", "c1", "c2"]
    assert sessions.participants("r") == []
    assert sessions.end("r") == []


@pytest.mark.parametrize(
    ("sender", "target", "code"),
    [
        ("c0", "c1", None),
        ("stranger", "c1", "voice_not_joined"),
        ("c0", "stranger", "voice_peer_not_found"),
        ("c0", "c0", "voice_peer_not_found"),
    ],
)
def test_relay_only_between_two_participants(sender: str, target: str, code: str | None) -> None:
    sessions = joined(2)
    if code is None:
        sessions.relay("r", sender, target, 0.0, sdp="v=0")
        return
    with pytest.raises(DomainError) as refused:
        sessions.relay("r", sender, target, 0.0, sdp="v=0")
    assert code_of(refused) == code


@pytest.mark.parametrize(
    ("fields", "what"),
    [
        ({"sdp": "x" * (MAX_SDP_BYTES + 1)}, "sdp"),
        ({"sdp": "é" * (MAX_SDP_BYTES // 2 + 1)}, "sdp"),  # bytes, not characters
        ({"candidate": "x" * (MAX_CANDIDATE_BYTES + 1)}, "candidate"),
        ({"candidate": "c", "tokens": (("sdpMid", "m" * 257),)}, "sdpMid"),
    ],
)
def test_oversize_signalling_is_refused_with_the_field(
    fields: dict[str, object], what: str
) -> None:
    sessions = joined(2)
    with pytest.raises(DomainError) as refused:
        sessions.relay("r", "c0", "c1", 0.0, **fields)  # type: ignore[arg-type]
    assert code_of(refused) == "voice_message_too_large"
    assert refused.value.details["field"] == what
    sessions.relay("r", "c0", "c1", 0.0, sdp="x" * MAX_SDP_BYTES)
    sessions.relay("r", "c0", "c1", 0.0, candidate="x" * MAX_CANDIDATE_BYTES)
    assert sessions.statistics().refused == 1


def test_each_connection_has_its_own_rate() -> None:
    sessions = joined(3)
    for _ in range(int(VOICE_BURST)):
        sessions.relay("r", "c0", "c1", 10.0, candidate="c")
    with pytest.raises(DomainError) as limited:
        sessions.relay("r", "c0", "c1", 10.0, candidate="c")
    assert code_of(limited) == "rate_limited"
    sessions.relay("r", "c2", "c1", 10.0, candidate="c")  # another connection is not held up
    sessions.relay("r", "c0", "c1", 10.0 + 1 / VOICE_MESSAGES_PER_SECOND, candidate="c")


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 9)), max_size=60), st.integers(2, 32))
def test_never_more_than_the_limit(steps: list[tuple[bool, int]], limit: int) -> None:
    sessions = VoiceSessions()
    for join, n in steps:
        if join:
            try:
                sessions.join("r", Participant(f"c{n}", "u"), limit)
            except DomainError:
                pass
        else:
            sessions.leave("r", f"c{n}")
        assert len(sessions.participants("r")) <= limit


def test_docs_state_the_limits_and_every_voice_refusal() -> None:
    from pathlib import Path

    from synctv import errors
    from synctv.api.http.routes import voice_ice
    from synctv.realtime import voice

    doc = (Path(__file__).resolve().parents[2] / "docs" / "voice.md").read_text()
    assert f"| SDP (`voiceOffer`, `voiceAnswer`) | {voice.MAX_SDP_BYTES // 1024} KiB" in doc
    assert f"| candidate line | {voice.MAX_CANDIDATE_BYTES // 1024} KiB" in doc
    assert f"`usernameFragment` {voice.MAX_TOKEN_BYTES} bytes" in doc
    assert (
        f"{voice.VOICE_MESSAGES_PER_SECOND:g} messages per second, burst {voice.VOICE_BURST:g}"
        in doc
    )
    assert f"remembered for {voice_ice.PROBE_CACHE_SECONDS:g} s" in doc
    voice_codes = {code for code in errors.catalogue() if code.area == "voice"}
    assert voice_codes
    for code in voice_codes | {"permission_denied", "rate_limited"}:
        assert f"| `{code}` |" in doc, code
