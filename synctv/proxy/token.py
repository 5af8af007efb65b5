"""Encrypted, expiring proxy tokens: ``/proxy/<token>`` may fetch only what we granted.

A token names a provider instance, a media reference, the allowed mode and an expiry; optionally
a sub-resource selector (``subtitle:<id>``, ``quality:<id>``: which of the source's subtitles or
qualities to fetch instead of its main URL); and (for manifest sub-resources) the absolute
upstream URL we derived from a manifest we fetched. The client never supplies a URL: it can only
present a token.

Tokens are *sealed*, not just signed: the payload holds media references and upstream URLs,
which may carry credentials in their query (``api_key=``, signed-link parameters), and a token
travels in page sources, player logs and Referer headers. So the payload is encrypted and
authenticated with AES-256-GCM under a key derived from the JWT secret with HKDF-SHA256 and a
label of its own (domain separation: a proxy token key is never a JWT key nor the reverse).
Every field is inside the AEAD; the version prefix is its associated data.

Wire form: ``v2.<base64url(nonce[12] || ciphertext || tag[16])>``; the plaintext is the compact
JSON array ``[instance, media_ref, mode, expires_at, url, selector]`` with trailing nulls left
off. Nonces are random
(96 bits): with one key, far more than the 2^32 tokens where random nonces start to matter
would have to be issued between two JWT secret rotations. Tokens of the earlier signed-only
format (``v1.``) are refused like any other invalid token.

Pure apart from the nonce (``os.urandom``): the caller passes ``now`` (Unix seconds). Errors:
:class:`TokenInvalid` for anything that is not a token we sealed (tampered, truncated, garbage,
another key), :class:`TokenExpired` for a genuine token past its expiry. Nothing else escapes
:meth:`ProxyTokenSigner.verify`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v2"
_PREFIX = f"{_VERSION}."
_AAD = _VERSION.encode("ascii")
_KEY_INFO = b"synctv proxy token v2 aes-256-gcm"
# Tokens are URL path segments: bound them well under common 8 KiB request-line limits.
MAX_TOKEN_LENGTH = 4096
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32


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
    """The proxy-token AES-256 key: HKDF-SHA256 of the JWT secret with the token label."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=_KEY_INFO)
    return hkdf.derive(jwt_secret)


class ProxyTokenSigner:
    """Seals and opens :class:`ProxyGrant` tokens under one secret (the JWT secret)."""

    def __init__(self, jwt_secret: bytes) -> None:
        if not jwt_secret:
            raise ValueError("the proxy token secret must not be empty")
        self._aead = AESGCM(derive_key(jwt_secret))

    def sign(self, grant: ProxyGrant) -> str:
        """A sealed token carrying ``grant`` (a fresh nonce each time)."""
        fields: list[str | int | None] = [
            grant.instance,
            grant.media_ref,
            grant.mode,
            grant.expires_at,
            grant.url,
            grant.selector,
        ]
        while fields[-1] is None:  # absent optional fields are left off the end
            fields.pop()
        plain = json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()
        nonce = os.urandom(_NONCE_BYTES)
        return _PREFIX + _b64(nonce + self._aead.encrypt(nonce, plain, _AAD))

    def verify(self, token: str, now: float) -> ProxyGrant:
        """The grant a token carries; raises :class:`TokenInvalid` or :class:`TokenExpired`."""
        if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise TokenInvalid("malformed token")
        if not token.startswith(_PREFIX):
            raise TokenInvalid("unknown token version")
        sealed = _unb64(token[len(_PREFIX) :])
        if len(sealed) < _NONCE_BYTES + _TAG_BYTES:
            raise TokenInvalid("malformed token")
        nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, _AAD)
        except InvalidTag:
            raise TokenInvalid("bad token") from None
        grant = _decode_payload(plain)
        if now >= grant.expires_at:
            raise TokenExpired("token expired")
        return grant


def _decode_payload(raw: bytes) -> ProxyGrant:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TokenInvalid("malformed token payload") from None
    if not isinstance(data, list) or not 4 <= len(data) <= 6:
        raise TokenInvalid("malformed token payload")
    instance, ref, mode, expiry, url, selector = data + [None] * (6 - len(data))
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
