"""``UserAdmin`` servicer: accounts over the management socket (``synctv admin user``).

Thin: the operator acts as root through :class:`~synctv.auth.accounts.AccountService`, audited
as the CLI; the role rules and refusals are the service's, the same as over REST.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from synctv import errors
from synctv.api.grpc._gen.synctv.admin.v1 import users_grpc, users_pb2
from synctv.api.grpc.bridge import unary
from synctv.auth.accounts import RESET_VALID_SECONDS, AccountService
from synctv.errors import DomainError
from synctv.store.audit import CLI_ACTOR
from synctv.store.users import Role, UserBan, UserRow

_ROLES: tuple[Role, ...] = ("root", "admin", "user")


def account(user: UserRow) -> users_pb2.Account:
    return users_pb2.Account(
        id=user.id,
        username=user.username,
        role=user.role,
        status=user.status,
        banned=user.banned,
        has_password=user.opaque_record is not None,
        created_at=user.created_at.astimezone(UTC).isoformat(),
        ban=None if user.ban is None else _ban(user.ban),
    )


def _ban(ban: UserBan) -> users_pb2.AccountBan:
    return users_pb2.AccountBan(
        reason=ban.reason,
        banned_by=ban.banned_by,
        banned_by_name=ban.banned_by_name,
        banned_at=ban.banned_at.astimezone(UTC).isoformat(),
        until=None if ban.until is None else ban.until.astimezone(UTC).isoformat(),
    )


def _role(text: str) -> Role:
    for role in _ROLES:
        if text == role:
            return role
    raise DomainError(errors.INVALID_PARAMETER, "the role is root, admin or user")


class UserAdmin(users_grpc.UserAdminBase):
    def __init__(self, accounts: AccountService, link: Callable[[str], str]) -> None:
        self._accounts = accounts
        self._link = link

    @unary
    async def ResetPassword(self, request: users_pb2.UserRef) -> users_pb2.ResetPasswordResponse:
        token = await self._accounts.reset_password("root", CLI_ACTOR, request.user)
        return users_pb2.ResetPasswordResponse(
            reset_url=self._link(f"/reset-password?token={token}"),
            expires_in_secs=RESET_VALID_SECONDS,
        )

    @unary
    async def List(self, request: users_pb2.ListUsersRequest) -> users_pb2.ListUsersResponse:
        banned = {"": None, "yes": True, "no": False}.get(request.banned)
        users, total = await self._accounts.list_users(
            search=request.search,
            role=request.role or None,
            status=request.status or None,
            banned=banned,
            page=request.page or 1,
            page_size=request.page_size or 50,
        )
        return users_pb2.ListUsersResponse(users=[account(u) for u in users], total=total)

    @unary
    async def Show(self, request: users_pb2.UserRef) -> users_pb2.Account:
        return account(await self._accounts.find(request.user))

    @unary
    async def CreateStart(
        self, request: users_pb2.CreateUserStartRequest
    ) -> users_pb2.CreateUserStartResponse:
        session, response = await self._accounts.create_start(
            "root", request.username, _role(request.role), request.registration_request
        )
        return users_pb2.CreateUserStartResponse(session_id=session, registration_response=response)

    @unary
    async def CreateFinish(self, request: users_pb2.CreateUserFinishRequest) -> users_pb2.Account:
        user = await self._accounts.create_finish(
            request.session_id, request.registration_upload, CLI_ACTOR
        )
        return account(user)

    @unary
    async def SetRole(self, request: users_pb2.SetRoleRequest) -> users_pb2.Account:
        return account(
            await self._accounts.set_role("root", CLI_ACTOR, request.user, _role(request.role))
        )

    @unary
    async def Ban(self, request: users_pb2.BanUserRequest) -> users_pb2.Account:
        until = None
        if request.until:
            try:
                until = datetime.fromisoformat(request.until)
            except ValueError:
                raise DomainError(errors.INVALID_PARAMETER, "until is an RFC 3339 time") from None
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
        return account(
            await self._accounts.ban("root", CLI_ACTOR, request.user, request.reason, until)
        )

    @unary
    async def Unban(self, request: users_pb2.UserRef) -> users_pb2.Account:
        return account(await self._accounts.unban("root", CLI_ACTOR, request.user))

    @unary
    async def Delete(self, request: users_pb2.UserRef) -> users_pb2.Account:
        user = await self._accounts.find(request.user)
        await self._accounts.delete("root", CLI_ACTOR, user.id)
        return account(user)

    @unary
    async def Approve(self, request: users_pb2.UserRef) -> users_pb2.Account:
        return account(await self._accounts.approve("root", CLI_ACTOR, request.user))

    @unary
    async def Reject(self, request: users_pb2.UserRef) -> users_pb2.Account:
        user = await self._accounts.find(request.user)
        await self._accounts.reject("root", CLI_ACTOR, user.id)
        return account(user)

    @unary
    async def Sessions(self, request: users_pb2.UserRef) -> users_pb2.SessionsResponse:
        rows = await self._accounts.sessions("root", CLI_ACTOR, request.user)
        return users_pb2.SessionsResponse(
            sessions=[
                users_pb2.Session(
                    id=r.id,
                    created_at=r.created_at.astimezone(UTC).isoformat(),
                    last_used_at=r.last_used_at.astimezone(UTC).isoformat(),
                    client_address=r.client_address or "",
                    user_agent=r.user_agent,
                )
                for r in rows
            ]
        )

    @unary
    async def RevokeSessions(self, request: users_pb2.UserRef) -> users_pb2.RevokeSessionsResponse:
        count = await self._accounts.revoke_sessions("root", CLI_ACTOR, request.user)
        return users_pb2.RevokeSessionsResponse(revoked=count)
