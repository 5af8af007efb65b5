"""JWT access and refresh tokens (HS256 with ``security.jwt_secret``), issued and checked.

Claims: ``sub`` (user id), ``role``, ``sid`` (login session), ``pv`` (password version),
``typ`` (``access`` | ``refresh``), ``iat``, ``exp``, ``jti``. An access token is checked on every
request without a database read (signature, expiry, type; the session's revocation is the
caller's look-up in the short-lived store); a refresh token is only ever accepted by the refresh
route, which checks its ``jti`` against the session row. The clock is an argument, so tests of
expiry do not sleep.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import jwt

from synctv import errors
from synctv.config import SecurityConfig
from synctv.errors import DomainError

ACCESS_TTL_SECONDS: Final = 3600
REFRESH_TTL_SECONDS: Final = 30 * 24 * 3600
GUEST_TTL_SECONDS: Final = 4 * 3600
_ALGORITHM: Final = "HS256"
_REQUIRED: Final = ["sub", "role", "sid", "pv", "typ", "iat", "exp", "jti"]

_GUEST_REQUIRED: Final = ["sub", "role", "room", "typ", "iat", "exp", "jti"]

TokenType = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: str
    role: str
    session_id: str
    password_version: int
    type: TokenType
    issued_at: int
    expires_at: int
    jti: str


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    refresh_jti: str


@dataclass(frozen=True, slots=True)
class GuestClaims:
    """A guest token: no account, no login session, good for one room only."""

    guest_id: str
    room_id: str
    expires_at: int


def new_jti() -> str:
    return secrets.token_urlsafe(18)


class TokenIssuer:
    """Signs and checks tokens with one secret and one clock (``time.time`` in the server)."""

    def __init__(
        self,
        secret: bytes,
        clock: Callable[[], float],
        *,
        access_ttl: int = ACCESS_TTL_SECONDS,
        refresh_ttl: int = REFRESH_TTL_SECONDS,
        guest_ttl: int = GUEST_TTL_SECONDS,
    ) -> None:
        self._secret = secret
        self._clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.guest_ttl = guest_ttl

    def __repr__(self) -> str:
        return "TokenIssuer(***)"

    def issue(
        self, user_id: str, role: str, session_id: str, password_version: int, refresh_jti: str
    ) -> TokenPair:
        """An access token and the refresh token whose jti is ``refresh_jti``."""
        now = int(self._clock())
        base = {"sub": user_id, "role": role, "sid": session_id, "pv": password_version, "iat": now}
        access = {**base, "typ": "access", "exp": now + self.access_ttl, "jti": new_jti()}
        refresh = {**base, "typ": "refresh", "exp": now + self.refresh_ttl, "jti": refresh_jti}
        return TokenPair(
            jwt.encode(access, self._secret, algorithm=_ALGORITHM),
            jwt.encode(refresh, self._secret, algorithm=_ALGORITHM),
            refresh_jti,
        )

    def issue_guest(self, guest_id: str, room_id: str) -> tuple[str, int]:
        """A guest token bound to ``room_id`` and its expiry (Unix seconds)."""
        now = int(self._clock())
        expires_at = now + self.guest_ttl
        payload = {
            "sub": guest_id,
            "role": "guest",
            "room": room_id,
            "typ": "guest",
            "iat": now,
            "exp": expires_at,
            "jti": new_jti(),
        }
        return jwt.encode(payload, self._secret, algorithm=_ALGORITHM), expires_at

    def check_guest(self, token: str) -> GuestClaims:
        """The claims of a guest token; DomainError (401) for anything else."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"require": _GUEST_REQUIRED, "verify_exp": False, "verify_iat": False},
            )
            claims = GuestClaims(
                _text(payload["sub"]), _text(payload["room"]), _integer(payload["exp"])
            )
        except (jwt.InvalidTokenError, ValueError):
            raise DomainError(errors.UNAUTHENTICATED, "the token is not valid") from None
        if payload["typ"] != "guest" or payload["role"] != "guest":
            raise DomainError(errors.UNAUTHENTICATED, "this is not a guest token")
        if claims.expires_at <= self._clock():
            raise DomainError(errors.TOKEN_EXPIRED, "the guest token has expired")
        return claims

    def check(self, token: str, expected: TokenType) -> Claims:
        """The claims of a token of type ``expected``; DomainError (401) for anything else."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
            )
            claims = Claims(
                user_id=_text(payload["sub"]),
                role=_text(payload["role"]),
                session_id=_text(payload["sid"]),
                password_version=_integer(payload["pv"]),
                type=payload["typ"],
                issued_at=_integer(payload["iat"]),
                expires_at=_integer(payload["exp"]),
                jti=_text(payload["jti"]),
            )
        except (jwt.InvalidTokenError, ValueError):
            raise DomainError(errors.UNAUTHENTICATED, "the token is not valid") from None
        if claims.type != expected:
            raise DomainError(errors.UNAUTHENTICATED, f"this is not an {expected} token")
        if claims.expires_at <= self._clock():
            raise DomainError(errors.TOKEN_EXPIRED, f"the {expected} token has expired")
        return claims


def is_guest_token(token: str) -> bool:
    """Whether ``token`` says it is a guest token; only routes the token to the checker that
    verifies it (a lie here fails that checker's signature and type checks)."""
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return False
    return isinstance(payload, dict) and payload.get("typ") == "guest"


def token_issuer(
    security: SecurityConfig, secret: bytes, clock: Callable[[], float]
) -> TokenIssuer:
    """The issuer with the lifetimes configured under ``security.*_token_ttl``."""
    return TokenIssuer(
        secret,
        clock,
        access_ttl=security.access_token_ttl,
        refresh_ttl=security.refresh_token_ttl,
        guest_ttl=security.guest_token_ttl,
    )


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("claim is not a non-empty string")
    return value


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("claim is not an integer")
    return value
