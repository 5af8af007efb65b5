"""JWT access and refresh tokens (HS256 with ``security.jwt_secret``), issued and checked.

Claims: ``sub`` (user id), ``role``, ``sid`` (login session), ``pv`` (password version),
``typ`` (``access`` | ``refresh`` | ``guest``), ``iat``, ``exp``, ``jti``; a guest token also has
``room`` (the one room it admits to) and an empty ``sid`` (a guest has no row and no session). An access token is checked on every
request without a database read (signature, expiry, type; the session's revocation is the
caller's look-up in the short-lived store); a refresh token is only ever accepted by the refresh
route, which checks its ``jti`` against the session row. The clock is an argument, so tests of
expiry do not sleep.
"""

from __future__ import annotations

import json
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

import jwt
from jwt.algorithms import HMACAlgorithm

from synctv import errors
from synctv.errors import DomainError

ACCESS_TTL_SECONDS: Final = 3600
REFRESH_TTL_SECONDS: Final = 30 * 24 * 3600
GUEST_TTL_SECONDS: Final = 4 * 3600
VERIFIED_CACHE_SIZE: Final = 10_000
_ALGORITHM: Final = "HS256"
_REQUIRED: Final = ["sub", "role", "sid", "pv", "typ", "iat", "exp", "jti"]

TokenType = Literal["access", "refresh", "guest"]


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
    room_id: str | None = None  # guest tokens: the one room they admit to


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    refresh_jti: str


def new_jti() -> str:
    return secrets.token_urlsafe(18)


class _SecretCheckedOnce(HMACAlgorithm):
    """HS256 whose secret is checked once, here, instead of on every token signed: PyJWT
    checks each time that an HMAC secret is not an asymmetric key, a certificate or a JWK
    (PEM, SSH and DER parse attempts and a JSON parse), ~60 % of signing a token. The
    checked bytes object is the one :class:`TokenIssuer` signs with; any other key is
    checked as PyJWT always does."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self.secret = super().prepare_key(secret)  # InvalidKeyError for such a secret

    def prepare_key(self, key: str | bytes) -> bytes:
        return key if key is self.secret else super().prepare_key(key)


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
        signing = _SecretCheckedOnce(secret)
        self._signing_key = signing.secret
        self._signer = jwt.PyJWS()
        self._signer.unregister_algorithm(_ALGORITHM)
        self._signer.register_algorithm(_ALGORITHM, signing)
        self._clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.guest_ttl = guest_ttl
        # Tokens whose signature and claims were checked once: a client presents the same token
        # on every request until it refreshes, and the HMAC and JSON work of PyJWT is most of a
        # token check. Expiry (and, in the caller, revocation) is still checked every time.
        self._verified: OrderedDict[str, Claims] = OrderedDict()

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
        return TokenPair(self._sign(access), self._sign(refresh), refresh_jti)

    def issue_guest(self, guest_id: str, room_id: str) -> tuple[str, int]:
        """A guest token for one room (no user row, no session: it lives ``guest_ttl``); the
        token and its expiry (Unix seconds)."""
        now = int(self._clock())
        expires = now + self.guest_ttl
        claims = {
            "sub": guest_id, "role": "guest", "sid": "", "pv": 0, "typ": "guest", "iat": now,
            "exp": expires, "jti": new_jti(), "room": room_id,
        }  # fmt: skip
        return self._sign(claims), expires

    def _sign(self, claims: dict[str, object]) -> str:
        """The token of these claims: what ``jwt.encode`` makes (same header, same JSON), with
        the secret checked once (see :class:`_SecretCheckedOnce`)."""
        payload = json.dumps(claims, separators=(",", ":")).encode()
        return self._signer.encode(payload, self._signing_key, algorithm=_ALGORITHM)

    def check(self, token: str, *expected: TokenType) -> Claims:
        """The claims of a token of one of the ``expected`` types; DomainError (401) for
        anything else."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if claims.type != "refresh":  # a refresh token is used once; never worth keeping
                self._verified[token] = claims
                if len(self._verified) > VERIFIED_CACHE_SIZE:
                    self._verified.popitem(last=False)
        if claims.type not in expected:
            wanted = " or ".join(expected)
            raise DomainError(errors.UNAUTHENTICATED, f"this is not an {wanted} token")
        if claims.expires_at <= self._clock():
            self._verified.pop(token, None)
            raise DomainError(errors.TOKEN_EXPIRED, f"the {claims.type} token has expired")
        return claims

    def _verify(self, token: str) -> Claims:
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
                session_id=payload["sid"] if payload["typ"] == "guest" else _text(payload["sid"]),
                password_version=_integer(payload["pv"]),
                type=payload["typ"],
                issued_at=_integer(payload["iat"]),
                expires_at=_integer(payload["exp"]),
                jti=_text(payload["jti"]),
                room_id=_text(payload["room"]) if payload["typ"] == "guest" else None,
            )
        except (jwt.InvalidTokenError, ValueError, KeyError, TypeError):
            raise DomainError(errors.UNAUTHENTICATED, "the token is not valid") from None
        return claims


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("claim is not a non-empty string")
    return value


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("claim is not an integer")
    return value
