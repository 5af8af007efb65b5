"""Guest tokens: a room-bound token for someone without an account (no user row).

A guest token names a random guest id and one room; the REST seam turns it into a
``Principal(role="guest", room_id=...)`` that ``require_user`` still refuses. Whether the room
lets guests in (public, guests allowed, no password) is the rooms feature's rule (issue 12): it
hands :class:`GuestService` a :data:`GuestAdmission`. Until it does, :func:`admit_any_room`
admits every well-formed room id, so a guest token today proves only "a guest of this room id".
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from synctv import errors
from synctv.auth.tokens import TokenIssuer
from synctv.errors import DomainError
from synctv.state.limits import RateLimits

# Until rooms define their ids (issue 12): URL-safe text of bounded length.
_ROOM_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

GuestAdmission = Callable[[str], Awaitable[None]]
"""Admits a guest to ``room_id`` or raises DomainError with the room's refusal."""


async def admit_any_room(room_id: str) -> None:
    """The admission without a rooms feature: every well-formed room id."""


def check_room_id(room_id: str) -> str:
    if not _ROOM_ID.match(room_id):
        raise DomainError(errors.INVALID_ROOM_ID, "not a room id")
    return room_id


@dataclass(frozen=True, slots=True)
class GuestToken:
    token: str
    guest_id: str
    expires_at: int  # Unix seconds


class GuestService:
    def __init__(
        self,
        *,
        tokens: TokenIssuer,
        limits: RateLimits,
        enabled: Callable[[], bool],
        admission: GuestAdmission = admit_any_room,
    ) -> None:
        self._tokens = tokens
        self._limits = limits
        self._enabled = enabled
        self._admission = admission

    async def issue(self, room_id: str, address: str | None) -> GuestToken:
        """A guest token for ``room_id``: the setting (read per request), the per-address limit,
        then the room's admission."""
        if not self._enabled():
            raise DomainError(errors.GUEST_DISABLED, "guests are turned off on this server")
        check_room_id(room_id)
        if address is not None:
            await self._limits.check_auth_attempt(address)
        await self._admission(room_id)
        guest_id = "guest-" + secrets.token_urlsafe(16)
        token, expires_at = self._tokens.issue_guest(guest_id, room_id)
        return GuestToken(token, guest_id, expires_at)
