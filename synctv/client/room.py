"""RoomClient: one connection to a room's channel, kept in step with the room.

It does what docs/realtime.md asks of any client: ``hello`` (with the last sequence it saw, so a
reconnect replays what it missed), the clock exchange (the offset from the sample with the
shortest round trip), and a local copy of the room's playback state that it can evaluate in its
own clock (:meth:`RoomClient.room_position`). Commands wait for their answer by ``opId``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket

from synctv.realtime.sync import ClockEstimate, ClockSample, RoomClock

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


class RoomClient:
    def __init__(
        self, ws: WebSocketConnection, wall_clock: Callable[[], float] = time.time
    ) -> None:
        self._ws = ws
        self._clock = wall_clock
        self.view = RoomView()
        self.clock = ClockEstimate()
        self.changed = trio.Event()
        self._op_ids = (f"op{n}" for n in itertools.count(1))
        self._waiting: dict[str, trio.MemorySendChannel[dict[str, Any]]] = {}
        self._clock_acks: trio.MemorySendChannel[dict[str, Any]] | None = None

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
            client = cls(ws, wall_clock)
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
        elif "playbackState" in message:
            self.view.playback = message["playbackState"]
        elif "clockAck" in message and self._clock_acks is not None:
            self._clock_acks.send_nowait({**message["clockAck"], "received": self._clock()})
            return
        for kind in ("error", "playbackState"):
            op_id = message.get(kind, {}).get("opId", "")
            waiting = self._waiting.pop(op_id, None) if op_id else None
            if waiting is not None:
                waiting.send_nowait(message)
        self.changed.set()
        self.changed = trio.Event()

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

    async def command(self, action: str, **fields: Any) -> dict[str, Any]:
        """A playback command; its ``playbackState`` answer, or :class:`ChannelError`."""
        op_id = next(self._op_ids)
        send, receive = trio.open_memory_channel[dict[str, Any]](1)
        self._waiting[op_id] = send
        body = {"action": action, **fields}
        if "clientSent" not in body:
            body["clientSent"] = self._clock()
            body["clockOffset"] = self.clock.offset or 0.0
        await self._ws.send_message(json.dumps({"opId": op_id, "playback": body}))
        with trio.fail_after(10):
            answer = await receive.receive()
        if "error" in answer:
            raise ChannelError(answer["error"]["code"], answer["error"]["message"])
        return dict(answer["playbackState"])

    async def report(self, position: float, buffering: bool = False) -> None:
        """The 2-second report: position, buffering, and the drift it means."""
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
                    }
                }
            )
        )
