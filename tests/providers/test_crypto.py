"""AES-256-GCM credentials: round trip, row binding, tamper and wrong-key detection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.providers.crypto import CredentialCipher, CredentialError, key_id, parse_key

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=50), max_size=5))
def test_round_trip(credentials: dict[str, str]) -> None:
    cipher = CredentialCipher(KEY)
    blob, kid = cipher.encrypt(credentials, "row-1")
    assert kid == key_id(KEY) == cipher.key_id
    assert len(kid) == 8
    assert cipher.decrypt(blob, kid, "row-1") == credentials


def test_ciphertext_hides_the_plaintext_and_is_randomised() -> None:
    cipher = CredentialCipher(KEY)
    a, _ = cipher.encrypt({"password": "hunter2-very-secret"}, "row")
    b, _ = cipher.encrypt({"password": "hunter2-very-secret"}, "row")
    assert b"hunter2" not in a
    assert a != b
    assert "hunter2" not in repr(cipher)


def test_bound_to_its_row_and_key() -> None:
    cipher = CredentialCipher(KEY)
    blob, kid = cipher.encrypt({"password": "x"}, "row-1")
    with pytest.raises(CredentialError):
        cipher.decrypt(blob, kid, "row-2")
    with pytest.raises(CredentialError, match="encrypted under key"):
        CredentialCipher(OTHER).decrypt(blob, kid, "row-1")
    with pytest.raises(CredentialError):  # same id claimed, wrong key material
        CredentialCipher(OTHER).decrypt(blob, key_id(OTHER), "row-1")
    tampered = bytearray(blob)
    tampered[15] ^= 1
    with pytest.raises(CredentialError):
        cipher.decrypt(bytes(tampered), kid, "row-1")


def test_parse_key() -> None:
    assert parse_key(KEY.hex()) == KEY
    with pytest.raises(ValueError):
        parse_key("abcd")
    with pytest.raises(ValueError):
        CredentialCipher(b"short")
