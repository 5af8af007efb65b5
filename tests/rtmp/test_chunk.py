"""Chunk streams: case tables, header compression, extended timestamps, limits, feeding, fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.rtmp.chunk import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    ChunkDecoder,
    ChunkEncoder,
    RawMessage,
    encode_fmt0,
)
from synctv.rtmp.errors import RtmpLocalProtocolError, RtmpProtocolError


def u24(x: int) -> bytes:
    return x.to_bytes(3, "big")


def h0(csid: int, ts: int, length: int, type_id: int, sid: int) -> bytes:
    return bytes((csid,)) + u24(ts) + u24(length) + bytes((type_id,)) + struct.pack("<I", sid)


def h1(csid: int, delta: int, length: int, type_id: int) -> bytes:
    return bytes((0x40 | csid,)) + u24(delta) + u24(length) + bytes((type_id,))


def h2(csid: int, delta: int) -> bytes:
    return bytes((0x80 | csid,)) + u24(delta)


def h3(csid: int) -> bytes:
    return bytes((0xC0 | csid,))


def m(csid: int, ts: int, type_id: int, sid: int, payload: bytes) -> RawMessage:
    return RawMessage(csid, ts, type_id, sid, payload)


P200 = bytes(range(200))
P307 = bytes(i % 251 for i in range(307))
EXT = 0x01020304  # an extended timestamp
X = struct.pack(">I", EXT)

# (name, wire, messages, chunk size). The encoder, fed the messages in order on a fresh state,
# must produce exactly these bytes; the decoder must return exactly these messages.
CASES: list[tuple[str, bytes, list[RawMessage], int]] = [
    ("fmt0-single", h0(3, 0, 4, 20, 0) + b"abcd", [m(3, 0, 20, 0, b"abcd")], 128),
    ("empty-message", h0(3, 5, 0, 9, 1), [m(3, 5, 9, 1, b"")], 128),
    ("csid-63", h0(63, 0, 1, 8, 1) + b"a", [m(63, 0, 8, 1, b"a")], 128),
    ("csid-64-two-byte", b"\x00\x00" + h0(0, 0, 1, 8, 1)[1:] + b"a", [m(64, 0, 8, 1, b"a")], 128),
    ("csid-319-two-byte", b"\x00\xff" + h0(0, 0, 1, 8, 1)[1:] + b"a", [m(319, 0, 8, 1, b"a")], 128),
    (
        "csid-320-three-byte",
        b"\x01\x00\x01" + h0(0, 0, 1, 8, 1)[1:] + b"a",
        [m(320, 0, 8, 1, b"a")],
        128,
    ),
    (
        "csid-65599-three-byte",
        b"\x01\xff\xff" + h0(0, 0, 1, 8, 1)[1:] + b"a",
        [m(65599, 0, 8, 1, b"a")],
        128,
    ),
    (
        "split-at-128",
        h0(3, 0, 200, 20, 0) + P200[:128] + h3(3) + P200[128:],
        [m(3, 0, 20, 0, P200)],
        128,
    ),
    (
        # RTMP 1.0 §5.3.2.1: audio, same stream: fmt 0, then fmt 2 delta 20, then fmt 3, fmt 3
        "spec-example-1-audio",
        h0(3, 1000, 32, 8, 12345)
        + bytes(32)
        + h2(3, 20)
        + bytes(32)
        + h3(3)
        + bytes(32)
        + h3(3)
        + bytes(32),
        [m(3, ts, 8, 12345, bytes(32)) for ts in (1000, 1020, 1040, 1060)],
        128,
    ),
    (
        # RTMP 1.0 §5.3.2.2: one 307-byte video message at chunk size 128
        "spec-example-2-video",
        h0(4, 1000, 307, 9, 12346) + P307[:128] + h3(4) + P307[128:256] + h3(4) + P307[256:],
        [m(4, 1000, 9, 12346, P307)],
        128,
    ),
    (
        "fmt1-length-change",
        h0(6, 0, 2, 9, 1) + b"ab" + h1(6, 40, 3, 9) + b"cde" + h1(6, 40, 1, 8) + b"f",
        [m(6, 0, 9, 1, b"ab"), m(6, 40, 9, 1, b"cde"), m(6, 80, 8, 1, b"f")],
        128,
    ),
    (
        "stream-id-change-is-fmt0",
        h0(5, 10, 1, 18, 1) + b"a" + h0(5, 20, 1, 18, 2) + b"b",
        [m(5, 10, 18, 1, b"a"), m(5, 20, 18, 2, b"b")],
        128,
    ),
    (
        "backwards-timestamp-is-fmt0",
        h0(5, 100, 1, 9, 1) + b"a" + h0(5, 50, 1, 9, 1) + b"b",
        [m(5, 100, 9, 1, b"a"), m(5, 50, 9, 1, b"b")],
        128,
    ),
    (
        "extended-fmt0-repeated-on-continuation",
        h0(4, 0xFFFFFF, 5, 9, 1) + X + b"ab" + h3(4) + X + b"cd" + h3(4) + X + b"e",
        [m(4, EXT, 9, 1, b"abcde")],
        2,
    ),
    (
        "extended-exact-boundary",
        h0(4, 0xFFFFFF, 1, 9, 1) + b"\x00\xff\xff\xff" + b"a",
        [m(4, 0xFFFFFF, 9, 1, b"a")],
        128,
    ),
    (
        "extended-delta-fmt1-fmt3-fmt2",
        h0(4, 0, 1, 9, 1)
        + b"a"
        + h1(4, 0xFFFFFF, 2, 9)
        + X
        + b"bc"
        + h3(4)
        + X
        + b"de"
        + h2(4, 0xFFFFFF)
        + b"\x01\x00\x00\x00"
        + b"fg",
        [
            m(4, 0, 9, 1, b"a"),
            m(4, EXT, 9, 1, b"bc"),
            m(4, 2 * EXT, 9, 1, b"de"),
            m(4, 2 * EXT + 0x1000000, 9, 1, b"fg"),
        ],
        128,
    ),
]

# Accepted, non-canonical inputs (the encoder would write them differently).
DECODE_ONLY: list[tuple[str, bytes, list[RawMessage], int]] = [
    (
        # the encoder writes whole messages; interleaving is the peer's choice
        "interleaved-in-order-of-completion",
        h0(6, 0, 6, 9, 1) + b"vvv" + h0(4, 0, 2, 8, 1) + b"aa" + h3(6) + b"VVV",
        [m(4, 0, 8, 1, b"aa"), m(6, 0, 9, 1, b"vvvVVV")],
        3,
    ),
    (
        "extended-absent-on-continuation",
        h0(4, 0xFFFFFF, 5, 9, 1) + X + b"ab" + h3(4) + b"cd" + h3(4) + b"e",
        [m(4, EXT, 9, 1, b"abcde")],
        2,
    ),
    (
        # After fmt 0 the "delta" a new-message fmt 3 repeats is the fmt 0 timestamp (§5.3.1.2.4)
        "fmt3-new-message-after-fmt0",
        h0(3, 100, 1, 8, 1) + b"a" + h3(3) + b"b",
        [m(3, 100, 8, 1, b"a"), m(3, 200, 8, 1, b"b")],
        128,
    ),
    (
        "fmt3-new-message-with-extended",
        h0(3, 0, 1, 8, 1) + b"a" + h2(3, 0xFFFFFF) + X + b"b" + h3(3) + X + b"c",
        [m(3, 0, 8, 1, b"a"), m(3, EXT, 8, 1, b"b"), m(3, 2 * EXT, 8, 1, b"c")],
        128,
    ),
    (
        "extended-delta-fmt2-repeating-the-delta",
        h0(4, 0, 1, 9, 1) + b"a" + h1(4, 0xFFFFFF, 2, 9) + X + b"bc" + h2(4, 0xFFFFFF) + X + b"de",
        [m(4, 0, 9, 1, b"a"), m(4, EXT, 9, 1, b"bc"), m(4, 2 * EXT, 9, 1, b"de")],
        128,
    ),
    (
        "fmt2-reuses-length-and-type",
        h0(3, 0, 2, 8, 7) + b"ab" + h2(3, 10) + b"cd",
        [m(3, 0, 8, 7, b"ab"), m(3, 10, 8, 7, b"cd")],
        128,
    ),
    (
        "timestamp-wraps-at-32-bits",
        h0(3, 0xFFFFFF, 1, 8, 1) + b"\xff\xff\xff\xf0" + b"a" + h2(3, 0x20) + b"b",
        [m(3, 0xFFFFFFF0, 8, 1, b"a"), m(3, 0x10, 8, 1, b"b")],
        128,
    ),
    (
        "two-byte-form-for-small-csid",
        b"\x00\x00" + h0(0, 7, 1, 8, 1)[1:] + b"a" + b"\xc0\x00" + b"b",
        [m(64, 7, 8, 1, b"a"), m(64, 14, 8, 1, b"b")],
        128,
    ),
]


def decode_all(wire: bytes, chunk_size: int, cuts: list[int] | None = None) -> list[RawMessage]:
    decoder = ChunkDecoder()
    decoder.chunk_size = chunk_size
    out: list[RawMessage] = []
    start = 0
    for cut in [*sorted(cuts or []), len(wire)]:
        out += decoder.receive_data(wire[start:cut])
        start = max(start, cut)
    return out


def encode_all(messages: list[RawMessage], chunk_size: int) -> bytes:
    encoder = ChunkEncoder(chunk_size)
    return b"".join(encoder.encode_message(msg) for msg in messages)


ALL = CASES + DECODE_ONLY


@pytest.mark.parametrize(("name", "wire", "messages", "size"), ALL, ids=[c[0] for c in ALL])
def test_decode(name: str, wire: bytes, messages: list[RawMessage], size: int) -> None:
    assert decode_all(wire, size) == messages


@pytest.mark.parametrize(("name", "wire", "messages", "size"), CASES, ids=[c[0] for c in CASES])
def test_encode(name: str, wire: bytes, messages: list[RawMessage], size: int) -> None:
    assert encode_all(messages, size) == wire


@pytest.mark.parametrize(("name", "wire", "messages", "size"), ALL, ids=[c[0] for c in ALL])
def test_byte_by_byte_and_trailing_bytes(
    name: str, wire: bytes, messages: list[RawMessage], size: int
) -> None:
    assert decode_all(wire, size, list(range(len(wire)))) == messages
    decoder = ChunkDecoder()
    decoder.chunk_size = size
    trailing = h0(63, 0, 3, 8, 1) + b"x"  # the start of another message waits, untouched
    assert decoder.receive_data(wire + trailing) == messages
    assert 0 < decoder.buffered <= len(trailing)
    rest = b"yz" if size >= 3 else b"y" + h3(63) + b"z"
    assert decoder.receive_data(rest) == [m(63, 0, 8, 1, b"xyz")]
    assert decoder.buffered == 0


@pytest.mark.parametrize(("name", "wire", "messages", "size"), ALL, ids=[c[0] for c in ALL])
def test_every_prefix_loses_nothing(
    name: str, wire: bytes, messages: list[RawMessage], size: int
) -> None:
    for end in range(len(wire)):
        decoder = ChunkDecoder()
        decoder.chunk_size = size
        first = decoder.receive_data(wire[:end])
        assert first == messages[: len(first)]
        if end < len(wire) - 1 or not messages:
            assert len(first) < len(messages) or not messages
        assert first + decoder.receive_data(wire[end:]) == messages


def test_extended_mode_is_learnt_per_chunk_stream() -> None:
    decoder = ChunkDecoder()
    decoder.chunk_size = 2
    absent = h0(4, 0xFFFFFF, 4, 9, 1) + X + b"ab" + h3(4) + b"cd"
    # Once learnt as absent, a payload starting with the same four bytes is payload.
    again = h2(4, 0xFFFFFF) + X + b"ab" + h3(4) + X[:2]
    assert decoder.receive_data(absent + again) == [
        m(4, EXT, 9, 1, b"abcd"),
        m(4, 2 * EXT, 9, 1, b"ab" + X[:2]),
    ]


def test_set_chunk_size_applies_to_the_next_chunk_in_the_same_read() -> None:
    wire = h0(2, 0, 4, 1, 0) + struct.pack(">I", 300) + h0(3, 0, 300, 20, 0) + bytes(300)
    decoder = ChunkDecoder()
    assert decoder.receive_data(wire) == [
        m(2, 0, 1, 0, struct.pack(">I", 300)),
        m(3, 0, 20, 0, bytes(300)),
    ]
    assert decoder.chunk_size == 300


def test_set_chunk_size_above_max_is_clamped() -> None:
    decoder = ChunkDecoder()
    decoder.receive_data(h0(2, 0, 4, 1, 0) + b"\x7f\xff\xff\xff")
    assert decoder.chunk_size == MAX_CHUNK_SIZE


@pytest.mark.parametrize("body", [b"\x00\x00\x00\x00", b"\x80\x00\x00\x80", b"\x00\x01"])
def test_bad_set_chunk_size(body: bytes) -> None:
    decoder = ChunkDecoder()
    with pytest.raises(RtmpProtocolError):
        decoder.receive_data(h0(2, 0, len(body), 1, 0) + body)
    with pytest.raises(RtmpLocalProtocolError, match="already failed"):
        decoder.receive_data(b"\x02")


def test_abort_discards_partial_message() -> None:
    wire = (
        h0(6, 0, 200, 9, 1) + bytes(128)  # partial video
        + h0(2, 0, 4, 2, 0) + struct.pack(">I", 6)  # Abort(6)
        + h0(6, 40, 1, 9, 1) + b"z"  # fmt 0 is allowed again
        + h2(2, 0) + struct.pack(">I", 99)  # abort of a chunk stream never seen
    )  # fmt: skip
    decoder = ChunkDecoder()
    messages = decoder.receive_data(wire)
    assert [msg.type_id for msg in messages] == [2, 9, 2]
    assert messages[1] == m(6, 40, 9, 1, b"z")
    assert decoder.buffered == 0


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (h1(3, 0, 1, 8) + b"a", "no fmt 0"),
        (h3(3), "no fmt 0"),
        (h0(3, 0, 200, 8, 1) + bytes(128) + h0(3, 0, 1, 8, 1), "inside a message"),
        (h0(3, 0, 0xFFFFFF, 8, 1), "exceeds"),
    ],
)
def test_protocol_errors(wire: bytes, message: str) -> None:
    decoder = ChunkDecoder(max_message_size=1000)
    with pytest.raises(RtmpProtocolError, match=message):
        decoder.receive_data(wire)


def test_max_message_size_is_configurable() -> None:
    decoder = ChunkDecoder(max_message_size=10)
    assert decoder.receive_data(h0(3, 0, 10, 8, 1) + bytes(10))
    with pytest.raises(RtmpProtocolError, match="11 bytes exceeds the 10"):
        decoder.receive_data(h0(3, 0, 11, 8, 1))


def test_chunk_stream_limit() -> None:
    decoder = ChunkDecoder(max_chunk_streams=3)
    decoder.receive_data(b"".join(h0(c, 0, 0, 8, 1) for c in (3, 4, 5)))
    decoder.receive_data(h0(3, 0, 0, 8, 1))  # known streams stay usable
    with pytest.raises(RtmpProtocolError, match="more than 3 chunk streams"):
        decoder.receive_data(h0(6, 0, 0, 8, 1))


def test_partial_message_budget() -> None:
    decoder = ChunkDecoder(max_message_size=300)  # budget: 600 bytes of partial messages
    decoder.receive_data(h0(3, 0, 300, 8, 1) + bytes(128) + h0(4, 0, 300, 8, 1) + bytes(128))
    with pytest.raises(RtmpProtocolError, match="partial messages"):
        decoder.receive_data(h0(5, 0, 300, 8, 1) + bytes(128))


def test_acknowledgement_window() -> None:
    decoder = ChunkDecoder()
    decoder.chunk_size = 10_000
    decoder.receive_data(h0(3, 0, 5000, 8, 1))  # 12 bytes; the payload follows in pieces
    assert decoder.acknowledgement_due() is None  # no window announced: never
    decoder.set_window(100)  # counts from here (12)
    decoder.receive_data(bytes(50))
    assert decoder.bytes_received == 62
    assert decoder.acknowledgement_due() is None
    decoder.receive_data(bytes(49))
    assert decoder.acknowledgement_due() is None
    decoder.receive_data(bytes(1))
    assert decoder.acknowledgement_due() == 112
    assert decoder.acknowledgement_due() is None
    decoder.receive_data(bytes(250))
    assert decoder.acknowledgement_due() == 362  # one ack per call, however many windows
    decoder.set_window(0)
    decoder.receive_data(bytes(1000))
    assert decoder.acknowledgement_due() is None


def test_acknowledgement_sequence_wraps() -> None:
    decoder = ChunkDecoder()
    decoder.bytes_received = 2**32 - 5
    decoder.set_window(10)
    decoder.receive_data(h0(3, 0, 0, 8, 1) + h0(3, 0, 0, 8, 1)[:1])
    assert decoder.acknowledgement_due() == 8  # 2**32 - 5 + 13, modulo 2**32


# -- encoder ---------------------------------------------------------------------------------


def fmts(wire: bytes) -> int:
    return wire[0] >> 6


def test_encoder_header_choice() -> None:
    encoder = ChunkEncoder()
    assert fmts(encoder.encode(4, 0, 8, 1, b"ab")) == 0
    assert fmts(encoder.encode(4, 20, 8, 1, b"ab")) == 2  # same delta as the fmt 0 field? never 3
    assert fmts(encoder.encode(4, 40, 8, 1, b"ab")) == 3
    assert fmts(encoder.encode(4, 60, 8, 1, b"abc")) == 1
    assert fmts(encoder.encode(4, 61, 8, 1, b"abc")) == 2
    assert fmts(encoder.encode(4, 61, 9, 1, b"abc")) == 1
    assert fmts(encoder.encode(4, 61, 9, 2, b"abc")) == 0
    assert fmts(encoder.encode(5, 61, 9, 2, b"abc")) == 0  # chunk streams are independent


def test_encoder_set_chunk_size() -> None:
    encoder = ChunkEncoder()
    assert encoder.chunk_size == DEFAULT_CHUNK_SIZE
    encoder.set_chunk_size(4)
    assert (
        encoder.encode(3, 0, 8, 1, b"abcdefghi")
        == h0(3, 0, 9, 8, 1) + b"abcd" + h3(3) + b"efgh" + h3(3) + b"i"
    )


@pytest.mark.parametrize(
    "args",
    [
        (1, 0, 8, 1, b""),
        (65600, 0, 8, 1, b""),
        (3, -1, 8, 1, b""),
        (3, 2**32, 8, 1, b""),
        (3, 0, 256, 1, b""),
        (3, 0, 8, -1, b""),
        (3, 0, 8, 2**32, b""),
    ],
)
def test_encoder_rejects_bad_envelopes(args: tuple[int, int, int, int, bytes]) -> None:
    with pytest.raises(RtmpLocalProtocolError):
        ChunkEncoder().encode(*args)
    with pytest.raises(RtmpLocalProtocolError):
        encode_fmt0(*args, chunk_size=128)


def test_encoder_rejects_oversize_message_and_bad_chunk_size() -> None:
    with pytest.raises(RtmpLocalProtocolError, match="u24"):
        ChunkEncoder().encode(3, 0, 9, 1, memoryview(bytes(MAX_CHUNK_SIZE + 1)))
    for size in (0, MAX_CHUNK_SIZE + 1):
        with pytest.raises(RtmpLocalProtocolError):
            ChunkEncoder(size)
        with pytest.raises(RtmpLocalProtocolError):
            ChunkEncoder().set_chunk_size(size)
        with pytest.raises(RtmpLocalProtocolError):
            encode_fmt0(3, 0, 9, 1, b"", size)


def test_encode_fmt0_is_stateless_and_decodes_after_any_history() -> None:
    first = encode_fmt0(8, 0x1000000, 9, 1, P307, 128)
    assert first == encode_fmt0(8, 0x1000000, 9, 1, P307, 128)
    assert first == h0(8, 0xFFFFFF, 307, 9, 1) + b"\x01\x00\x00\x00" + P307[:128] + (
        h3(8) + b"\x01\x00\x00\x00" + P307[128:256] + h3(8) + b"\x01\x00\x00\x00" + P307[256:]
    )
    decoder = ChunkDecoder()
    history = ChunkEncoder()
    wire = history.encode(8, 5, 8, 1, b"x") + history.encode(8, 10, 8, 1, b"y")
    assert decoder.receive_data(wire + first + encode_fmt0(8, 7, 8, 1, b"q", 128))[2:] == [
        m(8, 0x1000000, 9, 1, P307),
        m(8, 7, 8, 1, b"q"),
    ]


# -- properties ------------------------------------------------------------------------------

MESSAGE = st.builds(
    RawMessage,
    st.sampled_from([3, 4, 5, 63, 64, 319, 320, 65599]),
    st.one_of(st.integers(0, 1000), st.integers(0xFFFF00, 0x1000100), st.integers(0, 2**32 - 1)),
    st.sampled_from([8, 9, 18, 20]),
    st.sampled_from([0, 1, 2**32 - 1]),
    st.binary(max_size=300),
)


def with_chunk_size(size: int, messages: list[RawMessage]) -> tuple[bytes, list[RawMessage]]:
    """Announce ``size`` with a Set Chunk Size message, then encode ``messages`` at that size."""
    encoder = ChunkEncoder()
    announce = m(2, 0, 1, 0, struct.pack(">I", size))
    wire = encoder.encode_message(announce)
    encoder.set_chunk_size(size)
    return wire + b"".join(encoder.encode_message(msg) for msg in messages), [announce, *messages]


@given(
    st.integers(1, 400), st.lists(MESSAGE, max_size=8), st.lists(st.integers(0, 4000), max_size=8)
)
def test_round_trip_at_random_chunk_sizes(
    size: int, messages: list[RawMessage], cuts: list[int]
) -> None:
    wire, expected = with_chunk_size(size, messages)
    assert decode_all(wire, DEFAULT_CHUNK_SIZE, cuts) == expected


@given(st.lists(MESSAGE, min_size=1, max_size=5), st.integers(1, 64))
def test_monotonic_timestamps_round_trip_with_compression(
    messages: list[RawMessage], size: int
) -> None:
    ordered = sorted(messages, key=lambda msg: msg.timestamp)
    wire, expected = with_chunk_size(size, ordered)
    assert decode_all(wire, DEFAULT_CHUNK_SIZE) == expected


@given(st.binary(max_size=400), st.integers(1, 300))
def test_arbitrary_bytes_raise_only_rtmp_protocol_error(data: bytes, size: int) -> None:
    decoder = ChunkDecoder(max_message_size=4096, max_chunk_streams=8)
    decoder.chunk_size = size
    try:
        for start in range(0, len(data), 37):
            decoder.receive_data(data[start : start + 37])
    except RtmpProtocolError:
        return
    assert decoder.buffered <= len(data)
