"""Bad bytes from a peer (or a corrupt stored record or setup) give an OpaqueError, never another
exception; unknown users get a response indistinguishable in shape; the setup round-trips and its
fingerprint tells setups apart without revealing them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv.auth import opaque

SETUP = opaque.ServerSetup.generate()
PW = b"hunter2"
_REQUEST, _REG_STATE = opaque.client_registration_start(PW)
_RESPONSE = opaque.server_registration_response(SETUP, _REQUEST, b"alice")
_UPLOAD = opaque.client_registration_finish(
    _REG_STATE, _RESPONSE, ksf=opaque.identity_ksf
).registration_upload
RECORD = opaque.server_registration_record(_UPLOAD)
_KE1, _LOGIN_STATE = opaque.client_login_start(PW)
_KE2, _SERVER_STATE = opaque.server_login_start(SETUP, RECORD, _KE1, b"alice")

# Each entry point that reads bytes from outside, with one valid input of its kind.
ENTRY_POINTS: dict[str, tuple[Callable[[bytes], object], bytes]] = {
    "registration request": (
        lambda b: opaque.server_registration_response(SETUP, b, b"alice"),
        _REQUEST,
    ),
    "registration upload": (opaque.server_registration_record, _UPLOAD),
    "credential request": (
        lambda b: opaque.server_login_start(SETUP, RECORD, b, b"alice"),
        _KE1,
    ),
    "stored record": (lambda b: opaque.server_login_start(SETUP, b, _KE1, b"alice"), RECORD),
    "credential finalization": (
        lambda b: opaque.server_login_finish(_SERVER_STATE, b),
        bytes(64),
    ),
    "server login state": (opaque.ServerLoginState.from_bytes, _SERVER_STATE.to_bytes()),
    "server setup": (opaque.ServerSetup.from_bytes, SETUP.to_bytes()),
    "registration response": (
        lambda b: opaque.client_registration_finish(_REG_STATE, b, ksf=opaque.identity_ksf),
        _RESPONSE,
    ),
    "credential response": (
        lambda b: opaque.client_login_finish(_LOGIN_STATE, b, ksf=opaque.identity_ksf),
        _KE2,
    ),
}


def only_opaque_errors(name: str, data: bytes) -> None:
    function, _ = ENTRY_POINTS[name]
    failure: opaque.OpaqueError | None = None
    try:
        function(data)
    except opaque.OpaqueError as error:
        failure = error
    if failure is not None:
        assert str(failure)
        assert failure.code


@given(st.sampled_from(sorted(ENTRY_POINTS)), st.binary(max_size=400))
@example("credential response", b"")
@example("registration request", bytes(32))  # the identity element
def test_arbitrary_bytes_give_only_opaque_errors(name: str, data: bytes) -> None:
    only_opaque_errors(name, data)


@given(
    st.sampled_from(sorted(ENTRY_POINTS)),
    st.integers(0, 400),
    st.integers(0, 255),
    st.sampled_from(["flip", "truncate", "extend"]),
)
def test_mutated_valid_messages_give_only_opaque_errors(
    name: str, position: int, value: int, how: str
) -> None:
    valid = ENTRY_POINTS[name][1]
    at = position % (len(valid) + 1)
    if how == "flip" and at < len(valid):
        data = valid[:at] + bytes([valid[at] ^ (value or 1)]) + valid[at + 1 :]
    elif how == "truncate":
        data = valid[:at]
    else:
        data = valid + bytes([value]) * (1 + position % 40)
    only_opaque_errors(name, data)


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_wrong_length_names_the_message(name: str) -> None:
    function, valid = ENTRY_POINTS[name]
    with pytest.raises(opaque.OpaqueError, match=f"must be {len(valid)} bytes"):
        function(valid + b"\x00")


def test_setup_with_a_non_canonical_private_key_is_refused() -> None:
    raw = SETUP.to_bytes()
    bad = raw[:64] + b"\xff" * 32 + raw[96:]
    with pytest.raises(opaque.InvalidServerSetup, match="canonical"):
        opaque.ServerSetup.from_bytes(bad)


def test_a_flipped_ke3_bit_is_invalid_credentials_and_the_right_one_succeeds() -> None:
    ke1, state = opaque.client_login_start(PW)
    ke2, server_state = opaque.server_login_start(SETUP, RECORD, ke1, b"alice")
    ke3 = opaque.client_login_finish(state, ke2, ksf=opaque.identity_ksf).credential_finalization
    with pytest.raises(opaque.InvalidCredentials):
        opaque.server_login_finish(server_state, bytes([ke3[0] ^ 1]) + ke3[1:])
    assert len(opaque.server_login_finish(server_state, ke3)) == 64
    restored = opaque.ServerLoginState.from_bytes(server_state.to_bytes())
    assert opaque.server_login_finish(restored, ke3) == opaque.server_login_finish(
        server_state, ke3
    )


def test_unknown_user_response_has_the_shape_of_a_real_one() -> None:
    real, _ = opaque.server_login_start(SETUP, RECORD, _KE1, b"alice")
    fake, _ = opaque.server_login_start(SETUP, None, _KE1, b"mallory")
    assert len(fake) == len(real) == opaque.CREDENTIAL_RESPONSE_LEN
    # Well formed: the same client parser takes it and fails only at the envelope.
    with pytest.raises(opaque.InvalidCredentials):
        opaque.client_login_finish(_LOGIN_STATE, fake, ksf=opaque.identity_ksf)


def test_unknown_user_fake_record_is_stable_per_name_and_differs_between_names() -> None:
    """Derived from the setup secret and the name: the same name always unmasks the same way."""
    first = SETUP._fake_record(b"mallory")
    assert first == SETUP._fake_record(b"mallory")
    assert first != SETUP._fake_record(b"trent")
    assert first != opaque.ServerSetup.generate()._fake_record(b"mallory")
    assert len(first) == opaque.REGISTRATION_RECORD_LEN


def test_setup_round_trip_and_fingerprint() -> None:
    again = opaque.ServerSetup.from_bytes(SETUP.to_bytes())
    assert again == SETUP
    assert again.fingerprint() == SETUP.fingerprint()
    assert opaque.ServerSetup.generate().fingerprint() != SETUP.fingerprint()
    assert SETUP.to_bytes().hex() not in repr(SETUP)
    assert SETUP.fingerprint()[:16] in repr(SETUP)


def deterministic(seed: bytes) -> Callable[[int], bytes]:
    """A reproducible random_bytes: SHA-512 in counter mode over the seed."""
    counter = 0

    def random_bytes(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            counter += 1
            out += hashlib.sha512(seed + counter.to_bytes(8, "big")).digest()
        return out[:n]

    return random_bytes


def test_generated_setup_draws_its_randomness_from_the_given_source() -> None:
    seed = os.urandom(16)
    assert opaque.ServerSetup.generate(deterministic(seed)) == opaque.ServerSetup.generate(
        deterministic(seed)
    )
    assert opaque.ServerSetup.generate(deterministic(seed)) != opaque.ServerSetup.generate()


def test_identity_and_context_lengths_are_bounded() -> None:
    ke1, _ = opaque.client_login_start(PW)
    with pytest.raises(opaque.OpaqueError, match="65535"):
        opaque.server_login_start(SETUP, RECORD, ke1, b"alice", context=bytes(70_000))
    with pytest.raises(opaque.OpaqueError, match="65535"):
        opaque.client_registration_start(bytes(70_000))


def test_a_server_reflecting_the_blinded_element_is_refused() -> None:
    reflected = _REQUEST + SETUP.public_key
    with pytest.raises(opaque.MalformedMessage, match="reflects"):
        opaque.client_registration_finish(_REG_STATE, reflected, ksf=opaque.identity_ksf)


def test_a_tampered_server_mac_fails_the_client_as_invalid_credentials() -> None:
    ke1, state = opaque.client_login_start(PW)
    ke2, _ = opaque.server_login_start(SETUP, RECORD, ke1, b"alice")
    with pytest.raises(opaque.InvalidCredentials):
        opaque.client_login_finish(state, ke2[:-1] + bytes([ke2[-1] ^ 1]), ksf=opaque.identity_ksf)


def test_a_changed_server_setup_fails_every_login_as_invalid_credentials() -> None:
    """Why the setup's fingerprint is stored: with another setup a correct password fails."""
    ke1, state = opaque.client_login_start(PW)
    ke2, _ = opaque.server_login_start(opaque.ServerSetup.generate(), RECORD, ke1, b"alice")
    with pytest.raises(opaque.InvalidCredentials):
        opaque.client_login_finish(state, ke2, ksf=opaque.identity_ksf)
