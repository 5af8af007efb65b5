"""Room permissions: what a room role may do, and how a room's and a member's overrides change it.

Pure rules, no I/O: the rooms service asks :func:`effective_permissions` for a caller and checks
the answer; the realtime channel sends the same answer to the client (``myPermissions``).

Theory of operation (SyncTV's model, with its names and bit numbers, minus peer-to-peer media):

* A role starts from its default set (:data:`ROLE_DEFAULTS`). The **creator** has every
  permission, always: no override applies to them, and ``delete_room`` is theirs alone.
* The room may add or remove permissions per role (:class:`RoleOverrides` in the room settings),
  then the member's own overrides apply the same way on top:
  ``((default | room.added) - room.removed | member.added) - member.removed``. Within a step
  **removal wins** over addition. A member's own override is the more specific word, so it may
  give one trusted member back what the room took from their role (chat closed to members, open
  to one), and take from one member what the rest of the role keeps.
* Nothing added ever exceeds the role's **ceiling** (:data:`ROLE_CEILINGS`): admins and members
  can be given anything but ``delete_room``; guests only what a room may let anonymous people do
  (see members, read chat history, talk). Additions beyond the ceiling are ignored, not errors, so
  a stored override stays valid if a ceiling narrows; :func:`check_assignable` is the strict check
  for input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Final, Literal

RoomRole = Literal["creator", "admin", "member", "guest"]
ROOM_ROLES: Final[tuple[RoomRole, ...]] = ("creator", "admin", "member", "guest")


class Permission(StrEnum):
    """A room permission, by SyncTV's name (the value) in SyncTV's bit order (the declaration)."""

    SEND_CHAT_MESSAGES = "send_chat_messages"
    MANAGE_OWN_MEDIA = "manage_own_media"
    BROWSE_LIBRARY = "browse_library"
    VIEW_MEMBERS = "view_members"
    VIEW_CHAT_HISTORY = "view_chat_history"
    USE_VOICE_CHAT = "use_voice_chat"
    DELETE_MEDIA = "delete_media"  # other people's media; one's own is an ownership rule
    REORDER_MEDIA = "reorder_media"
    CLEAR_MEDIA = "clear_media"
    MANAGE_LIVE_STREAMS = "manage_live_streams"
    CONTROL_PLAYBACK_STATE = "control_playback_state"  # play, pause, seek, speed
    NAVIGATE_PLAYBACK = "navigate_playback"  # change media, next, previous, history
    REVIEW_JOIN_REQUESTS = "review_join_requests"
    REMOVE_MEMBERS = "remove_members"
    MANAGE_MEMBER_PERMISSIONS = "manage_member_permissions"
    ADD_MEMBERS = "add_members"
    MANAGE_ROOM_SETTINGS = "manage_room_settings"
    DELETE_CHAT_MESSAGES = "delete_chat_messages"  # other people's messages
    DELETE_ROOM = "delete_room"  # the creator's alone, never delegated
    VIEW_PLAYBACK_HISTORY = "view_playback_history"


Permissions = frozenset[Permission]

ALL: Final[Permissions] = frozenset(Permission)
# Bit order (the enum's), for sorting names.
_ORDER: Final[Mapping[Permission, int]] = {p: i for i, p in enumerate(Permission)}
# SyncTV's bit numbers (its u64 masks): kept so stored masks and its protocol stay comparable.
BIT: Final[Mapping[Permission, int]] = {p: 1 << i for i, p in enumerate(Permission)}

_BASIC: Final[Permissions] = frozenset(
    {
        Permission.SEND_CHAT_MESSAGES,
        Permission.MANAGE_OWN_MEDIA,
        Permission.BROWSE_LIBRARY,
        Permission.VIEW_MEMBERS,
        Permission.VIEW_CHAT_HISTORY,
        Permission.USE_VOICE_CHAT,
    }
)
GUEST_GRANTABLE: Final[Permissions] = frozenset(
    {Permission.VIEW_MEMBERS, Permission.VIEW_CHAT_HISTORY, Permission.USE_VOICE_CHAT}
)

ROLE_DEFAULTS: Final[Mapping[RoomRole, Permissions]] = {
    "creator": ALL,
    "admin": ALL - {Permission.DELETE_ROOM},
    "member": _BASIC,
    "guest": frozenset(),
}
ROLE_CEILINGS: Final[Mapping[RoomRole, Permissions]] = {
    "creator": ALL,
    "admin": ALL - {Permission.DELETE_ROOM},
    "member": ALL - {Permission.DELETE_ROOM},
    "guest": GUEST_GRANTABLE,
}


class UnknownPermission(ValueError):
    """A name that is not a room permission."""


class NotAssignable(ValueError):
    """A permission that cannot be given to this role (beyond its ceiling)."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """Permissions added to and removed from a starting set; removal wins."""

    added: Permissions = frozenset()
    removed: Permissions = frozenset()

    def apply(self, start: Permissions, ceiling: Permissions) -> Permissions:
        return ((start | (self.added & ceiling)) - self.removed) & ceiling

    def to_json(self) -> dict[str, list[str]]:
        return {"added": names(self.added), "removed": names(self.removed)}


@dataclass(frozen=True, slots=True)
class RoleOverrides:
    """A room's overrides per role (part of its settings). The creator has none."""

    admin: Overrides = field(default_factory=Overrides)
    member: Overrides = field(default_factory=Overrides)
    guest: Overrides = field(default_factory=Overrides)

    def for_role(self, role: RoomRole) -> Overrides:
        if role == "admin":
            return self.admin
        if role == "member":
            return self.member
        if role == "guest":
            return self.guest
        return Overrides()


def effective_permissions(
    role: RoomRole,
    room: RoleOverrides | None = None,
    member: Overrides | None = None,
) -> Permissions:
    """What a caller with ``role`` may do in a room with ``room`` overrides, given their own
    ``member`` overrides (guests have none: they are never stored)."""
    if role == "creator":
        return ALL
    ceiling = ROLE_CEILINGS[role]
    allowed = (room or RoleOverrides()).for_role(role).apply(ROLE_DEFAULTS[role], ceiling)
    if member is not None and role != "guest":
        allowed = member.apply(allowed, ceiling)
    return allowed


def parse_permissions(values: Iterable[str]) -> Permissions:
    """Names from an API or a settings document; an unknown name is an error, not skipped."""
    parsed: set[Permission] = set()
    for value in values:
        try:
            parsed.add(Permission(value))
        except ValueError:
            raise UnknownPermission(f"unknown room permission {value!r}") from None
    return frozenset(parsed)


def check_assignable(role: RoomRole, permissions: Permissions) -> None:
    """Refuse to store an addition the role can never have (input validation; evaluation
    itself ignores such additions)."""
    beyond = permissions - ROLE_CEILINGS[role]
    if role == "creator" and permissions:
        raise NotAssignable("the creator has every permission; nothing can be added or removed")
    if beyond:
        raise NotAssignable(f"a room {role} cannot be given: {', '.join(names(beyond))}")


def names(permissions: Iterable[Permission]) -> list[str]:
    """Sorted in bit order, so documents and responses list permissions the same way."""
    if isinstance(permissions, frozenset):
        return list(_names_of_set(permissions))  # a copy: callers may change their list
    return [p.value for p in sorted(set(permissions), key=_ORDER.__getitem__)]


@lru_cache(maxsize=1024)
def _names_of_set(permissions: frozenset[Permission]) -> tuple[str, ...]:
    """A room's effective permissions are one of few sets: each sorted once."""
    return tuple(p.value for p in sorted(permissions, key=_ORDER.__getitem__))


def to_bits(permissions: Iterable[Permission]) -> int:
    bits = 0
    for permission in permissions:
        bits |= BIT[permission]
    return bits


def from_bits(bits: int) -> Permissions:
    """A mask to a set; bits no permission has are an error (a corrupted or newer mask)."""
    if bits < 0 or bits >> len(BIT):
        raise UnknownPermission(f"permission mask {bits:#x} has bits no permission uses")
    return frozenset(p for p, bit in BIT.items() if bits & bit)
