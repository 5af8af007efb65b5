"""Room passwords as OPAQUE records, with the same code as account passwords.

A room's password is registered like an account's (the room id is the credential identifier)
and checked like a login: the browser runs the client side, so the password never reaches the
server. Clients that cannot run OPAQUE send the password over TLS instead, and the server runs
the client side itself, in a worker thread (the client's Argon2id is memory-hard on purpose).
Either way the server stores only the OPAQUE record, never the password or anything derived from
it alone.

Wrong passwords count against a lock-out per room and address (the rate-limit book's lock-out
policy), so guessing a room's password from one place stops after a few tries, while other people
keep joining.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Final

import trio

from synctv import errors
from synctv.auth import opaque
from synctv.errors import DomainError
from synctv.state import ShortLivedState, StateUnavailable
from synctv.state.limits import RateLimits

HANDSHAKE_TTL_SECONDS: Final = 300
MAX_PASSWORD_BYTES: Final = 1024
_LOGIN_KEY = "room:opaque:login:"
_REGISTRATION_KEY = "room:opaque:registration:"


def _lockout_key(room_id: str, address: str | None) -> str:
    return f"room-password:{room_id}:{address or '-'}"


def _password(text: str) -> bytes:
    data = text.encode()
    if not data or len(data) > MAX_PASSWORD_BYTES:
        raise DomainError(
            errors.INVALID_PARAMETER, f"a room password is 1 to {MAX_PASSWORD_BYTES} bytes"
        )
    return data


@dataclass(frozen=True, slots=True)
class Handshake:
    session_id: str
    message: bytes


class RoomPasswords:
    def __init__(
        self, setup: opaque.ServerSetup, state: ShortLivedState, limits: RateLimits
    ) -> None:
        self._setup = setup
        self._state = state
        self._limits = limits

    # -- setting a password --------------------------------------------------------------------

    async def record_from_password(self, room_id: str, password: str) -> bytes:
        """Register ``password`` for the room, running the client side here (plain API)."""
        data = _password(password)

        def register() -> bytes:
            request, state = opaque.client_registration_start(data)
            response = opaque.server_registration_response(self._setup, request, room_id.encode())
            upload = opaque.client_registration_finish(state, response).registration_upload
            return opaque.server_registration_record(upload)

        return await trio.to_thread.run_sync(register)

    async def registration_start(self, room_id: str, request: bytes) -> Handshake:
        try:
            response = opaque.server_registration_response(self._setup, request, room_id.encode())
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        session_id = secrets.token_urlsafe(24)
        await self._keep(_REGISTRATION_KEY + session_id, room_id.encode())
        return Handshake(session_id, response)

    async def registration_finish(self, room_id: str, session_id: str, upload: bytes) -> bytes:
        kept = await self._take(_REGISTRATION_KEY, session_id)
        if kept != room_id.encode():
            raise DomainError(errors.INVALID_PARAMETER, "the registration expired; start again")
        try:
            return opaque.server_registration_record(upload)
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None

    # -- checking a password -------------------------------------------------------------------

    async def check_plain(
        self, room_id: str, record: bytes, password: str, address: str | None
    ) -> None:
        """Refuse (``room_password_required``) unless ``password`` is the room's."""
        key = _lockout_key(room_id, address)
        await self._limits.check_account_lockout(key)
        data = _password(password)

        def login() -> bool:
            ke1, state = opaque.client_login_start(data)
            ke2, server_state = opaque.server_login_start(
                self._setup, record, ke1, room_id.encode()
            )
            try:
                ke3 = opaque.client_login_finish(state, ke2).credential_finalization
                opaque.server_login_finish(server_state, ke3)
            except opaque.InvalidCredentials:
                return False
            return True

        if not await trio.to_thread.run_sync(login):
            await self._failed(key)
        await self._limits.clear_auth_failures(key)

    async def login_start(
        self, room_id: str, record: bytes, request: bytes, address: str | None
    ) -> Handshake:
        await self._limits.check_account_lockout(_lockout_key(room_id, address))
        try:
            response, server_state = opaque.server_login_start(
                self._setup, record, request, room_id.encode()
            )
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        session_id = secrets.token_urlsafe(24)
        kept = json.dumps({"room": room_id, "state": server_state.to_bytes().hex()}).encode()
        await self._keep(_LOGIN_KEY + session_id, kept)
        return Handshake(session_id, response)

    async def login_finish(
        self, room_id: str, session_id: str, finalization: bytes, address: str | None
    ) -> None:
        """Refuse unless the finalization proves the password started in ``login_start``."""
        raw = await self._take(_LOGIN_KEY, session_id)
        kept = json.loads(raw) if raw is not None else None
        if kept is None or kept.get("room") != room_id:
            raise DomainError(errors.ROOM_PASSWORD_REQUIRED, "the password check expired; again")
        state = opaque.ServerLoginState.from_bytes(bytes.fromhex(kept["state"]))
        key = _lockout_key(room_id, address)
        try:
            opaque.server_login_finish(state, finalization)
        except opaque.MalformedMessage as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        except opaque.InvalidCredentials:
            await self._failed(key)
        await self._limits.clear_auth_failures(key)

    async def _failed(self, key: str) -> None:
        locked = await self._limits.record_auth_failure(key)
        details = {"lockedSeconds": int(locked)} if locked else {}
        raise DomainError(errors.ROOM_PASSWORD_REQUIRED, "wrong room password", details)

    async def _keep(self, key: str, value: bytes) -> None:
        try:
            await self._state.set(key, value, HANDSHAKE_TTL_SECONDS)
        except StateUnavailable:
            raise DomainError(
                errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again"
            ) from None

    async def _take(self, prefix: str, session_id: str) -> bytes | None:
        if not session_id or len(session_id) > 64:
            return None
        try:
            return await self._state.take(prefix + session_id)
        except StateUnavailable:
            raise DomainError(
                errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again"
            ) from None
