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


def test_signed_payload_that_is_not_a_grant_is_invalid() -> None:
    import base64
    import hashlib
    import hmac

    from synctv.proxy.token import derive_key

    body = base64.urlsafe_b64encode(b'{"i":1}').rstrip(b"=").decode()
    mac = hmac.new(derive_key(b"k" * 32), f"v1.{body}".encode(), hashlib.sha256).digest()
    token = f"v1.{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(TokenInvalid):
        SIGNER.verify(token, now=0)
