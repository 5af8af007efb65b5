"""WebSocket tickets: a 30-second, single-use pass from a REST caller to a room's WebSocket.

A browser cannot set ``Authorization`` on a WebSocket handshake, and a bearer token in a URL ends
up in logs; so the client asks ``POST /api/tickets`` (Bearer) for a random ticket bound to itself
and one room, and presents it once in the handshake. The ticket lives in the short-lived store
and is *taken* (get-and-delete, atomic), so it is usable once across every replica sharing Redis.
The realtime channel (issue 13) calls :meth:`TicketService.take` and, on
:class:`TicketRefused`, closes the socket with :data:`WS_CLOSE_UNAUTHORIZED`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Final, Literal

from synctv import errors
from synctv.auth.guests import check_room_id
from synctv.errors import DomainError
from synctv.state import ShortLivedState, StateUnavailable
from synctv.state.limits import RateLimits

TICKET_TTL_SECONDS: Final = 30
# The WebSocket close code for "not authenticated" (the 4000-4999 private range, 4000 + 401).
WS_CLOSE_UNAUTHORIZED: Final = 4401
# The WebSocket close code for "try again later" (RFC 6455 registry: 1013).
WS_CLOSE_TRY_AGAIN_LATER: Final = 1013
_KEY: Final = "auth:ws-ticket:"
# The tickets we issue are 43 characters; anything much longer is not one of ours.
_MAX_TICKET: Final = 64

HolderRole = Literal["root", "admin", "user", "guest"]


@dataclass(frozen=True, slots=True)
class TicketHolder:
    """Who a taken ticket was issued to, for which room."""

    subject_id: str  # a user's public id, or a guest id
    role: HolderRole
    room_id: str
    session_id: str | None  # the login session; None for guests


class TicketRefused(Exception):
    """The handshake must be refused: ``reason`` for the close frame, ``close_code`` to use."""

    def __init__(self, reason: str, close_code: int = WS_CLOSE_UNAUTHORIZED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    ticket: str
    room_id: str
    expires_in_secs: int


class TicketService:
    def __init__(self, state: ShortLivedState, limits: RateLimits) -> None:
        self._state = state
        self._limits = limits

    async def issue(
        self,
        holder: TicketHolder,
        guest_room: str | None = None,
    ) -> IssuedTicket:
        """A ticket for ``holder``; a guest (``guest_room`` set) only for its own room.
        ``ratelimit.wsTicketsPerUserPerMinute`` applies per subject (fails closed)."""
        check_room_id(holder.room_id)
        if holder.role == "guest" and guest_room != holder.room_id:
            raise DomainError(errors.PERMISSION_DENIED, "a guest token is good for its room only")
        await self._limits.check_ws_ticket(holder.subject_id)
        ticket = secrets.token_urlsafe(32)
        value = json.dumps(
            {"s": holder.subject_id, "r": holder.role, "m": holder.room_id, "x": holder.session_id}
        ).encode()
        try:
            stored = await self._state.set_if_absent(_KEY + ticket, value, TICKET_TTL_SECONDS)
        except StateUnavailable:
            raise DomainError(
                errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again shortly"
            ) from None
        if not stored:  # 256 random bits collided: never in practice, but never hand out two
            raise DomainError(errors.DEPENDENCY_UNAVAILABLE, "could not issue a ticket; try again")
        return IssuedTicket(ticket, holder.room_id, TICKET_TTL_SECONDS)

    async def take(self, ticket: str, room_id: str) -> TicketHolder:
        """The holder of ``ticket`` for ``room_id``, spending the ticket; TicketRefused for an
        unknown, expired or already used ticket, or one issued for another room (which is spent
        too: a ticket is one attempt)."""
        if not ticket or len(ticket) > _MAX_TICKET:
            raise TicketRefused("unknown, expired or already used ticket")
        try:
            value = await self._state.take(_KEY + ticket)
        except StateUnavailable:
            raise TicketRefused(
                "the session store is unavailable", WS_CLOSE_TRY_AGAIN_LATER
            ) from None
        if value is None:
            raise TicketRefused("unknown, expired or already used ticket")
        held = json.loads(value)
        if held["m"] != room_id:
            raise TicketRefused("the ticket is for another room")
        return TicketHolder(held["s"], held["r"], held["m"], held["x"])
