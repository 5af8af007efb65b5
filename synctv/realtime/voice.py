"""Voice sessions: who is in each room's voice chat on this node, and what may be relayed.

Theory of operation. The server carries no media: each participant opens one WebRTC peer
connection to every other participant (a mesh), and the room channel only relays the
signalling between two of them (``voice_offer``, ``voice_answer``, ``voice_candidate``, each to
one connection id). This module is the bookkeeping behind that, with no I/O and no clock of its
own (``now`` is passed in):

* :meth:`VoiceSessions.join` takes a slot. The check of the limit and the taking of the slot
  happen in one synchronous call, with no ``await`` between them, so in Trio two joins can never
  both take the last slot.
* :meth:`VoiceSessions.relay` checks one signalling message before it is sent on: the sender and
  the target are both in the room's session (and are not the same connection), the sender is
  within its own rate, and the SDP or candidate is within its size bound.
* :meth:`VoiceSessions.leave` and :meth:`VoiceSessions.end` give slots back and say whom to tell.

The caller (the room channel) checks the room's ``voiceChatEnabled`` and the caller's
``use_voice_chat`` before a join (that needs the database), delivers the frames, and ends a
room's session when its settings turn voice off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from synctv import errors
from synctv.errors import DomainError
from synctv.realtime.limits import TokenBucket

# An SDP of a mesh peer connection with audio (and later video) and its candidates is a few KiB;
# 16 KiB leaves room for every codec line a browser writes and stops a relay of megabytes.
MAX_SDP_BYTES: Final = 16 * 1024
# One candidate line is under 200 bytes (RFC 8839 §5.1); 1 KiB covers long mDNS names and
# extensions.
MAX_CANDIDATE_BYTES: Final = 1024
# The other candidate fields (mid, ufrag): short tokens in every SDP a browser writes.
MAX_TOKEN_BYTES: Final = 256
# Signalling per connection (instead of the channel's 50 per second): joining a full mesh of 32
# sends 31 offers, each followed by its trickled candidates (a browser gathers up to ten), at
# once: the burst; afterwards only renegotiations and late candidates.
VOICE_MESSAGES_PER_SECOND: Final = 20.0
VOICE_BURST: Final = 320.0


@dataclass(frozen=True, slots=True)
class Participant:
    connection_id: str
    user_id: str


@dataclass
class _Slot:
    participant: Participant
    bucket: TokenBucket = field(
        default_factory=lambda: TokenBucket(VOICE_MESSAGES_PER_SECOND, VOICE_BURST)
    )


@dataclass(frozen=True, slots=True)
class VoiceStatistics:
    sessions: int
    participants: int
    relayed: int
    refused: int


def _too_large(what: str, text: str, limit: int) -> DomainError | None:
    size = len(text.encode())
    if size <= limit:
        return None
    return DomainError(
        errors.VOICE_MESSAGE_TOO_LARGE,
        f"{what} is {size} bytes; at most {limit}",
        {"field": what, "limit": limit},
    )


class VoiceSessions:
    """Every room's voice session on this node (a room without participants has none)."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, _Slot]] = {}
        self._relayed = 0
        self._refused = 0

    def join(self, room_id: str, participant: Participant, limit: int) -> list[Participant]:
        """Take a slot; the other participants, in the order they joined (the joiner offers
        to each). ``voice_full`` when ``limit`` are in, ``voice_already_joined`` twice."""
        session = self._rooms.setdefault(room_id, {})
        if participant.connection_id in session:
            raise DomainError(errors.VOICE_ALREADY_JOINED, "this connection is in voice already")
        if len(session) >= limit:
            if not session:
                del self._rooms[room_id]
            raise DomainError(
                errors.VOICE_FULL,
                f"the room's voice chat is full ({limit} people)",
                {"maxParticipants": limit},
            )
        others = [slot.participant for slot in session.values()]
        session[participant.connection_id] = _Slot(participant)
        return others

    def leave(self, room_id: str, connection_id: str) -> list[Participant] | None:
        """Give the slot back; the participants left to tell, or None if it held none."""
        session = self._rooms.get(room_id)
        if session is None or session.pop(connection_id, None) is None:
            return None
        if not session:
            del self._rooms[room_id]
        return [slot.participant for slot in session.values()]

    def end(self, room_id: str) -> list[Participant]:
        """End the room's session (voice turned off); everyone who was in it."""
        session = self._rooms.pop(room_id, {})
        return [slot.participant for slot in session.values()]

    def joined(self, room_id: str, connection_id: str) -> bool:
        return connection_id in self._rooms.get(room_id, {})

    def participants(self, room_id: str) -> list[Participant]:
        return [slot.participant for slot in self._rooms.get(room_id, {}).values()]

    def of_user(self, room_id: str, user_id: str) -> list[Participant]:
        return [p for p in self.participants(room_id) if p.user_id == user_id]

    def relay(
        self,
        room_id: str,
        sender: str,
        target: str,
        now: float,
        *,
        sdp: str | None = None,
        candidate: str | None = None,
        tokens: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """Check one signalling message from ``sender`` to ``target``; raise the refusal."""
        try:
            self._check(room_id, sender, target, now, sdp, candidate, tokens)
        except DomainError:
            self._refused += 1
            raise
        self._relayed += 1

    def _check(
        self,
        room_id: str,
        sender: str,
        target: str,
        now: float,
        sdp: str | None,
        candidate: str | None,
        tokens: tuple[tuple[str, str], ...],
    ) -> None:
        session = self._rooms.get(room_id, {})
        slot = session.get(sender)
        if slot is None:
            raise DomainError(errors.VOICE_NOT_JOINED, "join voice before signalling")
        if not slot.bucket.allow(now):
            raise DomainError(
                errors.RATE_LIMITED,
                f"at most {VOICE_MESSAGES_PER_SECOND:g} voice messages per second",
            )
        if target == sender or target not in session:
            raise DomainError(
                errors.VOICE_PEER_NOT_FOUND,
                "the target is not another participant of this room's voice chat",
                {"to": target[:64]},
            )
        problem = (
            (_too_large("sdp", sdp, MAX_SDP_BYTES) if sdp is not None else None)
            or (_too_large("candidate", candidate, MAX_CANDIDATE_BYTES) if candidate else None)
            or next(
                filter(None, (_too_large(name, v, MAX_TOKEN_BYTES) for name, v in tokens)), None
            )
        )
        if problem is not None:
            raise problem

    def statistics(self) -> VoiceStatistics:
        return VoiceStatistics(
            sessions=len(self._rooms),
            participants=sum(len(s) for s in self._rooms.values()),
            relayed=self._relayed,
            refused=self._refused,
        )
