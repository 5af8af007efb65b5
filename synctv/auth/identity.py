"""Accounts and sign-in: OPAQUE registration and login, sessions, tokens, revocation.

Theory of operation. A registration or a login is two requests. The first (``*_start``) answers
the client's OPAQUE message and keeps what the second needs in the short-lived store under a
random ``sessionId`` (300 s, taken once), so the second request may reach another replica when
Redis is the store. Login of an unknown name runs the very same code with the setup's fake record
(:func:`synctv.auth.opaque.server_login_start` with no record): same response size, same
look-ups, and finish fails with the same ``invalid_credentials`` as a wrong password.

A successful login opens a login session (a row) and returns an access token (1 h) and a refresh
token (30 d) bound to it. Refresh rotates: the row keeps the jti of the one valid refresh token,
and presenting another one revokes the session (:mod:`synctv.store.sessions`). A revoked
session's id goes into the revocation set in the short-lived store, which every authenticated
request reads (no database read per request); the entry outlives the longest access token.

Rate limits and lock-out (:class:`~synctv.state.limits.RateLimits`) are checked before any
OPAQUE work; a failed finish counts against the account's lock-out. Login successes and failures,
registrations and revocations write audit rows.
"""

from __future__ import annotations

import json
import logging
import secrets
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from synctv import errors
from synctv.auth import opaque
from synctv.auth.tokens import Claims, TokenIssuer, TokenPair, new_jti
from synctv.auth.usernames import InvalidUsername, Username, parse_username
from synctv.errors import DomainError
from synctv.ids import public_id
from synctv.state import ShortLivedState, StateUnavailable
from synctv.state.limits import RateLimits
from synctv.store.audit import AuditActor, AuditEvent, AuditLog
from synctv.store.sessions import Rotation, SessionRow, SessionStore
from synctv.store.users import UsernameTaken, UserRow, UserStore, row_of

log = logging.getLogger("synctv.identity")
_T = TypeVar("_T")

# Between start and finish of a registration or login (RFC 9807 leaves it to the server; the
# issue fixes 300 s: long enough for a slow KSF on a phone, short enough to bound the store).
HANDSHAKE_TTL_SECONDS: Final = 300
# A revocation entry outlives every access token issued before it (plus clock slack).
REVOCATION_SLACK_SECONDS: Final = 60
_LOGIN_KEY = "auth:opaque:login:"
_REGISTRATION_KEY = "auth:opaque:registration:"
# Each flow keeps its handshakes under its own prefix: an id from one never finishes another.
_REGISTRATION_AS_KEY = "auth:opaque:registration-as:"
_PASSWORD_KEY = "auth:opaque:password:"
_REVOKED_KEY = "auth:revoked:session:"
_TICKET_KEY = "auth:ticket:"
# A WebSocket ticket: issued by POST /api/tickets, taken by the handshake within this.
TICKET_TTL_SECONDS: Final = 30
MAX_TICKET: Final = 64
# The longest sessionId we issue is 32 characters; anything longer is not ours.
MAX_HANDSHAKE_ID: Final = 64


CreateRoot = Callable[[str, str, str, str, bytes, AuditActor], Awaitable[UserRow | None]]


class ServerSetupChanged(Exception):
    """``security.opaque_server_setup`` differs from the one the stored passwords were made under."""


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request came from: for the session row, the audit row and the rate limits."""

    address: str | None
    user_agent: str = ""
    request_id: str | None = None

    def actor(self, who: str) -> AuditActor:
        return AuditActor(who, self.address, self.request_id)


@dataclass(frozen=True, slots=True)
class Ticket:
    """Who may open one room's channel: a user (with their session) or a guest."""

    user_id: str
    role: str
    session_id: str  # "" for guests
    room_id: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: UserRow
    tokens: TokenPair


@dataclass(frozen=True, slots=True)
class Registered:
    user: UserRow
    tokens: TokenPair | None  # None while the account waits for review


async def _stored(operation: Awaitable[_T]) -> _T:
    """A short-lived store operation; the store away is a 503 the client may retry, never a
    guess (no login state, no revocation check: no sign-in)."""
    try:
        return await operation
    except StateUnavailable:
        log.warning("short-lived store unavailable: identity requests refused")
        raise DomainError(
            errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again shortly"
        ) from None


def login_key(typed: str) -> str:
    """The uniqueness key of whatever name was typed at sign-in, without judging it: for a valid
    name it is :func:`~synctv.auth.usernames.parse_username`'s key; an invalid one matches no
    account and takes the unknown-user path like any other name. It is also the OPAQUE
    credential identifier, so any case or width of a name signs in to the same account."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", typed).casefold())


def _record_of(upload: bytes) -> bytes:
    """The OPAQUE record of a RegistrationUpload (a malformed one is the client's error)."""
    try:
        return opaque.server_registration_record(upload)
    except opaque.OpaqueError as exc:
        raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None


def _handshake_id() -> str:
    return secrets.token_urlsafe(24)


def new_public_id() -> str:
    """A user's or session's public id: 128 random bits, URL-safe, never starting with ``-``."""
    return public_id()


class IdentityService:
    def __init__(
        self,
        *,
        users: UserStore,
        sessions: SessionStore,
        audit: AuditLog,
        state: ShortLivedState,
        limits: RateLimits,
        tokens: TokenIssuer,
        setup: opaque.ServerSetup,
        signup_enabled: Callable[[], bool],
        signup_needs_review: Callable[[], bool],
    ) -> None:
        self.users = users
        self.sessions = sessions
        self._audit = audit
        self._state = state
        self._limits = limits
        self.tokens = tokens
        self._setup = setup
        self._signup_enabled = signup_enabled
        self._signup_needs_review = signup_needs_review

    async def check_server_setup(self) -> None:
        """Record the setup's fingerprint, or refuse when it changed under existing accounts."""
        fingerprint = self._setup.fingerprint()
        stored = await self.users.check_setup_fingerprint(fingerprint)
        if stored is not None:
            raise ServerSetupChanged(
                "security.opaque_server_setup is not the one the stored passwords were made under"
                f" (stored fingerprint {stored[:16]}…, configured {fingerprint[:16]}…): every"
                " login would fail. Restore the previous value (data_dir/secrets/"
                "opaque_server_setup or the configured one)."
            )

    # -- registration --------------------------------------------------------------------------

    async def registration_start(
        self, username: str, registration_request: bytes, client: Client
    ) -> tuple[str, bytes]:
        self._require_signup()
        if client.address is not None:
            await self._limits.check_registration(client.address)
        parsed, response = await self._new_name(username, registration_request)
        name, key = parsed.display, parsed.key
        handshake = _handshake_id()
        kept = json.dumps({"name": name, "key": key}).encode()
        await _stored(self._state.set(_REGISTRATION_KEY + handshake, kept, HANDSHAKE_TTL_SECONDS))
        return handshake, response

    async def registration_finish(
        self, handshake: str, registration_upload: bytes, client: Client
    ) -> Registered:
        self._require_signup()
        kept = await self._take(_REGISTRATION_KEY, handshake)
        if kept is None:
            raise DomainError(errors.INVALID_CREDENTIALS, "the registration expired; start again")
        record = _record_of(registration_upload)
        pending = self._signup_needs_review()
        user_id = new_public_id()
        try:
            user = await self.users.insert(
                user_id=user_id,
                username=kept["name"],
                username_key=kept["key"],
                role="user",
                status="pending_review" if pending else "active",
                opaque_record=record,
                by=client.actor(user_id),
            )
        except UsernameTaken:
            raise DomainError(
                errors.USERNAME_TAKEN, "an account with this name already exists"
            ) from None
        if pending:
            return Registered(user, None)
        return Registered(user, await self.open_session(user, client))

    # -- accounts made by an operator or through the setup link ------------------------------

    async def start_registration_as(
        self,
        username: str,
        registration_request: bytes,
        *,
        role: str,
        setup_token: str | None = None,
    ) -> tuple[str, bytes]:
        """Registration step 1 for an account an administrator creates (any role), or for the
        first account through the setup link (``setup_token``): no sign-up setting applies."""
        parsed, response = await self._new_name(username, registration_request)
        handshake = _handshake_id()
        kept = {"name": parsed.display, "key": parsed.key, "role": role, "setup": setup_token or ""}
        await _stored(
            self._state.set(
                _REGISTRATION_AS_KEY + handshake, json.dumps(kept).encode(), HANDSHAKE_TTL_SECONDS
            )
        )
        return handshake, response

    async def finish_registration_as(
        self,
        handshake: str,
        registration_upload: bytes,
        by: AuditActor,
        create_root: CreateRoot | None = None,
    ) -> UserRow:
        """Registration step 2 of :meth:`start_registration_as`: the account, active at once."""
        kept = await self._take(_REGISTRATION_AS_KEY, handshake)
        if kept is None:
            raise DomainError(errors.INVALID_CREDENTIALS, "the registration expired; start again")
        record = _record_of(registration_upload)
        user_id = new_public_id()
        if kept["setup"]:
            assert create_root is not None
            created = await create_root(
                kept["setup"], user_id, kept["name"], kept["key"], record, by
            )
            if created is None:
                raise DomainError(errors.SETUP_TOKEN_INVALID, "the setup link was used already")
            return created
        try:
            return await self.users.insert(
                user_id=user_id,
                username=kept["name"],
                username_key=kept["key"],
                role=kept["role"],  # type: ignore[arg-type]
                status="active",
                opaque_record=record,
                by=by,
            )
        except UsernameTaken:
            raise DomainError(
                errors.USERNAME_TAKEN, "an account with this name already exists"
            ) from None

    async def password_registration_start(self, user: UserRow, request: bytes) -> tuple[str, bytes]:
        """A new password for ``user`` (step 1), bound to that account."""
        try:
            response = opaque.server_registration_response(
                self._setup, request, user.username_key.encode()
            )
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        handshake = _handshake_id()
        kept = json.dumps({"password_of": user.id}).encode()
        await _stored(self._state.set(_PASSWORD_KEY + handshake, kept, HANDSHAKE_TTL_SECONDS))
        return handshake, response

    async def password_registration_finish(
        self, user_id: str, handshake: str, upload: bytes
    ) -> bytes:
        kept = await self._take(_PASSWORD_KEY, handshake)
        if kept is None or kept.get("password_of") != user_id:
            raise DomainError(errors.INVALID_CREDENTIALS, "the password change expired; again")
        return _record_of(upload)

    async def _new_name(self, username: str, request: bytes) -> tuple[Username, bytes]:
        """A valid, free name and the registration response for it (step 1 of any sign-up)."""
        try:
            parsed = parse_username(username)
        except InvalidUsername as exc:
            raise DomainError(errors.INVALID_USERNAME, str(exc)) from None
        if await self.users.by_key(parsed.key) is not None:
            raise DomainError(errors.USERNAME_TAKEN, "an account with this name already exists")
        try:
            response = opaque.server_registration_response(
                self._setup, request, parsed.key.encode()
            )
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        return parsed, response

    def _require_signup(self) -> None:
        if not self._signup_enabled():
            raise DomainError(errors.SIGNUP_DISABLED, "password sign-up is turned off")

    # -- login ---------------------------------------------------------------------------------

    async def login_start(
        self, username: str, credential_request: bytes, client: Client
    ) -> tuple[str, bytes]:
        """KE1 → (sessionId, KE2); an unknown name takes the same path with the fake record."""
        if client.address is not None:
            await self._limits.check_auth_attempt(client.address)
        key = login_key(username)
        await self._limits.check_account_lockout(key)
        user = await self.users.by_key(key)
        record = user.opaque_record if user is not None else None
        try:
            response, server_state = opaque.server_login_start(
                self._setup, record, credential_request, key.encode()
            )
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        handshake = _handshake_id()
        kept = {
            "state": server_state.to_bytes().hex(),
            "user": user.id if user is not None and record is not None else "",
            "key": key,
        }
        kept_bytes = json.dumps(kept).encode()
        await _stored(self._state.set(_LOGIN_KEY + handshake, kept_bytes, HANDSHAKE_TTL_SECONDS))
        return handshake, response

    async def login_finish(
        self, handshake: str, credential_finalization: bytes, client: Client
    ) -> SignedIn:
        kept = await self._take(_LOGIN_KEY, handshake)
        if kept is None:
            raise DomainError(errors.INVALID_CREDENTIALS, "the login expired; start again")
        key, user_id = kept["key"], kept["user"]
        state = opaque.ServerLoginState.from_bytes(bytes.fromhex(kept["state"]))
        try:
            opaque.server_login_finish(state, credential_finalization)
        except opaque.MalformedMessage as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        except opaque.InvalidCredentials:
            await self._login_failed(key, user_id, client)
            raise DomainError(errors.INVALID_CREDENTIALS, "wrong username or password") from None
        await self._limits.clear_auth_failures(key)
        # One statement: the account as it is now, and the session with its audit row.
        session_id, jti = new_public_id(), new_jti()
        record, outcome = await self.sessions.open_login(
            session_id=session_id,
            user_id=user_id,
            client_address=client.address,
            user_agent=client.user_agent,
            refresh_jti=jti,
            by=client.actor(user_id),
        )
        if outcome == "missing":  # deleted between start and finish
            raise DomainError(errors.INVALID_CREDENTIALS, "wrong username or password")
        if outcome == "banned":
            raise DomainError(errors.ACCOUNT_BANNED, "this account is banned")
        if outcome == "pending_review":
            raise DomainError(errors.ACCOUNT_PENDING_REVIEW, "an administrator has to approve")
        user = row_of(record)
        tokens = self.tokens.issue(user.id, user.role, session_id, user.password_version, jti)
        return SignedIn(user, tokens)

    async def _login_failed(self, key: str, user_id: str, client: Client) -> None:
        locked_for = await self._limits.record_auth_failure(key)
        details: dict[str, object] = {"username_key": key}
        if locked_for:
            details["locked_seconds"] = int(locked_for)
        await self._audit.record(
            AuditEvent(
                client.actor(user_id or "anonymous"),
                "user.login",
                "user",
                user_id,
                "failed",
                details,
            )
        )

    async def open_session(self, user: UserRow, client: Client) -> TokenPair:
        """A new login session for ``user`` (any sign-in path: OPAQUE, setup, OpenID) and its
        first token pair."""
        session_id, jti = new_public_id(), new_jti()
        await self.sessions.create(
            session_id=session_id,
            user_id=user.id,
            client_address=client.address,
            user_agent=client.user_agent,
            refresh_jti=jti,
        )
        return self.tokens.issue(user.id, user.role, session_id, user.password_version, jti)

    async def _take(self, prefix: str, handshake: str) -> dict[str, str] | None:
        if not handshake or len(handshake) > MAX_HANDSHAKE_ID:
            return None
        kept = await _stored(self._state.take(prefix + handshake))
        if kept is None:
            return None
        loaded: dict[str, str] = json.loads(kept)
        return loaded

    # -- tokens and sessions -------------------------------------------------------------------

    async def refresh(self, refresh_token: str, client: Client) -> TokenPair:
        claims = self.tokens.check(refresh_token, "refresh")
        new = new_jti()
        by = client.actor(claims.user_id)
        outcome = await self.sessions.rotate(claims.session_id, claims.jti, new, by)
        if outcome is Rotation.REUSED:
            await self._mark_revoked(claims.session_id)
            log.warning(
                "a refresh token was used twice: session revoked",
                extra={"session_id": claims.session_id, "user_id": claims.user_id},
            )
        if outcome is not Rotation.ROTATED:
            raise DomainError(errors.TOKEN_REVOKED, "this session was revoked; sign in again")
        user = await self.users.by_id(claims.user_id)
        if user is None or user.banned or user.password_version != claims.password_version:
            await self.sessions.revoke(claims.session_id, claims.user_id, "account_changed", by)
            await self._mark_revoked(claims.session_id)
            raise DomainError(errors.TOKEN_REVOKED, "this session was revoked; sign in again")
        return self.tokens.issue(user.id, user.role, claims.session_id, user.password_version, new)

    async def authenticate(self, token: str) -> Claims:
        """Every authenticated request: signature, expiry, then the revocation set (no DB).
        A guest token (one room, no session) has nothing to revoke: it just expires."""
        claims = self.tokens.check(token, "access", "guest")
        if claims.type == "access":
            await self._check_not_revoked(claims.session_id)
        return claims

    async def session_revoked(self, session_id: str) -> bool:
        """Whether the session was revoked since (the room channel asks while it stays open);
        ``dependency_unavailable`` when the store cannot say."""
        return await _stored(self._state.get(_REVOKED_KEY + session_id)) is not None

    async def _check_not_revoked(self, session_id: str) -> None:
        # Fails closed: a revoked token must not pass while Redis is away.
        revoked = await _stored(self._state.get(_REVOKED_KEY + session_id))
        if revoked is not None:
            raise DomainError(errors.TOKEN_REVOKED, "this session was revoked; sign in again")

    # -- WebSocket tickets ---------------------------------------------------------------------

    async def issue_ticket(self, holder: Ticket) -> str:
        """A one-time ticket for ``holder`` to open the room channel of ``holder.room_id``
        (browsers cannot set headers on a WebSocket); valid :data:`TICKET_TTL_SECONDS`."""
        if holder.role != "guest":
            await self._limits.check_ws_ticket(holder.user_id)
        ticket = secrets.token_urlsafe(32)
        kept = json.dumps(
            {"user": holder.user_id, "role": holder.role, "sid": holder.session_id,
             "room": holder.room_id}
        ).encode()  # fmt: skip
        await _stored(self._state.set(_TICKET_KEY + ticket, kept, TICKET_TTL_SECONDS))
        return ticket

    async def take_ticket(self, ticket: str) -> Ticket:
        """The holder of a ticket, once: a second use, an unknown or an expired ticket is
        refused (``authentication_required``), as is one whose session was revoked since."""
        kept = None
        if 0 < len(ticket) <= MAX_TICKET:
            kept = await _stored(self._state.take(_TICKET_KEY + ticket))
        if kept is None:
            raise DomainError(errors.UNAUTHENTICATED, "the ticket is unknown, used or expired")
        values = json.loads(kept)
        holder = Ticket(values["user"], values["role"], values["sid"], values["room"])
        if holder.session_id:
            await self._check_not_revoked(holder.session_id)
        return holder

    async def revoke_session(
        self, user_id: str, session_id: str, reason: str, client: Client
    ) -> None:
        if len(session_id) > MAX_HANDSHAKE_ID or not await self.sessions.revoke(
            session_id, user_id, reason, client.actor(user_id)
        ):
            raise DomainError(errors.SESSION_NOT_FOUND, "no live session of yours with this id")
        await self._mark_revoked(session_id)

    async def revoke_all_sessions(self, user_id: str, reason: str, by: AuditActor) -> int:
        """Revoke every session of ``user_id`` (ban, role change, password change or reset,
        deletion, admin request): their access tokens stop at the next request, everywhere."""
        revoked = await self.sessions.revoke_all(user_id, reason, by)
        for session_id in revoked:
            await self._mark_revoked(session_id)
        return len(revoked)

    async def list_sessions(self, user_id: str) -> list[SessionRow]:
        return await self.sessions.list_live(user_id)

    async def current_user_by_id(self, user_id: str) -> UserRow:
        user = await self.users.by_id(user_id)
        if user is None:
            raise DomainError(errors.TOKEN_REVOKED, "this account no longer exists")
        return user

    async def _mark_revoked(self, session_id: str) -> None:
        ttl = self.tokens.access_ttl + REVOCATION_SLACK_SECONDS
        await _stored(self._state.set(_REVOKED_KEY + session_id, b"1", ttl))
