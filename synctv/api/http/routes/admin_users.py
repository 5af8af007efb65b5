"""``/api/admin/users``: account administration over REST for platform admins and root, with
the same service and role rules as ``synctv admin user`` (:mod:`synctv.auth.accounts`).
Creating accounts is the CLI's (it runs OPAQUE's client); everything else is here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field

from synctv.api.http.principal import Principal, audit_actor, require_admin
from synctv.api.http.routes.auth import (
    CamelModel,
    HandshakeId,
    Message,
    Username,
    UserOut,
    decode_message,
    encode_message,
    refusals,
    user_out,
)
from synctv.api.http.routes.user import SessionOut
from synctv.auth.accounts import RESET_VALID_SECONDS, AccountService, ActorRole
from synctv.store.users import UserBan, UserRow

Admin = Annotated[Principal, Depends(require_admin)]
UserRef = Annotated[str, Path(min_length=1, max_length=128)]
_AUTH = (401, "`authentication_required`, `token_expired` or `token_revoked`")
_DENIED = (403, "`permission_denied` (not an admin) or `role_rule`")
_MISSING = (404, "`user_not_found`")


class UserBanOut(CamelModel):
    reason: str
    banned_by: str = Field(description="The id of the account that banned, or `cli`/`system`.")
    banned_by_name: str | None = Field(description="That account's name; null for `cli`/`system`.")
    banned_at: str = Field(description="RFC 3339, UTC.")
    until: str | None = Field(description="RFC 3339, UTC; null: until lifted.")


class AdminUserOut(UserOut):
    banned: bool
    ban: UserBanOut | None = Field(
        default=None, description="The ban in force (present exactly when `banned`)."
    )


class UsersOut(CamelModel):
    users: list[AdminUserOut]
    total: int


class SetRoleIn(CamelModel):
    role: Literal["root", "admin", "user"]


class BanIn(CamelModel):
    reason: str = Field(min_length=1, max_length=500)
    until: datetime | None = Field(None, description="RFC 3339; absent: until lifted.")


class RevokedOut(CamelModel):
    revoked: int


class AdminSessionsOut(CamelModel):
    sessions: list[SessionOut]


def _ban_out(ban: UserBan) -> UserBanOut:
    return UserBanOut(
        reason=ban.reason,
        banned_by=ban.banned_by,
        banned_by_name=ban.banned_by_name,
        banned_at=ban.banned_at.astimezone(UTC).isoformat(),
        until=None if ban.until is None else ban.until.astimezone(UTC).isoformat(),
    )


def _out(user: UserRow) -> AdminUserOut:
    return AdminUserOut(
        **user_out(user).model_dump(),
        banned=user.banned,
        ban=None if user.ban is None else _ban_out(user.ban),
    )


def _role(principal: Principal) -> ActorRole:
    return "root" if principal.role == "root" else "admin"


class CreateStartIn(CamelModel):
    username: Username
    role: Literal["root", "admin", "user"] = "user"
    registration_request: Message = Field(
        description="OPAQUE RegistrationRequest, base64: the admin's client runs OPAQUE with the "
        "new account's first password (give it to the person; they change it)."
    )


class CreateStartOut(CamelModel):
    session_id: str
    registration_response: str


class CreateFinishIn(CamelModel):
    session_id: HandshakeId
    registration_upload: Message


class ResetOut(CamelModel):
    reset_url: str = Field(description="Give this to the person; it works once, for 24 h.")
    expires_in_secs: int


def admin_users_router(accounts: AccountService, link: Callable[[str], str]) -> APIRouter:
    router = APIRouter(prefix="/api/admin/users", tags=["admin"])

    @router.post(
        "/create/start",
        response_model=CreateStartOut,
        responses=refusals(_AUTH, _DENIED, (409, "`username_taken`"), (422, "`invalid_username`")),
    )
    async def create_start(admin: Admin, body: CreateStartIn) -> Any:
        """Create an account (only root creates admins and roots), step 1."""
        request = decode_message(body.registration_request, "registrationRequest")
        session, response = await accounts.create_start(
            _role(admin), body.username, body.role, request
        )
        return CreateStartOut(session_id=session, registration_response=encode_message(response))

    @router.post(
        "/create/finish",
        status_code=201,
        response_model=AdminUserOut,
        responses=refusals(_AUTH, _DENIED),
    )
    async def create_finish(admin: Admin, request: Request, body: CreateFinishIn) -> Any:
        upload = decode_message(body.registration_upload, "registrationUpload")
        return _out(
            await accounts.create_finish(body.session_id, upload, audit_actor(request, admin))
        )

    @router.get("", response_model=UsersOut, responses=refusals(_AUTH, _DENIED))
    async def list_users(
        admin: Admin,
        q: Annotated[str, Query(max_length=128)] = "",
        role: Literal["root", "admin", "user"] | None = None,
        status: Literal["active", "pending_review"] | None = None,
        banned: bool | None = None,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 50,
    ) -> Any:
        """Accounts, oldest first; filter by name part (or exact id), role, status, ban."""
        users, total = await accounts.list_users(
            search=q, role=role, status=status, banned=banned, page=page, page_size=page_size
        )
        return UsersOut(users=[_out(u) for u in users], total=total)

    @router.get(
        "/{user}", response_model=AdminUserOut, responses=refusals(_AUTH, _DENIED, _MISSING)
    )
    async def show(admin: Admin, user: UserRef) -> Any:
        return _out(await accounts.find(user))

    @router.put(
        "/{user}/role", response_model=AdminUserOut, responses=refusals(_AUTH, _DENIED, _MISSING)
    )
    async def set_role(admin: Admin, request: Request, user: UserRef, body: SetRoleIn) -> Any:
        """Change a role (only root makes or unmakes admins); the account's sessions end."""
        return _out(
            await accounts.set_role(_role(admin), audit_actor(request, admin), user, body.role)
        )

    @router.put(
        "/{user}/ban", response_model=AdminUserOut, responses=refusals(_AUTH, _DENIED, _MISSING)
    )
    async def ban(admin: Admin, request: Request, user: UserRef, body: BanIn) -> Any:
        """Ban; every session ends at once."""
        by = audit_actor(request, admin)
        return _out(await accounts.ban(_role(admin), by, user, body.reason, body.until))

    @router.delete(
        "/{user}/ban", response_model=AdminUserOut, responses=refusals(_AUTH, _DENIED, _MISSING)
    )
    async def unban(admin: Admin, request: Request, user: UserRef) -> Any:
        return _out(await accounts.unban(_role(admin), audit_actor(request, admin), user))

    @router.post(
        "/{user}/approve",
        response_model=AdminUserOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def approve(admin: Admin, request: Request, user: UserRef) -> Any:
        """Let an account waiting for review sign in."""
        return _out(await accounts.approve(_role(admin), audit_actor(request, admin), user))

    @router.post("/{user}/reject", status_code=204, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def reject(admin: Admin, request: Request, user: UserRef) -> Response:
        await accounts.reject(_role(admin), audit_actor(request, admin), user)
        return Response(status_code=204)

    @router.delete("/{user}", status_code=204, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def delete(admin: Admin, request: Request, user: UserRef) -> Response:
        """Soft delete: the name is free again; every session ends."""
        await accounts.delete(_role(admin), audit_actor(request, admin), user)
        return Response(status_code=204)

    @router.get(
        "/{user}/sessions",
        response_model=AdminSessionsOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def sessions(admin: Admin, request: Request, user: UserRef) -> Any:
        rows = await accounts.sessions(_role(admin), audit_actor(request, admin), user)
        return AdminSessionsOut(
            sessions=[
                SessionOut(
                    id=r.id,
                    created_at=r.created_at.isoformat(),
                    last_used_at=r.last_used_at.isoformat(),
                    client_address=r.client_address,
                    user_agent=r.user_agent,
                    current=r.id == admin.session_id,
                )
                for r in rows
            ]
        )

    @router.delete(
        "/{user}/sessions", response_model=RevokedOut, responses=refusals(_AUTH, _DENIED, _MISSING)
    )
    async def revoke_sessions(admin: Admin, request: Request, user: UserRef) -> Any:
        """Sign the account out everywhere, now."""
        count = await accounts.revoke_sessions(_role(admin), audit_actor(request, admin), user)
        return RevokedOut(revoked=count)

    @router.post(
        "/{user}/reset-password",
        response_model=ResetOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def reset_password(admin: Admin, request: Request, user: UserRef) -> Any:
        """Clear the password (the old one stops working, every session ends) and get a
        one-time link with which the person sets a new one."""
        token = await accounts.reset_password(_role(admin), audit_actor(request, admin), user)
        return ResetOut(
            reset_url=link(f"/reset-password?token={token}"),
            expires_in_secs=RESET_VALID_SECONDS,
        )

    return router
