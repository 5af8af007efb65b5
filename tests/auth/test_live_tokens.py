"""Viewer tokens of room live streams (synctv.auth.live_tokens): bound to a room and a viewer,
expiring, and separated both ways from the access/guest tokens signed with the same secret."""

from __future__ import annotations

import jwt
import pytest

from synctv.auth.live_tokens import AUDIENCE, MAX_TOKEN_LENGTH, LiveViewerTokens, derive_key
from synctv.auth.tokens import TokenIssuer
from synctv.errors import DomainError

SECRET = b"s" * 48
NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def refused(tokens: LiveViewerTokens, token: str, room: str) -> str:
    with pytest.raises(DomainError) as caught:
        tokens.check(token, room)
    return caught.value.code


def test_a_token_admits_its_viewer_to_its_room_until_it_expires() -> None:
    clock = Clock()
    tokens = LiveViewerTokens(SECRET, clock, ttl=600)
    token, expires = tokens.issue("room-a", "alice")
    assert expires == NOW + 600
    assert tokens.check(token, "room-a") == "alice"
    assert refused(tokens, token, "room-b") == "live_token_invalid"
    clock.now = NOW + 599
    assert tokens.check(token, "room-a") == "alice"
    clock.now = NOW + 600
    assert refused(tokens, token, "room-a") == "live_token_expired"


def test_other_secrets_tampering_and_junk_are_invalid() -> None:
    clock = Clock()
    tokens = LiveViewerTokens(SECRET, clock, ttl=600)
    token, _ = tokens.issue("room-a", "alice")
    other = LiveViewerTokens(b"t" * 48, clock, ttl=600)
    assert refused(other, token, "room-a") == "live_token_invalid"
    head, body, signature = token.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert refused(tokens, f"{head}.{body}.{flipped}", "room-a") == "live_token_invalid"
    for junk in ("", "x", "a.b.c", "." * 5, "A" * (MAX_TOKEN_LENGTH + 1)):
        assert refused(tokens, junk, "room-a") == "live_token_invalid"


def test_claims_are_checked_not_just_the_signature() -> None:
    clock = Clock()
    tokens = LiveViewerTokens(SECRET, clock, ttl=600)
    key = derive_key(SECRET)
    good = {"sub": "alice", "room": "r", "aud": AUDIENCE, "typ": "live", "iat": 1, "exp": 2**40}
    assert tokens.check(jwt.encode(good, key, algorithm="HS256"), "r") == "alice"
    for change in ({"aud": "other"}, {"typ": "access"}, {"room": 5}, {"sub": None}):
        forged = jwt.encode({**good, **change}, key, algorithm="HS256")
        assert refused(tokens, forged, "r") == "live_token_invalid", change
    for missing in ("sub", "room", "aud", "typ", "exp"):
        forged = jwt.encode({k: v for k, v in good.items() if k != missing}, key, "HS256")
        assert refused(tokens, forged, "r") == "live_token_invalid", missing
    none_alg = jwt.encode(good, None, algorithm="none")
    assert refused(tokens, none_alg, "r") == "live_token_invalid"


def test_access_guest_and_viewer_tokens_never_stand_in_for_each_other() -> None:
    clock = Clock()
    issuer = TokenIssuer(SECRET, clock)
    tokens = LiveViewerTokens(SECRET, clock, ttl=600)
    access = issuer.issue("alice", "user", "sid", 1, "jti").access_token
    guest, _ = issuer.issue_guest("guest-1", "room-a")
    assert refused(tokens, access, "room-a") == "live_token_invalid"
    assert refused(tokens, guest, "room-a") == "live_token_invalid"
    viewer, _ = tokens.issue("room-a", "alice")
    with pytest.raises(DomainError) as caught:
        issuer.check(viewer, "access", "guest")
    assert caught.value.code == "authentication_required"
