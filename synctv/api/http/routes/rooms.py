"""``/api/rooms``: rooms, their settings and members (the REST face of :mod:`synctv.core.rooms`).

Every route resolves the caller through the principal seam and hands the service a
:class:`~synctv.core.rooms.Caller`; the service checks the room permission each operation needs,
so a route here never decides who may do what.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import AwareDatetime, Field

from synctv import errors
from synctv.api.http.asgi import REQUEST_ID
from synctv.api.http.principal import Principal, current_principal
from synctv.api.http.routes.auth import (
    CamelModel,
    HandshakeId,
    Message,
    decode_message,
    encode_message,
    json_answer,
    refusals,
)
from synctv.auth.room_passwords import RoomPasswords
from synctv.core.permissions import Permission, names
from synctv.core.rooms import MAX_PAGE_SIZE, Access, Caller, RoomService
from synctv.errors import DomainError
from synctv.store.rooms import BanRow, MemberRow, RoomRow

RoomId = Annotated[str, Path(min_length=1, max_length=64)]
UserId = Annotated[str, Path(min_length=1, max_length=64)]
_AUTH = (401, "`authentication_required`, `token_expired` or `token_revoked`")
_DENIED = (403, "`permission_denied` (the room permission named in details)")
_MISSING = (404, "`room_not_found` (also for a private room you are not a member of)")


class RoomOut(CamelModel):
    id: str
    name: str
    description: str
    is_public: bool
    has_password: bool
    owner_id: str
    member_count: int
    settings: dict[str, Any] = Field(description="The room settings document (camelCase).")
    created_at: str = Field(description="RFC 3339, UTC.")


class RoomEnvelope(CamelModel):
    room: RoomOut


class RoomAccessOut(CamelModel):
    room: RoomOut
    my_role: Literal["creator", "admin", "member", "guest"] | None = Field(
        description="None: not a member (a public room's visitor, or a platform admin)."
    )
    my_permissions: list[str] = Field(description="Room permission names, in SyncTV's order.")


class CreateRoomIn(CamelModel):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=500)
    is_public: bool = True
    settings: dict[str, Any] | None = Field(None, description="A partial settings document.")
    password: str | None = Field(
        None,
        max_length=1024,
        description="Optional room password (stored as an OPAQUE record; never kept).",
    )


class JoinIn(CamelModel):
    password: str | None = Field(None, max_length=1024, description="For a password room.")


class PasswordIn(CamelModel):
    password: str = Field(min_length=1, max_length=1024)


class PasswordRegistrationStartIn(CamelModel):
    registration_request: Message = Field(description="OPAQUE RegistrationRequest, base64.")


class PasswordRegistrationStartOut(CamelModel):
    session_id: str
    registration_response: str = Field(description="OPAQUE RegistrationResponse, base64.")


class PasswordRegistrationFinishIn(CamelModel):
    session_id: HandshakeId
    registration_upload: Message = Field(description="OPAQUE RegistrationUpload, base64.")


class PasswordLoginStartIn(CamelModel):
    credential_request: Message = Field(description="OPAQUE KE1, base64.")


class PasswordLoginStartOut(CamelModel):
    session_id: str
    credential_response: str = Field(description="OPAQUE KE2, base64.")


class PasswordLoginFinishIn(CamelModel):
    session_id: HandshakeId
    credential_finalization: Message = Field(description="OPAQUE KE3, base64.")


class UpdateRoomIn(CamelModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=500)
    is_public: bool | None = None


class DiscoverOut(CamelModel):
    rooms: list[RoomOut]
    total: int
    page: int
    page_size: int


class MyRoomOut(CamelModel):
    room: RoomOut
    role: Literal["creator", "admin", "member"]


class MyRoomsOut(CamelModel):
    rooms: list[MyRoomOut]


class JoinOut(CamelModel):
    room: RoomOut
    status: Literal["joined", "pending"]


class MemberOut(CamelModel):
    user_id: str
    username: str
    role: Literal["creator", "admin", "member"]
    added: list[str]
    removed: list[str]
    joined_at: str


class MembersOut(CamelModel):
    members: list[MemberOut]


class AddMemberIn(CamelModel):
    user_id: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "member"] = "member"


class UpdateMemberIn(CamelModel):
    role: Literal["admin", "member"] | None = None
    added: list[str] | None = Field(None, description="Permissions added for this member.")
    removed: list[str] | None = Field(None, description="Permissions removed for this member.")


class KickIn(CamelModel):
    cooldown_seconds: int = Field(60, ge=1, le=30 * 24 * 3600)
    reason: str = Field("", max_length=500)


class BanIn(CamelModel):
    reason: str = Field("", max_length=500, description="Shown to those who may ban.")
    until: AwareDatetime | None = Field(
        default=None, description="RFC 3339, a time to come; absent: until lifted."
    )


class BanOut(CamelModel):
    user_id: str
    username: str
    reason: str
    banned_by: str = Field(description="The id of the account that banned.")
    banned_by_name: str | None = Field(description="Its name; null if there is no such account.")
    banned_at: str = Field(description="RFC 3339, UTC.")
    until: str | None = Field(description="RFC 3339, UTC; null: until lifted.")


class BansOut(CamelModel):
    bans: list[BanOut]


class TransferIn(CamelModel):
    new_owner_id: str = Field(min_length=1, max_length=64)


class JoinRequestOut(CamelModel):
    user_id: str
    username: str
    requested_at: str


class JoinRequestsOut(CamelModel):
    requests: list[JoinRequestOut]


def room_out(room: RoomRow) -> RoomOut:
    return RoomOut(
        id=room.id,
        name=room.name,
        description=room.description,
        is_public=room.is_public,
        has_password=room.has_password,
        owner_id=room.owner_id,
        member_count=room.member_count,
        settings=room.settings,
        created_at=room.created_at.isoformat(),
    )


def _ban_out(ban: BanRow) -> BanOut:
    return BanOut(
        user_id=ban.user_id,
        username=ban.username,
        reason=ban.reason,
        banned_by=ban.banned_by,
        banned_by_name=ban.banned_by_name,
        banned_at=ban.banned_at.isoformat(),
        until=None if ban.until is None else ban.until.isoformat(),
    )


def _member_out(member: MemberRow) -> MemberOut:
    return MemberOut(
        user_id=member.user_id,
        username=member.username,
        role=member.role,
        added=list(member.added),
        removed=list(member.removed),
        joined_at=member.joined_at.isoformat(),
    )


def _access_out(access: Access) -> RoomAccessOut:
    return RoomAccessOut(
        room=room_out(access.room),
        my_role=access.role,
        my_permissions=names(access.permissions),
    )


def _access_json(access: Access) -> Response:
    """:func:`_access_out` as the JSON FastAPI would send for it (``RoomAccessOut``, camelCase,
    in field order), built directly (``json_answer``): the model stays the route's documented
    contract; a test checks both give the same bytes."""
    room = access.room
    body = {
        "room": {
            "id": room.id,
            "name": room.name,
            "description": room.description,
            "isPublic": room.is_public,
            "hasPassword": room.has_password,
            "ownerId": room.owner_id,
            "memberCount": room.member_count,
            "settings": room.settings,
            "createdAt": room.created_at.isoformat(),
        },
        "myRole": access.role,
        "myPermissions": names(access.permissions),
    }
    return json_answer(body)


async def caller(request: Request) -> Caller:
    """The principal as the rooms service sees it."""
    principal: Principal = await current_principal(request)
    client = request.client
    return Caller(
        user_id=principal.user_id,
        global_role=principal.role,
        guest_room=principal.room_id if principal.role == "guest" else None,
        address=client.host if client is not None else None,
        request_id=request.scope.get(REQUEST_ID),
    )


Who = Annotated[Caller, Depends(caller)]


def rooms_router(rooms: RoomService, passwords: RoomPasswords) -> APIRouter:
    router = APIRouter(prefix="/api/rooms", tags=["rooms"])

    @router.post(
        "",
        status_code=201,
        response_model=RoomEnvelope,
        responses=refusals(
            _AUTH,
            (403, "`room_creation_disabled` or `permission_denied` (guests)"),
            (409, "`room_limit_reached`"),
            (422, "`invalid_room` or `invalid_room_settings`"),
        ),
    )
    async def create(who: Who, body: CreateRoomIn) -> Any:
        """Create a room; the caller becomes its creator."""
        room = await rooms.create(
            who,
            name=body.name,
            description=body.description,
            is_public=body.is_public,
            settings=body.settings,
            password=body.password,
        )
        return RoomEnvelope(room=room_out(room))

    @router.get("/discover", response_model=DiscoverOut, responses=refusals(_AUTH))
    async def discover(
        who: Who,
        q: Annotated[str, Query(max_length=100)] = "",
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> Any:
        """Public rooms, newest first; ``q`` searches names."""
        found, total = await rooms.discover(q, page, page_size)
        return DiscoverOut(
            rooms=[room_out(r) for r in found], total=total, page=page, page_size=page_size
        )

    @router.get("/mine", response_model=MyRoomsOut, responses=refusals(_AUTH))
    async def mine(who: Who) -> Any:
        """The rooms the caller is a member of, most recently joined first."""
        return MyRoomsOut(
            rooms=[MyRoomOut(room=room_out(r), role=role) for r, role in await rooms.my_rooms(who)]
        )

    @router.get("/{room_id}", response_model=RoomAccessOut, responses=refusals(_AUTH, _MISSING))
    async def get(who: Who, room_id: RoomId) -> Any:
        """The room, the caller's role in it and their effective permissions."""
        return _access_json(await rooms.view(who, room_id))

    @router.patch(
        "/{room_id}",
        response_model=RoomEnvelope,
        responses=refusals(_AUTH, _DENIED, _MISSING, (422, "`invalid_room`")),
    )
    async def update(who: Who, room_id: RoomId, body: UpdateRoomIn) -> Any:
        """Rename, describe, or make public or private (``manage_room_settings``)."""
        room = await rooms.update(
            who, room_id, name=body.name, description=body.description, is_public=body.is_public
        )
        return RoomEnvelope(room=room_out(room))

    @router.delete("/{room_id}", status_code=204, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def delete(who: Who, room_id: RoomId) -> Response:
        """Delete the room (its creator, or a platform admin)."""
        await rooms.delete(who, room_id)
        return Response(status_code=204)

    @router.get(
        "/{room_id}/settings",
        response_model=dict[str, Any],
        responses=refusals(_AUTH, _MISSING),
    )
    async def get_settings(who: Who, room_id: RoomId) -> Any:
        """The room settings document."""
        return (await rooms.settings(who, room_id)).to_json()

    @router.patch(
        "/{room_id}/settings",
        response_model=dict[str, Any],
        responses=refusals(_AUTH, _DENIED, _MISSING, (422, "`invalid_room_settings`")),
    )
    async def patch_settings(
        who: Who, room_id: RoomId, patch: Annotated[dict[str, Any], Body()]
    ) -> Any:
        """Change some settings (``manage_room_settings``); nested objects merge one level."""
        return (await rooms.patch_settings(who, room_id, patch)).to_json()

    @router.post(
        "/{room_id}/settings/reset",
        response_model=dict[str, Any],
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def reset_settings(who: Who, room_id: RoomId) -> Any:
        """Back to the defaults (``manage_room_settings``)."""
        return (await rooms.reset_settings(who, room_id)).to_json()

    @router.put(
        "/{room_id}/members/@me",
        response_model=JoinOut,
        responses=refusals(
            _AUTH,
            _MISSING,
            (
                403,
                "`room_join_closed`, `room_banned`, `room_kick_cooldown`,"
                " `room_password_required` or `permission_denied` (guests)",
            ),
            (409, "`room_full`"),
        ),
    )
    async def join(who: Who, room_id: RoomId, body: JoinIn | None = None) -> Any:
        """Join (idempotent): ``pending`` when the room reviews join requests. A password room
        takes its password here, or through the OPAQUE flow under ``/password/opaque/login``."""
        result = await rooms.join(who, room_id, body.password if body else None)
        return JoinOut(room=room_out(result.room), status=result.status)

    _PASSWORD_WRONG = (403, "`room_password_required` (missing or wrong)")

    @router.put(
        "/{room_id}/password",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (422, "`invalid_room` (password policy)")),
    )
    async def set_password(who: Who, room_id: RoomId, body: PasswordIn) -> Response:
        """Set the room password (``manage_room_settings``); the server keeps only an OPAQUE
        record. Clients that can run OPAQUE use ``/password/opaque/registration`` instead."""
        await rooms.set_password(who, room_id, body.password)
        return Response(status_code=204)

    @router.delete(
        "/{room_id}/password", status_code=204, responses=refusals(_AUTH, _DENIED, _MISSING)
    )
    async def clear_password(who: Who, room_id: RoomId) -> Response:
        """Remove the room password (``manage_room_settings``)."""
        await rooms.set_password(who, room_id, None)
        return Response(status_code=204)

    @router.post(
        "/{room_id}/password/opaque/registration/start",
        response_model=PasswordRegistrationStartOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def password_registration_start(
        who: Who, room_id: RoomId, body: PasswordRegistrationStartIn
    ) -> Any:
        """Set the password with OPAQUE (the password never leaves the client), step 1."""
        (await rooms.access(who, room_id)).require(Permission.MANAGE_ROOM_SETTINGS)
        request = decode_message(body.registration_request, "registrationRequest")
        handshake = await passwords.registration_start(room_id, request)
        return PasswordRegistrationStartOut(
            session_id=handshake.session_id,
            registration_response=encode_message(handshake.message),
        )

    @router.post(
        "/{room_id}/password/opaque/registration/finish",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def password_registration_finish(
        who: Who, room_id: RoomId, body: PasswordRegistrationFinishIn
    ) -> Response:
        """Step 2: store the record."""
        upload = decode_message(body.registration_upload, "registrationUpload")
        record = await passwords.registration_finish(room_id, body.session_id, upload)
        await rooms.set_password_record(who, room_id, record)
        return Response(status_code=204)

    @router.post(
        "/{room_id}/password/opaque/login/start",
        response_model=PasswordLoginStartOut,
        responses=refusals(_AUTH, _MISSING, (429, "`rate_limited` (too many wrong passwords)")),
    )
    async def password_login_start(who: Who, room_id: RoomId, body: PasswordLoginStartIn) -> Any:
        """Join a password room with OPAQUE, step 1 (KE1 → KE2)."""
        record = await rooms.password_record(who, room_id)
        request = decode_message(body.credential_request, "credentialRequest")
        handshake = await passwords.login_start(room_id, record, request, who.address)
        return PasswordLoginStartOut(
            session_id=handshake.session_id,
            credential_response=encode_message(handshake.message),
        )

    @router.post(
        "/{room_id}/password/opaque/login/finish",
        response_model=JoinOut,
        responses=refusals(_AUTH, _MISSING, _PASSWORD_WRONG, (409, "`room_full`")),
    )
    async def password_login_finish(who: Who, room_id: RoomId, body: PasswordLoginFinishIn) -> Any:
        """Step 2 (KE3): the proof checks out, and the caller joins."""
        finalization = decode_message(body.credential_finalization, "credentialFinalization")
        await passwords.login_finish(room_id, body.session_id, finalization, who.address)
        result = await rooms.join(who, room_id, password_verified=True)
        return JoinOut(room=room_out(result.room), status=result.status)

    @router.delete(
        "/{room_id}/members/@me",
        status_code=204,
        responses=refusals(
            _AUTH, _MISSING, (409, "`creator_must_transfer`"), (404, "`member_not_found`")
        ),
    )
    async def leave(who: Who, room_id: RoomId) -> Response:
        """Leave the room (the creator transfers it first)."""
        await rooms.leave(who, room_id)
        return Response(status_code=204)

    @router.get(
        "/{room_id}/members",
        response_model=MembersOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def members(
        who: Who,
        room_id: RoomId,
        page: Annotated[int, Query(ge=1)] = 1,
        page_size: Annotated[int, Query(alias="pageSize", ge=1, le=MAX_PAGE_SIZE)] = 50,
    ) -> Any:
        """Members, creator and admins first (``view_members``)."""
        rows = await rooms.members(who, room_id, page, page_size)
        return MembersOut(members=[_member_out(m) for m in rows])

    @router.post(
        "/{room_id}/members",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (409, "`room_full`")),
    )
    async def add_member(who: Who, room_id: RoomId, body: AddMemberIn) -> Response:
        """Add someone directly (``add_members``; room admins only by the creator)."""
        await rooms.add_member(who, room_id, body.user_id, body.role)
        return Response(status_code=204)

    @router.patch(
        "/{room_id}/members/{user_id}",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (404, "`member_not_found`")),
    )
    async def update_member(
        who: Who, room_id: RoomId, user_id: UserId, body: UpdateMemberIn
    ) -> Response:
        """Change a member's role and own permission overrides (``manage_member_permissions``)."""
        await rooms.set_member(
            who, room_id, user_id, role=body.role, added=body.added, removed=body.removed
        )
        return Response(status_code=204)

    @router.delete(
        "/{room_id}/members/{user_id}",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (404, "`member_not_found`")),
    )
    async def kick(who: Who, room_id: RoomId, user_id: UserId, body: KickIn) -> Response:
        """Remove a member; they may not join again for the cool-down (``remove_members``)."""
        await rooms.kick(who, room_id, user_id, body.cooldown_seconds, body.reason)
        return Response(status_code=204)

    @router.get(
        "/{room_id}/bans",
        response_model=BansOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def bans(who: Who, room_id: RoomId) -> Any:
        """Who is banned from the room now, newest first (the newest 1,000), with the reason,
        who banned and until when (``remove_members``)."""
        return BansOut(bans=[_ban_out(b) for b in await rooms.bans(who, room_id)])

    @router.put(
        "/{room_id}/bans/{user_id}",
        status_code=204,
        responses=refusals(
            _AUTH,
            (400, "`invalid_parameter` (until is past)"),
            _DENIED,
            (404, "`room_not_found`, or `user_not_found` (no such account)"),
        ),
    )
    async def ban(who: Who, room_id: RoomId, user_id: UserId, body: BanIn) -> Response:
        """Ban someone from the room, until lifted or until ``until`` (``remove_members``);
        banning again replaces the ban."""
        await rooms.ban(who, room_id, user_id, body.reason, body.until)
        return Response(status_code=204)

    @router.delete(
        "/{room_id}/bans/{user_id}",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (404, "`member_not_found`")),
    )
    async def unban(who: Who, room_id: RoomId, user_id: UserId) -> Response:
        """Lift a room ban (``remove_members``)."""
        await rooms.unban(who, room_id, user_id)
        return Response(status_code=204)

    @router.get(
        "/{room_id}/join-requests",
        response_model=JoinRequestsOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def join_requests(who: Who, room_id: RoomId) -> Any:
        """Pending join requests, oldest first (``review_join_requests``)."""
        rows = await rooms.join_requests(who, room_id)
        return JoinRequestsOut(
            requests=[
                JoinRequestOut(user_id=u, username=n, requested_at=t.isoformat())
                for u, n, t in rows
            ]
        )

    @router.post(
        "/{room_id}/join-requests/{user_id}/approve",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (404, "`join_request_not_found`")),
    )
    async def approve(who: Who, room_id: RoomId, user_id: UserId) -> Response:
        await rooms.approve(who, room_id, user_id)
        return Response(status_code=204)

    @router.post(
        "/{room_id}/join-requests/{user_id}/reject",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (404, "`join_request_not_found`")),
    )
    async def reject(who: Who, room_id: RoomId, user_id: UserId) -> Response:
        await rooms.reject(who, room_id, user_id)
        return Response(status_code=204)

    @router.post(
        "/{room_id}/owner",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING, (404, "`member_not_found`")),
    )
    async def transfer(who: Who, room_id: RoomId, body: TransferIn) -> Response:
        """Make another member the creator; the caller becomes a room admin."""
        await rooms.transfer(who, room_id, body.new_owner_id)
        return Response(status_code=204)

    return router


class GuestTokenIn(CamelModel):
    room_id: str = Field(min_length=1, max_length=64)


class GuestTokenOut(CamelModel):
    token: str = Field(description="A bearer token for this room only (no account).")
    guest_id: str
    expires_at: int = Field(description="Unix seconds.")


def guest_router(
    rooms: RoomService,
    issue: Callable[[str, str], tuple[str, int]],
    limit: Callable[[str], Awaitable[None]],
) -> APIRouter:
    """``POST /api/auth/guest-token``: into a public room that admits guests, without an
    account (the room's checks: public, ``allowGuestJoin``, no password, ``user.enableGuest``).
    ``limit`` counts every request per client address (``ratelimit.guestTokensPerAddressPerHour``)
    before anything else, so probing rooms costs budget too."""
    router = APIRouter(prefix="/api/auth", tags=["auth"])

    @router.post(
        "/guest-token",
        response_model=GuestTokenOut,
        responses=refusals(
            (403, "`guest_not_admitted`"),
            (429, "`rate_limited` (ratelimit.guestTokensPerAddressPerHour)"),
            (503, "`dependency_unavailable` (the rate-limit store is away)"),
        ),
    )
    async def guest_token(body: GuestTokenIn, request: Request) -> Any:
        """A guest token for one room (4 h); guests are never stored."""
        if request.client is not None:
            await limit(request.client.host)
        if not await rooms.admits_guest(body.room_id):
            raise DomainError(
                errors.GUEST_NOT_ADMITTED,
                "guests may not enter this room (private, password, or guests turned off)",
            )
        guest_id = "guest-" + secrets.token_urlsafe(12)
        token, expires_at = issue(guest_id, body.room_id)
        return GuestTokenOut(token=token, guest_id=guest_id, expires_at=expires_at)

    return router
