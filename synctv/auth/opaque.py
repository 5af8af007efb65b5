"""OPAQUE-3DH (RFC 9807), sans-IO: both roles, bytes in, bytes out.

Suite: ristretto255-SHA512 OPRF (RFC 9497), ristretto255 3DH with SHA-512, HKDF-SHA512 and
HMAC-SHA512, and Argon2id as the client's key stretching function. Messages are byte-for-byte the
opaque-ke wire format (3.x and 4.x agree on it; it is RFC 9807's), which is what the browser
library ``@serenity-kit/opaque`` sends; the server setup is the opaque-ke 4.x ``ServerSetup`` that
its ``createServerSetup()`` produces: OPRF seed (64) || server private key (32) || fake-record
public key (32).

Theory of operation. The server keeps, per user, the 192-byte registration record the client
uploads (client public key, masking key, envelope); it never sees a password or anything derived
from one without the OPRF key. A login is ``server_login_start`` (KE1 → KE2 plus a
:class:`ServerLoginState` the caller keeps server-side) and ``server_login_finish`` (KE3 → the
session key, or :class:`InvalidCredentials`). An unknown user gets a fake record derived from the
setup's secret seed and the identifier, run through the very same code, so the response has the
same size and is stable for that name. Nothing here reads a clock, a socket or the environment;
randomness comes from a ``random_bytes`` callable (``os.urandom`` by default) so test vectors can
fix it. The order in which each function draws random bytes is part of its contract (tests replay
the RFC vectors through it).

Why pysodium for ristretto255: it wraps the system libsodium (Debian's ``libsodium23``, which gets
security updates) with plain ctypes, exposes every ``crypto_core_ristretto255_*`` and
``crypto_scalarmult_ristretto255*`` function including ``from_hash`` and ``scalar_reduce``, and is
released regularly by the author of libopaque. rbcl ships a libsodium build hex-encoded inside a
Python module that it writes to a temporary file and loads on every import (breaks on ``noexec``
/tmp, never patched by the OS), pulls in a bytecode-rewriting decorator package and is released
less often. libsodium's ``crypto_pwhash`` cannot be used for the KSF: it fixes Argon2id's
parallelism to 1, and the browser library uses 4 lanes, so Argon2id comes from argon2-cffi.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import pysodium
from argon2.low_level import Type as _Argon2Type
from argon2.low_level import hash_secret_raw as _argon2_raw

RandomBytes = Callable[[int], bytes]
Ksf = Callable[[bytes], bytes]
"""A key stretching function: 64 bytes of OPRF output in, 64 stretched bytes out."""

NONCE_LEN: Final = 32
ELEMENT_LEN: Final = 32  # ristretto255 point (OPRF element and 3DH public key alike)
SCALAR_LEN: Final = 32
HASH_LEN: Final = 64  # SHA-512: Nh = Nm = Nx
SEED_LEN: Final = 32
ENVELOPE_LEN: Final = NONCE_LEN + HASH_LEN

REGISTRATION_REQUEST_LEN: Final = ELEMENT_LEN
REGISTRATION_RESPONSE_LEN: Final = ELEMENT_LEN * 2
REGISTRATION_RECORD_LEN: Final = ELEMENT_LEN + HASH_LEN + ENVELOPE_LEN
CREDENTIAL_REQUEST_LEN: Final = ELEMENT_LEN + NONCE_LEN + ELEMENT_LEN  # KE1
_MASKED_RESPONSE_LEN: Final = ELEMENT_LEN + ENVELOPE_LEN
CREDENTIAL_RESPONSE_LEN: Final = (  # KE2
    ELEMENT_LEN + NONCE_LEN + _MASKED_RESPONSE_LEN + NONCE_LEN + ELEMENT_LEN + HASH_LEN
)
CREDENTIAL_FINALIZATION_LEN: Final = HASH_LEN  # KE3
SERVER_SETUP_LEN: Final = HASH_LEN + SCALAR_LEN + ELEMENT_LEN
SERVER_LOGIN_STATE_LEN: Final = HASH_LEN * 2

# Argon2id as @serenity-kit/opaque runs it by default ("memory-constrained", RFC 9106 §4 second
# recommendation): t=3, m=64 MiB, p=4, a 16-byte zero salt, output as long as the input (64).
ARGON2ID_ITERATIONS: Final = 3
ARGON2ID_MEMORY_KIB: Final = 1 << 16
ARGON2ID_PARALLELISM: Final = 4
_ARGON2ID_SALT: Final = bytes(16)

_L: Final = 2**252 + 27742317777372353535851937790883648493  # order of the ristretto255 group
_IDENTITY: Final = bytes(ELEMENT_LEN)
_OPRF_CONTEXT: Final = b"OPRFV1-\x00-ristretto255-SHA512"
_OPAQUE_CONTEXT: Final = b"OPAQUEv1-"
_FAKE_MASKING_KEY_INFO: Final = b"SyncTV-FakeMaskingKey"  # a suffix, like RFC 9807's "OprfKey"
_FINGERPRINT_DOMAIN: Final = b"SyncTV OPAQUE server setup fingerprint v1\x00"


class OpaqueError(Exception):
    """Base of every error this module raises. ``code`` is stable (the API layer maps it onto the
    error catalogue); messages name fields and lengths only, never key material."""

    code = "opaque_error"


class MalformedMessage(OpaqueError):
    """The peer's bytes are not a well-formed message of the expected kind."""

    code = "opaque_malformed_message"


class InvalidCredentials(OpaqueError):
    """Wrong password, unknown user, or a peer that is not who it claims: never told apart."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("invalid credentials")


class InvalidServerSetup(OpaqueError):
    """The configured server setup is not an opaque-ke ServerSetup for this suite."""

    code = "opaque_invalid_server_setup"


# -- primitives ----------------------------------------------------------------------------


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def _prefixed(data: bytes, what: str) -> bytes:
    """``I2OSP(len, 2) || data``, the encoding of identities and the context."""
    if len(data) > 0xFFFF:
        raise OpaqueError(f"{what} is longer than 65535 bytes")
    return _i2osp(len(data), 2) + data


def _hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(HASH_LEN), ikm, "sha512")


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), "sha512")
        out += block
        counter += 1
    return out[:length]


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha512")


def _expand_message_xmd(message: bytes, dst: bytes) -> bytes:
    """RFC 9380 expand_message_xmd with SHA-512 for 64 bytes (one block, so ell = 1)."""
    dst_prime = dst + _i2osp(len(dst), 1)
    b0 = hashlib.sha512(bytes(128) + message + _i2osp(HASH_LEN, 2) + b"\x00" + dst_prime).digest()
    return hashlib.sha512(b0 + b"\x01" + dst_prime).digest()


def _hash_to_group(message: bytes) -> bytes:
    uniform = _expand_message_xmd(message, b"HashToGroup-" + _OPRF_CONTEXT)
    return bytes(pysodium.crypto_core_ristretto255_from_hash(uniform))


def _hash_to_scalar(message: bytes, dst: bytes) -> bytes:
    return bytes(pysodium.crypto_core_ristretto255_scalar_reduce(_expand_message_xmd(message, dst)))


def _scalarmult(scalar: bytes, element: bytes) -> bytes:
    try:
        return bytes(pysodium.crypto_scalarmult_ristretto255(scalar, element))
    except ValueError:  # libsodium refuses an identity result: only a bad peer element gets here
        raise MalformedMessage("a group element is invalid") from None


def _scalarmult_base(scalar: bytes) -> bytes:
    return bytes(pysodium.crypto_scalarmult_ristretto255_base(scalar))


def _is_canonical_nonzero_scalar(scalar: bytes) -> bool:
    return 0 < int.from_bytes(scalar, "little") < _L


def _random_scalar(random_bytes: RandomBytes) -> bytes:
    """A uniform nonzero scalar from 64 random bytes reduced mod L (libsodium's own method)."""
    while True:
        scalar = bytes(pysodium.crypto_core_ristretto255_scalar_reduce(random_bytes(64)))
        if scalar != bytes(SCALAR_LEN):
            return scalar


def _derive_scalar(seed: bytes, info: bytes) -> bytes:
    """The private half of RFC 9497 DeriveKeyPair (mode OPRF)."""
    derive_input = seed + _i2osp(len(info), 2) + info
    for counter in range(256):
        scalar = _hash_to_scalar(
            derive_input + _i2osp(counter, 1), b"DeriveKeyPair" + _OPRF_CONTEXT
        )
        if scalar != bytes(SCALAR_LEN):
            return scalar
    raise OpaqueError("key derivation failed")  # probability 2^-2000: unreachable in practice


def _derive_dh_key_pair(seed: bytes) -> tuple[bytes, bytes]:
    scalar = _derive_scalar(seed, b"OPAQUE-DeriveDiffieHellmanKeyPair")
    return scalar, _scalarmult_base(scalar)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _oprf_finalize(password: bytes, blind: bytes, evaluated: bytes) -> bytes:
    unblinded = _scalarmult(
        bytes(pysodium.crypto_core_ristretto255_scalar_invert(blind)), evaluated
    )
    return hashlib.sha512(
        _prefixed(password, "password") + _i2osp(ELEMENT_LEN, 2) + unblinded + b"Finalize"
    ).digest()


def _blind(password: bytes, random_bytes: RandomBytes) -> tuple[bytes, bytes]:
    """(blind scalar, blinded element); draws 64 random bytes (more only on a zero scalar)."""
    _prefixed(password, "password")  # refuse an unencodable password before any work
    element = _hash_to_group(password)
    if element == _IDENTITY:  # RFC 9497 InvalidInputError; needs a SHA-512 preimage
        raise OpaqueError("password maps to the identity element")
    blind = _random_scalar(random_bytes)
    return blind, _scalarmult(blind, element)


# -- parsing -------------------------------------------------------------------------------


class _Reader:
    """Splits a message of one exact length into fields; every failure is MalformedMessage."""

    def __init__(self, data: bytes, length: int, what: str) -> None:
        if len(data) != length:
            raise MalformedMessage(f"{what} must be {length} bytes, got {len(data)}")
        self._data, self._at, self._what = data, 0, what

    def take(self, length: int) -> bytes:
        field = self._data[self._at : self._at + length]
        self._at += length
        return field

    def element(self, name: str) -> bytes:
        element = self.take(ELEMENT_LEN)
        if element == _IDENTITY or not pysodium.crypto_core_ristretto255_is_valid_point(element):
            raise MalformedMessage(f"{self._what}: {name} is not a valid ristretto255 element")
        return element


# -- server setup --------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ServerSetup:
    """The server's long-lived secret: OPRF seed, static key pair, fake-record public key."""

    oprf_seed: bytes
    private_key: bytes
    public_key: bytes
    fake_client_public_key: bytes

    @classmethod
    def generate(cls, random_bytes: RandomBytes = os.urandom) -> ServerSetup:
        oprf_seed = random_bytes(HASH_LEN)
        private_key = _random_scalar(random_bytes)
        fake_client_public_key = _scalarmult_base(_random_scalar(random_bytes))
        return cls(oprf_seed, private_key, _scalarmult_base(private_key), fake_client_public_key)

    @classmethod
    def from_bytes(cls, data: bytes) -> ServerSetup:
        """Parse opaque-ke 4.x ``ServerSetup::serialize()`` bytes (serenity-kit's setup)."""
        try:
            reader = _Reader(data, SERVER_SETUP_LEN, "server setup")
            oprf_seed, private_key = reader.take(HASH_LEN), reader.take(SCALAR_LEN)
            fake_client_public_key = reader.element("fake-record public key")
        except MalformedMessage as exc:
            raise InvalidServerSetup(str(exc)) from None
        if not _is_canonical_nonzero_scalar(private_key):
            raise InvalidServerSetup("server setup: the private key is not a canonical scalar")
        return cls(oprf_seed, private_key, _scalarmult_base(private_key), fake_client_public_key)

    def to_bytes(self) -> bytes:
        return self.oprf_seed + self.private_key + self.fake_client_public_key

    def fingerprint(self) -> str:
        """A one-way digest to store beside user records: a changed setup is then detected."""
        return hashlib.sha256(_FINGERPRINT_DOMAIN + self.to_bytes()).hexdigest()

    def __repr__(self) -> str:  # the secret never reaches a log through repr
        return f"ServerSetup(fingerprint={self.fingerprint()[:16]}…)"

    def _oprf_key(self, credential_identifier: bytes) -> bytes:
        seed = _hkdf_expand(self.oprf_seed, credential_identifier + b"OprfKey", SCALAR_LEN)
        return _derive_scalar(seed, b"OPAQUE-DeriveKeyPair")  # its public half is never used

    def _fake_record(self, credential_identifier: bytes) -> bytes:
        masking_key = _hkdf_expand(
            self.oprf_seed, credential_identifier + _FAKE_MASKING_KEY_INFO, HASH_LEN
        )
        return self.fake_client_public_key + masking_key + bytes(ENVELOPE_LEN)


# -- registration --------------------------------------------------------------------------


def server_registration_response(
    setup: ServerSetup, registration_request: bytes, credential_identifier: bytes
) -> bytes:
    """RegistrationRequest → RegistrationResponse (evaluated element || server public key)."""
    blinded = _Reader(registration_request, REGISTRATION_REQUEST_LEN, "registration request")
    evaluated = _scalarmult(setup._oprf_key(credential_identifier), blinded.element("blinded"))
    return evaluated + setup.public_key


def server_registration_record(registration_upload: bytes) -> bytes:
    """Validate a RegistrationUpload; the same bytes are the record to store for the user."""
    reader = _Reader(registration_upload, REGISTRATION_RECORD_LEN, "registration upload")
    reader.element("client public key")
    return registration_upload


@dataclass(frozen=True, repr=False)
class Identities:
    """Optional identities bound into the envelope and the transcript (default: public keys)."""

    client: bytes | None = None
    server: bytes | None = None


_NO_IDENTITIES: Final = Identities()


def _cleartext_credentials(
    server_public_key: bytes, client_public_key: bytes, identities: Identities
) -> tuple[bytes, bytes, bytes]:
    """(encoded credentials, client identity, server identity) as RFC 9807 §4.1.2 defines."""
    server_identity = identities.server if identities.server is not None else server_public_key
    client_identity = identities.client if identities.client is not None else client_public_key
    encoded = (
        server_public_key
        + _prefixed(server_identity, "server identity")
        + _prefixed(client_identity, "client identity")
    )
    return encoded, client_identity, server_identity


@dataclass(frozen=True, repr=False)
class ClientRegistrationState:
    password: bytes
    blind: bytes
    blinded: bytes


@dataclass(frozen=True, repr=False)
class ClientRegistrationResult:
    registration_upload: bytes
    export_key: bytes
    server_public_key: bytes


def client_registration_start(
    password: bytes, *, random_bytes: RandomBytes = os.urandom
) -> tuple[bytes, ClientRegistrationState]:
    """Password → (RegistrationRequest, state). Draws the blind (64 bytes)."""
    blind, blinded = _blind(password, random_bytes)
    return blinded, ClientRegistrationState(password, blind, blinded)


def _randomized_password(password: bytes, blind: bytes, evaluated: bytes, ksf: Ksf) -> bytes:
    oprf_output = _oprf_finalize(password, blind, evaluated)
    return _hkdf_extract(b"", oprf_output + ksf(oprf_output))


def client_registration_finish(
    state: ClientRegistrationState,
    registration_response: bytes,
    *,
    ksf: Ksf | None = None,
    identities: Identities = _NO_IDENTITIES,
    random_bytes: RandomBytes = os.urandom,
) -> ClientRegistrationResult:
    """RegistrationResponse → RegistrationUpload. Draws the envelope nonce (32 bytes)."""
    reader = _Reader(registration_response, REGISTRATION_RESPONSE_LEN, "registration response")
    evaluated, server_public_key = reader.element("evaluated"), reader.element("server key")
    if hmac.compare_digest(evaluated, state.blinded):  # a server reflecting our element
        raise MalformedMessage("registration response reflects the request")
    randomized = _randomized_password(state.password, state.blind, evaluated, ksf or argon2id_ksf)
    nonce = random_bytes(NONCE_LEN)
    masking_key = _hkdf_expand(randomized, b"MaskingKey", HASH_LEN)
    auth_key, export_key, client_public_key = _envelope_keys(randomized, nonce)
    credentials, _, _ = _cleartext_credentials(server_public_key, client_public_key, identities)
    auth_tag = _mac(auth_key, nonce + credentials)
    upload = client_public_key + masking_key + nonce + auth_tag
    return ClientRegistrationResult(upload, export_key, server_public_key)


def _envelope_keys(randomized: bytes, nonce: bytes) -> tuple[bytes, bytes, bytes]:
    """(auth key, export key, client public key) for an envelope nonce (RFC 9807 §4.1.3)."""
    auth_key = _hkdf_expand(randomized, nonce + b"AuthKey", HASH_LEN)
    export_key = _hkdf_expand(randomized, nonce + b"ExportKey", HASH_LEN)
    seed = _hkdf_expand(randomized, nonce + b"PrivateKey", SEED_LEN)
    return auth_key, export_key, _derive_dh_key_pair(seed)[1]


# -- login: 3DH ----------------------------------------------------------------------------


def _expand_label(secret: bytes, label: bytes, context: bytes) -> bytes:
    full_label = b"OPAQUE-" + label
    info = (
        _i2osp(HASH_LEN, 2)
        + _i2osp(len(full_label), 1)
        + full_label
        + _i2osp(len(context), 1)
        + context
    )
    return _hkdf_expand(secret, info, HASH_LEN)


def _derive_keys(ikm: bytes, preamble: bytes) -> tuple[bytes, bytes, bytes]:
    """(server MAC key, client MAC key, session key) from the 3DH secrets and the preamble."""
    prk = _hkdf_extract(b"", ikm)
    transcript = hashlib.sha512(preamble).digest()
    handshake_secret = _expand_label(prk, b"HandshakeSecret", transcript)
    session_key = _expand_label(prk, b"SessionKey", transcript)
    return (
        _expand_label(handshake_secret, b"ServerMAC", b""),
        _expand_label(handshake_secret, b"ClientMAC", b""),
        session_key,
    )


def _preamble(
    context: bytes,
    client_identity: bytes,
    ke1: bytes,
    server_identity: bytes,
    credential_response: bytes,
    server_nonce: bytes,
    server_keyshare: bytes,
) -> bytes:
    return b"".join(
        (
            _OPAQUE_CONTEXT,
            _prefixed(context, "context"),
            _prefixed(client_identity, "client identity"),
            ke1,
            _prefixed(server_identity, "server identity"),
            credential_response,
            server_nonce,
            server_keyshare,
        )
    )


@dataclass(frozen=True, repr=False)
class ServerLoginState:
    """What the server keeps between KE2 and KE3 (opaque-ke's Ke2State layout)."""

    session_key: bytes
    expected_client_mac: bytes

    def to_bytes(self) -> bytes:
        return self.session_key + self.expected_client_mac

    @classmethod
    def from_bytes(cls, data: bytes) -> ServerLoginState:
        reader = _Reader(data, SERVER_LOGIN_STATE_LEN, "server login state")
        return cls(reader.take(HASH_LEN), reader.take(HASH_LEN))


def server_login_start(
    setup: ServerSetup,
    record: bytes | None,
    credential_request: bytes,
    credential_identifier: bytes,
    *,
    context: bytes = b"",
    identities: Identities = _NO_IDENTITIES,
    random_bytes: RandomBytes = os.urandom,
) -> tuple[bytes, ServerLoginState]:
    """KE1 → (KE2, state). ``record`` None (unknown user) takes the fake record, same path.

    Draws the masking nonce, the server nonce and the key-share seed (32 bytes each, in order).
    """
    reader = _Reader(credential_request, CREDENTIAL_REQUEST_LEN, "credential request")
    blinded = reader.element("blinded")
    reader.take(NONCE_LEN)  # the client nonce enters the transcript only, as part of KE1
    client_keyshare = reader.element("client key share")
    fake = setup._fake_record(credential_identifier)
    stored = _Reader(fake if record is None else record, REGISTRATION_RECORD_LEN, "record")
    client_public_key, masking_key = stored.element("client key"), stored.take(HASH_LEN)
    envelope = stored.take(ENVELOPE_LEN)

    evaluated = _scalarmult(setup._oprf_key(credential_identifier), blinded)
    masking_nonce = random_bytes(NONCE_LEN)
    pad = _hkdf_expand(masking_key, masking_nonce + b"CredentialResponsePad", _MASKED_RESPONSE_LEN)
    masked = _xor(pad, setup.public_key + envelope)
    credential_response = evaluated + masking_nonce + masked

    server_nonce = random_bytes(NONCE_LEN)
    server_secret, server_keyshare = _derive_dh_key_pair(random_bytes(SEED_LEN))
    _, client_identity, server_identity = _cleartext_credentials(
        setup.public_key, client_public_key, identities
    )
    preamble = _preamble(
        context,
        client_identity,
        credential_request,
        server_identity,
        credential_response,
        server_nonce,
        server_keyshare,
    )
    ikm = (
        _scalarmult(server_secret, client_keyshare)
        + _scalarmult(setup.private_key, client_keyshare)
        + _scalarmult(server_secret, client_public_key)
    )
    server_mac_key, client_mac_key, session_key = _derive_keys(ikm, preamble)
    server_mac = _mac(server_mac_key, hashlib.sha512(preamble).digest())
    expected = _mac(client_mac_key, hashlib.sha512(preamble + server_mac).digest())
    ke2 = credential_response + server_nonce + server_keyshare + server_mac
    return ke2, ServerLoginState(session_key, expected)


def server_login_finish(state: ServerLoginState, credential_finalization: bytes) -> bytes:
    """KE3 → session key; a wrong MAC (wrong password, unknown user) is InvalidCredentials."""
    client_mac = _Reader(credential_finalization, CREDENTIAL_FINALIZATION_LEN, "KE3").take(HASH_LEN)
    if not hmac.compare_digest(client_mac, state.expected_client_mac):
        raise InvalidCredentials
    return state.session_key


@dataclass(frozen=True, repr=False)
class ClientLoginState:
    password: bytes
    blind: bytes
    client_secret: bytes
    ke1: bytes


@dataclass(frozen=True, repr=False)
class ClientLoginResult:
    credential_finalization: bytes
    session_key: bytes
    export_key: bytes
    server_public_key: bytes


def client_login_start(
    password: bytes, *, random_bytes: RandomBytes = os.urandom
) -> tuple[bytes, ClientLoginState]:
    """Password → (KE1, state). Draws the blind (64), the client nonce, the key-share seed."""
    blind, blinded = _blind(password, random_bytes)
    client_nonce = random_bytes(NONCE_LEN)
    client_secret, client_keyshare = _derive_dh_key_pair(random_bytes(SEED_LEN))
    ke1 = blinded + client_nonce + client_keyshare
    return ke1, ClientLoginState(password, blind, client_secret, ke1)


def client_login_finish(
    state: ClientLoginState,
    credential_response: bytes,
    *,
    ksf: Ksf | None = None,
    context: bytes = b"",
    identities: Identities = _NO_IDENTITIES,
) -> ClientLoginResult:
    """KE2 → KE3 and the session key; a wrong password or a fake record: InvalidCredentials."""
    reader = _Reader(credential_response, CREDENTIAL_RESPONSE_LEN, "credential response")
    evaluated, masking_nonce = reader.element("evaluated"), reader.take(NONCE_LEN)
    masked, server_nonce = reader.take(_MASKED_RESPONSE_LEN), reader.take(NONCE_LEN)
    server_keyshare, server_mac = reader.element("server key share"), reader.take(HASH_LEN)

    randomized = _randomized_password(state.password, state.blind, evaluated, ksf or argon2id_ksf)
    masking_key = _hkdf_expand(randomized, b"MaskingKey", HASH_LEN)
    pad = _hkdf_expand(masking_key, masking_nonce + b"CredentialResponsePad", _MASKED_RESPONSE_LEN)
    unmasked = _xor(pad, masked)
    server_public_key, nonce = unmasked[:ELEMENT_LEN], unmasked[ELEMENT_LEN : ELEMENT_LEN + 32]
    auth_key, export_key, client_public_key = _envelope_keys(randomized, nonce)
    credentials, client_identity, server_identity = _cleartext_credentials(
        server_public_key, client_public_key, identities
    )
    if not hmac.compare_digest(_mac(auth_key, nonce + credentials), unmasked[ELEMENT_LEN + 32 :]):
        raise InvalidCredentials
    client_private_key = _derive_dh_key_pair(
        _hkdf_expand(randomized, nonce + b"PrivateKey", SEED_LEN)
    )[0]

    preamble = _preamble(
        context,
        client_identity,
        state.ke1,
        server_identity,
        credential_response[: ELEMENT_LEN + NONCE_LEN + _MASKED_RESPONSE_LEN],
        server_nonce,
        server_keyshare,
    )
    try:  # the server key came out of a verified envelope, yet check it like any element
        ikm = (
            _scalarmult(state.client_secret, server_keyshare)
            + _scalarmult(state.client_secret, server_public_key)
            + _scalarmult(client_private_key, server_keyshare)
        )
    except MalformedMessage:
        raise InvalidCredentials from None
    server_mac_key, client_mac_key, session_key = _derive_keys(ikm, preamble)
    if not hmac.compare_digest(_mac(server_mac_key, hashlib.sha512(preamble).digest()), server_mac):
        raise InvalidCredentials
    client_mac = _mac(client_mac_key, hashlib.sha512(preamble + server_mac).digest())
    return ClientLoginResult(client_mac, session_key, export_key, server_public_key)


# -- key stretching ------------------------------------------------------------------------


def identity_ksf(oprf_output: bytes) -> bytes:
    """RFC 9807's Identity KSF: for its test vectors only, never for real passwords."""
    return oprf_output


def argon2id_ksf(oprf_output: bytes) -> bytes:
    """Argon2id with @serenity-kit/opaque's default parameters (see ARGON2ID_*)."""
    return _argon2_raw(
        secret=oprf_output,
        salt=_ARGON2ID_SALT,
        time_cost=ARGON2ID_ITERATIONS,
        memory_cost=ARGON2ID_MEMORY_KIB,
        parallelism=ARGON2ID_PARALLELISM,
        hash_len=len(oprf_output),
        type=_Argon2Type.ID,
        version=19,
    )
