"""Guest tokens: room-bound tokens without an account, issued over REST and accepted by the
REST seam as a guest principal that account-only routes still refuse."""

from __future__ import annotations

import re
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv import errors
from synctv.auth.guests import check_room_id
from synctv.auth.tokens import TokenIssuer, is_guest_token
from synctv.errors import DomainError
from tests.auth.test_identity_http import documented
from tests.support.identity import claims, identity_server
from tests.support.postgres import RunningPostgres


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_guest_tokens_are_room_bound_expire_and_are_no_access_tokens() -> None:
    clock = Clock()
    issuer = TokenIssuer(b"k" * 32, clock, guest_ttl=600)
    token, expires_at = issuer.issue_guest("guest-1", "room-a")
    assert expires_at == int(clock.now) + 600
    assert is_guest_token(token)
    guest = issuer.check_guest(token)
    assert (guest.guest_id, guest.room_id) == ("guest-1", "room-a")
    with pytest.raises(DomainError) as not_access:
        issuer.check(token, "access")
    assert not_access.value.error == errors.UNAUTHENTICATED
    access = issuer.issue("u", "user", "s", 1, "j").access_token
    assert not is_guest_token(access)
    with pytest.raises(DomainError):
        issuer.check_guest(access)
    forged = TokenIssuer(b"x" * 32, clock, guest_ttl=600).issue_guest("g", "room-a")[0]
    with pytest.raises(DomainError) as refused:
        issuer.check_guest(forged)
    assert refused.value.error == errors.UNAUTHENTICATED
    clock.now += 600
    with pytest.raises(DomainError) as expired:
        issuer.check_guest(token)
    assert expired.value.error == errors.TOKEN_EXPIRED


@given(st.text(max_size=80))
def test_a_room_id_is_accepted_or_refused_with_its_code(text: str) -> None:
    well_formed = re.fullmatch(r"[A-Za-z0-9_-]{1,64}", text) is not None
    if well_formed:
        assert check_room_id(text) == text
    else:
        with pytest.raises(DomainError) as refused:
            check_room_id(text)
        assert refused.value.error == errors.INVALID_ROOM_ID


def test_is_guest_token_never_raises_on_junk() -> None:
    for junk in ("", "a.b.c", "not a token", jwt.encode({"typ": "guest"}, None, algorithm="none")):
        is_guest_token(junk)


@pytest.mark.slow
async def test_guest_token_over_rest(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        guest = server.person(60)
        issued = await guest.post("/api/auth/guest-token", {"roomId": "room-1"})
        assert issued.status_code == 200, issued.text
        body = issued.json()
        assert set(body) == {"token", "guestId", "expiresAt"}
        token = claims(body["token"])
        assert (token["typ"], token["role"], token["room"]) == ("guest", "guest", "room-1")
        assert (token["sub"], token["exp"]) == (body["guestId"], body["expiresAt"])
        assert token["exp"] - token["iat"] == 4 * 3600
        other = (await guest.post("/api/auth/guest-token", {"roomId": "room-1"})).json()
        assert other["guestId"] != body["guestId"]

        # The seam knows the guest, and account-only routes refuse it.
        me = await guest.http.get("/api/user", headers={"authorization": f"Bearer {body['token']}"})
        assert (me.status_code, me.json()["code"]) == (403, "permission_denied")
        bad = body["token"][:-2] + ("AA" if body["token"][-2:] != "AA" else "BB")
        forged = await guest.http.get("/api/user", headers={"authorization": f"Bearer {bad}"})
        assert (forged.status_code, forged.json()["code"]) == (401, "authentication_required")

        invalid = await guest.post("/api/auth/guest-token", {"roomId": "no spaces"})
        assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_room_id")

        # The document says what the route takes and gives.
        document = (await guest.http.get("/api/openapi.json")).json()
        operation = document["paths"]["/api/auth/guest-token"]["post"]
        assert documented(document, operation["requestBody"]) == {"roomId"}
        assert documented(document, operation["responses"]["200"]) == set(body)
        assert {"403", "422", "429"} <= set(operation["responses"])

        # Per address: five a minute (the auth attempts limit), then refused.
        flood = server.person(61)
        for _ in range(5):
            assert (await flood.post("/api/auth/guest-token", {"roomId": "r"})).status_code == 200
        limited = await flood.post("/api/auth/guest-token", {"roomId": "r"})
        assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")

        # The setting is read per request.
        await server.set_setting("user.enableGuest", "false")
        off = await server.person(62).post("/api/auth/guest-token", {"roomId": "room-1"})
        assert (off.status_code, off.json()["code"]) == (403, "guest_disabled")
        await server.set_setting("user.enableGuest", "true")
        on = await server.person(62).post("/api/auth/guest-token", {"roomId": "room-1"})
        assert on.status_code == 200
