"""Account administration: one service behind ``synctv admin user …`` (management gRPC) and
``/api/admin/users`` (REST), with the role rules, and the first-start setup link.

Role rules (:func:`check_may_act`, :func:`check_may_set_role`): only root creates, promotes to
or demotes from admin or root; an admin acts on users only (not on root, not on other admins);
nobody acts on themselves through these commands (sign-out and password change are the user's
own routes); the last root can be neither demoted, banned nor deleted (an instance without root
cannot be administered). The management socket's operator counts as root.

Ban, role change, deletion and revoke-sessions end every session of the account, so its access
tokens stop at the next request (:meth:`~synctv.auth.identity.IdentityService.revoke_all_sessions`).
Every change writes an audit row.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final, Literal

from synctv import errors
from synctv.auth.identity import IdentityService, login_key
from synctv.errors import DomainError
from synctv.store.accounts import AccountStore
from synctv.store.audit import AuditActor
from synctv.store.sessions import SessionRow
from synctv.store.users import Role, UserRow

log = logging.getLogger("synctv.identity")

ActorRole = Literal["root", "admin"]
MAX_PAGE: Final = 100
FRESH_LOGIN_SECONDS: Final = 300
RESET_VALID_SECONDS: Final = 24 * 3600
_RANK: Final = {"user": 0, "admin": 1, "root": 2}


def check_may_act(actor_role: ActorRole, actor_id: str, target: UserRow) -> None:
    if target.id == actor_id:
        raise DomainError(errors.ROLE_RULE, "not on your own account (use your own settings)")
    if actor_role != "root" and _RANK[target.role] >= _RANK["admin"]:
        raise DomainError(errors.ROLE_RULE, f"an admin cannot act on a {target.role}")


def check_may_set_role(actor_role: ActorRole, current: Role, wanted: Role) -> None:
    if actor_role != "root" and (wanted != "user" or current != "user"):
        raise DomainError(errors.ROLE_RULE, "only root makes or unmakes admins and roots")


class AccountService:
    def __init__(self, identity: IdentityService, store: AccountStore) -> None:
        self._identity = identity
        self._store = store

    # -- the setup link ------------------------------------------------------------------------

    async def setup_link_token(self) -> str | None:
        """A fresh one-time setup token when no account exists (earlier unused ones stop
        working); None once an account exists."""
        token = secrets.token_urlsafe(32)
        return token if await self._store.new_setup_token(token) else None

    async def setup_needed(self) -> bool:
        return await self._identity.users.count() == 0

    async def setup_start(
        self, token: str, username: str, registration_request: bytes
    ) -> tuple[str, bytes]:
        if not token or len(token) > 64 or not await self._store.setup_token_valid(token):
            raise DomainError(
                errors.SETUP_TOKEN_INVALID, "this setup link is not valid (used, or superseded)"
            )
        return await self._identity.start_registration_as(
            username, registration_request, role="root", setup_token=token
        )

    async def setup_finish(self, handshake: str, upload: bytes, by: AuditActor) -> UserRow:
        return await self._identity.finish_registration_as(
            handshake, upload, by, self._store.create_root
        )

    # -- one's own password ---------------------------------------------------------------

    async def password_change_start(
        self, user_id: str, session_id: str | None, request: bytes
    ) -> tuple[str, bytes]:
        """Step 1 of a password change: only within :data:`FRESH_LOGIN_SECONDS` of signing in
        (a stolen long-lived session must not be enough to take the account over)."""
        session = next(
            (s for s in await self._identity.list_sessions(user_id) if s.id == session_id), None
        )
        age = None if session is None else datetime.now(UTC) - session.created_at
        if age is None or age.total_seconds() > FRESH_LOGIN_SECONDS:
            raise DomainError(
                errors.REAUTHENTICATION_REQUIRED,
                f"sign in again (within {FRESH_LOGIN_SECONDS // 60} minutes) to change the password",
            )
        user = await self.find(user_id)
        return await self._identity.password_registration_start(user, request)

    async def password_change_finish(
        self, user_id: str, handshake: str, upload: bytes, by: AuditActor
    ) -> UserRow:
        """Step 2: the new record; every session of the account ends (the caller gets a new
        one from the route)."""
        record = await self._identity.password_registration_finish(user_id, handshake, upload)
        if not await self._store.set_password(user_id, record, by):
            raise DomainError(errors.USER_NOT_FOUND, "this account no longer exists")
        await self._identity.revoke_all_sessions(user_id, "password_changed", by)
        return await self.find(user_id)

    # -- administration ------------------------------------------------------------------------

    async def create_start(
        self, actor_role: ActorRole, username: str, role: Role, request: bytes
    ) -> tuple[str, bytes]:
        check_may_set_role(actor_role, "user", role)
        return await self._identity.start_registration_as(username, request, role=role)

    async def create_finish(self, handshake: str, upload: bytes, by: AuditActor) -> UserRow:
        return await self._identity.finish_registration_as(handshake, upload, by)

    async def find(self, ref: str) -> UserRow:
        """An account by id or by name (any case or width of it); a banned one with its ban
        (reason, by whom, since, until) for the administrators' views."""
        if 0 < len(ref) <= 128:
            user = await self._identity.users.by_id(ref) or await self._identity.users.by_key(
                login_key(ref)
            )
            if user is not None:
                if user.banned:
                    user = replace(user, ban=await self._store.ban_in_force(user.id))
                return user
        raise DomainError(errors.USER_NOT_FOUND, "no account with this id or name")

    async def list_users(
        self,
        *,
        search: str = "",
        role: str | None = None,
        status: str | None = None,
        banned: bool | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> tuple[list[UserRow], int]:
        if page < 1 or not 1 <= page_size <= MAX_PAGE or len(search) > 128:
            raise DomainError(errors.INVALID_PARAMETER, f"page ≥ 1, pageSize 1 to {MAX_PAGE}")
        if role not in (None, "root", "admin", "user") or status not in (
            None,
            "active",
            "pending_review",
        ):
            raise DomainError(errors.INVALID_PARAMETER, "role or status is not one of the known")
        return await self._store.list_users(
            search, role, status, banned, page_size, (page - 1) * page_size
        )

    async def set_role(
        self, actor_role: ActorRole, by: AuditActor, ref: str, role: Role
    ) -> UserRow:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        check_may_set_role(actor_role, target.role, role)
        if target.role == role:
            return target
        if target.role == "root" and await self._store.count_roots() <= 1:
            raise DomainError(errors.ROLE_RULE, "the last root cannot be demoted")
        await self._store.set_role(target.id, role, by)
        await self._identity.revoke_all_sessions(target.id, "role_changed", by)
        return await self.find(target.id)

    async def ban(
        self, actor_role: ActorRole, by: AuditActor, ref: str, reason: str, until: datetime | None
    ) -> UserRow:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        await self._keep_a_root(target, "banned")
        await self._store.ban(target.id, reason.strip()[:500], until, by)
        await self._identity.revoke_all_sessions(target.id, "banned", by)
        return await self.find(target.id)

    async def unban(self, actor_role: ActorRole, by: AuditActor, ref: str) -> UserRow:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        if not await self._store.unban(target.id, by):
            raise DomainError(errors.INVALID_PARAMETER, "this account is not banned")
        return await self.find(target.id)

    async def delete(self, actor_role: ActorRole, by: AuditActor, ref: str) -> None:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        await self._keep_a_root(target, "deleted")
        await self._identity.revoke_all_sessions(target.id, "deleted", by)
        await self._store.delete(target.id, "user.deleted", by)

    async def approve(self, actor_role: ActorRole, by: AuditActor, ref: str) -> UserRow:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        if not await self._store.approve(target.id, by):
            raise DomainError(errors.INVALID_PARAMETER, "this account is not waiting for review")
        return await self.find(target.id)

    async def reject(self, actor_role: ActorRole, by: AuditActor, ref: str) -> None:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        if target.status != "pending_review":
            raise DomainError(errors.INVALID_PARAMETER, "this account is not waiting for review")
        await self._store.delete(target.id, "user.rejected", by)

    async def sessions(self, actor_role: ActorRole, by: AuditActor, ref: str) -> list[SessionRow]:
        target = await self.find(ref)
        if target.id != by.actor:
            check_may_act(actor_role, by.actor, target)
        return await self._identity.list_sessions(target.id)

    async def revoke_sessions(self, actor_role: ActorRole, by: AuditActor, ref: str) -> int:
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        return await self._identity.revoke_all_sessions(target.id, "revoked_by_admin", by)

    async def reset_password(self, actor_role: ActorRole, by: AuditActor, ref: str) -> str:
        """Clear the account's password and end its sessions; the one-time token (valid
        :data:`RESET_VALID_SECONDS`) with which the person sets a new one."""
        target = await self.find(ref)
        check_may_act(actor_role, by.actor, target)
        token = secrets.token_urlsafe(32)
        await self._store.reset_password(target.id, token, RESET_VALID_SECONDS, by)
        await self._identity.revoke_all_sessions(target.id, "password_reset", by)
        return token

    async def reset_start(self, token: str, request: bytes) -> tuple[str, bytes]:
        """The person with a reset link sets a new password (OPAQUE), step 1."""
        user_id = await self._store.reset_token_user(token) if 0 < len(token) <= 64 else None
        if user_id is None:
            raise DomainError(errors.RESET_TOKEN_INVALID, "this reset link is not valid")
        return await self._identity.password_registration_start(await self.find(user_id), request)

    async def reset_finish(
        self, token: str, handshake: str, upload: bytes, by_address: AuditActor
    ) -> UserRow:
        user_id = await self._store.reset_token_user(token) if 0 < len(token) <= 64 else None
        if user_id is None:
            raise DomainError(errors.RESET_TOKEN_INVALID, "this reset link is not valid")
        record = await self._identity.password_registration_finish(user_id, handshake, upload)
        by = AuditActor(user_id, by_address.address, by_address.request_id)
        if not await self._store.complete_reset(token, user_id, record, by):
            raise DomainError(errors.RESET_TOKEN_INVALID, "this reset link was used already")
        return await self.find(user_id)

    async def _keep_a_root(self, target: UserRow, what: str) -> None:
        if target.role == "root" and await self._store.count_roots() <= 1:
            raise DomainError(errors.ROLE_RULE, f"the last root cannot be {what}")
