"""Proxy tokens: round trips, tamper detection, expiry, and garbage never escaping TokenError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.proxy.token import (
    MAX_TOKEN_LENGTH,
    ProxyGrant,
    ProxyTokenSigner,
    TokenError,
    TokenExpired,
    TokenInvalid,
)

SIGNER = ProxyTokenSigner(b"k" * 32)

grants = st.builds(
    ProxyGrant,
    st.text(max_size=40),
    st.text(max_size=200),
    st.sampled_from(["proxy", "direct"]),
    st.integers(1, 2**40),
    st.none() | st.text(max_size=200),
    st.none() | st.sampled_from(["subtitle:2", "quality:1080p"]) | st.text(max_size=20),
)


@given(grants)
def test_round_trip(grant: ProxyGrant) -> None:
    token = SIGNER.sign(grant)
    assert token.isascii()
    assert "/" not in token
    assert SIGNER.verify(token, now=grant.expires_at - 1) == grant


@given(grants)
def test_expired_at_the_expiry_second(grant: ProxyGrant) -> None:
    with pytest.raises(TokenExpired):
        SIGNER.verify(SIGNER.sign(grant), now=grant.expires_at)


@given(grants, st.data())
def test_any_single_character_change_is_detected(grant: ProxyGrant, data: st.DataObject) -> None:
    token = SIGNER.sign(grant)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != token[position]))
    with pytest.raises(TokenInvalid):
        SIGNER.verify(token[:position] + replacement + token[position + 1 :], now=0)


@given(st.text(max_size=300))
def test_garbage_raises_token_error(value: str) -> None:
    with pytest.raises(TokenError):
        SIGNER.verify(value, now=0)


def test_other_key_and_oversize_are_invalid() -> None:
    token = SIGNER.sign(ProxyGrant("i", "r", "proxy", 2**40))
    with pytest.raises(TokenInvalid):
        ProxyTokenSigner(b"j" * 32).verify(token, now=0)
    with pytest.raises(TokenInvalid):
        SIGNER.verify("v1." + "A" * MAX_TOKEN_LENGTH + ".A", now=0)


def test_sealed_payload_that_is_not_a_grant_is_invalid() -> None:
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from synctv.proxy.token import derive_key

    nonce = os.urandom(12)
    for payload in (b'{"i":1}', b"not json", b"[]", b"\xff\xfe"):
        sealed = AESGCM(derive_key(b"k" * 32)).encrypt(nonce, payload, b"v2")
        token = "v2." + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        with pytest.raises(TokenInvalid):
            SIGNER.verify(token, now=0)


CREDENTIAL = "Zq8-emby-access-token-3f9c1d7e"
URL = f"https://media.example.com/Videos/42/stream?static=true&api_key={CREDENTIAL}"


def _decodings(token: str) -> list[bytes]:
    """The token's text, and every base64 reading of it and of its dot-separated parts."""
    import base64
    import binascii

    out = [token.encode()]
    for part in [token, *token.split(".")]:
        for shift in range(4):
            chunk = part[shift:]
            try:
                out.append(base64.urlsafe_b64decode(chunk + "=" * (-len(chunk) % 4)))
            except (binascii.Error, ValueError):
                pass
    return out


def test_the_payload_is_encrypted() -> None:
    grant = ProxyGrant("instance-1", "/movies/film.mp4", "proxy", 2**40, URL, "subtitle:3")
    token = SIGNER.sign(grant)
    assert SIGNER.verify(token, now=0) == grant
    pieces = {CREDENTIAL[i : i + 6] for i in range(len(CREDENTIAL) - 5)}
    for blob in _decodings(token):
        for secret in (URL, "media.example.com", "/movies/film.mp4", "instance-1", *pieces):
            assert secret.encode() not in blob, secret
    # Two tokens for the same grant differ (a fresh nonce each time), and both verify.
    again = SIGNER.sign(grant)
    assert again != token
    assert SIGNER.verify(again, now=0) == grant


def test_tokens_stay_url_safe_and_short() -> None:
    grant = ProxyGrant("0b8f3c2e-6a1d-4c55-9a57-1f7f0c6d9e21", "/a/b.mp4", "proxy", 2**33)
    token = SIGNER.sign(grant)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert len(token) < 160


@given(grants, st.integers(0, 400))
def test_truncated_tokens_are_invalid(grant: ProxyGrant, cut: int) -> None:
    token = SIGNER.sign(grant)
    with pytest.raises(TokenInvalid):
        SIGNER.verify(token[: min(cut, len(token) - 1)], now=0)


@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: "v2." + b.hex()))
def test_arbitrary_strings_are_refused_never_raised(value: str) -> None:
    try:
        SIGNER.verify(value, now=0)
    except TokenInvalid:
        return
    raise AssertionError("an arbitrary string verified")


def test_a_previous_format_token_is_invalid() -> None:
    """v1 tokens were signed plaintext; they are no longer accepted."""
    with pytest.raises(TokenInvalid):
        SIGNER.verify("v1.eyJpIjoiaSJ9.AAAA", now=0)
