"""The three OPAQUE clients against the whole server over REST, crossing.

A password registered through one client signs in through another when both stretch it the same
way (the KSF is the client's alone): ours and @serenity-kit/opaque (the browser's) share Argon2id
t=3, 64 MiB, p=4, so the browser and the CLI interchange; opaque-ke-py uses the Rust argon2
crate's defaults (Argon2id t=2, 19 MiB, p=1), so an account it registers signs in through our
client given that KSF, and through the browser library not at all (asserted: the KSF is part
of the password).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import opaque_ke_py as rust
import pytest
from argon2.low_level import Type, hash_secret_raw

from synctv.auth import opaque
from tests.support.identity import PASSWORD, Person, identity_server, std64, unstd64
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres

pytestmark = pytest.mark.slow
PW = PASSWORD.encode()


def opaque_ke_ksf(oprf_output: bytes) -> bytes:
    """opaque-ke's Argon2 KSF as opaque-ke-py builds it: the argon2 crate's defaults."""
    return hash_secret_raw(
        secret=oprf_output,
        salt=bytes(16),
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
        hash_len=len(oprf_output),
        type=Type.ID,
    )


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


async def rust_register(person: Person, name: str) -> int:
    start = rust.client_registration_start(PW)
    started = await person.post(
        "/api/auth/opaque/registration/start",
        {"username": name, "registrationRequest": std64(start.get_message())},
    )
    response = unstd64(started.json()["registrationResponse"])
    finish = rust.client_registration_finish(PW, start.get_state(), response)
    done = await person.post(
        "/api/auth/opaque/registration/finish",
        {
            "sessionId": started.json()["sessionId"],
            "registrationUpload": std64(finish.get_message()),
        },
    )
    return done.status_code


async def rust_login(person: Person, name: str) -> int:
    login = rust.client_login_start(PW)
    started = await person.post(
        "/api/auth/opaque/login/start",
        {"username": name, "credentialRequest": std64(login.get_message())},
    )
    finished = rust.client_login_finish(
        PW, login.get_state(), unstd64(started.json()["credentialResponse"])
    )
    done = await person.post(
        "/api/auth/opaque/login/finish",
        {
            "sessionId": started.json()["sessionId"],
            "credentialFinalization": std64(finished.get_message()),
        },
    )
    return done.status_code


async def serenity_login(person: Person, serenity: SerenityOpaque, name: str) -> int:
    login = serenity.call("client.startLogin", {"password": PASSWORD})
    started = await person.post(
        "/api/auth/opaque/login/start",
        {"username": name, "credentialRequest": login["startLoginRequest"]},
    )
    finished = serenity.call(
        "client.finishLogin",
        {
            "password": PASSWORD,
            "clientLoginState": login["clientLoginState"],
            "loginResponse": b64(unstd64(started.json()["credentialResponse"])),
        },
    )
    if finished is None:
        return 401
    done = await person.post(
        "/api/auth/opaque/login/finish",
        {
            "sessionId": started.json()["sessionId"],
            "credentialFinalization": finished["finishLoginRequest"],
        },
    )
    return done.status_code


async def test_three_clients_cross(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        # Registered through opaque-ke-py: it signs in again, and so does our client with
        # opaque-ke's KSF; the browser library (another KSF) cannot.
        assert await rust_register(server.person(2), "ferris") == 200
        assert await rust_login(server.person(3), "ferris") == 200
        ours_rust_ksf = server.person(5, ksf=opaque_ke_ksf)
        assert (await ours_rust_ksf.login("ferris")).status_code == 200
        assert await serenity_login(server.person(4), serenity, "ferris") == 401

        # Registered through our client with opaque-ke's KSF: opaque-ke-py signs in.
        assert (await server.person(8, ksf=opaque_ke_ksf).register("crab")).status_code == 200
        assert await rust_login(server.person(9), "crab") == 200

        # Registered through the browser library: our client (same Argon2id) signs in.
        browser = server.person(6)
        start = serenity.call("client.startRegistration", {"password": PASSWORD})
        started = await browser.post(
            "/api/auth/opaque/registration/start",
            {"username": "webby", "registrationRequest": start["registrationRequest"]},
        )
        upload = serenity.call(
            "client.finishRegistration",
            {
                "password": PASSWORD,
                "clientRegistrationState": start["clientRegistrationState"],
                "registrationResponse": b64(unstd64(started.json()["registrationResponse"])),
            },
        )
        done = await browser.post(
            "/api/auth/opaque/registration/finish",
            {
                "sessionId": started.json()["sessionId"],
                "registrationUpload": upload["registrationRecord"],
            },
        )
        assert done.status_code == 200, done.text
        ours = server.person(7, ksf=opaque.argon2id_ksf)
        assert (await ours.login("webby")).status_code == 200
