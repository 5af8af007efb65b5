"""Room passwords over real HTTP: stored as OPAQUE records, checked by the plain API (the server
runs the client side) and by the OPAQUE flow from the browser library, locked out after wrong
tries per room and address, and governed by room.passwordPolicy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from synctv.auth import opaque
from tests.support.cli import synctv
from tests.support.identity import identity_server, std64, unstd64
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up

pytestmark = pytest.mark.slow
SECRET = "popcorn & chill ✓"


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


async def opaque_join(person: Member, path: str, password: str) -> tuple[int, str]:
    """Our OPAQUE client (Argon2id, like the browser's) through the login flow."""
    ke1, state = opaque.client_login_start(password.encode())
    started = await person.ok(
        "POST", f"{path}/password/opaque/login/start", {"credentialRequest": std64(ke1)}
    )
    try:
        ke3 = opaque.client_login_finish(
            state, unstd64(started["credentialResponse"])
        ).credential_finalization
    except opaque.InvalidCredentials:
        ke3 = bytes(64)
    done = await person.call(
        "POST",
        f"{path}/password/opaque/login/finish",
        {"sessionId": started["sessionId"], "credentialFinalization": std64(ke3)},
    )
    body = done.json()
    return done.status_code, body.get("status") or body.get("code")


async def test_password_rooms(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        bob = await sign_up(server, 3, "bob")
        carol = await sign_up(server, 4, "carol")
        room = (await owner.ok("POST", "/api/rooms", {"name": "locked", "password": SECRET}))[
            "room"
        ]
        assert room["hasPassword"] is True
        path = f"/api/rooms/{room['id']}"

        assert await bob.refused("PUT", f"{path}/members/@me") == (403, "room_password_required")
        assert await bob.refused("PUT", f"{path}/members/@me", {"password": "nope"}) == (
            403,
            "room_password_required",
        )
        joined = await bob.ok("PUT", f"{path}/members/@me", {"password": SECRET})
        assert joined["status"] == "joined"

        # OPAQUE: the browser library proves the password without sending it.
        login = serenity.call("client.startLogin", {"password": SECRET})
        started = await carol.ok(
            "POST",
            f"{path}/password/opaque/login/start",
            {"credentialRequest": login["startLoginRequest"]},
        )
        finished = serenity.call(
            "client.finishLogin",
            {
                "password": SECRET,
                "clientLoginState": login["clientLoginState"],
                "loginResponse": b64(unstd64(started["credentialResponse"])),
            },
        )
        assert finished is not None, "the browser library refused the room's record"
        done = await carol.ok(
            "POST",
            f"{path}/password/opaque/login/finish",
            {
                "sessionId": started["sessionId"],
                "credentialFinalization": finished["finishLoginRequest"],
            },
        )
        assert done["status"] == "joined"

        # The owner sets a new password through OPAQUE from the browser library; the plain
        # API (the server's own client side) checks it the same way.
        start = serenity.call("client.startRegistration", {"password": "second"})
        begun = await owner.ok(
            "POST",
            f"{path}/password/opaque/registration/start",
            {"registrationRequest": start["registrationRequest"]},
        )
        upload = serenity.call(
            "client.finishRegistration",
            {
                "password": "second",
                "clientRegistrationState": start["clientRegistrationState"],
                "registrationResponse": b64(unstd64(begun["registrationResponse"])),
            },
        )
        await owner.ok(
            "POST",
            f"{path}/password/opaque/registration/finish",
            {"sessionId": begun["sessionId"], "registrationUpload": upload["registrationRecord"]},
        )
        dave = await sign_up(server, 5, "dave")
        assert await dave.refused("PUT", f"{path}/members/@me", {"password": SECRET}) == (
            403,
            "room_password_required",
        )
        assert (await dave.ok("PUT", f"{path}/members/@me", {"password": "second"}))[
            "status"
        ] == "joined"
        # Members only manage it with manage_room_settings.
        assert await bob.refused("PUT", f"{path}/password", {"password": "x"}) == (
            403,
            "permission_denied",
        )

        # Wrong tries lock this address out of this room (5 by default), not others.
        eve = await sign_up(server, 6, "eve")
        for _ in range(5):
            assert await opaque_join(eve, path, "guess") == (403, "room_password_required")
        assert await eve.refused("PUT", f"{path}/members/@me", {"password": "second"}) == (
            429,
            "rate_limited",
        )
        assert await opaque_join(await sign_up(server, 7, "frank"), path, "second") == (
            200,
            "joined",
        )

        # Cleared: anyone joins; policy "forbidden" refuses a new password.
        await owner.ok("DELETE", f"{path}/password")
        assert (await owner.ok("GET", path))["room"]["hasPassword"] is False
        code, _out, err = await synctv(
            server.data_dir, "admin", "settings", "set", "room.passwordPolicy", "forbidden"
        )
        assert code == 0, err
        with trio.fail_after(10):  # applied when the settings notification arrives
            while True:
                public = await owner.ok("GET", "/api/public/settings")
                if public["room.passwordPolicy"] == "forbidden":
                    break
                await trio.sleep(0.05)
        assert await owner.refused("POST", "/api/rooms", {"name": "p", "password": "x"}) == (
            422,
            "invalid_room",
        )
