"""RoomClient: one connection to a room's channel, kept in step with the room.

It does what docs/realtime.md asks of any client: ``hello`` (with the last sequence it saw, so a
reconnect replays what it missed), the clock exchange (the offset from the sample with the
shortest round trip), and a local copy of the room's playback state that it can evaluate in its
own clock (:meth:`RoomClient.room_position`). Commands wait for their answer by ``opId``.

Chat (:meth:`RoomClient.chat`, :meth:`RoomClient.delete_chat`) has no direct answer: success is
the ``chat_message`` (``chat_message_deleted``) event that every connection receives, a refusal
an ``error`` with the ``opId``. The client takes the next ``chat_message`` from its own user (the
token's subject) as the answer to its oldest chat still waiting: the server handles one
connection's messages in order and the room's events come in commit order, so this is exact as
long as the same user sends nothing from elsewhere meanwhile (then that message may answer
instead, with the same user and room). Every chat event also lands in ``view.events`` like any
other, and ``view.chat`` keeps the messages received and not deleted since.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket

from synctv.realtime.sync import ClockEstimate, ClockSample, LiveMapping, RoomClock

SUBPROTOCOL = "synctv.v1"


class ChannelError(Exception):
    """The server refused a command: ``code`` is from docs/errors.md."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class RoomView:
    """What the client knows of the room (from the welcome and the events since)."""

    room: dict[str, Any] = field(default_factory=dict)
    playback: dict[str, Any] = field(default_factory=dict)
    last_seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    # The chat messages received (chat_message payloads) by id, in arrival order; a
    # chat_message_deleted removes its message.
    chat: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The last live_clock (live in step): streamId, mediaId, mediaTime, serverTime,
    # targetLatency; empty when the room plays no live stream of the server.
    live_clock: dict[str, Any] = field(default_factory=dict)


def token_subject(token: str) -> str:
    """The user (or guest) id a bearer token is for: its JWT ``sub``, read without checking the
    signature (the server checks it; the client only needs to recognise its own messages)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error):
        raise ValueError("the token is not a JWT with a subject") from None


class RoomClient:
    def __init__(
        self,
        ws: WebSocketConnection,
        wall_clock: Callable[[], float] = time.time,
        *,
        user_id: str = "",
    ) -> None:
        self._ws = ws
        self.user_id = user_id
        self._clock = wall_clock
        self.view = RoomView()
        self.clock = ClockEstimate()
        self.changed = trio.Event()
        self.live_clocks = 0  # live_clock messages received
        self._op_ids = (f"op{n}" for n in itertools.count(1))
        self._waiting: dict[str, trio.MemorySendChannel[dict[str, Any]]] = {}
        self._clock_acks: trio.MemorySendChannel[dict[str, Any]] | None = None
        self._chats: deque[str] = deque()  # op ids of chats awaiting their event, oldest first
        self._deleting: dict[str, list[str]] = {}  # message id -> op ids awaiting its deletion

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        base_url: str,
        room_id: str,
        token: str,
        *,
        resume_from: int = 0,
        wall_clock: Callable[[], float] = time.time,
    ) -> AsyncIterator[RoomClient]:
        """Open the channel and say hello; ``wall_clock`` is this client's clock (seconds; the
        machine's by default — a simulation gives each player a clock of its own)."""
        parts = urlsplit(base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        headers = [(b"authorization", f"Bearer {token}".encode())]
        async with open_websocket(
            host, port, f"/ws/rooms/{room_id}", use_ssl=False,
            subprotocols=[SUBPROTOCOL], extra_headers=headers,
        ) as ws, trio.open_nursery() as nursery:  # fmt: skip
            try:  # a server of another kind may issue other tokens: then chat() cannot match
                user_id = token_subject(token)
            except ValueError:
                user_id = ""
            client = cls(ws, wall_clock, user_id=user_id)
            client.view.last_seq = resume_from
            await ws.send_message(json.dumps({"hello": {"resumeFrom": str(resume_from)}}))
            nursery.start_soon(client._read)
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()

    async def _read(self) -> None:
        try:
            while True:
                message = json.loads(await self._ws.get_message())
                self._apply(message)
        except ConnectionClosed:
            for channel in self._waiting.values():
                channel.close()

    def _apply(self, message: dict[str, Any]) -> None:
        if "welcome" in message:
            welcome = message["welcome"]
            self.view.room = welcome["room"]
            self.view.playback = welcome["playback"]
            self.view.last_seq = int(welcome["lastSeq"])
        elif "event" in message:
            event = message["event"]
            seq = int(event["seq"])
            if seq <= self.view.last_seq:
                return  # seen already (docs: apply each sequence once)
            self.view.last_seq = seq
            self.view.events.append(event)
            if event["type"] == "playback_changed":
                self.view.playback = event["payload"]
            elif event["type"] == "chat_message":
                self.view.chat[event["payload"]["id"]] = event["payload"]
                if event.get("actor") == self.user_id and self._chats:
                    self._answer(self._chats.popleft(), message)
            elif event["type"] == "chat_message_deleted":
                message_id = event["payload"]["id"]
                self.view.chat.pop(message_id, None)
                for op_id in self._deleting.pop(message_id, []):
                    self._answer(op_id, message)
        elif "playbackState" in message:
            self.view.playback = message["playbackState"]
        elif "liveClock" in message:
            self.view.live_clock = message["liveClock"]
            self.live_clocks += 1
        elif "clockAck" in message and self._clock_acks is not None:
            self._clock_acks.send_nowait({**message["clockAck"], "received": self._clock()})
            return
        for kind in ("error", "playbackState"):
            op_id = message.get(kind, {}).get("opId", "")
            if op_id:
                if op_id in self._chats:  # refused: it will have no event
                    self._chats.remove(op_id)
                self._answer(op_id, message)
        self.changed.set()
        self.changed = trio.Event()

    def _answer(self, op_id: str, message: dict[str, Any]) -> None:
        waiting = self._waiting.pop(op_id, None)
        if waiting is not None:
            waiting.send_nowait(message)

    async def _ask(self, op_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` as ``op_id`` and wait for its answer (10 s): an ``error`` is
        :class:`ChannelError`."""
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._waiting[op_id] = send
        try:
            await self._ws.send_message(json.dumps({"opId": op_id, **message}))
            with trio.fail_after(10):
                answer = await receive.receive()
        finally:
            self._waiting.pop(op_id, None)
        if "error" in answer:
            raise ChannelError(answer["error"]["code"], answer["error"]["message"])
        return answer

    async def measure_clock(self, samples: int = 5) -> float:
        """``samples`` clock exchanges; the offset estimate (server minus client, seconds)."""
        send, receive = trio.open_memory_channel[dict[str, Any]](samples)
        self._clock_acks = send
        try:
            for _ in range(samples):
                await self._ws.send_message(json.dumps({"clock": {"clientSent": self._clock()}}))
                with trio.fail_after(10):
                    ack = await receive.receive()
                self.clock.add(
                    ClockSample(
                        ack["clientSent"], ack["serverReceived"], ack["serverSent"], ack["received"]
                    )
                )
        finally:
            self._clock_acks = None
        offset = self.clock.offset
        assert offset is not None
        return offset

    def room_clock(self) -> RoomClock:
        state = self.view.playback
        return RoomClock(
            float(state.get("position", 0.0)),
            float(state.get("serverTime", 0.0)),
            float(state.get("speed", 1.0)),
            bool(state.get("playing", False)),
        )

    def room_position(self, now: float | None = None) -> float:
        """Where the room is at client time ``now`` (default: the client's clock now)."""
        return self.room_clock().position_at(
            self._clock() if now is None else now, self.clock.offset or 0.0
        )

    def live_mapping(self) -> LiveMapping | None:
        """The last ``live_clock`` as the rules take it (None: none received, or it is for
        other media than the room's current)."""
        clock = self.view.live_clock
        if not clock or clock.get("mediaId") != self.view.playback.get("mediaId"):
            return None
        return LiveMapping(
            float(clock["mediaTime"]), float(clock["serverTime"]), float(clock["targetLatency"])
        )

    async def command(self, action: str, **fields: Any) -> dict[str, Any]:
        """A playback command; its ``playbackState`` answer, or :class:`ChannelError`."""
        body = {"action": action, **fields}
        if "clientSent" not in body:
            body["clientSent"] = self._clock()
            body["clockOffset"] = self.clock.offset or 0.0
        answer = await self._ask(next(self._op_ids), {"playback": body})
        return dict(answer["playbackState"])

    async def chat(
        self, text: str, danmaku_mode: str | None = None, color: str | None = None
    ) -> dict[str, Any]:
        """Send a message, or a danmaku with ``danmaku_mode`` (``scroll``, ``top``, ``bottom``)
        and ``color`` (``#rrggbb``); the message as the room received it (its ``chat_message``
        payload: cleaned text, ``id``, ``danmaku`` stamped with the media and position), or
        :class:`ChannelError` (``invalid_chat_message``, ``chat_disabled``, ``rate_limited``,
        ...)."""
        body: dict[str, Any] = {"text": text}
        if danmaku_mode is not None:
            body["danmakuMode"] = danmaku_mode
        if color is not None:
            body["danmakuColor"] = color
        op_id = next(self._op_ids)
        self._chats.append(op_id)
        try:
            answer = await self._ask(op_id, {"chat": body})
        finally:
            if op_id in self._chats:
                self._chats.remove(op_id)
        return dict(answer["event"]["payload"])

    async def delete_chat(self, message_id: str) -> None:
        """Delete a message (one's own, or another's with ``delete_chat_messages``); returns once
        its ``chat_message_deleted`` arrives, or :class:`ChannelError`
        (``chat_message_not_found``, ``permission_denied``)."""
        op_id = next(self._op_ids)
        self._deleting.setdefault(message_id, []).append(op_id)
        try:
            await self._ask(op_id, {"chatDelete": {"messageId": message_id}})
        finally:
            waiting = self._deleting.get(message_id, [])
            if op_id in waiting:
                waiting.remove(op_id)
            if not waiting:
                self._deleting.pop(message_id, None)

    async def report(
        self, position: float, buffering: bool = False, *, latency: float | None = None
    ) -> None:
        """The 2-second report: position, buffering, and the drift it means; for live media,
        ``latency``, the safe latency the player measured (``sync.LatencyMeter``), and a drift
        against the room's target position."""
        mapping = self.live_mapping()
        if mapping is not None:
            drift = position - mapping.target_position(self._clock(), self.clock.offset or 0.0)
        else:
            drift = position - self.room_position()
        media = str(self.view.playback.get("mediaId", ""))
        await self._ws.send_message(
            json.dumps(
                {
                    "report": {
                        "mediaId": media,
                        "position": position,
                        "buffering": buffering,
                        "drift": drift,
                        "latency": latency or 0.0,
                    }
                }
            )
        )
