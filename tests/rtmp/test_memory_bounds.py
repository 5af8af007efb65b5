"""Memory held per connection before and after authentication: byte fixtures and fuzzing.

The hardening issue's repro: after the handshake a client sets a 16 MiB chunk size and announces
one 10 MiB message, which used to be buffered whole before ``connect`` or ``publish``. Until a
publish is accepted a message may be at most ``SETUP_MAX_MESSAGE_SIZE``; a header announcing more
is refused at once, before any body is read. The chunk decoder keeps at most one chunk header of
unparsed input; partial bodies live per chunk stream, bounded by the message limit.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synctv.media import amf0
from synctv.rtmp.chunk import MAX_CHUNK_SIZE, MAX_HEADER_SIZE, ChunkDecoder, ChunkEncoder
from synctv.rtmp.client import ClientSession
from synctv.rtmp.errors import RtmpProtocolError
from synctv.rtmp.events import ConnectRequested, PlayRequested, PublishRequested, VideoReceived
from synctv.rtmp.messages import CommandMessage, encode_message
from synctv.rtmp.session import SETUP_MAX_MESSAGE_SIZE, ServerSession, SessionState

SERVER_RANDOM = (bytes(range(256)) * 6)[:1528]
CLIENT_RANDOM = bytes(1528)
FLV_TAG_LIMIT = 10 * 1024 * 1024  # livestream.max_flv_tag_size_bytes' default
RECEIVE_SIZE = 65536  # what the driver reads at once


def h0(csid: int, ts: int, length: int, type_id: int, sid: int) -> bytes:
    return (
        bytes((csid,))
        + ts.to_bytes(3, "big")
        + length.to_bytes(3, "big")
        + bytes((type_id,))
        + struct.pack("<I", sid)
    )


# SetChunkSize(16 MiB), as the attack sends it (the decoder clamps it to 0xFFFFFF).
HUGE_CHUNKS = h0(2, 0, 4, 1, 0) + struct.pack(">I", 16 * 1024 * 1024)


def handshaken() -> ServerSession:
    """A server session right after the handshake (AWAIT_CONNECT), nothing else sent."""
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM, max_message_size=FLV_TAG_LIMIT)
    while True:
        up = client.data_to_send()
        if up:
            server.receive_data(up)
        down = server.data_to_send()
        if down:
            client.receive_data(down)
        if not up and not down:
            break
    assert server.state is SessionState.AWAIT_CONNECT
    return server


def pump(client: ClientSession, server: ServerSession) -> list[object]:
    events: list[object] = []
    while True:
        up = client.data_to_send()
        if up:
            events += server.receive_data(up)
        down = server.data_to_send()
        if down:
            client.receive_data(down)
        if not up and not down:
            return events


def obs_connect_object() -> dict[str, amf0.Amf0Value]:
    """A connect as large as OBS's gets: librtmp's fields, Enhanced RTMP's fourCcList, and a
    long tcUrl (a query string with a token) repeated in swfUrl and pageUrl."""
    tc_url = "rtmp://live.example.com:1935/live?token=" + "x" * 1500
    return {
        "app": "live",
        "type": "nonprivate",
        "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
        "swfUrl": tc_url,
        "tcUrl": tc_url,
        "fpad": False,
        "capabilities": 15.0,
        "audioCodecs": 4071.0,
        "videoCodecs": 252.0,
        "videoFunction": 1.0,
        "pageUrl": tc_url,
        "objectEncoding": 0.0,
        "fourCcList": ["av01", "vp09", "hvc1", "avc1", "Opus", "mp4a", ".mp3", "ac-3", "ec-3"],
    }


# --------------------------------------------------------------------------- before publish


def test_oversize_message_before_connect_is_refused_at_its_header() -> None:
    """The issue's repro, byte for byte: 16 MiB chunks, then a 10 MiB message header."""
    server = handshaken()
    assert server.receive_data(HUGE_CHUNKS) == []
    with pytest.raises(RtmpProtocolError, match=f"exceeds the {SETUP_MAX_MESSAGE_SIZE}"):
        server.receive_data(h0(3, 0, 10 * 1024 * 1024, 20, 0))  # no body sent yet
    assert server.state is SessionState.ERROR
    assert server.buffered <= MAX_HEADER_SIZE


@pytest.mark.parametrize("type_id", [8, 9, 18, 20, 22])
def test_a_message_just_over_the_setup_limit_is_refused(type_id: int) -> None:
    server = handshaken()
    server.receive_data(HUGE_CHUNKS)
    with pytest.raises(RtmpProtocolError, match="exceeds"):
        server.receive_data(h0(3, 0, SETUP_MAX_MESSAGE_SIZE + 1, type_id, 0))


def test_obs_sized_connect_create_stream_and_publish_fit_the_setup_limit() -> None:
    obj = obs_connect_object()
    _, body = encode_message(CommandMessage("connect", 1.0, obj, ()))
    assert 4096 < len(body) < SETUP_MAX_MESSAGE_SIZE  # a connect bigger than any seen
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM, max_message_size=FLV_TAG_LIMIT)
    client.call("connect", obj, command_object=True)
    events = pump(client, server)
    assert isinstance(events[0], ConnectRequested)
    client.create_stream()
    client.publish(1, "k" * 1000 + "?token=" + "t" * 2000)
    events = pump(client, server)
    assert [type(e) for e in events] == [PublishRequested]


def publish_pending() -> tuple[ClientSession, ServerSession, int, int]:
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM, max_message_size=FLV_TAG_LIMIT)
    client.connect("live")
    client.create_stream()
    pump(client, server)
    client.publish(1, "key")
    events = pump(client, server)
    assert len(events) == 1
    assert isinstance(events[0], PublishRequested)
    return client, server, 1, events[0].request_id


def test_the_full_limit_applies_once_publish_is_accepted() -> None:
    client, server, sid, rid = publish_pending()
    keyframe = b"\x17\x01" + bytes(1024 * 1024)
    assert server.accept_publish(sid, rid)
    client.set_chunk_size(MAX_CHUNK_SIZE)
    client.send_video(sid, 0, keyframe)
    events = pump(client, server)
    assert events == [VideoReceived(sid, 0, keyframe)]
    raw = h0(6, 40, FLV_TAG_LIMIT + 1, 9, sid)
    with pytest.raises(RtmpProtocolError, match=f"exceeds the {FLV_TAG_LIMIT}"):
        server.receive_data(raw)


def test_a_pending_publish_is_not_yet_trusted() -> None:
    """Media may share a read with ``publish`` (small sequence headers do), but a big message
    before the publish is accepted (a wrong key, say) is refused at its header."""
    _client, server, sid, _rid = publish_pending()
    with pytest.raises(RtmpProtocolError, match="exceeds"):
        server.receive_data(h0(6, 0, 1024 * 1024, 9, sid))


def test_a_player_keeps_the_setup_limit() -> None:
    """Players send commands only; playing needs no key, so playing earns no bigger messages."""
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM, max_message_size=FLV_TAG_LIMIT)
    client.connect("live")
    client.create_stream()
    pump(client, server)
    client.play(1, "stream")
    events = pump(client, server)
    assert isinstance(events[0], PlayRequested)
    assert server.accept_play(1, events[0].request_id)
    pump(client, server)
    with pytest.raises(RtmpProtocolError, match="exceeds"):
        server.receive_data(h0(3, 0, SETUP_MAX_MESSAGE_SIZE + 1, 20, 0))


# --------------------------------------------------------------------------- the chunk decoder


def test_decoder_keeps_no_more_than_a_header_of_unparsed_input() -> None:
    """A message in one huge chunk, fed a read at a time: the body goes straight into the
    message's own buffer (allocated once, at its declared length), never into the input."""
    decoder = ChunkDecoder(max_message_size=1024 * 1024)
    decoder.receive_data(HUGE_CHUNKS)
    assert decoder.chunk_size == MAX_CHUNK_SIZE
    body = bytes(range(256)) * 4096  # 1 MiB
    wire = h0(6, 0, len(body), 9, 1) + body
    messages = []
    for start in range(0, len(wire), RECEIVE_SIZE):
        messages += decoder.receive_data(wire[start : start + RECEIVE_SIZE])
        assert decoder.unparsed == 0
        if messages:
            assert decoder.buffered == 0
        else:
            assert decoder.buffered == len(body)
    assert [m.payload for m in messages] == [body]


def test_decoder_split_header_is_the_only_input_kept() -> None:
    decoder = ChunkDecoder()
    wire = b"\x01\x10\x00" + h0(0, 0xFFFFFF, 3, 9, 1)[1:] + b"\x00\x00\x00\x05" + b"abc"
    for i in range(MAX_HEADER_SIZE - 1):
        assert decoder.receive_data(wire[i : i + 1]) == []
        assert decoder.unparsed == i + 1
    assert decoder.receive_data(wire[MAX_HEADER_SIZE - 1 : MAX_HEADER_SIZE]) == []
    assert decoder.unparsed == 0  # the header is parsed; the body is awaited
    messages = decoder.receive_data(wire[MAX_HEADER_SIZE:])
    assert [(m.chunk_stream_id, m.timestamp, m.payload) for m in messages] == [(80, 5, b"abc")]


def test_zero_length_message_at_the_end_of_a_read() -> None:
    decoder = ChunkDecoder()
    assert len(decoder.receive_data(h0(3, 0, 0, 9, 1))) == 1
    assert decoder.buffered == decoder.unparsed == 0


def test_body_allocation_waits_for_the_first_body_byte() -> None:
    decoder = ChunkDecoder(max_message_size=4096)
    assert decoder.receive_data(h0(3, 0, 4096, 9, 1)) == []
    assert decoder.buffered == 0
    decoder.receive_data(b"x")
    assert decoder.buffered == 4096


# --------------------------------------------------------------------------- fuzzing the bound

LIMIT = 4096
OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("header"),
            st.integers(2, 70),
            st.integers(0, 0xFFFFFF),
            st.sampled_from([1, 8, 9, 18, 20, 22]),
        ),
        st.tuples(st.just("zeros"), st.integers(0, 3 * RECEIVE_SIZE)),
        st.tuples(st.just("bytes"), st.binary(max_size=64)),
        st.tuples(st.just("chunk_size"), st.integers(1, 0x7FFFFFFF)),
    ),
    max_size=10,
)


def op_bytes(op: tuple[object, ...]) -> bytes:
    match op:
        case ("header", int(csid), int(length), int(type_id)):
            return h0(csid, 0, length, type_id, 1)
        case ("zeros", int(size)):
            return bytes(size)
        case ("bytes", bytes(data)):
            return data
        case ("chunk_size", int(size)):
            return h0(2, 0, 4, 1, 0) + struct.pack(">I", size)
    raise AssertionError(op)  # pragma: no cover


@settings(max_examples=200, deadline=None)
@given(OPS, st.integers(256, RECEIVE_SIZE))
def test_arbitrary_input_never_grows_the_decoder_past_its_bound(
    ops: list[tuple[object, ...]], read: int
) -> None:
    decoder = ChunkDecoder(max_message_size=LIMIT)
    bound = MAX_HEADER_SIZE + decoder.max_buffered
    wire = b"".join(op_bytes(op) for op in ops)
    for start in range(0, len(wire), read):
        try:
            decoder.receive_data(wire[start : start + read])
        except RtmpProtocolError:
            break
        finally:
            assert decoder.unparsed <= MAX_HEADER_SIZE
            assert decoder.buffered <= bound


@settings(max_examples=200, deadline=None)
@given(OPS)
def test_arbitrary_input_before_publish_never_grows_a_session_past_the_setup_bound(
    ops: list[tuple[object, ...]],
) -> None:
    """Whatever an unauthenticated peer sends after the handshake, a session holds at most two
    setup-sized partial messages and one header of input."""
    server = handshaken()
    bound = MAX_HEADER_SIZE + 2 * SETUP_MAX_MESSAGE_SIZE
    wire = HUGE_CHUNKS + b"".join(op_bytes(op) for op in ops)
    for start in range(0, len(wire), RECEIVE_SIZE):
        try:
            server.receive_data(wire[start : start + RECEIVE_SIZE])
        except RtmpProtocolError:
            break
        finally:
            assert server.buffered <= bound
    assert server.buffered <= bound


def test_the_setup_limit_leaves_room_for_real_commands() -> None:
    """The limit's reasoning (see session.py): commands are AMF0 with short strings."""
    encoder = ChunkEncoder()
    _, body = encode_message(CommandMessage("publish", 0.0, None, ("k" * 4000, "live")))
    assert len(encoder.encode(5, 0, 20, 1, body)) < SETUP_MAX_MESSAGE_SIZE
    assert SETUP_MAX_MESSAGE_SIZE <= 64 * 1024
