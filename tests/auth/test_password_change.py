"""Self-service password change: only soon after signing in; the new password works (set by the
browser library), the old one does not, and every other session is signed out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from synctv import errors
from synctv.auth import opaque
from synctv.auth.identity import Client
from synctv.auth.password_change import REAUTH_WINDOW_SECONDS, PasswordChange
from synctv.auth.server_setup import server_setup_from_seed
from synctv.errors import DomainError
from synctv.state import MemoryState
from synctv.store.db import Database
from synctv.store.passwords import PasswordStore
from tests.auth.test_identity_http import documented
from tests.auth.test_identity_units import service
from tests.support.identity import PASSWORD, claims, identity_server, unstd64
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres

NEW_PASSWORD = "a new and longer passphrase ✓✓"


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


async def test_a_change_needs_a_recent_sign_in(database: Database) -> None:
    identity = service(database, bytes(64))
    request, state = opaque.client_registration_start(PASSWORD.encode())
    handshake, response = await identity.registration_start("henry", request, Client(None))
    upload = opaque.client_registration_finish(state, response, ksf=opaque.identity_ksf)
    registered = await identity.registration_finish(
        handshake, upload.registration_upload, Client(None)
    )
    assert registered.tokens is not None
    session_id = claims(registered.tokens.access_token)["sid"]
    user_id = registered.user.id

    def change(later: float) -> PasswordChange:
        return PasswordChange(
            identity=identity,
            setup=server_setup_from_seed(bytes(64)),
            state=MemoryState(),
            passwords=PasswordStore(database),
            clock=lambda: time.time() + later,
        )

    new_request, _ = opaque.client_registration_start(b"new")
    for session in (session_id, None, "not-a-session"):
        with pytest.raises(DomainError) as stale:
            await change(REAUTH_WINDOW_SECONDS + 5).start(user_id, session, new_request)
        assert stale.value.error == errors.REAUTHENTICATION_REQUIRED
    recent = change(0)
    new_request, new_state = opaque.client_registration_start(b"new")
    handshake, response = await recent.start(user_id, session_id, new_request)
    new_upload = opaque.client_registration_finish(new_state, response, ksf=opaque.identity_ksf)
    fresh = await recent.finish(
        user_id, session_id, handshake, new_upload.registration_upload, Client(None)
    )
    assert claims(fresh.access_token)["pv"] == 2
    handshake, _ = await recent.start(user_id, claims(fresh.access_token)["sid"], new_request)
    # The handshake belongs to the session that began it.
    with pytest.raises(DomainError) as other:
        await recent.finish(user_id, "another", handshake, bytes(192), Client(None))
    assert other.value.error == errors.REAUTHENTICATION_REQUIRED


@pytest.mark.slow
async def test_password_change_over_rest(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        laptop = server.person(80, ksf=opaque.argon2id_ksf)
        registered = (await laptop.register("kim")).json()
        phone = server.person(81, ksf=opaque.argon2id_ksf)
        other = (await phone.login("kim")).json()
        token = registered["accessToken"]

        # The browser library sets the new password.
        start = serenity.call("client.startRegistration", {"password": NEW_PASSWORD})
        started = await laptop.post(
            "/api/auth/password/change/start",
            {"registrationRequest": start["registrationRequest"]},
            token,
        )
        assert started.status_code == 200, started.text
        finish = serenity.call(
            "client.finishRegistration",
            {
                "password": NEW_PASSWORD,
                "clientRegistrationState": start["clientRegistrationState"],
                "registrationResponse": b64(unstd64(started.json()["registrationResponse"])),
            },
        )
        finished = await laptop.post(
            "/api/auth/password/change/finish",
            {
                "sessionId": started.json()["sessionId"],
                "registrationUpload": finish["registrationRecord"],
            },
            token,
        )
        assert finished.status_code == 200, finished.text
        fresh = finished.json()
        assert claims(fresh["accessToken"])["pv"] == claims(token)["pv"] + 1

        # Every earlier session is out: access at its next request, refresh too.
        for old in (token, other["accessToken"]):
            refused = await phone.http.get("/api/user", headers={"authorization": f"Bearer {old}"})
            assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        spent = await phone.post("/api/auth/refresh", {"refreshToken": other["refreshToken"]})
        assert (spent.status_code, spent.json()["code"]) == (401, "token_revoked")
        me = await laptop.http.get(
            "/api/user", headers={"authorization": f"Bearer {fresh['accessToken']}"}
        )
        assert me.status_code == 200

        # The old password is refused, the new one signs in.
        assert (await server.person(82, ksf=opaque.argon2id_ksf).login("kim")).status_code == 401
        signed_in = await server.person(83, ksf=opaque.argon2id_ksf).login("kim", NEW_PASSWORD)
        assert signed_in.status_code == 200, signed_in.text

        # The document matches what was sent and received.
        document = (await laptop.http.get("/api/openapi.json")).json()
        start_op = document["paths"]["/api/auth/password/change/start"]["post"]
        finish_op = document["paths"]["/api/auth/password/change/finish"]["post"]
        assert documented(document, start_op["requestBody"]) == {"registrationRequest"}
        assert documented(document, start_op["responses"]["200"]) == set(started.json())
        assert documented(document, finish_op["requestBody"]) == {"sessionId", "registrationUpload"}
        assert documented(document, finish_op["responses"]["200"]) == set(fresh)
        assert "401" in finish_op["responses"]
