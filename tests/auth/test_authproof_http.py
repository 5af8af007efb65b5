"""opaque-ke-py as the client of our server over real HTTP: its own verdicts on our KE2.

The KSF parameters of the three clients (opaque-ke-py: Argon2id t=2, 19 MiB, p=1; ours and
@serenity-kit/opaque: t=3, 64 MiB, p=4) and the crossings they allow are proven in
tests/auth/test_interop_rest.py; this adds what opaque-ke-py itself says.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import opaque_ke_py as rust
import pytest

from tests.support.identity import PASSWORD, Person, Server, identity_server, std64, unstd64
from tests.support.opaque_node import SerenityOpaque, b64
from tests.support.postgres import RunningPostgres

pytestmark = pytest.mark.slow
PW = PASSWORD.encode()


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


async def rust_register(person: Person, username: str, password: bytes = PW) -> dict[str, str]:
    start = rust.client_registration_start(password)
    started = await person.post(
        "/api/auth/opaque/registration/start",
        {"username": username, "registrationRequest": std64(start.get_message())},
    )
    assert started.status_code == 200, started.text
    response = unstd64(started.json()["registrationResponse"])
    finish = rust.client_registration_finish(password, start.get_state(), response)
    done = await person.post(
        "/api/auth/opaque/registration/finish",
        {
            "sessionId": started.json()["sessionId"],
            "registrationUpload": std64(finish.get_message()),
        },
    )
    assert done.status_code == 200, done.text
    body: dict[str, str] = done.json()
    return body


async def rust_login(person: Person, username: str, password: bytes = PW) -> dict[str, str]:
    """A login through opaque-ke-py; raises what opaque-ke-py raises when it refuses KE2."""
    login = rust.client_login_start(password)
    started = await person.post(
        "/api/auth/opaque/login/start",
        {"username": username, "credentialRequest": std64(login.get_message())},
    )
    assert started.status_code == 200, started.text
    ke2 = unstd64(started.json()["credentialResponse"])
    done = rust.client_login_finish(password, login.get_state(), ke2)
    finished = await person.post(
        "/api/auth/opaque/login/finish",
        {
            "sessionId": started.json()["sessionId"],
            "credentialFinalization": std64(done.get_message()),
        },
    )
    assert finished.status_code == 200, finished.text
    body: dict[str, str] = finished.json()
    return body


async def serenity_register(server: Server, peer: SerenityOpaque, n: int, username: str) -> None:
    browser = server.person(n)
    start = peer.call("client.startRegistration", {"password": PASSWORD})
    started = await browser.post(
        "/api/auth/opaque/registration/start",
        {"username": username, "registrationRequest": start["registrationRequest"]},
    )
    assert started.status_code == 200, started.text
    finish = peer.call(
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
            "registrationUpload": finish["registrationRecord"],
        },
    )
    assert done.status_code == 200, done.text


async def serenity_accepts(server: Server, peer: SerenityOpaque, n: int, username: str) -> bool:
    """Whether the browser library accepts our server's KE2 for ``username`` and PASSWORD."""
    login = peer.call("client.startLogin", {"password": PASSWORD})
    started = await server.person(n).post(
        "/api/auth/opaque/login/start",
        {"username": username, "credentialRequest": login["startLoginRequest"]},
    )
    assert started.status_code == 200, started.text
    finished = peer.call(
        "client.finishLogin",
        {
            "password": PASSWORD,
            "clientLoginState": login["clientLoginState"],
            "loginResponse": b64(unstd64(started.json()["credentialResponse"])),
        },
    )
    return finished is not None


async def test_opaque_ke_py_refuses_what_it_must(
    tmp_path: Path, postgres: RunningPostgres, serenity: SerenityOpaque
) -> None:
    """What tests/auth/test_interop_rest.py leaves out: opaque-ke-py's own verdicts on our
    server's KE2 (a wrong password, and an account whose password was set in the browser
    library with its other KSF), and that its session's token opens the REST API."""
    async with identity_server(tmp_path, postgres) as server:
        await rust_register(server.person(2), "rusty")
        signed_in = await rust_login(server.person(3), "rusty")
        me = await server.person(3).http.get(
            "/api/user", headers={"authorization": f"Bearer {signed_in['accessToken']}"}
        )
        assert (me.status_code, me.json()["username"]) == (200, "rusty")
        with pytest.raises(ValueError, match="InvalidLoginError"):
            await rust_login(server.person(4), "rusty", b"not the password")

        await serenity_register(server, serenity, 10, "browser")
        assert await serenity_accepts(server, serenity, 11, "browser")
        with pytest.raises(ValueError, match="InvalidLoginError"):
            await rust_login(server.person(12), "browser")
