"""Typed RTMP message bodies: one case table for decode and encode, errors, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media import amf0
from synctv.media.amf0 import UNDEFINED, EcmaArray
from synctv.rtmp.errors import RtmpLocalProtocolError, RtmpProtocolError
from synctv.rtmp.messages import (
    AGGREGATE_TYPES,
    AbortMessage,
    Acknowledgement,
    AggregateMessage,
    AggregatePart,
    AudioMessage,
    BandwidthLimit,
    CommandMessage,
    DataMessage,
    Message,
    MessageType,
    PingRequest,
    PingResponse,
    SetBufferLength,
    SetChunkSize,
    SetPeerBandwidth,
    StreamBegin,
    StreamDry,
    StreamEof,
    StreamIsRecorded,
    UnknownMessage,
    UnknownUserControl,
    VideoMessage,
    WindowAcknowledgementSize,
    decode_aggregate,
    decode_message,
    encode_message,
)

CONNECT_BODY = amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"})

# (name, type id, body, message)
CASES: list[tuple[str, int, bytes, Message]] = [
    ("set-chunk-size", 1, b"\x00\x00\x10\x00", SetChunkSize(4096)),
    ("set-chunk-size-max", 1, b"\x7f\xff\xff\xff", SetChunkSize(0x7FFFFFFF)),
    ("abort", 2, b"\x00\x00\x00\x06", AbortMessage(6)),
    ("ack", 3, b"\x00\x26\x25\xa0", Acknowledgement(2_500_000)),
    ("stream-begin", 4, b"\x00\x00\x00\x00\x00\x01", StreamBegin(1)),
    ("stream-eof", 4, b"\x00\x01\x00\x00\x00\x01", StreamEof(1)),
    ("stream-dry", 4, b"\x00\x02\x00\x00\x00\x02", StreamDry(2)),
    (
        "set-buffer-length",
        4,
        b"\x00\x03\x00\x00\x00\x01\x00\x00\x0b\xb8",
        SetBufferLength(1, 3000),
    ),
    ("stream-is-recorded", 4, b"\x00\x04\x00\x00\x00\x01", StreamIsRecorded(1)),
    ("ping-request", 4, b"\x00\x06\x12\x34\x56\x78", PingRequest(0x12345678)),
    ("ping-response", 4, b"\x00\x07\x12\x34\x56\x78", PingResponse(0x12345678)),
    ("buffer-empty", 4, b"\x00\x1f\x00\x00\x00\x01", UnknownUserControl(31, b"\x00\x00\x00\x01")),
    ("win-ack", 5, b"\x00\x26\x25\xa0", WindowAcknowledgementSize(2_500_000)),
    ("peer-bw", 6, b"\x00\x26\x25\xa0\x02", SetPeerBandwidth(2_500_000, BandwidthLimit.DYNAMIC)),
    ("peer-bw-hard", 6, b"\x00\x00\x00\x01\x00", SetPeerBandwidth(1, BandwidthLimit.HARD)),
    ("audio", 8, b"\xaf\x01\x21", AudioMessage(b"\xaf\x01\x21")),
    ("video-empty", 9, b"", VideoMessage(b"")),
    (
        "connect",
        20,
        CONNECT_BODY,
        CommandMessage("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}),
    ),
    (
        "publish",
        20,
        amf0.encode("publish", 0.0, None, "key", "live"),
        CommandMessage("publish", 0.0, None, ("key", "live")),
    ),
    (
        "connect-amf3",
        17,
        b"\x00" + CONNECT_BODY,
        CommandMessage("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}, (), amf3=True),
    ),
    (
        "set-data-frame",
        18,
        amf0.encode("@setDataFrame", "onMetaData", EcmaArray(width=1.0)),
        DataMessage(("@setDataFrame", "onMetaData", EcmaArray(width=1.0))),
    ),
    ("data-amf3", 15, b"\x00\x02\x00\x01x", DataMessage(("x",), amf3=True)),
    ("shared-object", 19, b"\x01\x02", UnknownMessage(19, b"\x01\x02")),
    ("aggregate-empty", 22, b"", AggregateMessage(())),
    # §7.1.6: header (type u8, length u24, timestamp u24 + u8 extended, stream id u24), body,
    # back pointer u32 (11 + length), per sub-message; a video then an audio message here.
    (
        "aggregate",
        22,
        bytes.fromhex("09 000003 000064 00 000001")
        + b"\x17\x01\x00"
        + bytes.fromhex("0000000e")
        + bytes.fromhex("08 000002 000078 01 000001")
        + b"\xaf\x01"
        + bytes.fromhex("0000000d"),
        AggregateMessage(
            (
                AggregatePart(9, 100, b"\x17\x01\x00", 1),
                AggregatePart(8, 0x01000078, b"\xaf\x01", 1),
            )
        ),
    ),
    ("unassigned", 99, b"", UnknownMessage(99, b"")),
]


@pytest.mark.parametrize(("name", "type_id", "body", "message"), CASES, ids=[c[0] for c in CASES])
def test_decode(name: str, type_id: int, body: bytes, message: Message) -> None:
    assert decode_message(type_id, body) == message


@pytest.mark.parametrize(("name", "type_id", "body", "message"), CASES, ids=[c[0] for c in CASES])
def test_encode(name: str, type_id: int, body: bytes, message: Message) -> None:
    assert encode_message(message) == (type_id, body)


def test_data_message_keeps_body_bytes() -> None:
    body = amf0.encode("onMetaData", EcmaArray(a=1.0))
    msg = decode_message(18, body)
    assert isinstance(msg, DataMessage)
    assert msg.payload == body
    amf3 = decode_message(15, b"\x00" + body)
    assert isinstance(amf3, DataMessage)
    assert amf3.payload == body


def test_command_without_object_defaults_to_null() -> None:
    assert decode_message(20, amf0.encode("onBWDone", 0.0)) == CommandMessage("onBWDone", 0.0)


def test_message_type_values() -> None:
    assert MessageType.COMMAND_AMF0 == 20
    assert MessageType.AGGREGATE == 22


@pytest.mark.parametrize(
    ("type_id", "body", "message"),
    [
        (1, b"\x00\x00\x00\x00", "invalid chunk size 0x0"),
        (1, b"\x80\x00\x00\x01", "invalid chunk size"),
        (1, b"\x00\x10\x00", "must be 4 bytes"),
        (2, b"", "must be 4 bytes"),
        (3, b"\x00\x00\x00\x00\x00", "must be 4 bytes"),
        (4, b"\x00", "too short"),
        (4, b"\x00\x00\x00\x00\x01", "must be 6 bytes"),
        (4, b"\x00\x03\x00\x00\x00\x01", "must be 10 bytes"),
        (5, b"\x00", "must be 4 bytes"),
        (6, b"\x00\x00\x00\x01", "must be 5 bytes"),
        (6, b"\x00\x00\x00\x01\x03", "limit type 3"),
        (20, b"", "name string"),
        (20, amf0.encode(1.0, 1.0), "name string"),
        (20, amf0.encode("x"), "name string"),
        (20, amf0.encode("x", "1"), "transaction id"),
        (20, amf0.encode("x", True), "transaction id"),
        (20, b"\x02\x00", "bad AMF0"),
        (18, b"\x11", "bad AMF0"),
        (17, b"\x03\x00", "format byte"),
        (17, b"", "format byte"),
        (15, b"\x01", "format byte"),
        (22, b"\x09\x00", "2 bytes left at offset 0, less than a header"),
        (22, bytes.fromhex("09 000003 000000 00 000001") + b"\x17", "overruns"),
        (22, bytes.fromhex("09 000001 000000 00 000001") + b"\x17\x00\x00", "overruns"),
        (22, bytes.fromhex("14 000000 000000 00 000000 0000000b"), "type 20 is not"),
        (22, bytes.fromhex("01 000000 000000 00 000000 0000000b"), "type 1 is not"),
        (
            22,
            bytes.fromhex("08 000000 000000 00 000000 0000000b") + b"\x08\x00",
            "2 bytes left at offset 15",
        ),
    ],
)
def test_decode_errors(type_id: int, body: bytes, message: str) -> None:
    with pytest.raises(RtmpProtocolError, match=message):
        decode_message(type_id, body)


@pytest.mark.parametrize(
    "message",
    [
        SetChunkSize(0),
        SetChunkSize(0x80000000),
        AbortMessage(-1),
        Acknowledgement(2**32),
        WindowAcknowledgementSize(-5),
        SetPeerBandwidth(2**33, BandwidthLimit.SOFT),
        StreamBegin(2**32),
        SetBufferLength(1, -1),
        UnknownUserControl(70000, b""),
        UnknownMessage(256, b""),
        CommandMessage("x", 1.0, None, (object(),)),  # type: ignore[arg-type]
        AggregateMessage((AggregatePart(20, 0, b""),)),
        AggregateMessage((AggregatePart(8, 2**32, b""),)),
        AggregateMessage((AggregatePart(8, 0, b"", 2**24),)),
    ],
    ids=repr,
)
def test_encode_errors(message: Message) -> None:
    with pytest.raises(RtmpLocalProtocolError):
        encode_message(message)


U32 = st.integers(0, 2**32 - 1)
AMF_VALUES = st.one_of(
    st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=8), st.just(UNDEFINED)
)
MESSAGES: st.SearchStrategy[Message] = st.one_of(
    st.builds(SetChunkSize, st.integers(1, 0x7FFFFFFF)),
    st.builds(AbortMessage, U32),
    st.builds(Acknowledgement, U32),
    st.builds(WindowAcknowledgementSize, U32),
    st.builds(SetPeerBandwidth, U32, st.sampled_from(BandwidthLimit)),
    st.builds(StreamBegin, U32),
    st.builds(StreamEof, U32),
    st.builds(StreamDry, U32),
    st.builds(SetBufferLength, U32, U32),
    st.builds(StreamIsRecorded, U32),
    st.builds(PingRequest, U32),
    st.builds(PingResponse, U32),
    st.builds(UnknownUserControl, st.integers(8, 0xFFFF), st.binary(max_size=8)),
    st.builds(AudioMessage, st.binary(max_size=32)),
    st.builds(VideoMessage, st.binary(max_size=32)),
    st.builds(DataMessage, st.lists(AMF_VALUES, max_size=4).map(tuple), amf3=st.booleans()),
    st.builds(
        CommandMessage,
        st.text(max_size=10),
        st.floats(allow_nan=False),
        AMF_VALUES,
        st.lists(AMF_VALUES, max_size=3).map(tuple),
        st.booleans(),
    ),
    st.builds(UnknownMessage, st.sampled_from([0, 7, 16, 19, 200]), st.binary(max_size=8)),
    st.builds(
        AggregateMessage,
        st.lists(
            st.builds(
                AggregatePart,
                st.sampled_from(sorted(AGGREGATE_TYPES)),
                U32,
                st.binary(max_size=16),
                st.integers(0, 0xFFFFFF),
            ),
            max_size=4,
        ).map(tuple),
    ),
)


@given(MESSAGES)
def test_round_trip(message: Message) -> None:
    type_id, body = encode_message(message)
    assert decode_message(type_id, body) == message


@given(st.integers(0, 30), st.binary(max_size=64))
def test_arbitrary_bodies_raise_only_rtmp_protocol_error(type_id: int, body: bytes) -> None:
    try:
        decode_message(type_id, body)
    except RtmpProtocolError:
        pass


@given(st.binary(max_size=64))
def test_arbitrary_aggregate_bodies_raise_only_rtmp_protocol_error(body: bytes) -> None:
    """Every part of a decoded aggregate lies inside the body, whatever the body."""
    try:
        parts = decode_aggregate(body).parts
    except RtmpProtocolError:
        return
    assert sum(11 + len(p.payload) + 4 for p in parts) == len(body)
