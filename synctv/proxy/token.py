"""Signed, expiring proxy tokens: ``/proxy/<token>`` may fetch only what we granted.

A token names a provider instance, a media reference, the allowed mode and an expiry; optionally
a sub-resource selector (``subtitle:<id>``, ``quality:<id>``: which of the source's subtitles or
qualities to fetch instead of its main URL); and (for manifest sub-resources) the absolute
upstream URL we derived from a manifest we fetched. Every field is inside the MAC. The
client never supplies a URL: it can only present a token, and the token is authenticated with
HMAC-SHA256 under a key derived from the JWT secret (domain-separated, so a proxy token is never
a valid JWT signature nor the reverse).

Wire form: ``v1.<base64url(JSON payload)>.<base64url(HMAC-SHA256(key, "v1." + payload))>``.

Pure: the caller passes ``now`` (Unix seconds). Errors: :class:`TokenInvalid` for anything that
is not a token we signed (tampered, truncated, garbage), :class:`TokenExpired` for a genuine
token past its expiry. Nothing else escapes :meth:`ProxyTokenSigner.verify`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass

_VERSION = "v1"
_KEY_LABEL = b"synctv proxy token v1"
# Tokens are URL path segments: bound them well under common 8 KiB request-line limits.
MAX_TOKEN_LENGTH = 4096
_MAC_BYTES = 32


class TokenError(Exception):
    """Base of proxy token failures."""


class TokenInvalid(TokenError):
    """Not a token we signed: wrong form, wrong signature, unknown version."""


class TokenExpired(TokenError):
    """A genuine token whose expiry has passed."""


@dataclass(frozen=True, slots=True)
class ProxyGrant:
    """What a token allows: fetch ``media_ref`` of ``instance``, or its sub-resource named by
    ``selector``, or ``url`` derived from a manifest of either."""

    instance: str
    media_ref: str
    mode: str
    expires_at: int
    url: str | None = None
    selector: str | None = None


def derive_key(jwt_secret: bytes) -> bytes:
    """The proxy-token MAC key, derived from the JWT secret with a fixed label."""
    return hmac.new(jwt_secret, _KEY_LABEL, hashlib.sha256).digest()


class ProxyTokenSigner:
    """Signs and verifies :class:`ProxyGrant` tokens under one secret."""

    def __init__(self, jwt_secret: bytes) -> None:
        if not jwt_secret:
            raise ValueError("the proxy token secret must not be empty")
        self._key = derive_key(jwt_secret)

    def sign(self, grant: ProxyGrant) -> str:
        payload: dict[str, str | int] = {
            "i": grant.instance,
            "r": grant.media_ref,
            "m": grant.mode,
            "e": grant.expires_at,
        }
        if grant.url is not None:
            payload["u"] = grant.url
        if grant.selector is not None:
            payload["s"] = grant.selector
        body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode())
        signed = f"{_VERSION}.{body}"
        return f"{signed}.{_b64(self._mac(signed))}"

    def verify(self, token: str, now: float) -> ProxyGrant:
        """The grant a token carries; raises :class:`TokenInvalid` or :class:`TokenExpired`."""
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise TokenInvalid("malformed token")
        version, body, mac = _split(token)
        if version != _VERSION:
            raise TokenInvalid("unknown token version")
        if not hmac.compare_digest(_unb64(mac), self._mac(f"{version}.{body}")):
            raise TokenInvalid("bad token signature")
        grant = _decode_payload(_unb64(body))
        if now >= grant.expires_at:
            raise TokenExpired("token expired")
        return grant

    def _mac(self, signed: str) -> bytes:
        return hmac.new(self._key, signed.encode("ascii"), hashlib.sha256).digest()


def _split(token: str) -> tuple[str, str, str]:
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalid("malformed token")
    return parts[0], parts[1], parts[2]


def _decode_payload(raw: bytes) -> ProxyGrant:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TokenInvalid("malformed token payload") from None
    if not isinstance(data, dict):
        raise TokenInvalid("malformed token payload")
    instance, ref, mode, expiry, url, selector = (
        data.get(k) for k in ("i", "r", "m", "e", "u", "s")
    )
    if (
        not isinstance(instance, str)
        or not isinstance(ref, str)
        or not isinstance(mode, str)
        or type(expiry) is not int
        or not (url is None or isinstance(url, str))
        or not (selector is None or isinstance(selector, str))
    ):
        raise TokenInvalid("malformed token payload")
    return ProxyGrant(instance, ref, mode, expiry, url, selector)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url: only the canonical encoding is accepted, so a token has one spelling."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("malformed token encoding") from None
    if _b64(raw) != text:
        raise TokenInvalid("malformed token encoding")
    return raw
