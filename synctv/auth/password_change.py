"""Self-service password change: a fresh OPAQUE registration for the signed-in account.

Allowed only from a login session that began within :data:`REAUTH_WINDOW_SECONDS` (a stolen
access token alone cannot change the password: the thief would have to sign in again, which
needs the password). Finishing stores the new record, bumps the password version, revokes every
session of the account (all devices sign in again) and opens a fresh one for the caller.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from synctv import errors
from synctv.auth import opaque
from synctv.auth.identity import HANDSHAKE_TTL_SECONDS, MAX_HANDSHAKE_ID, Client, IdentityService
from synctv.auth.tokens import TokenPair
from synctv.errors import DomainError
from synctv.state import ShortLivedState, StateUnavailable
from synctv.store.passwords import PasswordStore

REAUTH_WINDOW_SECONDS: Final = 300
_KEY: Final = "auth:opaque:password-change:"
_T = TypeVar("_T")


class PasswordChange:
    def __init__(
        self,
        *,
        identity: IdentityService,
        setup: opaque.ServerSetup,
        state: ShortLivedState,
        passwords: PasswordStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._identity = identity
        self._setup = setup
        self._state = state
        self._passwords = passwords
        self._clock = clock

    async def start(
        self, user_id: str, session_id: str | None, registration_request: bytes
    ) -> tuple[str, bytes]:
        await self._require_recent_login(user_id, session_id)
        user = await self._identity.current_user_by_id(user_id)
        try:
            response = opaque.server_registration_response(
                self._setup, registration_request, user.username_key.encode()
            )
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        handshake = secrets.token_urlsafe(24)
        kept = json.dumps({"user": user_id, "session": session_id}).encode()
        await _stored(self._state.set(_KEY + handshake, kept, HANDSHAKE_TTL_SECONDS))
        return handshake, response

    async def finish(
        self,
        user_id: str,
        session_id: str | None,
        handshake: str,
        registration_upload: bytes,
        client: Client,
    ) -> TokenPair:
        await self._require_recent_login(user_id, session_id)
        taken = None
        if len(handshake) <= MAX_HANDSHAKE_ID:
            taken = await _stored(self._state.take(_KEY + handshake))
        kept = json.loads(taken) if taken is not None else None
        if kept is None or kept["user"] != user_id or kept["session"] != session_id:
            raise DomainError(
                errors.INVALID_CREDENTIALS, "the password change expired; start again"
            )
        try:
            record = opaque.server_registration_record(registration_upload)
        except opaque.OpaqueError as exc:
            raise DomainError(errors.OPAQUE_MESSAGE_INVALID, str(exc)) from None
        actor = client.actor(user_id)
        if await self._passwords.change(user_id, record, actor) is None:
            raise DomainError(errors.TOKEN_REVOKED, "this account no longer exists")
        await self._identity.revoke_all_sessions(user_id, "password_changed", actor)
        user = await self._identity.current_user_by_id(user_id)
        return await self._identity.open_session(user, client)

    async def _require_recent_login(self, user_id: str, session_id: str | None) -> None:
        sessions = await self._identity.list_sessions(user_id) if session_id else []
        mine = next((s for s in sessions if s.id == session_id), None)
        if mine is None or self._clock() - mine.created_at.timestamp() > REAUTH_WINDOW_SECONDS:
            raise DomainError(
                errors.REAUTHENTICATION_REQUIRED,
                "sign in again to change the password (within 5 minutes of signing in)",
            )


async def _stored(operation: Awaitable[_T]) -> _T:
    try:
        return await operation
    except StateUnavailable:
        raise DomainError(
            errors.DEPENDENCY_UNAVAILABLE, "the session store is unavailable; try again shortly"
        ) from None
