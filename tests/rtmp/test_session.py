"""RTMP sessions: publish and play flows in memory, the FFmpeg capture, state machines, fuzzing."""

from __future__ import annotations

import itertools
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synctv.media import amf0
from synctv.media.amf0 import EcmaArray
from synctv.media.errors import ProtocolError
from synctv.rtmp.chunk import ChunkDecoder, ChunkEncoder
from synctv.rtmp.client import ClientSession
from synctv.rtmp.errors import RtmpLocalProtocolError, RtmpProtocolError
from synctv.rtmp.events import (
    AcknowledgementReceived,
    AudioReceived,
    ConnectAccepted,
    ConnectRejected,
    ConnectRequested,
    DataReceived,
    Event,
    MetadataReceived,
    PeerClosed,
    PingResponseReceived,
    PlayRequested,
    PublishRequested,
    ResultReceived,
    StatusReceived,
    StreamCreated,
    StreamDeleted,
    UnknownCommandReceived,
    UnknownMessageReceived,
    UserControlReceived,
    VideoReceived,
)
from synctv.rtmp.handshake import HANDSHAKE_SIZE
from synctv.rtmp.messages import (
    Acknowledgement,
    CommandMessage,
    DataMessage,
    Message,
    PingRequest,
    SetBufferLength,
    StreamBegin,
    StreamEof,
    UnknownMessage,
    WindowAcknowledgementSize,
    decode_message,
    encode_message,
)
from synctv.rtmp.session import (
    CLIENT_TRANSITIONS,
    FANOUT_CSIDS,
    MAX_STREAMS,
    OUTGOING_CHUNK_SIZE,
    SERVER_TRANSITIONS,
    STREAM_TRANSITIONS,
    ConnectionInput,
    ConnectionMachine,
    ServerSession,
    SessionState,
    StreamInput,
    StreamMachine,
    StreamState,
    encode_media_chunks,
)
from tests.conftest import fixture_bytes

SERVER_RANDOM = (bytes(range(256)) * 6)[:1528]
CLIENT_RANDOM = bytes(1528)
FIXTURE = "rtmp/ffmpeg_publish_h264_aac.bin"
METADATA = {"width": 160.0, "height": 120.0, "videocodecid": 7.0, "encoder": "test"}
KEYFRAME = b"\x17\x01\x00\x00\x00" + bytes(9000)  # larger than the 4096 chunk size
AAC = b"\xaf\x01" + bytes(20)


def pump(client: ClientSession, server: ServerSession) -> tuple[list[Event], list[Event]]:
    """Move bytes both ways until both sides are quiet; return (server events, client events)."""
    server_events: list[Event] = []
    client_events: list[Event] = []
    while True:
        up = client.data_to_send()
        if up:
            server_events += server.receive_data(up)
        down = server.data_to_send()
        if down:
            client_events += client.receive_data(down)
        if not up and not down:
            return server_events, client_events


def connected(digest: bool = False, **server_args: int) -> tuple[ClientSession, ServerSession]:
    client = ClientSession(CLIENT_RANDOM, digest=digest)
    server = ServerSession(SERVER_RANDOM, **server_args)
    client.connect("live", "rtmp://example/live")  # queued until the handshake is done
    server_events, client_events = pump(client, server)
    assert server_events == [
        ConnectRequested(
            "live",
            "rtmp://example/live",
            {
                "app": "live",
                "type": "nonprivate",
                "flashVer": "FMLE/3.0 (compatible; SyncTV)",
                "tcUrl": "rtmp://example/live",
            },
        )
    ]
    assert len(client_events) == 1
    assert isinstance(client_events[0], ConnectAccepted)
    assert client.state is server.state is SessionState.CONNECTED
    return client, server


def created(client: ClientSession, server: ServerSession) -> int:
    client.create_stream()
    _, client_events = pump(client, server)
    assert isinstance(client_events[-1], StreamCreated)
    return client_events[-1].stream_id


def inject(session: ServerSession | ClientSession, msg: Message, stream_id: int = 0) -> list[Event]:
    """Feed one message as the peer would send it, on a chunk stream no session uses."""
    type_id, body = encode_message(msg)
    return session.receive_data(ChunkEncoder().encode(40, 0, type_id, stream_id, body))


def publishing(digest: bool = False) -> tuple[ClientSession, ServerSession, int]:
    client, server = connected(digest)
    client.call("releaseStream", "key")
    client.call("FCPublish", "key")
    stream_id = created(client, server)
    client.publish(stream_id, "key?token=abc")
    server_events, _ = pump(client, server)
    assert server_events == [PublishRequested(stream_id, "key", "token=abc", "live", 1)]
    assert server.stream_state(stream_id) is StreamState.PUBLISH_PENDING
    assert server.accept_publish(stream_id, 1)
    _, client_events = pump(client, server)
    assert [(e.level, e.code) for e in client_events if isinstance(e, StatusReceived)] == [
        ("status", "NetStream.Publish.Start")
    ]
    return client, server, stream_id


# -- publish ---------------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [False, True])
def test_publish_flow(digest: bool) -> None:
    client, server, sid = publishing(digest)
    assert sid == 1
    client.set_chunk_size(4096)
    client.send_metadata(sid, METADATA)
    client.send_video(sid, 0, KEYFRAME)
    client.send_audio(sid, 0, AAC)
    client.send_audio(sid, 23, AAC)
    client.send_video(sid, 33, b"\x27\x01\x00\x00\x00xyz")
    client.call("FCUnpublish", "key")
    client.delete_stream(sid)
    server_events, _ = pump(client, server)
    meta_body = amf0.encode("onMetaData", EcmaArray(METADATA))
    assert server_events == [
        MetadataReceived(sid, METADATA, meta_body, 0),
        VideoReceived(sid, 0, KEYFRAME),
        AudioReceived(sid, 0, AAC),
        AudioReceived(sid, 23, AAC),
        VideoReceived(sid, 33, b"\x27\x01\x00\x00\x00xyz"),
        StreamDeleted(sid),  # once, for FCUnpublish; deleteStream then only forgets the stream
    ]
    assert server.stream_state(sid) is None
    assert client.receive_data(b"") == [PeerClosed()]
    assert server.receive_data(b"") == [PeerClosed()]
    assert server.receive_data(b"") == []
    assert server.closed


def test_server_replies_to_connect() -> None:
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM, window_ack_size=1_000_000)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.connect("app")
    server.receive_data(client.data_to_send())
    decoder = ChunkDecoder()
    messages = [
        decode_message(m.type_id, m.payload) for m in decoder.receive_data(server.data_to_send())
    ]
    assert messages[:3] == [
        WindowAcknowledgementSize(1_000_000),
        *[decode_message(6, b"\x00\x0f\x42\x40\x02")],
        *[decode_message(1, struct.pack(">I", OUTGOING_CHUNK_SIZE))],
    ]
    result = messages[3]
    assert isinstance(result, CommandMessage)
    assert (result.name, result.transaction_id) == ("_result", 1.0)
    assert isinstance(result.args[0], dict)
    assert result.args[0]["code"] == "NetConnection.Connect.Success"
    assert server.outgoing_chunk_size == OUTGOING_CHUNK_SIZE
    assert server.app == "app"


def test_releasestream_fcpublish_createstream_replies() -> None:
    client, server = connected()
    client.call("releaseStream", "key")
    client.call("FCPublish", "key")
    client.create_stream()
    _, client_events = pump(client, server)
    assert client_events == [
        ResultReceived("_result", 2.0, 0, ()),
        ResultReceived(
            "onFCPublish",
            0.0,
            0,
            ({"level": "status", "code": "NetStream.Publish.Start", "description": "key"},),
        ),
        ResultReceived("_result", 3.0, 0, ()),
        StreamCreated(1),
    ]


def test_reject_publish_closes_the_session() -> None:
    client, server = connected()
    sid = created(client, server)
    client.publish(sid, "wrong")
    server_events, _ = pump(client, server)
    assert server_events == [PublishRequested(sid, "wrong", request_id=1)]
    assert server.reject_publish(sid, 1, description="Bad key.")
    assert server.closed
    assert server.state is SessionState.CLOSED
    _, client_events = pump(client, server)
    assert client_events == [
        StatusReceived(
            sid,
            "error",
            "NetStream.Publish.BadName",
            "Bad key.",
            {
                "level": "error",
                "code": "NetStream.Publish.BadName",
                "description": "Bad key.",
                "details": "wrong",
            },
        )
    ]
    client.send_video(sid, 0, b"in flight")
    assert pump(client, server) == ([], [])  # input after close is ignored
    assert not server.accept_publish(sid, 1)
    assert not server.send_video(sid, 0, b"x")
    assert server.receive_data(b"") == [PeerClosed()]


def test_media_may_share_a_read_with_publish() -> None:
    client, server = connected()
    sid = created(client, server)
    client.publish(sid, "key")
    client.send_video(sid, 0, b"\x17")
    server_events, _ = pump(client, server)
    assert server_events == [
        PublishRequested(sid, "key", request_id=1),
        VideoReceived(sid, 0, b"\x17"),
    ]


def test_withdrawn_publish_request() -> None:
    client, server = connected()
    sid = created(client, server)
    client.publish(sid, "key")
    client.delete_stream(sid)
    server_events, _ = pump(client, server)
    assert server_events == [PublishRequested(sid, "key", request_id=1), StreamDeleted(sid)]
    assert not server.accept_publish(sid, 1)  # answered too late: no error, no bytes
    assert not server.reject_publish(sid, 1)  # nor a second answer
    assert server.data_to_send() == b""
    assert server.state is SessionState.CONNECTED
    with pytest.raises(RtmpLocalProtocolError, match="request 2 was never made"):
        server.accept_publish(sid, 2)  # an id never issued is a bug
    assert server.state is SessionState.ERROR


def test_closestream_then_publish_again() -> None:
    client, server, sid = publishing()
    client.close_stream(sid)
    client.publish(sid, "key2")
    server_events, _ = pump(client, server)
    assert server_events == [StreamDeleted(sid), PublishRequested(sid, "key2", request_id=2)]
    assert server.accept_publish(sid, 2)


def test_fcunpublish_of_unknown_name_is_harmless() -> None:
    client, server, sid = publishing()
    client.call("FCUnpublish", "other")
    client.call("FCUnpublish", 5.0)
    client.call("deleteStream", 99.0)
    client.call("deleteStream", "x")
    inject(server, CommandMessage("closeStream", 0.0), stream_id=77)
    assert pump(client, server)[0] == []
    assert server.stream_state(sid) is StreamState.PUBLISHING


def test_publish_without_a_name() -> None:
    client, server = connected()
    sid = created(client, server)
    inject(server, CommandMessage("publish", 0.0, None, ()), sid)
    events = inject(server, CommandMessage("closeStream", 0.0), sid)
    assert events == [StreamDeleted(sid)]
    assert inject(server, CommandMessage("publish", 0.0, None, (None, 5.0)), sid) == [
        PublishRequested(sid, "", "", "live", 2)
    ]


def test_stream_limit_answers_error() -> None:
    client, server = connected()
    for _ in range(MAX_STREAMS):
        created(client, server)
    client.create_stream()
    _, client_events = pump(client, server)
    assert len(client_events) == 1
    assert isinstance(client_events[0], ResultReceived)
    assert client_events[0].name == "_error"


# -- play ------------------------------------------------------------------------------------


def playing() -> tuple[ClientSession, ServerSession, int]:
    client, server = connected()
    sid = created(client, server)
    client.play(sid, "room1?sig=x")
    server_events, _ = pump(client, server)
    assert server_events == [PlayRequested(sid, "room1", "sig=x", -2.0, -1.0, True, 1)]
    assert server.accept_play(sid, 1)
    _, client_events = pump(client, server)
    assert client_events[0] == UserControlReceived(StreamBegin(sid))
    assert [(e.code) for e in client_events if isinstance(e, StatusReceived)] == [
        "NetStream.Play.Reset",
        "NetStream.Play.Start",
    ]
    assert client_events[-1] == DataReceived(sid, 0, ("|RtmpSampleAccess", True, True))
    return client, server, sid


def test_play_flow() -> None:
    client, server, sid = playing()
    body = amf0.encode("onMetaData", EcmaArray(METADATA))
    assert server.send_metadata(sid, body)
    assert server.send_video(sid, 0, KEYFRAME)
    assert server.send_audio(sid, 10, AAC)
    assert server.send_video(sid, 40, b"\x27")
    _, client_events = pump(client, server)
    assert client_events == [
        MetadataReceived(sid, METADATA, body, 0),
        VideoReceived(sid, 0, KEYFRAME),
        AudioReceived(sid, 10, AAC),
        VideoReceived(sid, 40, b"\x27"),
    ]
    client.close_stream(sid)
    assert pump(client, server)[0] == [StreamDeleted(sid)]
    assert not server.send_video(sid, 80, b"\x27")  # no longer playing: dropped


def test_fanout_bytes_are_shared_between_viewers() -> None:
    viewers = [playing() for _ in range(3)]
    shared = [
        encode_media_chunks(9, 1, 0, KEYFRAME),
        encode_media_chunks(8, 1, 5, AAC),
        encode_media_chunks(18, 1, 5, amf0.encode("onTextData", "hi")),
        encode_media_chunks(9, 1, 40, b"\x27\x01"),
    ]
    for client, server, sid in viewers:
        assert server.stream_state(sid) is StreamState.PLAYING
        assert server.outgoing_chunk_size == OUTGOING_CHUNK_SIZE
        # the per-viewer path may be mixed in: it uses other chunk streams
        server.send_video(sid, 20, b"\x27\x00")
        events = client.receive_data(server.data_to_send() + b"".join(shared))
        assert events == [
            VideoReceived(sid, 20, b"\x27\x00"),
            VideoReceived(sid, 0, KEYFRAME),
            AudioReceived(sid, 5, AAC),
            DataReceived(sid, 5, ("onTextData", "hi")),
            VideoReceived(sid, 40, b"\x27\x01"),
        ]
    assert set(FANOUT_CSIDS.values()).isdisjoint({2, 3, 4, 5, 6})
    with pytest.raises(RtmpLocalProtocolError, match="not audio, video"):
        encode_media_chunks(20, 1, 0, b"")


def test_reject_play_keeps_the_connection() -> None:
    client, server = connected()
    sid = created(client, server)
    client.play(sid, "missing")
    pump(client, server)
    assert server.reject_play(sid, 1)
    _, client_events = pump(client, server)
    assert [(e.level, e.code) for e in client_events if isinstance(e, StatusReceived)] == [
        ("error", "NetStream.Play.StreamNotFound")
    ]
    assert server.stream_state(sid) is StreamState.CREATED
    client.play(sid, "other", start=0.0)
    assert pump(client, server)[0] == [PlayRequested(sid, "other", "", 0.0, request_id=2)]


def test_play_arguments() -> None:
    client, server = connected()
    sid = created(client, server)
    events = inject(server, CommandMessage("play", 0.0, None, ("s", -1.0, 10.0, False)), sid)
    assert events == [PlayRequested(sid, "s", "", -1.0, 10.0, False, 1)]


# -- control messages ------------------------------------------------------------------------


def test_ping_both_ways() -> None:
    client, server = connected()
    server.ping(123)
    server_events, _ = pump(client, server)
    assert server_events == [PingResponseReceived(123)]
    assert inject(server, PingRequest(7)) == []
    client_events = client.receive_data(server.data_to_send())
    assert client_events == [PingResponseReceived(7)]


def test_acknowledgements_follow_the_announced_windows() -> None:
    client, server = connected(window_ack_size=5000)  # the client acks every 5000 bytes
    inject(server, WindowAcknowledgementSize(3000))  # the server acks every 3000 bytes
    sid = created(client, server)
    client.publish(sid, "k")
    pump(client, server)
    server.accept_publish(sid, 1)
    client.send_video(sid, 0, bytes(3500))
    server_events, client_events = pump(client, server)
    assert server_events == [VideoReceived(sid, 0, bytes(3500))]
    assert len(client_events) == 2
    assert isinstance(client_events[1], AcknowledgementReceived)
    server_events, client_events = pump(client, server)
    assert server_events == client_events == []


def test_client_acknowledges_server_window() -> None:
    client, server, sid = playing()
    server_events: list[Event] = []
    for ts in range(2_600_000 // 60_000 + 1):
        server.send_video(sid, ts, bytes(60_000))
        server_events += pump(client, server)[0]
    assert server_events == [AcknowledgementReceived(server_events[0].sequence_number)]  # type: ignore[union-attr]


def test_user_control_and_unknown_messages() -> None:
    client, server, sid = publishing()
    assert inject(server, SetBufferLength(sid, 100)) == []
    assert inject(server, Acknowledgement(5)) == [AcknowledgementReceived(5)]
    assert inject(server, UnknownMessage(22, b""), sid) == []  # an empty aggregate
    assert inject(server, UnknownMessage(0, b"")) == [UnknownMessageReceived(0, 0, 0)]
    assert inject(client, UnknownMessage(19, b"so")) == [UnknownMessageReceived(19, 0, 0)]
    assert inject(client, SetBufferLength(1, 2)) == [UserControlReceived(SetBufferLength(1, 2))]


def test_unknown_commands_get_error_and_the_session_goes_on() -> None:
    client, server, sid = publishing()
    txn = client.call("getStreamLength", "key")
    server_events, client_events = pump(client, server)
    assert server_events == [UnknownCommandReceived("getStreamLength", 0, txn, ("key",))]
    assert len(client_events) == 1
    assert isinstance(client_events[0], ResultReceived)
    assert (client_events[0].name, client_events[0].transaction_id) == ("_error", txn)
    # no reply without a transaction, nor to answers
    assert inject(server, CommandMessage("receiveVideo", 0.0, None, (True,)), sid) == [
        UnknownCommandReceived("receiveVideo", sid, 0.0, (True,))
    ]
    assert inject(server, CommandMessage("_result", 9.0)) == [
        UnknownCommandReceived("_result", 0, 9.0)
    ]
    assert server.data_to_send() == b""
    assert server.state is SessionState.CONNECTED


def test_other_data_messages() -> None:
    _client, server, sid = publishing()
    msg = DataMessage(("onTextData", {"text": "hi"}))
    body = encode_message(msg)[1]
    assert inject(server, msg, sid) == [DataReceived(sid, 0, ("onTextData", {"text": "hi"}), body)]
    plain = DataMessage(("onMetaData", 5.0))  # not an object: empty metadata
    events = inject(server, plain, sid)
    assert events == [MetadataReceived(sid, {}, encode_message(plain)[1], 0)]


def test_client_connect_rejected() -> None:
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.connect("x")
    info = {"level": "error", "code": "NetConnection.Connect.Rejected"}
    events = inject(client, CommandMessage("_error", 1.0, None, (info,)))
    assert events == [ConnectRejected(info)]
    assert client.closed


def test_client_tolerates_commands_before_connect_result() -> None:
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert inject(client, CommandMessage("onBWDone", 0.0)) == [ResultReceived("onBWDone", 0.0)]
    assert inject(client, CommandMessage("_result", 42.0)) == [ResultReceived("_result", 42.0)]
    assert client.state is SessionState.AWAIT_CONNECT


def test_client_call_limit() -> None:
    client = ClientSession(CLIENT_RANDOM)
    for _ in range(64):
        client.call("x")
    with pytest.raises(RtmpLocalProtocolError, match="without an answer"):
        client.call("x")


def test_close_from_our_side() -> None:
    _client, server = connected()
    server.close()
    assert server.closed
    assert server.receive_data(b"\x02") == []
    fresh = ServerSession(SERVER_RANDOM)
    fresh.close()
    assert fresh.closed


# -- errors ----------------------------------------------------------------------------------


def after_handshake() -> ServerSession:
    client = ClientSession(CLIENT_RANDOM)
    server = ServerSession(SERVER_RANDOM)
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    assert server.state is SessionState.AWAIT_CONNECT
    return server


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([CommandMessage("createStream", 2.0)], "not allowed in state AWAIT_CONNECT"),
        (
            [CommandMessage("connect", 1.0), CommandMessage("connect", 2.0)],
            "connect is not allowed",
        ),
        ([CommandMessage("connect", 1.0), UnknownMessage(9, b"v")], "never created"),
        (
            [CommandMessage("connect", 1.0), CommandMessage("publish", 0.0, None, ("k",))],
            "never created",
        ),
    ],
)
def test_protocol_errors_move_to_error(messages: list[Message], error: str) -> None:
    server = after_handshake()
    for msg in messages[:-1]:
        inject(server, msg)
    with pytest.raises(RtmpProtocolError, match=error):
        inject(server, messages[-1])
    assert server.state is SessionState.ERROR
    assert server.closed
    with pytest.raises(RtmpLocalProtocolError, match="ERROR"):
        server.receive_data(b"\x03")


@pytest.mark.parametrize(
    ("setup", "msg", "error"),
    [
        ("publishing", CommandMessage("publish", 0.0, None, ("again",)), "PUBLISH is not allowed"),
        ("publishing", CommandMessage("play", 0.0, None, ("x",)), "PLAY is not allowed"),
        ("publishing", CommandMessage("publish", 0.0, None, (5.0,)), "not a string"),
        ("playing", UnknownMessage(8, b"a"), "MEDIA is not allowed"),
        ("created", UnknownMessage(9, b"v"), "MEDIA is not allowed"),
        ("created", UnknownMessage(18, amf0.encode("onMetaData")), "MEDIA is not allowed"),
    ],
)
def test_stream_protocol_errors(setup: str, msg: Message, error: str) -> None:
    if setup == "publishing":
        _, server, sid = publishing()
    elif setup == "playing":
        _, server, sid = playing()
    else:
        client, server = connected()
        sid = created(client, server)
    with pytest.raises(RtmpProtocolError, match=error):
        inject(server, msg, sid)
    assert server.state is SessionState.ERROR


def test_local_misuse_moves_to_error() -> None:
    _, server, sid = publishing()
    assert not server.accept_publish(sid, 1)  # answered already: stale, not misuse
    assert server.state is SessionState.CONNECTED
    with pytest.raises(RtmpLocalProtocolError, match="request 0 was never made"):
        server.accept_play(sid, 0)
    assert server.state is SessionState.ERROR
    _, server = connected()
    with pytest.raises(RtmpLocalProtocolError, match="request 1 was never made"):
        server.reject_play(3, 1)


def test_malformed_chunks_and_bodies() -> None:
    server = after_handshake()
    with pytest.raises(RtmpProtocolError, match="no fmt 0"):
        server.receive_data(b"\x43\x00\x00\x00\x00\x00\x01\x14\x05")
    server = after_handshake()
    with pytest.raises(RtmpProtocolError, match="bad AMF0"):
        server.receive_data(ChunkEncoder().encode(3, 0, 20, 0, b"\x02\x00"))
    server = after_handshake()
    with pytest.raises(ProtocolError):
        server.receive_data(b"\x07" + bytes(HANDSHAKE_SIZE))
    server = ServerSession(SERVER_RANDOM)
    with pytest.raises(RtmpProtocolError):
        server.receive_data(b"\x06")
    assert server.state is SessionState.ERROR


def test_eof_during_handshake() -> None:
    server = ServerSession(SERVER_RANDOM)
    server.receive_data(b"\x03\x00")
    assert server.receive_data(b"") == [PeerClosed()]
    assert server.closed


def test_max_message_size() -> None:
    small = ServerSession(SERVER_RANDOM, max_message_size=1000)
    client = ClientSession(CLIENT_RANDOM)
    client.connect("live")
    pump(client, small)
    client.create_stream()
    client.call("x", "y" * 2000)
    with pytest.raises(RtmpProtocolError, match="exceeds the 1000"):
        pump(client, small)


# -- the FFmpeg capture (tests/fixtures/README.md) -------------------------------------------


def fixture_events(cuts: list[int] | None = None) -> tuple[list[Event], bytes]:
    data = fixture_bytes(FIXTURE)
    server = ServerSession(SERVER_RANDOM)
    events: list[Event] = []
    start = 0
    for cut in [*sorted(set(cuts or [])), len(data)]:
        if cut > start:  # b"" would mean EOF
            events += server.receive_data(data[start:cut])
            start = cut
        for event in events:
            if (
                isinstance(event, PublishRequested)
                and server.stream_state(event.stream_id) is StreamState.PUBLISH_PENDING
            ):
                server.accept_publish(event.stream_id, event.request_id)
    return events, server.data_to_send()


def test_ffmpeg_publish_fixture_events() -> None:
    events, replies = fixture_events()
    kinds = [type(event).__name__ for event in events]
    assert kinds[:4] == [
        "ConnectRequested",
        "PublishRequested",
        "MetadataReceived",
        "VideoReceived",
    ]
    assert kinds[-1] == "StreamDeleted"
    assert kinds.count("VideoReceived") == 32
    assert kinds.count("AudioReceived") == 46
    connect, publish, metadata = events[0], events[1], events[2]
    assert isinstance(connect, ConnectRequested)
    assert connect.app == "live"
    assert connect.tc_url == "rtmp://127.0.0.1:19350/live"
    assert publish == PublishRequested(1, "testkey", "token=abc", "live", 1)
    assert isinstance(metadata, MetadataReceived)
    assert metadata.metadata["width"] == 160.0
    assert metadata.metadata["videocodecid"] == 7.0
    assert metadata.metadata["audiocodecid"] == 10.0
    assert amf0.decode(metadata.payload) == ["onMetaData", EcmaArray(metadata.metadata)]
    video = [e for e in events if isinstance(e, VideoReceived)]
    audio = [e for e in events if isinstance(e, AudioReceived)]
    assert video[0].payload[:2] == b"\x17\x00"  # AVC sequence header first
    assert audio[0].payload[:2] == b"\xaf\x00"  # AAC sequence header first
    assert all(e.payload[0] >> 4 in (1, 2) and e.payload[0] & 0x0F == 7 for e in video)
    assert [e.timestamp for e in video] == sorted(e.timestamp for e in video)
    assert video[-1].timestamp >= 1900
    assert replies  # handshake answers, connect/createStream results, onStatus


def test_ffmpeg_fixture_commands_in_order() -> None:
    data = fixture_bytes(FIXTURE)
    assert data[0] == 3
    assert data[5:9] != b"\0\0\0\0"  # FFmpeg sends a digest C1
    decoder = ChunkDecoder()
    names = []
    for raw in decoder.receive_data(data[1 + 2 * HANDSHAKE_SIZE :]):
        msg = decode_message(raw.type_id, raw.payload)
        if isinstance(msg, CommandMessage):
            names.append(msg.name)
        elif isinstance(msg, DataMessage):
            names.append(str(msg.values[0]))
    assert names == [
        "connect",
        "releaseStream",
        "FCPublish",
        "createStream",
        "publish",
        "@setDataFrame",
        "FCUnpublish",
        "deleteStream",
    ]
    assert decoder.buffered == 0


def test_ffmpeg_fixture_reencodes_no_larger() -> None:
    data = fixture_bytes(FIXTURE)[1 + 2 * HANDSHAKE_SIZE :]
    messages = ChunkDecoder().receive_data(data)
    encoder = ChunkEncoder()
    wire = bytearray()
    for raw in messages:
        encoder.encode_into(
            wire, raw.chunk_stream_id, raw.timestamp, raw.type_id, raw.stream_id, raw.payload
        )
        if raw.type_id == 1:
            encoder.set_chunk_size(int.from_bytes(raw.payload, "big"))
    assert ChunkDecoder().receive_data(wire) == messages
    assert len(wire) <= len(data)  # our header compression is at least as good as FFmpeg's


def test_ffmpeg_fixture_byte_by_byte() -> None:
    data = fixture_bytes(FIXTURE)
    assert fixture_events(list(range(len(data))))[0] == fixture_events()[0]


def test_ffmpeg_fixture_every_prefix_of_the_opening() -> None:
    whole, _ = fixture_events()
    for cut in itertools.chain(range(3000, 3800), range(3800, 50_000, 499)):
        events, _ = fixture_events([cut])
        assert events == whole


@settings(max_examples=25)
@given(st.lists(st.integers(0, 50_204), max_size=20))
def test_ffmpeg_fixture_random_splits(cuts: list[int]) -> None:
    assert fixture_events(cuts)[0] == fixture_events()[0]


# -- state machines: every state × input -------------------------------------------------------


@pytest.mark.parametrize(
    "table", [SERVER_TRANSITIONS, CLIENT_TRANSITIONS], ids=["server", "client"]
)
@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("event", list(ConnectionInput))
def test_connection_machine(
    table: dict[tuple[SessionState, ConnectionInput], SessionState],
    state: SessionState,
    event: ConnectionInput,
) -> None:
    machine = ConnectionMachine(table)
    machine.state = state
    if (state, event) in table:
        assert machine.process(event) is table[(state, event)]
    else:
        error = RtmpLocalProtocolError if event is ConnectionInput.CLOSE else RtmpProtocolError
        with pytest.raises(error):
            machine.process(event)
        assert machine.state is SessionState.ERROR


@pytest.mark.parametrize("state", list(StreamState))
@pytest.mark.parametrize("event", list(StreamInput))
def test_stream_machine(state: StreamState, event: StreamInput) -> None:
    machine = StreamMachine(1)
    machine.state = state
    if (state, event) in STREAM_TRANSITIONS:
        assert machine.process(event) is STREAM_TRANSITIONS[(state, event)]
    else:
        local = event.name.startswith(("ACCEPT", "REJECT"))
        with pytest.raises(RtmpLocalProtocolError if local else RtmpProtocolError):
            machine.process(event)
        assert machine.state is StreamState.ERROR


def test_error_and_closed_are_terminal() -> None:
    assert not any(state is SessionState.ERROR for state, _ in SERVER_TRANSITIONS)
    assert not any(state is StreamState.ERROR for state, _ in STREAM_TRANSITIONS)
    for table in (SERVER_TRANSITIONS, CLIENT_TRANSITIONS):
        assert {target for (state, _), target in table.items() if state is SessionState.CLOSED} == {
            SessionState.CLOSED
        }


# -- fuzzing ---------------------------------------------------------------------------------

AMF = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=6))
COMMANDS = st.builds(
    CommandMessage,
    st.sampled_from(
        ["connect", "createStream", "publish", "play", "deleteStream", "closeStream",
         "FCPublish", "FCUnpublish", "releaseStream", "_result", "getStreamLength", "x"]
    ),
    st.sampled_from([0.0, 1.0, 2.0]),
    st.one_of(AMF, st.dictionaries(st.sampled_from(["app", "tcUrl"]), AMF)),
    st.lists(AMF, max_size=3).map(tuple),
)  # fmt: skip
MESSAGES = st.one_of(
    COMMANDS,
    st.builds(
        UnknownMessage, st.sampled_from([8, 9, 15, 17, 18, 22, 4, 5, 6]), st.binary(max_size=12)
    ),
)


def chunked(msg: Message, stream_id: int) -> bytes:
    """One message as the peer sends it, on a chunk stream no session uses."""
    type_id, body = encode_message(msg)
    return ChunkEncoder().encode(40, 0, type_id, stream_id, body)


ANSWERS = st.sampled_from(["accept", "reject", "skip"])


@settings(max_examples=300)
@given(
    st.lists(
        st.lists(st.tuples(MESSAGES, st.sampled_from([0, 1, 2, 3])), min_size=1, max_size=5),
        max_size=6,
    ),
    st.lists(ANSWERS, min_size=1, max_size=8),
    st.randoms(use_true_random=False),
)
def test_arbitrary_message_sequences_answered_after_each_read(
    reads: list[list[tuple[Message, int]]], answers: list[str], rng: random.Random
) -> None:
    """What the driver does: one receive_data per socket read, then answer every request that
    read produced (in any order, any answer; older requests answered again too). Only the
    peer's bytes can be wrong: nothing but RtmpProtocolError, never RtmpLocalProtocolError."""
    server = connected()[1]
    requests: list[PublishRequested | PlayRequested] = []
    choice = itertools.cycle(answers)
    try:
        for read in reads:
            data = b"".join(chunked(msg, stream_id) for msg, stream_id in read)
            events = server.receive_data(data)
            requests += [e for e in events if isinstance(e, PublishRequested | PlayRequested)]
            for request in rng.sample(requests, len(requests)):
                answer = next(choice)
                sid, rid = request.stream_id, request.request_id
                if isinstance(request, PublishRequested) and answer == "accept":
                    answered = server.accept_publish(sid, rid)
                elif isinstance(request, PublishRequested) and answer == "reject":
                    answered = server.reject_publish(sid, rid)
                elif answer == "accept":
                    answered = server.accept_play(sid, rid)
                    server.send_video(sid, 0, b"v")
                elif answer == "reject":
                    answered = server.reject_play(sid, rid)
                else:
                    continue
                if answered:  # a request is answered once; any later answer is stale
                    assert not server.accept_play(sid, rid)
                    assert not server.reject_publish(sid, rid)
            server.data_to_send()
    except RtmpProtocolError:
        assert server.state is SessionState.ERROR
    else:
        assert server.state in (SessionState.CONNECTED, SessionState.CLOSED)


@settings(max_examples=100)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_handshake(data: bytes) -> None:
    server = after_handshake()
    try:
        server.receive_data(data)
    except ProtocolError:
        assert server.state is SessionState.ERROR


@pytest.mark.parametrize("answer", ["accept_play", "reject_play", "reject_publish"])
def test_answers_after_withdrawal_or_eof_return_false(answer: str) -> None:
    client, server = connected()
    sid = created(client, server)
    if answer.endswith("play"):
        client.play(sid, "s")
    else:
        client.publish(sid, "s")
    client.close_stream(sid)
    assert len(pump(client, server)[0]) == 2
    assert getattr(server, answer)(sid, 1) is False
    if answer.endswith("play"):  # a new request on the same stream, left unanswered
        client.publish(sid, "again")
    else:
        client.play(sid, "again")
    pump(client, server)
    assert server.receive_data(b"") == [PeerClosed()]
    assert getattr(server, answer)(sid, 2) is False
    assert server.data_to_send() == b""


@pytest.mark.parametrize("kind", ["play", "publish"])
def test_request_close_request_in_one_read(kind: str) -> None:
    """The audit's crash: ``play, closeStream, play`` (or publish) in one TCP write. The driver
    answers the first request after the whole read: that answer is stale, the second counts."""
    client, server = connected()
    sid = created(client, server)
    request = client.play if kind == "play" else client.publish
    request(sid, "x")
    client.close_stream(sid)
    request(sid, "x")
    events = pump(client, server)[0]
    first, second = events[0], events[2]
    assert isinstance(first, PlayRequested | PublishRequested)
    assert isinstance(second, PlayRequested | PublishRequested)
    assert events[1] == StreamDeleted(sid)
    assert (first.request_id, second.request_id) == (1, 2)
    if kind == "play":
        assert not server.reject_play(sid, first.request_id)  # the old code raised here
        assert not server.accept_play(sid, first.request_id)
        assert server.accept_play(sid, second.request_id)
        assert server.stream_state(sid) is StreamState.PLAYING
    else:
        assert not server.accept_publish(sid, first.request_id)
        assert not server.reject_publish(sid, first.request_id)
        assert server.accept_publish(sid, second.request_id)
        assert server.stream_state(sid) is StreamState.PUBLISHING
    assert not server.closed


def test_newer_request_supersedes_an_unanswered_one_on_another_read() -> None:
    client, server = connected()
    sid = created(client, server)
    client.play(sid, "a")
    (first,) = pump(client, server)[0]
    client.close_stream(sid)
    client.play(sid, "b")
    assert pump(client, server)[0][-1] == PlayRequested(sid, "b", request_id=2)
    assert isinstance(first, PlayRequested)
    assert not server.accept_play(sid, first.request_id)
    assert server.accept_play(sid, 2)
    client.delete_stream(sid)
    pump(client, server)
    assert not server.reject_play(sid, 2)  # the stream is gone


# -- aggregate messages (§7.1.6) ---------------------------------------------------------------


def aggregate(*parts: tuple[int, int, bytes]) -> bytes:
    """An aggregate body by hand: FLV-style sub-message headers, bodies, back pointers."""
    out = b""
    for type_id, timestamp, body in parts:
        header = bytes((type_id,)) + len(body).to_bytes(3, "big")
        header += (timestamp & 0xFFFFFF).to_bytes(3, "big") + bytes((timestamp >> 24,))
        out += header + b"\x00\x00\x01" + body + (11 + len(body)).to_bytes(4, "big")
    return out


def test_aggregate_is_unpacked_with_rebased_timestamps() -> None:
    _client, server, sid = publishing()
    meta = amf0.encode("@setDataFrame", "onMetaData", EcmaArray(METADATA))
    body = aggregate((9, 5000, KEYFRAME), (8, 5010, AAC), (18, 5010, meta), (9, 5033, b"\x27"))
    raw = ChunkEncoder().encode(40, 2000, 22, sid, body)
    assert server.receive_data(raw) == [
        VideoReceived(sid, 2000, KEYFRAME),  # the first takes the aggregate's timestamp
        AudioReceived(sid, 2010, AAC),  # the others keep their offset from the first
        MetadataReceived(sid, METADATA, amf0.encode("onMetaData", EcmaArray(METADATA)), 2010),
        VideoReceived(sid, 2033, b"\x27"),
    ]


def test_aggregate_timestamps_wrap_at_32_bits() -> None:
    _, server, sid = publishing()
    body = aggregate((9, 0, b"\x17"), (9, 40, b"\x27"))
    raw = ChunkEncoder().encode(40, 0xFFFFFFF0, 22, sid, body)
    assert server.receive_data(raw) == [
        VideoReceived(sid, 0xFFFFFFF0, b"\x17"),
        VideoReceived(sid, 24, b"\x27"),
    ]
    # sub-message timestamps below the first one count back from the aggregate's
    raw = ChunkEncoder().encode(41, 1000, 22, sid, aggregate((9, 500, b"\x27"), (8, 480, AAC)))
    assert server.receive_data(raw) == [
        VideoReceived(sid, 1000, b"\x27"),
        AudioReceived(sid, 980, AAC),
    ]


def test_aggregate_reaches_a_playing_client_too() -> None:
    client, _server, sid = playing()
    raw = ChunkEncoder().encode(40, 100, 22, sid, aggregate((9, 7, b"\x17"), (8, 9, AAC)))
    assert client.receive_data(raw) == [
        VideoReceived(sid, 100, b"\x17"),
        AudioReceived(sid, 102, AAC),
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\x09", "less than a header"),
        (aggregate((9, 0, b"\x17"))[:-1], "overruns"),
        (aggregate((20, 0, amf0.encode("play", 0.0))), "type 20 is not"),
        (aggregate((4, 0, b"\x00\x06\x00\x00\x00\x01")), "type 4 is not"),
        (aggregate((8, 0, b"\xaf\x01\x00"), (9, 0, b"\x17")) + b"\x00", "less than a header"),
        (aggregate((18, 0, b"\x11")), "bad AMF0"),
    ],
    ids=["short", "overrun", "command", "control", "trailing", "bad-amf0"],
)
def test_malformed_aggregates_are_protocol_errors(body: bytes, error: str) -> None:
    _, server, sid = publishing()
    with pytest.raises(RtmpProtocolError, match=error):
        server.receive_data(ChunkEncoder().encode(40, 0, 22, sid, body))
    assert server.state is SessionState.ERROR


def test_aggregate_before_connect_is_refused() -> None:
    server = after_handshake()
    with pytest.raises(RtmpProtocolError, match="message type 22 is not allowed"):
        server.receive_data(ChunkEncoder().encode(3, 0, 22, 0, b""))


@given(
    st.integers(0, 2**32 - 1),
    st.lists(
        st.tuples(st.sampled_from([8, 9]), st.integers(0, 2**32 - 1), st.binary(max_size=40)),
        max_size=6,
    ),
)
def test_aggregate_sub_messages_arrive_in_order_with_their_offsets(
    outer: int, parts: list[tuple[int, int, bytes]]
) -> None:
    _, server, sid = publishing()
    events = server.receive_data(ChunkEncoder().encode(40, outer, 22, sid, aggregate(*parts)))
    first = parts[0][1] if parts else 0
    kinds = {8: AudioReceived, 9: VideoReceived}
    assert events == [
        kinds[t](sid, (outer + ts - first) & 0xFFFFFFFF, body) for t, ts, body in parts
    ]


@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_arbitrary_aggregate_bytes_raise_only_protocol_errors(body: bytes, outer: int) -> None:
    _, server, sid = publishing()
    try:
        server.receive_data(ChunkEncoder().encode(40, outer, 22, sid, body))
    except RtmpProtocolError:
        assert server.state is SessionState.ERROR


# -- end of stream signalling ------------------------------------------------------------------


def test_stream_eof_begin_and_unpublish_notify() -> None:
    client, server, sid = playing()
    assert server.notify_stream_eof(sid)
    assert server.notify_stream_begin(sid)
    assert server.notify_stream_eof(sid)
    assert server.notify_unpublished(sid)
    events = pump(client, server)[1]
    assert events[:3] == [
        UserControlReceived(StreamEof(sid)),
        UserControlReceived(StreamBegin(sid)),
        UserControlReceived(StreamEof(sid)),
    ]
    status = events[3]
    assert isinstance(status, StatusReceived)
    assert (status.level, status.code) == ("status", "NetStream.Play.UnpublishNotify")
    assert status.info["details"] == "room1"
    client.close_stream(sid)
    pump(client, server)
    assert not server.notify_stream_eof(sid)  # no longer playing
    assert not server.notify_stream_begin(sid)
    assert not server.notify_unpublished(sid)
    assert not server.notify_stream_eof(99)
    assert server.data_to_send() == b""


# -- timestamps past 2**32 (the hub's timeline never wraps; the wire does) --------------------


@pytest.mark.parametrize("timestamp", [2**32 - 1, 2**32, 2**32 + 40, 3 * 2**32 + 0xFFFFFF])
def test_fanout_chunks_carry_hub_time_mod_2_32(timestamp: int) -> None:
    client, _server, sid = playing()
    data = encode_media_chunks(9, sid, timestamp, KEYFRAME)
    assert data == encode_media_chunks(9, sid, timestamp % 2**32, KEYFRAME)
    assert client.receive_data(data) == [VideoReceived(sid, timestamp % 2**32, KEYFRAME)]


def test_fanout_chunks_across_the_wrap_decode_in_order() -> None:
    """49.7 days in: consecutive frames either side of 2**32 reach the player 33 ms apart."""
    client, _server, sid = playing()
    stamps = [2**32 - 66, 2**32 - 33, 2**32, 2**32 + 33]
    data = b"".join(encode_media_chunks(9, sid, ts, b"\x27\x01") for ts in stamps)
    received = [e.timestamp for e in client.receive_data(data) if isinstance(e, VideoReceived)]
    assert [(b - a) % 2**32 for a, b in itertools.pairwise(received)] == [33, 33, 33]
