"""Viewer tokens of room live streams: short-lived JWTs in the ``?token=`` of playback URLs.

A private room's live stream is played over HTTP-FLV, HLS and RTMP by players that cannot set
headers, so the proof that a viewer may watch travels in the URL: a token bound to one room and
one viewer (``room``, ``sub``), with its own audience (``aud`` ``synctv:live``) and type
(``typ`` ``live``), signed (HS256) under a key derived from the JWT secret with HKDF and a label
of its own. Domain separation both ways: an access or guest token is never a viewer token (other
key, no audience), and a viewer token is never a Bearer token (other key; PyJWT also refuses its
audience there).

The check needs no database read: signature, audience, type, room and expiry. A token cannot be
revoked, which is why it lives ``security.live_token_ttl_seconds`` (10 min by default) and
clients re-read the room's playback info for fresh URLs.

Errors (``DomainError``): ``live_token_invalid`` (not ours, tampered, another room),
``live_token_expired``. The clock is an argument, so expiry is tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from synctv import errors
from synctv.errors import DomainError

AUDIENCE: Final = "synctv:live"
_TYPE: Final = "live"
_ALGORITHM: Final = "HS256"
_KEY_INFO: Final = b"synctv live viewer token v1 hs256"
_REQUIRED: Final = ["sub", "room", "aud", "typ", "iat", "exp"]
# A token is a query parameter: bound what is decoded (ours are about 250 characters).
MAX_TOKEN_LENGTH: Final = 2048


def derive_key(jwt_secret: bytes) -> bytes:
    """The viewer-token HMAC key: HKDF-SHA256 of the JWT secret with this module's label."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(jwt_secret)


class LiveViewerTokens:
    """Issues and checks viewer tokens under one secret and one clock (``time.time``)."""

    def __init__(self, jwt_secret: bytes, clock: Callable[[], float], *, ttl: int) -> None:
        if not jwt_secret:
            raise ValueError("the viewer token secret must not be empty")
        self._key = derive_key(jwt_secret)
        self._clock = clock
        self.ttl = ttl

    def __repr__(self) -> str:
        return "LiveViewerTokens(***)"

    def issue(self, room_id: str, viewer_id: str) -> tuple[str, int]:
        """A token admitting ``viewer_id`` to the live streams of ``room_id``, and its expiry
        (Unix seconds)."""
        now = int(self._clock())
        expires = now + self.ttl
        claims = {
            "sub": viewer_id, "room": room_id, "aud": AUDIENCE, "typ": _TYPE, "iat": now,
            "exp": expires,
        }  # fmt: skip
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), expires

    def check(self, token: str, room_id: str) -> str:
        """The viewer id of a token for ``room_id``; DomainError otherwise."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise _invalid("the viewer token is not valid")
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=AUDIENCE,
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidTokenError:
            raise _invalid("the viewer token is not valid") from None
        viewer, room, expires = claims["sub"], claims["room"], claims["exp"]
        if claims["typ"] != _TYPE or not isinstance(viewer, str) or not isinstance(room, str):
            raise _invalid("the viewer token is not valid")
        if room != room_id:
            raise _invalid("the viewer token is for another room")
        if not isinstance(expires, int) or expires <= self._clock():
            raise DomainError(errors.LIVE_TOKEN_EXPIRED, "the viewer token has expired")
        return viewer


def _invalid(message: str) -> DomainError:
    return DomainError(errors.LIVE_TOKEN_INVALID, message)
