"""``/api/tickets``: single-use WebSocket tickets (see :mod:`synctv.auth.tickets`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from synctv.api.http.principal import Principal, current_principal
from synctv.api.http.routes.auth import CamelModel, RoomId, refusals
from synctv.auth.tickets import TicketHolder, TicketService

Caller = Annotated[Principal, Depends(current_principal)]


class TicketIn(CamelModel):
    room_id: RoomId


class TicketOut(CamelModel):
    ticket: str = Field(description="Present once in the room's WebSocket handshake.")
    room_id: str
    expires_in_secs: int = Field(description="Always 30.")


def tickets_router(tickets: TicketService) -> APIRouter:
    router = APIRouter(prefix="/api/tickets", tags=["auth"])

    @router.post(
        "",
        response_model=TicketOut,
        responses=refusals(
            (401, "`authentication_required`, `token_expired` or `token_revoked`"),
            (403, "`permission_denied` (a guest asking for another room)"),
            (422, "`invalid_room_id` or `invalid_request`"),
            (429, "`rate_limited` (`ratelimit.wsTicketsPerUserPerMinute`)"),
        ),
    )
    async def create_ticket(body: TicketIn, principal: Caller) -> Any:
        """A WebSocket ticket for a room, for an account or the room's guest."""
        holder = TicketHolder(principal.user_id, principal.role, body.room_id, principal.session_id)
        issued = await tickets.issue(holder, guest_room=principal.room_id)
        return TicketOut(
            ticket=issued.ticket, room_id=issued.room_id, expires_in_secs=issued.expires_in_secs
        )

    return router
