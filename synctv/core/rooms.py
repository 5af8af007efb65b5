"""Rooms and their members: who may see, join and manage a room. One service behind every API.

Theory of operation. Every request resolves the caller's *access* to the room first
(:meth:`RoomService.access`, one database round trip: the room and the caller's membership):
their room role (creator, admin, member, guest, or none) and their effective permissions
(:mod:`synctv.core.permissions`, from the role, the room's overrides and the member's own). Each
operation then checks the one permission it needs and refuses with ``permission_denied``.

* A private room is invisible to non-members: everything but joining answers ``room_not_found``
  (the id in an invitation link is what lets someone join).
* Platform admins and root moderate any room: every permission, without being members.
* Acting on another member needs outranking them: the creator outranks admins, admins outrank
  members; only the creator (or a platform admin) makes or unmakes room admins, and nobody can
  give a permission they do not hold themselves.

Every change is written with its ``room_events`` row in the same transaction
(:mod:`synctv.store.rooms`); this module decides, the store records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol

from synctv import errors
from synctv.core.permissions import (
    ALL,
    NotAssignable,
    Overrides,
    Permission,
    Permissions,
    RoomRole,
    UnknownPermission,
    check_assignable,
    effective_permissions,
    names,
    parse_permissions,
)
from synctv.core.room_settings import (
    InvalidRoomSettings,
    RoomSettings,
    apply_patch,
    default_settings,
    load_settings,
)
from synctv.errors import DomainError
from synctv.ids import public_id
from synctv.store.audit import AuditActor
from synctv.store.rooms import (
    BanRow,
    Created,
    Joined,
    JoinOutcome,
    MemberRole,
    MemberRow,
    RoomRow,
    RoomStore,
)

GlobalRole = Literal["root", "admin", "user", "guest"]
MAX_NAME: Final = 100
MAX_DESCRIPTION: Final = 500
MAX_PAGE_SIZE: Final = 100
MIN_KICK_COOLDOWN: Final = 1
MAX_KICK_COOLDOWN: Final = 30 * 24 * 3600
_RANK: Final[Mapping[RoomRole, float]] = {"creator": 3, "admin": 2, "member": 1, "guest": 0}
# Platform admins moderate any room: above room admins, below the room's creator.
_PLATFORM_ADMIN_RANK: Final = 2.5


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: a user (with their global role) or a guest bound to one room."""

    user_id: str
    global_role: GlobalRole
    guest_room: str | None = None
    address: str | None = None
    request_id: str | None = None
    session_id: str | None = None  # the login session of an access token (None: guests, tests)

    @property
    def platform_admin(self) -> bool:
        return self.global_role in ("root", "admin")

    @property
    def is_guest(self) -> bool:
        return self.global_role == "guest"

    def actor(self) -> AuditActor:
        return AuditActor(self.user_id, self.address, self.request_id)


@dataclass(frozen=True, slots=True)
class Access:
    """The caller's standing in one room."""

    room: RoomRow
    settings: RoomSettings
    role: RoomRole | None  # None: not a member (a public room's visitor, or a platform admin)
    permissions: Permissions

    def require_to_give(self, wanted: Permissions) -> None:
        """Nobody gives what they do not hold (to a member, or to a role in the settings)."""
        beyond = wanted - self.permissions
        if beyond:
            raise DomainError(
                errors.PERMISSION_DENIED,
                f"you cannot give permissions you do not hold: {', '.join(names(beyond))}",
            )

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise DomainError(
                errors.PERMISSION_DENIED,
                f"you need the room permission {permission.value}",
                {"permission": permission.value},
            )


@dataclass(frozen=True, slots=True)
class JoinResult:
    room: RoomRow
    status: Literal["joined", "pending"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Server-wide rules read per request (runtime settings)."""

    creation_allowed: Callable[[], bool]
    max_rooms_per_user: Callable[[], int]
    default_max_members: Callable[[], int]
    guests_allowed: Callable[[], bool]
    password_policy: Callable[[], Literal["optional", "required", "forbidden"]] = lambda: "optional"


class PasswordCheck(Protocol):
    """Room passwords as OPAQUE records (``synctv.auth.room_passwords``, wired by the app)."""

    async def record_from_password(self, room_id: str, password: str) -> bytes: ...

    async def check_plain(
        self, room_id: str, record: bytes, password: str, address: str | None
    ) -> None: ...


def new_room_id() -> str:
    """128 random bits, URL-safe: room ids say nothing about how many rooms exist."""
    return public_id()


def _text(value: str, limit: int, what: str, *, empty_ok: bool) -> str:
    text = value.strip()
    if (not text and not empty_ok) or len(text) > limit or "<" in text or ">" in text:
        raise DomainError(
            errors.INVALID_ROOM,
            f"the room {what} must be {'up to' if empty_ok else '1 to'} {limit} characters,"
            " without < or >",
            {"field": what},
        )
    if any(ord(c) < 0x20 and c not in "\n\t" for c in text):
        raise DomainError(errors.INVALID_ROOM, f"the room {what} has control characters")
    return text


def _settings(stored: Mapping[str, Any]) -> RoomSettings:
    try:
        return load_settings(stored)
    except InvalidRoomSettings:  # a row written by a newer version: refuse, do not guess
        raise DomainError(errors.INTERNAL_ERROR, "the room's settings cannot be read") from None


def _gone() -> DomainError:
    return DomainError(errors.ROOM_NOT_FOUND, "no room with this id")


class RoomService:
    def __init__(self, store: RoomStore, limits: Limits, passwords: PasswordCheck) -> None:
        self._store = store
        self._limits = limits
        self._passwords = passwords

    # -- access --------------------------------------------------------------------------------

    async def access(self, caller: Caller, room_id: str) -> Access:
        """The caller's role and permissions in the room; ``room_not_found`` when they may not
        even know it exists."""
        if not room_id or len(room_id) > 64:
            raise _gone()
        return self._standing(caller, *await self._read(room_id, caller))

    async def view(self, caller: Caller, room_id: str) -> Access:
        """:meth:`access` for an answer that changes nothing (``GET /api/rooms/{id}``): the
        room and membership may come from the store's short-lived read cache, which every
        change to the room invalidates (:mod:`synctv.store.room_cache`). Whatever acts on the
        room keeps using :meth:`access` (one fresh read)."""
        if not room_id or len(room_id) > 64:
            raise _gone()
        cache = self._store.cache
        if cache is None:
            return await self.access(caller, room_id)
        user_id = None if caller.is_guest else caller.user_id
        read = await cache.get(room_id, user_id, lambda: self._read(room_id, caller))
        return self._standing(caller, *read)

    async def _read(
        self, room_id: str, caller: Caller
    ) -> tuple[RoomRow, MemberRow | None, RoomSettings]:
        room, member = await self._store.room_and_member(
            room_id, None if caller.is_guest else caller.user_id
        )
        if room is None:
            raise _gone()
        return room, member, _settings(room.settings)

    def _standing(
        self, caller: Caller, room: RoomRow, member: MemberRow | None, settings: RoomSettings
    ) -> Access:
        if room.suspended_at is not None and not caller.platform_admin:
            raise DomainError(
                errors.ROOM_SUSPENDED,
                "an administrator suspended this room",
                {"reason": room.suspend_reason},
            )
        overrides = settings.permissions.role_overrides()
        if member is not None:
            own = Overrides(_known(member.added), _known(member.removed))
            return Access(
                room, settings, member.role, effective_permissions(member.role, overrides, own)
            )
        if caller.platform_admin:
            return Access(room, settings, None, ALL)
        if caller.is_guest and caller.guest_room == room.id and self._admits_guests(room, settings):
            return Access(room, settings, "guest", effective_permissions("guest", overrides))
        if room.is_public and not caller.is_guest:
            return Access(room, settings, None, frozenset())
        raise _gone()

    def _admits_guests(self, room: RoomRow, settings: RoomSettings) -> bool:
        return (
            room.is_public
            and settings.allow_guest_join
            and not room.has_password
            and room.closed_at is None
            and room.suspended_at is None
            and self._limits.guests_allowed()
        )

    async def admits_guest(self, room_id: str) -> bool:
        """Whether a guest token may be issued for this room (the identity feature asks)."""
        room = await self._store.room(room_id) if 0 < len(room_id) <= 64 else None
        return room is not None and self._admits_guests(room, _settings(room.settings))

    # -- rooms ---------------------------------------------------------------------------------

    async def create(
        self,
        caller: Caller,
        *,
        name: str,
        description: str = "",
        is_public: bool = True,
        settings: Mapping[str, Any] | None = None,
        password: str | None = None,
    ) -> RoomRow:
        if caller.is_guest:
            raise DomainError(errors.PERMISSION_DENIED, "sign in with an account to create rooms")
        if not self._limits.creation_allowed() and not caller.platform_admin:
            raise DomainError(errors.ROOM_CREATION_DISABLED, "creating rooms is turned off")
        clean_name = _text(name, MAX_NAME, "name", empty_ok=False)
        clean_description = _text(description, MAX_DESCRIPTION, "description", empty_ok=True)
        chosen = default_settings(self._limits.default_max_members())
        if settings:
            chosen = _patched(chosen, settings)
        self._check_policy(password is not None and password != "")
        room_id = new_room_id()
        record = await self._passwords.record_from_password(room_id, password) if password else None
        max_rooms = self._limits.max_rooms_per_user()
        outcome, room = await self._store.create(
            room_id=room_id,
            owner_id=caller.user_id,
            name=clean_name,
            description=clean_description,
            is_public=is_public,
            settings=chosen.to_json(),
            max_rooms=max_rooms,
            by=caller.actor(),
            password_record=record,
        )
        if outcome is Created.LIMIT_REACHED or room is None:
            raise DomainError(
                errors.ROOM_LIMIT_REACHED,
                f"you own {max_rooms} rooms, the most server.maxRoomsPerUser allows",
                {"limit": max_rooms},
            )
        return room

    async def discover(self, search: str, page: int, page_size: int) -> tuple[list[RoomRow], int]:
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE or len(search) > MAX_NAME:
            raise DomainError(
                errors.INVALID_PARAMETER,
                f"page is 1 or more, pageSize 1 to {MAX_PAGE_SIZE}, q at most {MAX_NAME} chars",
            )
        return await self._store.discover(search.strip(), page_size, (page - 1) * page_size)

    # -- platform administration -------------------------------------------------------------

    def _operator(self, caller: Caller) -> None:
        if not caller.platform_admin:
            raise DomainError(errors.PERMISSION_DENIED, "platform administrators only")

    async def all_rooms(
        self, caller: Caller, search: str, page: int, page_size: int
    ) -> tuple[list[RoomRow], int]:
        """Every room, private and suspended ones too (platform admins)."""
        self._operator(caller)
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE or len(search) > MAX_NAME:
            raise DomainError(errors.INVALID_PARAMETER, f"pageSize is 1 to {MAX_PAGE_SIZE}")
        return await self._store.all_rooms(search.strip(), page_size, (page - 1) * page_size)

    async def suspend(self, caller: Caller, room_id: str, reason: str | None) -> None:
        """Suspend a whole room (reason given) or restore it (None): platform admins."""
        self._operator(caller)
        if reason is not None and not reason.strip():
            raise DomainError(errors.INVALID_PARAMETER, "say why the room is suspended")
        if not await self._store.suspend(room_id, reason and reason.strip()[:500], caller.actor()):
            raise _gone()

    async def my_rooms(self, caller: Caller) -> list[tuple[RoomRow, MemberRole]]:
        if caller.is_guest:
            return []
        return await self._store.my_rooms(caller.user_id)

    async def update(
        self,
        caller: Caller,
        room_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        is_public: bool | None = None,
    ) -> RoomRow:
        access = await self.access(caller, room_id)
        access.require(Permission.MANAGE_ROOM_SETTINGS)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _text(name, MAX_NAME, "name", empty_ok=False)
        if description is not None:
            changes["description"] = _text(
                description, MAX_DESCRIPTION, "description", empty_ok=True
            )
        if is_public is not None:
            changes["is_public"] = is_public
        if not changes:
            return access.room
        room = await self._store.update(room_id, changes, "room_updated", caller.user_id)
        if room is None:
            raise _gone()
        return room

    async def delete(self, caller: Caller, room_id: str) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.DELETE_ROOM)
        if not await self._store.delete(room_id, caller.actor()):
            raise _gone()

    # -- settings ------------------------------------------------------------------------------

    async def settings_of(self, room_id: str) -> RoomSettings | None:
        """The room's settings as the server itself reads them (no caller); None when gone."""
        room, _ = await self._store.room_and_member(room_id, None)
        return None if room is None else _settings(room.settings)

    async def settings(self, caller: Caller, room_id: str) -> RoomSettings:
        return (await self.access(caller, room_id)).settings

    async def patch_settings(
        self, caller: Caller, room_id: str, patch: Mapping[str, Any]
    ) -> RoomSettings:
        access = await self.access(caller, room_id)
        access.require(Permission.MANAGE_ROOM_SETTINGS)
        if "permissions" in patch:
            _may_grant(access, patch["permissions"])
        return await self._store_settings(caller, room_id, _patched(access.settings, patch))

    async def reset_settings(self, caller: Caller, room_id: str) -> RoomSettings:
        access = await self.access(caller, room_id)
        access.require(Permission.MANAGE_ROOM_SETTINGS)
        fresh = default_settings(self._limits.default_max_members())
        return await self._store_settings(caller, room_id, fresh)

    async def _store_settings(
        self, caller: Caller, room_id: str, settings: RoomSettings
    ) -> RoomSettings:
        room = await self._store.update(
            room_id, {"settings": settings.to_json()}, "settings_changed", caller.user_id
        )
        if room is None:
            raise _gone()
        return settings

    # -- joining and leaving -------------------------------------------------------------------

    async def join(
        self,
        caller: Caller,
        room_id: str,
        password: str | None = None,
        *,
        password_verified: bool = False,
    ) -> JoinResult:
        """Join (idempotent). A password room needs its password (plain here, checked by
        running OPAQUE's client side on the server) or ``password_verified`` after the OPAQUE
        login flow; platform admins need neither."""
        if caller.is_guest:
            raise DomainError(errors.PERMISSION_DENIED, "guests watch without joining")
        room, member = await self._store.room_and_member(room_id, caller.user_id)
        if room is None or room.closed_at is not None:
            raise _gone()
        if room.suspended_at is not None and not caller.platform_admin:
            raise DomainError(errors.ROOM_SUSPENDED, "an administrator suspended this room")
        if member is not None:
            return JoinResult(room, "joined")
        settings = _settings(room.settings)
        if room.has_password and not password_verified and not caller.platform_admin:
            record = await self._store.password_record(room_id)
            if password is None or record is None:
                raise DomainError(errors.ROOM_PASSWORD_REQUIRED, "this room has a password")
            await self._passwords.check_plain(room_id, record, password, caller.address)
        if not settings.allow_auto_join and not caller.platform_admin:
            raise DomainError(errors.ROOM_JOIN_CLOSED, "ask a room manager to add you")
        outcome = await self._store.join(
            room_id,
            caller.user_id,
            settings.max_members,
            settings.require_approval and not caller.platform_admin,
            caller.actor(),
        )
        _raise_for(outcome)
        status: Literal["joined", "pending"] = (
            "pending" if outcome.outcome is Joined.PENDING else "joined"
        )
        return JoinResult(room, status)

    async def password_record(self, caller: Caller, room_id: str) -> bytes:
        """The record an OPAQUE room-password login runs against (any signed-in caller who
        knows the id may try; wrong tries are locked out per room and address)."""
        if caller.is_guest:
            raise DomainError(errors.PERMISSION_DENIED, "guests never join password rooms")
        room = await self._store.room(room_id) if 0 < len(room_id) <= 64 else None
        if room is None or room.closed_at is not None:
            raise _gone()
        record = await self._store.password_record(room_id)
        if record is None:
            raise DomainError(errors.INVALID_PARAMETER, "this room has no password")
        return record

    async def set_password(self, caller: Caller, room_id: str, password: str | None) -> None:
        """Set (plain, over TLS) or clear (None) the password (``manage_room_settings``)."""
        access = await self.access(caller, room_id)
        access.require(Permission.MANAGE_ROOM_SETTINGS)
        self._check_policy(bool(password))
        record = await self._passwords.record_from_password(room_id, password) if password else None
        await self.set_password_record(caller, room_id, record, checked=access)

    async def set_password_record(
        self, caller: Caller, room_id: str, record: bytes | None, checked: Access | None = None
    ) -> None:
        """Store a record registered through the OPAQUE flow (or clear it)."""
        access = checked or await self.access(caller, room_id)
        access.require(Permission.MANAGE_ROOM_SETTINGS)
        self._check_policy(record is not None)
        if not await self._store.set_password(room_id, record, caller.user_id):
            raise _gone()

    def _check_policy(self, has_password: bool) -> None:
        policy = self._limits.password_policy()
        if policy == "required" and not has_password:
            raise DomainError(
                errors.INVALID_ROOM, "rooms must have a password here (room.passwordPolicy)"
            )
        if policy == "forbidden" and has_password:
            raise DomainError(
                errors.INVALID_ROOM, "rooms may not have a password here (room.passwordPolicy)"
            )

    async def leave(self, caller: Caller, room_id: str) -> None:
        access = await self.access(caller, room_id)
        if access.role == "creator":
            raise DomainError(
                errors.CREATOR_MUST_TRANSFER, "transfer the room to another member first"
            )
        if access.role not in ("admin", "member"):
            raise DomainError(errors.MEMBER_NOT_FOUND, "you are not a member of this room")
        await self._store.leave(room_id, caller.user_id, "left", caller.user_id)

    # -- managing members ----------------------------------------------------------------------

    async def members(
        self, caller: Caller, room_id: str, page: int = 1, page_size: int = 50
    ) -> list[MemberRow]:
        access = await self.access(caller, room_id)
        access.require(Permission.VIEW_MEMBERS)
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise DomainError(errors.INVALID_PARAMETER, f"pageSize is 1 to {MAX_PAGE_SIZE}")
        return await self._store.members(room_id, page_size, (page - 1) * page_size)

    async def _target(self, access: Access, caller: Caller, user_id: str) -> MemberRow:
        """A member the caller outranks (platform admins outrank all but the creator)."""
        _, target = await self._store.room_and_member(access.room.id, user_id)
        if target is None:
            raise DomainError(errors.MEMBER_NOT_FOUND, "no member of this room with this id")
        if target.user_id == caller.user_id:
            raise DomainError(errors.PERMISSION_DENIED, "use leave or the settings for yourself")
        mine = _RANK[access.role] if access.role is not None else 0.0
        if caller.platform_admin:
            mine = max(mine, _PLATFORM_ADMIN_RANK)
        if target.role == "creator" or mine <= _RANK[target.role]:
            raise DomainError(
                errors.PERMISSION_DENIED,
                f"a room {target.role} can only be managed by a higher role",
            )
        return target

    async def kick(
        self, caller: Caller, room_id: str, user_id: str, cooldown_seconds: int, reason: str = ""
    ) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.REMOVE_MEMBERS)
        if not MIN_KICK_COOLDOWN <= cooldown_seconds <= MAX_KICK_COOLDOWN:
            raise DomainError(
                errors.INVALID_PARAMETER,
                f"the cool-down is {MIN_KICK_COOLDOWN} s to {MAX_KICK_COOLDOWN} s (30 days)",
            )
        await self._target(access, caller, user_id)
        await self._store.kick(room_id, user_id, cooldown_seconds, reason[:500], caller.user_id)

    async def ban(
        self,
        caller: Caller,
        room_id: str,
        user_id: str,
        reason: str = "",
        until: datetime | None = None,
    ) -> None:
        """Ban until lifted, or until ``until`` (a time to come, with its zone); banning again
        replaces the ban (reason, end, author)."""
        access = await self.access(caller, room_id)
        access.require(Permission.REMOVE_MEMBERS)
        if until is not None and (until.tzinfo is None or until <= datetime.now(UTC)):
            raise DomainError(errors.INVALID_PARAMETER, "until is a time to come, with its zone")
        _, target = await self._store.room_and_member(room_id, user_id)
        if target is not None:
            await self._target(access, caller, user_id)
        elif user_id == caller.user_id:
            raise DomainError(errors.PERMISSION_DENIED, "you cannot ban yourself")
        if not await self._store.ban(room_id, user_id, reason[:500], until, caller.user_id):
            raise DomainError(errors.USER_NOT_FOUND, "no account with this id")

    async def unban(self, caller: Caller, room_id: str, user_id: str) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.REMOVE_MEMBERS)
        if not await self._store.unban(room_id, user_id, caller.user_id):
            raise DomainError(errors.MEMBER_NOT_FOUND, "this user is not banned from the room")

    async def bans(self, caller: Caller, room_id: str) -> list[BanRow]:
        """Who is banned from the room now, newest first, at most
        :data:`~synctv.store.rooms.MAX_BANS_LISTED` (``remove_members``: who may ban, may see)."""
        access = await self.access(caller, room_id)
        access.require(Permission.REMOVE_MEMBERS)
        return await self._store.bans(room_id)

    async def join_requests(self, caller: Caller, room_id: str) -> list[tuple[str, str, datetime]]:
        access = await self.access(caller, room_id)
        access.require(Permission.REVIEW_JOIN_REQUESTS)
        return await self._store.join_requests(room_id)

    async def approve(self, caller: Caller, room_id: str, user_id: str) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.REVIEW_JOIN_REQUESTS)
        pending = {user for user, _, _ in await self._store.join_requests(room_id)}
        if user_id not in pending:
            raise DomainError(errors.JOIN_REQUEST_NOT_FOUND, "no pending request from this user")
        outcome = await self._store.add_member(
            room_id, user_id, "member", access.settings.max_members, caller.user_id
        )
        _raise_for(outcome)

    async def reject(self, caller: Caller, room_id: str, user_id: str) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.REVIEW_JOIN_REQUESTS)
        if not await self._store.reject_request(room_id, user_id, caller.user_id):
            raise DomainError(errors.JOIN_REQUEST_NOT_FOUND, "no pending request from this user")

    async def add_member(
        self, caller: Caller, room_id: str, user_id: str, role: MemberRole = "member"
    ) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.ADD_MEMBERS)
        if role == "creator":
            raise DomainError(errors.INVALID_PARAMETER, "transfer the room to make a creator")
        if role == "admin" and not _makes_admins(access, caller):
            raise DomainError(errors.PERMISSION_DENIED, "only the creator adds room admins")
        outcome = await self._store.add_member(
            room_id, user_id, role, access.settings.max_members, caller.user_id
        )
        _raise_for(outcome)

    async def set_member(
        self,
        caller: Caller,
        room_id: str,
        user_id: str,
        *,
        role: MemberRole | None = None,
        added: list[str] | None = None,
        removed: list[str] | None = None,
    ) -> None:
        access = await self.access(caller, room_id)
        access.require(Permission.MANAGE_MEMBER_PERMISSIONS)
        target = await self._target(access, caller, user_id)
        new_role = role or target.role
        if new_role == "creator":
            raise DomainError(errors.INVALID_PARAMETER, "transfer the room to make a creator")
        changes_admin = "admin" in (new_role, target.role) and new_role != target.role
        if changes_admin and not _makes_admins(access, caller):
            raise DomainError(errors.PERMISSION_DENIED, "only the creator makes room admins")
        try:
            grant = parse_permissions(added if added is not None else target.added)
            take = parse_permissions(removed if removed is not None else target.removed)
            check_assignable(new_role, grant)
        except (UnknownPermission, NotAssignable) as exc:
            raise DomainError(errors.INVALID_PARAMETER, str(exc)) from None
        access.require_to_give(grant)
        await self._store.set_member(
            room_id, user_id, new_role, names(grant), names(take), caller.user_id
        )

    async def transfer(self, caller: Caller, room_id: str, to_user: str) -> None:
        access = await self.access(caller, room_id)
        if access.role != "creator" and not caller.platform_admin:
            raise DomainError(errors.PERMISSION_DENIED, "only the creator transfers the room")
        if not await self._store.transfer(room_id, access.room.owner_id, to_user, caller.user_id):
            raise DomainError(errors.MEMBER_NOT_FOUND, "the new owner must be a member")


def _known(stored: tuple[str, ...]) -> Permissions:
    """Stored names, minus any this version does not know (written by a newer one)."""
    return frozenset(Permission(n) for n in stored if n in Permission._value2member_map_)


def _makes_admins(access: Access, caller: Caller) -> bool:
    return access.role == "creator" or caller.platform_admin


def _patched(current: RoomSettings, patch: Mapping[str, Any]) -> RoomSettings:
    try:
        return apply_patch(current, patch)
    except InvalidRoomSettings as exc:
        raise DomainError(errors.INVALID_ROOM_SETTINGS, str(exc)) from None


def _may_grant(access: Access, permissions_patch: object) -> None:
    """A room manager cannot open to a role what they do not hold themselves."""
    if not isinstance(permissions_patch, Mapping):
        return  # the settings validation refuses it with the key named
    wanted: set[str] = set()
    for changes in permissions_patch.values():
        if isinstance(changes, Mapping) and isinstance(changes.get("added"), list):
            wanted.update(str(name) for name in changes["added"])
    try:
        parsed = parse_permissions(wanted)
    except UnknownPermission:
        return  # refused by the settings validation, with the key named
    access.require_to_give(parsed)


def _raise_for(outcome: JoinOutcome) -> None:
    if outcome.outcome in (Joined.JOINED, Joined.ALREADY, Joined.PENDING):
        return
    if outcome.outcome is Joined.FULL:
        raise DomainError(errors.ROOM_FULL, "the room has as many members as it allows")
    if outcome.outcome is Joined.BANNED:
        raise DomainError(errors.ROOM_BANNED, "you are banned from this room")
    if outcome.outcome is Joined.COOLDOWN:
        until = outcome.until.isoformat() if outcome.until else ""
        raise DomainError(
            errors.ROOM_KICK_COOLDOWN, "you may join this room again later", {"until": until}
        )
    raise _gone()
