"""RFC 9807 Appendix C vectors (ristretto255 OPRF and group, Identity KSF) through our code.

The fixture's provenance is in tests/fixtures/README.md. Each function draws its randomness from
a scripted source in the order its docstring states, so the vectors' nonces, seeds and blinds
replay exactly; the blinds are scalars, fed as 64 bytes that reduce to themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synctv.auth import opaque

_FIXTURE = Path(__file__).parent.parent / "fixtures" / "opaque" / "rfc9807_ristretto255.json"
VECTORS = json.loads(_FIXTURE.read_text())["vectors"]
REAL = [v for v in VECTORS if "Real" in v["title"]]
FAKE = [v for v in VECTORS if "Fake" in v["title"]]


class Scripted:
    """random_bytes that hands out the given chunks in order and fails on any surprise."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def __call__(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk

    def done(self) -> None:
        assert self.chunks == []


def h(vector: dict[str, str], name: str) -> bytes:
    return bytes.fromhex(vector[name])


def identities(vector: dict[str, str]) -> opaque.Identities:
    client, server = vector.get("client_identity"), vector.get("server_identity")
    return opaque.Identities(
        client=bytes.fromhex(client) if client else None,
        server=bytes.fromhex(server) if server else None,
    )


def setup_of(vector: dict[str, str]) -> opaque.ServerSetup:
    fake_pk = opaque._scalarmult_base(bytes(31) + b"\x01")  # unused by real records
    return opaque.ServerSetup(
        h(vector, "oprf_seed"),
        h(vector, "server_private_key"),
        h(vector, "server_public_key"),
        fake_pk,
    )


@pytest.mark.parametrize("vector", REAL, ids=lambda v: v["section"])
def test_registration_matches_the_rfc(vector: dict[str, str]) -> None:
    rng = Scripted(h(vector, "blind_registration") + bytes(32))
    request, state = opaque.client_registration_start(h(vector, "password"), random_bytes=rng)
    assert request == h(vector, "registration_request")

    setup = setup_of(vector)
    assert setup._oprf_key(h(vector, "credential_identifier")) == h(vector, "oprf_key")
    response = opaque.server_registration_response(
        setup, request, h(vector, "credential_identifier")
    )
    assert response == h(vector, "registration_response")

    rng = Scripted(h(vector, "envelope_nonce"))
    result = opaque.client_registration_finish(
        state, response, ksf=opaque.identity_ksf, identities=identities(vector), random_bytes=rng
    )
    rng.done()
    assert result.registration_upload == h(vector, "registration_upload")
    assert result.export_key == h(vector, "export_key")
    assert opaque.server_registration_record(result.registration_upload) == h(
        vector, "registration_upload"
    )


@pytest.mark.parametrize("vector", REAL, ids=lambda v: v["section"])
def test_login_matches_the_rfc(vector: dict[str, str]) -> None:
    context = h(vector, "Context")
    rng = Scripted(
        h(vector, "blind_login") + bytes(32),
        h(vector, "client_nonce"),
        h(vector, "client_keyshare_seed"),
    )
    ke1, client_state = opaque.client_login_start(h(vector, "password"), random_bytes=rng)
    rng.done()
    assert ke1 == h(vector, "KE1")

    rng = Scripted(
        h(vector, "masking_nonce"), h(vector, "server_nonce"), h(vector, "server_keyshare_seed")
    )
    ke2, server_state = opaque.server_login_start(
        setup_of(vector),
        h(vector, "registration_upload"),
        ke1,
        h(vector, "credential_identifier"),
        context=context,
        identities=identities(vector),
        random_bytes=rng,
    )
    rng.done()
    assert ke2 == h(vector, "KE2")

    result = opaque.client_login_finish(
        client_state, ke2, ksf=opaque.identity_ksf, context=context, identities=identities(vector)
    )
    assert result.credential_finalization == h(vector, "KE3")
    assert result.session_key == h(vector, "session_key")
    assert result.export_key == h(vector, "export_key")
    assert opaque.server_login_finish(server_state, result.credential_finalization) == h(
        vector, "session_key"
    )


@pytest.mark.parametrize("vector", FAKE, ids=lambda v: v["section"])
def test_fake_record_response_matches_the_rfc(vector: dict[str, str]) -> None:
    """The RFC's fake record (given client key and masking key, zero envelope) through the
    server's one code path gives the RFC's KE2."""
    record = h(vector, "client_public_key") + h(vector, "masking_key") + bytes(opaque.ENVELOPE_LEN)
    rng = Scripted(
        h(vector, "masking_nonce"), h(vector, "server_nonce"), h(vector, "server_keyshare_seed")
    )
    ke2, _ = opaque.server_login_start(
        setup_of(vector),
        record,
        h(vector, "KE1"),
        h(vector, "credential_identifier"),
        context=h(vector, "Context"),
        identities=identities(vector),
        random_bytes=rng,
    )
    assert ke2 == h(vector, "KE2")
