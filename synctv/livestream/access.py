"""Who may play a stream: the seam between the playback fronts and whoever decides.

HTTP-FLV, HLS (playlist and segments) and RTMP play each ask one :data:`ViewerGate` before they
serve anything of a stream: the stream's record and the ``token`` query parameter the player
brought (players cannot set headers, so a viewer's proof travels in the URL). The gate returns
to admit, or raises a :class:`~synctv.errors.DomainError` whose code the front reports (the HTTP
routes as the error body, RTMP play as ``NetStream.Play.Failed``).

The livestream layer does not know rooms: the app injects the rooms' gate
(:class:`synctv.core.room_live.RoomLiveGate`: a stream of a private room needs a viewer token),
and :func:`admit_everyone` is the default (every stream public, the behaviour of streams that
belong to no room).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qs

from synctv.livestream.registry import LiveStreamRecord

__all__ = ["TOKEN_PARAMETER", "ViewerGate", "admit_everyone", "token_from_query"]

TOKEN_PARAMETER: Final = "token"
# Player URLs carry a token and, for HLS, two delivery directives; more is not a player.
_MAX_FIELDS: Final = 16

ViewerGate = Callable[[LiveStreamRecord, str | None], Awaitable[None]]


async def admit_everyone(record: LiveStreamRecord, token: str | None) -> None:
    """The open gate: every stream may be played by anyone who knows its id."""


def token_from_query(query: str) -> str | None:
    """The ``token`` parameter of a URL query string (the first one; None when absent)."""
    try:
        values = parse_qs(query, max_num_fields=_MAX_FIELDS).get(TOKEN_PARAMETER)
    except ValueError:  # more fields than any player sends
        return None
    return values[0] if values else None
