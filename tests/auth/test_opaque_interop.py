"""Interop is the proof: our OPAQUE against two independent implementations, in both roles.

- ``opaque-ke-py``: Rust opaque-ke 4.x (ristretto255, TripleDH SHA-512, its own Argon2 KSF).
- ``@serenity-kit/opaque`` under Node: the browser library (opaque-ke in WebAssembly with
  Argon2id t=3, 64 MiB, p=4), so a password set in a browser must work from our client and back.

The KSF is the client's alone (the server never runs it), which is why opaque-ke-py's different
Argon2 parameters still interoperate with our server, and why the cross-client tests use
serenity-kit, whose parameters are ours.
"""

from __future__ import annotations

from collections.abc import Iterator

import opaque_ke_py as rust
import pytest

from synctv.auth import opaque
from tests.support.opaque_node import PeerError, SerenityOpaque, b64, unb64

PASSWORD = "correct horse battery staple ✓"
PW = PASSWORD.encode()  # the browser library hashes the UTF-8 bytes of its string, as we do


@pytest.fixture(scope="module")
def serenity() -> Iterator[SerenityOpaque]:
    peer = SerenityOpaque()
    yield peer
    peer.close()


@pytest.fixture(scope="module")
def setup() -> opaque.ServerSetup:
    return opaque.ServerSetup.generate()


def our_register(setup: opaque.ServerSetup, user: bytes, password: bytes) -> bytes:
    request, state = opaque.client_registration_start(password)
    response = opaque.server_registration_response(setup, request, user)
    upload = opaque.client_registration_finish(state, response).registration_upload
    return opaque.server_registration_record(upload)


# -- opaque-ke-py ----------------------------------------------------------------------------


def test_server_setup_bytes_are_opaque_ke_server_setup_bytes() -> None:
    theirs = rust.server_setup().to_bytes()
    assert opaque.ServerSetup.from_bytes(theirs).to_bytes() == theirs
    ours = opaque.ServerSetup.generate().to_bytes()
    assert rust.ServerSetupData.from_bytes(ours).to_bytes() == ours


def test_rust_client_registers_and_logs_in_at_our_server(setup: opaque.ServerSetup) -> None:
    start = rust.client_registration_start(PW)
    response = opaque.server_registration_response(setup, start.get_message(), b"alice")
    finish = rust.client_registration_finish(PW, start.get_state(), response)
    record = opaque.server_registration_record(finish.get_message())

    login = rust.client_login_start(PW)
    ke2, state = opaque.server_login_start(setup, record, login.get_message(), b"alice")
    done = rust.client_login_finish(PW, login.get_state(), ke2)
    assert opaque.server_login_finish(state, done.get_message()) == done.get_session_key()
    assert len(done.get_session_key()) == 64


def test_rust_client_wrong_password_and_unknown_user_fail_alike(setup: opaque.ServerSetup) -> None:
    record = our_register(setup, b"bob", PW)
    errors = []
    for user, stored, password in ((b"bob", record, b"wrong"), (b"nobody", None, PW)):
        login = rust.client_login_start(password)
        ke2, state = opaque.server_login_start(setup, stored, login.get_message(), user)
        with pytest.raises(Exception) as failure:
            rust.client_login_finish(password, login.get_state(), ke2)
        errors.append((type(failure.value), str(failure.value)))
        # The client stops; whatever it sends instead, our server refuses it the same way.
        with pytest.raises(opaque.InvalidCredentials):
            opaque.server_login_finish(state, bytes(64))
    assert errors[0] == errors[1]


def test_our_client_registers_and_logs_in_at_the_rust_server() -> None:
    server = rust.server_setup()
    request, reg = opaque.client_registration_start(PW)
    response = rust.server_registration_start(server, request, b"carol").get_message()
    upload = opaque.client_registration_finish(reg, response).registration_upload
    password_file = rust.server_registration_finish(upload).get_password_file()
    assert password_file == upload

    ke1, state = opaque.client_login_start(PW)
    started = rust.server_login_start(server, password_file, ke1, b"carol")
    result = opaque.client_login_finish(state, started.get_message())
    finished = rust.server_login_finish(started.get_state(), result.credential_finalization)
    assert finished.get_session_key() == result.session_key

    ke1, state = opaque.client_login_start(b"not the password")
    started = rust.server_login_start(server, password_file, ke1, b"carol")
    with pytest.raises(opaque.InvalidCredentials):
        opaque.client_login_finish(state, started.get_message())


def test_a_record_from_our_server_logs_in_at_the_rust_server_with_the_same_setup(
    setup: opaque.ServerSetup,
) -> None:
    """Same setup bytes, same record: the two servers are interchangeable."""
    record = our_register(setup, b"dave", PW)
    server = rust.ServerSetupData.from_bytes(setup.to_bytes())
    ke1, state = opaque.client_login_start(PW)
    started = rust.server_login_start(server, record, ke1, b"dave")
    result = opaque.client_login_finish(state, started.get_message())
    finished = rust.server_login_finish(started.get_state(), result.credential_finalization)
    assert finished.get_session_key() == result.session_key


# -- @serenity-kit/opaque --------------------------------------------------------------------


def serenity_register(peer: SerenityOpaque, setup: opaque.ServerSetup, user: str) -> bytes:
    """The browser library registers PASSWORD at our server; returns the stored record."""
    start = peer.call("client.startRegistration", {"password": PASSWORD})
    response = opaque.server_registration_response(
        setup, unb64(start["registrationRequest"]), user.encode()
    )
    finish = peer.call(
        "client.finishRegistration",
        {
            "password": PASSWORD,
            "clientRegistrationState": start["clientRegistrationState"],
            "registrationResponse": b64(response),
        },
    )
    return opaque.server_registration_record(unb64(finish["registrationRecord"]))


def serenity_login(
    peer: SerenityOpaque, setup: opaque.ServerSetup, user: str, record: bytes | None, password: str
) -> tuple[dict[str, str] | None, opaque.ServerLoginState]:
    start = peer.call("client.startLogin", {"password": password})
    ke2, state = opaque.server_login_start(
        setup, record, unb64(start["startLoginRequest"]), user.encode()
    )
    finish = peer.call(
        "client.finishLogin",
        {
            "password": password,
            "clientLoginState": start["clientLoginState"],
            "loginResponse": b64(ke2),
        },
    )
    return finish, state


def test_serenity_setup_is_our_setup(serenity: SerenityOpaque) -> None:
    text = serenity.call("server.createSetup")
    ours = opaque.ServerSetup.from_bytes(unb64(text))
    assert b64(ours.to_bytes()) == text
    assert unb64(serenity.call("server.getPublicKey", text)) == ours.public_key


def test_serenity_client_registers_and_logs_in_at_our_server(
    serenity: SerenityOpaque, setup: opaque.ServerSetup
) -> None:
    record = serenity_register(serenity, setup, "erin")
    finish, state = serenity_login(serenity, setup, "erin", record, PASSWORD)
    assert finish is not None
    session_key = opaque.server_login_finish(state, unb64(finish["finishLoginRequest"]))
    assert session_key == unb64(finish["sessionKey"])
    assert unb64(finish["serverStaticPublicKey"]) == setup.public_key


def test_serenity_client_wrong_password_and_unknown_user_fail_alike(
    serenity: SerenityOpaque, setup: opaque.ServerSetup
) -> None:
    record = our_register(setup, b"frank", PW)
    wrong, state = serenity_login(serenity, setup, "frank", record, "wrong password")
    unknown, fake_state = serenity_login(serenity, setup, "nobody", None, PASSWORD)
    assert wrong is None
    assert unknown is None
    for server_state in (state, fake_state):
        with pytest.raises(opaque.InvalidCredentials):
            opaque.server_login_finish(server_state, bytes(64))


def test_our_client_registers_and_logs_in_at_the_serenity_server(serenity: SerenityOpaque) -> None:
    server_setup = serenity.call("server.createSetup")
    request, reg = opaque.client_registration_start(PW)
    response = serenity.call(
        "server.createRegistrationResponse",
        {
            "serverSetup": server_setup,
            "userIdentifier": "gina",
            "registrationRequest": b64(request),
        },
    )
    upload = opaque.client_registration_finish(reg, unb64(response["registrationResponse"]))

    def login(password: bytes, record: bytes | None, user: str) -> opaque.ClientLoginResult:
        ke1, state = opaque.client_login_start(password)
        started = serenity.call(
            "server.startLogin",
            {
                "serverSetup": server_setup,
                "registrationRecord": None if record is None else b64(record),
                "startLoginRequest": b64(ke1),
                "userIdentifier": user,
            },
        )
        result = opaque.client_login_finish(state, unb64(started["loginResponse"]))
        finished = serenity.call(
            "server.finishLogin",
            {
                "serverLoginState": started["serverLoginState"],
                "finishLoginRequest": b64(result.credential_finalization),
            },
        )
        assert unb64(finished["sessionKey"]) == result.session_key
        return result

    assert login(PW, upload.registration_upload, "gina").export_key == upload.export_key
    with pytest.raises(opaque.InvalidCredentials):
        login(b"wrong password", upload.registration_upload, "gina")
    with pytest.raises(opaque.InvalidCredentials):
        login(PW, None, "nobody")


def test_password_set_in_the_browser_library_logs_in_from_our_client(
    serenity: SerenityOpaque, setup: opaque.ServerSetup
) -> None:
    record = serenity_register(serenity, setup, "hana")
    ke1, state = opaque.client_login_start(PW)
    ke2, server_state = opaque.server_login_start(setup, record, ke1, b"hana")
    result = opaque.client_login_finish(state, ke2)
    assert opaque.server_login_finish(server_state, result.credential_finalization) == (
        result.session_key
    )


def test_password_set_from_our_client_logs_in_from_the_browser_library(
    serenity: SerenityOpaque, setup: opaque.ServerSetup
) -> None:
    record = our_register(setup, b"ivan", PW)
    finish, state = serenity_login(serenity, setup, "ivan", record, PASSWORD)
    assert finish is not None
    assert opaque.server_login_finish(state, unb64(finish["finishLoginRequest"])) == unb64(
        finish["sessionKey"]
    )


def test_serenity_peer_reports_its_errors(serenity: SerenityOpaque) -> None:
    with pytest.raises(PeerError, match="serverSetup"):
        serenity.call("server.getPublicKey", "AAAA")
