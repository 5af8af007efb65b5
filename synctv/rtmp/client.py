"""RTMP client session, sans-IO: the peer our tests, benches and (later) relays use.

It shares the handshake/chunk/message plumbing and the connection state machine
(``CLIENT_TRANSITIONS``) with the server side in session.py; see that module's theory of
operation. Commands issued before the handshake completes are held and sent right after C2.
"""

from __future__ import annotations

from synctv.media.amf0 import Amf0Value, EcmaArray
from synctv.rtmp.chunk import DEFAULT_MAX_MESSAGE_SIZE, RawMessage
from synctv.rtmp.errors import RtmpLocalProtocolError
from synctv.rtmp.events import (
    AudioReceived,
    ConnectAccepted,
    ConnectRejected,
    Event,
    ResultReceived,
    StatusReceived,
    StreamCreated,
    UnknownMessageReceived,
    UserControlReceived,
    VideoReceived,
)
from synctv.rtmp.handshake import ClientHandshake
from synctv.rtmp.messages import (
    AudioMessage,
    CommandMessage,
    DataMessage,
    Message,
    MessageType,
    SetChunkSize,
    UserControlMessage,
    VideoMessage,
)
from synctv.rtmp.session import (
    CLIENT_TRANSITIONS,
    CSID_AUDIO,
    CSID_COMMAND,
    CSID_CONTROL,
    CSID_STREAM,
    CSID_VIDEO,
    MAX_PENDING_CALLS,
    ConnectionInput,
    SessionBase,
)


class ClientSession(SessionBase):
    """The client side: enough to publish or play against any RTMP server (tests, relays).

    Methods queue commands; before the handshake is done they are held and sent right after C2.
    Answers come back as events: ConnectAccepted, StreamCreated, StatusReceived, ...
    """

    def __init__(
        self,
        random_bytes: bytes,
        *,
        digest: bool = False,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        epoch_ms: int = 0,
    ) -> None:
        super().__init__(
            ClientHandshake(random_bytes, digest=digest, epoch_ms=epoch_ms),
            CLIENT_TRANSITIONS,
            max_message_size,
        )
        self._out += self._handshake.data_to_send()  # C0 + C1
        self._calls: dict[float, str] = {}
        self._next_txn = 1.0

    def connect(self, app: str, tc_url: str = "", **properties: Amf0Value) -> float:
        """Send ``connect``; returns its transaction id."""
        obj: dict[str, Amf0Value] = {
            "app": app,
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; SyncTV)",
        }
        obj["tcUrl"] = tc_url or f"rtmp://localhost/{app}"
        obj.update(properties)
        return self.call("connect", obj, command_object=True)

    def call(
        self, name: str, *args: Amf0Value, stream_id: int = 0, command_object: bool = False
    ) -> float:
        """Send a command with a fresh transaction id (null command object unless asked)."""
        if len(self._calls) >= MAX_PENDING_CALLS:
            raise RtmpLocalProtocolError(f"more than {MAX_PENDING_CALLS} calls without an answer")
        txn = self._next_txn
        self._next_txn += 1
        self._calls[txn] = name
        obj, rest = (args[0], args[1:]) if command_object else (None, args)
        self._send(
            CSID_COMMAND if stream_id == 0 else CSID_STREAM,
            CommandMessage(name, txn, obj, rest),
            stream_id,
        )
        return txn

    def create_stream(self) -> float:
        return self.call("createStream")

    def publish(self, stream_id: int, name: str, publish_type: str = "live") -> None:
        self._send(
            CSID_STREAM, CommandMessage("publish", 0.0, None, (name, publish_type)), stream_id
        )

    def play(self, stream_id: int, name: str, start: float = -2.0) -> None:
        self._send(CSID_STREAM, CommandMessage("play", 0.0, None, (name, start)), stream_id)

    def close_stream(self, stream_id: int) -> None:
        self._send(CSID_STREAM, CommandMessage("closeStream", 0.0), stream_id)

    def delete_stream(self, stream_id: int) -> None:
        self._send(CSID_COMMAND, CommandMessage("deleteStream", 0.0, None, (float(stream_id),)))

    def set_chunk_size(self, size: int) -> None:
        """Announce and switch to a new outgoing chunk size."""
        self._send(CSID_CONTROL, SetChunkSize(size))
        self._encoder.set_chunk_size(size)

    def send_metadata(self, stream_id: int, metadata: dict[str, Amf0Value]) -> None:
        """Send ``@setDataFrame("onMetaData", ECMA array)``, as OBS and FFmpeg do."""
        msg = DataMessage(("@setDataFrame", "onMetaData", EcmaArray(metadata)))
        self._send(CSID_STREAM, msg, stream_id)

    def send_audio(self, stream_id: int, timestamp: int, payload: bytes) -> None:
        self._send_raw(CSID_AUDIO, MessageType.AUDIO, payload, stream_id, timestamp)

    def send_video(self, stream_id: int, timestamp: int, payload: bytes) -> None:
        self._send_raw(CSID_VIDEO, MessageType.VIDEO, payload, stream_id, timestamp)

    def _on_user_control(self, msg: UserControlMessage, events: list[Event]) -> None:
        events.append(UserControlReceived(msg))

    def _on_message(self, raw: RawMessage, msg: Message, events: list[Event]) -> None:
        if isinstance(msg, CommandMessage) and msg.name in ("_result", "_error"):
            method = self._calls.pop(msg.transaction_id, "")
            if method == "connect":
                self._on_connect_answer(msg, events)
                return
            if method == "createStream" and msg.name == "_result":
                stream_id = msg.args[0] if msg.args else None
                if isinstance(stream_id, float):
                    self._machine.process(ConnectionInput.MESSAGE, "_result")
                    events.append(StreamCreated(int(stream_id)))
                    return
        self._machine.process(ConnectionInput.MESSAGE, f"message type {raw.type_id}")
        match msg:
            case CommandMessage(name="onStatus", args=(dict() as info, *_)):
                events.append(
                    StatusReceived(
                        raw.stream_id,
                        str(info.get("level", "")),
                        str(info.get("code", "")),
                        str(info.get("description", "")),
                        dict(info),
                    )
                )
            case CommandMessage(name, txn, _, args):
                events.append(ResultReceived(name, txn, raw.stream_id, args))
            case AudioMessage(payload):
                events.append(AudioReceived(raw.stream_id, raw.timestamp, payload))
            case VideoMessage(payload):
                events.append(VideoReceived(raw.stream_id, raw.timestamp, payload))
            case DataMessage():
                events.append(self._data_event(raw, msg))
            case _:
                events.append(UnknownMessageReceived(raw.type_id, raw.stream_id, raw.timestamp))

    def _on_connect_answer(self, msg: CommandMessage, events: list[Event]) -> None:
        info = msg.args[0] if msg.args else None
        if msg.name == "_result":
            self._machine.process(ConnectionInput.CONNECT, "connect _result")
            events.append(ConnectAccepted(msg.command_object, info))
        else:
            self._machine.process(ConnectionInput.CLOSE)
            events.append(ConnectRejected(info))
