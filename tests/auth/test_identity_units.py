"""The pure parts of identity: the sign-in key of a name, tokens, the base64 the API accepts, the setup seed;
and the stored OPAQUE setup fingerprint on a real database."""

from __future__ import annotations

import base64

import jwt
import opaque_ke_py as rust
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.api.http.routes.auth import decode_message
from synctv.auth import opaque
from synctv.auth.identity import (
    TICKET_TTL_SECONDS,
    Client,
    IdentityService,
    ServerSetupChanged,
    Ticket,
    login_key,
)
from synctv.auth.server_setup import server_setup_from_seed
from synctv.auth.tokens import TokenIssuer
from synctv.auth.usernames import InvalidUsername, parse_username
from synctv.errors import DomainError
from synctv.state import MemoryState
from synctv.state.limits import LimitBook, RateLimits
from synctv.store.audit import AuditLog
from synctv.store.db import Database
from synctv.store.sessions import SessionStore
from synctv.store.users import UserStore

# -- the name typed at sign-in -------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Alice", "ALICE", "ＡＬＩＣＥ", "alice"])
def test_any_case_or_width_signs_in_to_the_account(typed: str) -> None:
    assert login_key(typed) == parse_username("Alice").key == "alice"


@given(st.text(max_size=40))
def test_the_sign_in_key_of_a_valid_name_is_its_uniqueness_key(text: str) -> None:
    try:
        parsed = parse_username(text)
    except InvalidUsername:
        login_key(text)  # an invalid name still has a key (it matches no account)
        return
    assert login_key(text) == parsed.key
    assert login_key(parsed.display) == parsed.key


# -- tokens --------------------------------------------------------------------------------------


UNSIGNED_ROOT = {
    "sub": "u", "role": "root", "sid": "s", "pv": 1, "typ": "access", "iat": 0, "exp": 2**40,
    "jti": "j",
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_tokens_round_trip_expire_and_refuse_forgeries() -> None:
    clock = Clock()
    issuer = TokenIssuer(b"k" * 32, clock)
    pair = issuer.issue("user-id-0123456789", "admin", "session-0123456789", 3, "jti-1")
    access = issuer.check(pair.access_token, "access")
    assert (access.user_id, access.role, access.session_id) == (
        "user-id-0123456789",
        "admin",
        "session-0123456789",
    )
    assert access.password_version == 3
    assert issuer.check(pair.refresh_token, "refresh").jti == "jti-1"
    with pytest.raises(DomainError) as wrong_type:
        issuer.check(pair.refresh_token, "access")
    assert wrong_type.value.error == "authentication_required"

    clock.now += 3600
    with pytest.raises(DomainError) as expired:
        issuer.check(pair.access_token, "access")
    assert expired.value.error == "token_expired"
    assert issuer.check(pair.refresh_token, "refresh").jti == "jti-1"  # 30 days

    forgeries = [
        TokenIssuer(b"x" * 32, clock).issue("u", "root", "s", 1, "j").access_token,
        jwt.encode(UNSIGNED_ROOT, None, algorithm="none"),
        pair.access_token[:-2] + ("AA" if pair.access_token[-2:] != "AA" else "BB"),
        "not a token",
        jwt.encode({"sub": "u", "typ": "access", "exp": 2**40}, b"k" * 32, algorithm="HS256"),
    ]
    for token in forgeries:
        with pytest.raises(DomainError) as refused:
            issuer.check(token, "access")
        assert refused.value.error == "authentication_required"


# -- base64 as the API accepts it ---------------------------------------------------------------


@given(st.binary(max_size=400))
def test_messages_decode_in_every_accepted_spelling(data: bytes) -> None:
    standard = base64.b64encode(data).decode()
    url_safe = base64.urlsafe_b64encode(data).decode()
    for text in (standard, standard.rstrip("="), url_safe, url_safe.rstrip("=")):
        if text:
            assert decode_message(text, "m") == data


@given(st.text(max_size=64))
def test_bad_base64_is_a_clear_refusal(text: str) -> None:
    try:
        decode_message(text, "m")
    except DomainError as exc:
        refused = exc.error
    else:
        return
    assert refused == "opaque_message_invalid"


# -- the server setup ----------------------------------------------------------------------------


def test_setup_from_seed_is_stable_and_an_opaque_ke_setup() -> None:
    seed = bytes(range(64))
    setup = server_setup_from_seed(seed)
    assert server_setup_from_seed(seed).to_bytes() == setup.to_bytes()
    assert server_setup_from_seed(bytes(64)).fingerprint() != setup.fingerprint()
    assert rust.ServerSetupData.from_bytes(setup.to_bytes()).to_bytes() == setup.to_bytes()
    with pytest.raises(ValueError, match="64 bytes"):
        server_setup_from_seed(bytes(32))


def service(database: Database, seed: bytes, state: MemoryState | None = None) -> IdentityService:
    state = state or MemoryState()
    return IdentityService(
        users=UserStore(database),
        sessions=SessionStore(database),
        audit=AuditLog(database),
        state=state,
        limits=RateLimits(state, LimitBook()),
        tokens=TokenIssuer(b"k" * 32, Clock()),
        setup=server_setup_from_seed(seed),
        signup_enabled=lambda: True,
        signup_needs_review=lambda: False,
    )


async def test_a_changed_setup_is_refused_once_passwords_exist(database: Database) -> None:
    first = service(database, bytes(64))
    await first.check_server_setup()
    # No passwords stored yet: a new setup simply replaces the fingerprint.
    second = service(database, b"\x01" * 64)
    await second.check_server_setup()
    request, state = opaque.client_registration_start(b"pw")
    handshake, response = await second.registration_start("henry", request, Client(None))
    upload = opaque.client_registration_finish(state, response, ksf=opaque.identity_ksf)
    await second.registration_finish(handshake, upload.registration_upload, Client(None))
    await second.check_server_setup()  # the same one again: fine

    with pytest.raises(ServerSetupChanged, match=r"security\.opaque_server_setup"):
        await first.check_server_setup()


def test_tokens_are_what_pyjwt_signs_and_the_secret_is_checked_as_pyjwt_does() -> None:
    """The issuer signs with PyJWS and a secret checked once (not per token): the tokens are
    the very strings ``jwt.encode`` makes, and a secret PyJWT refuses is refused up front."""
    secret = b"k" * 32
    issuer = TokenIssuer(secret, Clock())
    pair = issuer.issue("user-id-0123456789", "user", "session-0123456789", 2, "jti-2")
    guest, _ = issuer.issue_guest("guest-0123", "room-0123")
    for token in (pair.access_token, pair.refresh_token, guest):
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"verify_exp": False})
        assert jwt.encode(claims, secret, algorithm="HS256") == token
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    pem = (
        b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA" + b"A" * 43 + b"=\n-----END PUBLIC KEY-----"
    )
    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"sub": "u"}, pem, algorithm="HS256")
    with pytest.raises(jwt.InvalidKeyError):
        TokenIssuer(pem, Clock())


def test_guest_tokens_are_bound_to_a_room_and_expire() -> None:
    clock = Clock()
    issuer = TokenIssuer(b"k" * 32, clock)
    token, expires_at = issuer.issue_guest("guest-abc", "room-0123456789abcdef")
    assert expires_at == int(clock.now) + 4 * 3600
    claims = issuer.check(token, "access", "guest")
    assert (claims.type, claims.role, claims.room_id) == ("guest", "guest", "room-0123456789abcdef")
    with pytest.raises(DomainError) as refused:
        issuer.check(token, "access")  # where only an account will do
    assert refused.value.error == "authentication_required"
    clock.now += 4 * 3600
    with pytest.raises(DomainError) as expired:
        issuer.check(token, "guest")
    assert expired.value.error == "token_expired"


async def test_a_ticket_is_taken_once_and_expires(database: Database) -> None:
    now = [0.0]
    identity = service(database, bytes(64), MemoryState(clock=lambda: now[0]))
    holder = Ticket("guest-1", "guest", "", "room-1")
    ticket = await identity.issue_ticket(holder)
    assert await identity.take_ticket(ticket) == holder
    with pytest.raises(DomainError, match="used or expired"):
        await identity.take_ticket(ticket)
    late = await identity.issue_ticket(holder)
    now[0] += TICKET_TTL_SECONDS + 1
    with pytest.raises(DomainError, match="used or expired"):
        await identity.take_ticket(late)
    with pytest.raises(DomainError):
        await identity.take_ticket("x" * 65)
