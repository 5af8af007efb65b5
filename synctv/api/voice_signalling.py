"""Voice chat on the room channel: the ``voice_*`` messages (docs/voice.md).

The room channel hands every ``voice_*`` message here. A join is checked against the database
(the room has ``voiceChatEnabled``, the caller holds ``use_voice_chat``) and then takes a slot in
:class:`~synctv.realtime.voice.VoiceSessions` (atomically: no await between the limit check and
the slot). Offers, answers and candidates are checked by the sessions (both ends in the session,
size, rate) and put in the *target connection's* queue (the same queue the room hub fills, so a
slow target is cut like any slow connection); offers and answers also re-check the sender's
standing in the room, so someone whose ``use_voice_chat`` was taken cannot start new calls.
Nothing here goes through ``room_events``: signalling is for one connection, now, and is never
replayed.

The room hub tells :meth:`VoiceSignalling.room_event` about every room event it delivers: a
``settings_changed`` that turns voice off ends the room's session for everyone
(``voice_ended``), and a member who leaves, is banned or loses ``use_voice_chat`` leaves voice.

Resource handling: a connection registers its queue with :meth:`attach` when it joins the hub
and :meth:`detach` gives its slot back (telling the others) when it ends, however it ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio

from synctv import errors
from synctv.api.grpc._gen.synctv.v1 import realtime_pb2
from synctv.api.realtime_messages import Frame
from synctv.core.permissions import Permission
from synctv.core.rooms import Caller, RoomService
from synctv.errors import DomainError
from synctv.realtime.hub import Subscription
from synctv.realtime.voice import Participant, VoiceSessions
from synctv.store.rooms import EventRow

Reply = Callable[[realtime_pb2.ServerMessage], Awaitable[None]]

_LEAVES_VOICE = frozenset({"member_left", "member_banned"})


class VoiceSignalling:
    def __init__(
        self,
        rooms: RoomService,
        sessions: VoiceSessions,
        max_participants: Callable[[], int],
        *,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._rooms = rooms
        self.sessions = sessions
        self._max = max_participants
        self._clock = clock
        self._outboxes: dict[str, Subscription] = {}

    # -- connections ---------------------------------------------------------------------------

    def attach(self, connection_id: str, subscription: Subscription) -> None:
        self._outboxes[connection_id] = subscription

    def detach(self, room_id: str, connection_id: str) -> None:
        """The connection ended: its slot (if any) is given back and the others are told."""
        self._outboxes.pop(connection_id, None)
        self._leave(room_id, connection_id, "disconnected")

    def joined(self, room_id: str, connection_id: str) -> bool:
        return self.sessions.joined(room_id, connection_id)

    def _deliver(self, connection_id: str, message: realtime_pb2.ServerMessage) -> None:
        subscription = self._outboxes.get(connection_id)
        if subscription is not None and not subscription.offer(Frame(message), self._clock()):
            subscription.cut.set()  # full past the deadline: cut like any slow connection

    def _leave(self, room_id: str, connection_id: str, reason: str) -> bool:
        """Give the slot back and tell the others; False when the connection held none."""
        remaining = self.sessions.leave(room_id, connection_id)
        for other in remaining or ():
            peer = realtime_pb2.VoicePeer(connection_id=connection_id, reason=reason)
            self._deliver(other.connection_id, realtime_pb2.ServerMessage(voice_peer_left=peer))
        return remaining is not None

    # -- messages ------------------------------------------------------------------------------

    async def handle(
        self,
        reply: Reply,
        caller: Caller,
        room_id: str,
        connection_id: str,
        message: realtime_pb2.ClientMessage,
    ) -> None:
        """``reply`` sends to this connection (its transport's own send)."""
        body = message.WhichOneof("body")
        if body == "voice_join":
            await self._join(reply, caller, room_id, connection_id)
        elif body == "voice_leave":
            if not self._leave(room_id, connection_id, "left"):
                raise DomainError(errors.VOICE_NOT_JOINED, "this connection is not in voice")
            ended = realtime_pb2.VoiceEnded(reason="left", message="you left the voice chat")
            await reply(realtime_pb2.ServerMessage(voice_ended=ended))
        elif body in ("voice_offer", "voice_answer"):
            description = getattr(message, body)
            self.sessions.relay(
                room_id, connection_id, description.to, self._clock(), sdp=description.sdp
            )
            await self._may_talk(caller, room_id)
            relayed = realtime_pb2.ServerMessage()
            getattr(relayed, body).CopyFrom(
                realtime_pb2.VoiceDescription(sdp=description.sdp, from_id=connection_id)
            )
            self._deliver(description.to, relayed)
        elif body == "voice_candidate":
            c = message.voice_candidate
            self.sessions.relay(
                room_id, connection_id, c.to, self._clock(), candidate=c.candidate,
                tokens=(("sdpMid", c.sdp_mid), ("usernameFragment", c.username_fragment)),
            )  # fmt: skip
            relayed_candidate = realtime_pb2.VoiceCandidate()
            relayed_candidate.CopyFrom(c)
            relayed_candidate.to = ""
            relayed_candidate.from_id = connection_id
            self._deliver(c.to, realtime_pb2.ServerMessage(voice_candidate=relayed_candidate))
        else:
            raise DomainError(errors.INVALID_REQUEST, f"{body} is not a voice message")

    async def _may_talk(self, caller: Caller, room_id: str) -> int:
        """The room has voice on and the caller holds ``use_voice_chat``; the slot limit."""
        access = await self._rooms.access(caller, room_id)
        if not access.settings.voice_chat_enabled:
            raise DomainError(errors.VOICE_DISABLED, "this room has voice chat turned off")
        access.require(Permission.USE_VOICE_CHAT)
        return self._max()

    async def _join(self, reply: Reply, caller: Caller, room_id: str, connection_id: str) -> None:
        limit = await self._may_talk(caller, room_id)
        # No await from here to the slot being taken: the limit check and the join are atomic.
        joiner = Participant(connection_id, caller.user_id)
        others = self.sessions.join(room_id, joiner, limit)
        joined = realtime_pb2.VoiceJoined(
            connection_id=connection_id,
            participants=[realtime_pb2.VoicePeer(connection_id=o.connection_id, user_id=o.user_id)
                          for o in others],
            max_participants=limit,
        )  # fmt: skip
        await reply(realtime_pb2.ServerMessage(voice_joined=joined))
        for other in others:
            peer = realtime_pb2.VoicePeer(connection_id=connection_id, user_id=caller.user_id)
            self._deliver(other.connection_id, realtime_pb2.ServerMessage(voice_peer_joined=peer))

    # -- room events ---------------------------------------------------------------------------

    def room_event(self, event: EventRow) -> None:
        """A room event the hub delivered: end voice for whoever may no longer talk."""
        payload: dict[str, Any] = event.payload
        if event.type == "settings_changed":
            if payload.get("settings", {}).get("voiceChatEnabled", True) is False:
                self._end(event.room_id)
        elif event.type in _LEAVES_VOICE or (
            event.type == "member_updated"
            and Permission.USE_VOICE_CHAT.value in payload.get("removed", [])
        ):
            for participant in self.sessions.of_user(event.room_id, str(payload.get("userId"))):
                self._revoke(event.room_id, participant)

    def _end(self, room_id: str) -> None:
        ended = realtime_pb2.VoiceEnded(
            reason="voice_disabled", message="the room turned voice chat off"
        )
        for participant in self.sessions.end(room_id):
            self._deliver(participant.connection_id, realtime_pb2.ServerMessage(voice_ended=ended))

    def _revoke(self, room_id: str, participant: Participant) -> None:
        self._leave(room_id, participant.connection_id, "permission_revoked")
        ended = realtime_pb2.VoiceEnded(
            reason="permission_revoked", message="you may no longer use voice chat in this room"
        )
        self._deliver(participant.connection_id, realtime_pb2.ServerMessage(voice_ended=ended))
