"""The realtime channel's wire messages: strict parsing (every mistake named), canonical JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.api.realtime_messages import (
    MAX_MESSAGE_BYTES,
    InvalidMessage,
    error_frame,
    event_frame,
    parse_client,
)
from synctv.store.rooms import EventRow


@pytest.mark.parametrize(
    ("frame", "body"),
    [
        ('{"hello": {"resumeFrom": "12"}}', "hello"),
        ('{"hello": {}}', "hello"),
        ('{"opId": "c1", "clock": {"clientSent": 1700000000.25}}', "clock"),
        ('{"playback": {"action": "seek", "position": 12.5, "version": "3"}}', "playback"),
        (
            '{"report": {"mediaId": "m", "position": 3, "buffering": true, "drift": -0.02}}',
            "report",
        ),
        ('{"chat": {"text": "hi", "danmakuMode": "top", "danmakuColor": "#ffffff"}}', "chat"),
        ('{"chat_delete": {"message_id": "x"}}', "chat_delete"),  # proto names are accepted too
        ('{"voiceJoin": {}}', "voice_join"),
        ('{"voice_leave": {}}', "voice_leave"),
        ('{"voiceOffer": {"to": "c2", "sdp": "v=0"}}', "voice_offer"),
        ('{"voiceAnswer": {"to": "c2", "sdp": "v=0"}}', "voice_answer"),
        (
            '{"voiceCandidate": {"to": "c2", "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ'
            ' host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "u"}}',
            "voice_candidate",
        ),
    ],
)
def test_valid_messages(frame: str, body: str) -> None:
    assert parse_client(frame).WhichOneof("body") == body


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("{}", "no body"),
        ('{"hello": {}, "clock": {}}', "multiple"),
        ('{"hello": {"resume": 1}}', "resume"),
        ('{"shout": {}}', "shout"),
        ('{"clock": {"clientSent": "soon"}}', "clientSent"),
        ("not json", "ClientMessage"),
        ("[1, 2]", "ClientMessage"),
        (b'{"hello": {}}', "text frames"),
        ('{"opId": "' + "x" * 65 + '", "hello": {}}', "opId"),
        ('{"chat": {"text": "' + "x" * MAX_MESSAGE_BYTES + '"}}', "at most"),
        ('{"webrtc": {"to": "c2"}}', "webrtc"),  # the old free-form placeholder is gone
    ],
)
def test_invalid_messages_are_named(frame: str | bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        parse_client(frame)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=100)))
def test_anything_is_a_message_or_a_clear_refusal(frame: str | bytes) -> None:
    try:
        parse_client(frame)
    except InvalidMessage:
        pass


def test_server_frames_are_canonical_json() -> None:
    row = EventRow(
        "r", 7, "media_added", {"mediaIds": ["a"]}, "u", datetime(2026, 12, 5, tzinfo=UTC)
    )
    assert json.loads(event_frame(row).text) == {
        "event": {
            "seq": "7",
            "type": "media_added",
            "payload": {"mediaIds": ["a"]},
            "actor": "u",
            "at": 1796428800.0,
        }
    }
    assert json.loads(error_frame("version_conflict", "stale", "op9")) == {
        "error": {"code": "version_conflict", "message": "stale", "opId": "op9", "details": {}}
    }


def test_relayed_voice_messages_name_the_sender_as_from() -> None:
    from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
    from synctv.api.realtime_messages import encode

    offer = realtime_pb2.ServerMessage(
        voice_offer=realtime_pb2.VoiceDescription(sdp="v=0", from_id="c1")
    )
    assert json.loads(encode(offer)) == {"voiceOffer": {"to": "", "sdp": "v=0", "from": "c1"}}
