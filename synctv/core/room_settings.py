"""A room's own settings: the document, its defaults (SyncTV's), and partial, validated patches.

The settings are one JSON document per room (camelCase, as the API shows them). A patch names
only what changes; it is validated whole (unknown keys and wrong types are refused with the key
named) and merged one level deep for the nested ``autoPlay`` and ``permissions`` objects, so a
client that changes the auto-play delay does not have to resend the mode. Reading a stored
document fills keys added by a newer version with their defaults, so old rows stay valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from synctv.core.permissions import (
    ROLE_CEILINGS,
    NotAssignable,
    Overrides,
    Permission,
    RoleOverrides,
    RoomRole,
    check_assignable,
    names,
)

MAX_MEMBERS_LIMIT: Final = 10_000
MAX_AUTOPLAY_DELAY: Final = 86_400


class InvalidRoomSettings(ValueError):
    """A settings document or patch that does not validate; the message names the key."""


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class AutoPlay(_Document):
    enabled: bool = True
    mode: Literal["sequential", "repeat_one", "repeat_all", "shuffle"] = "sequential"
    delay: int = Field(
        default=3, ge=0, le=MAX_AUTOPLAY_DELAY, description="Seconds before the next."
    )


class PermissionChanges(_Document):
    """Permissions added to and removed from a role's defaults in this room."""

    added: list[Permission] = Field(default_factory=list)
    removed: list[Permission] = Field(default_factory=list)

    def overrides(self) -> Overrides:
        return Overrides(frozenset(self.added), frozenset(self.removed))


class RolePermissions(_Document):
    admin: PermissionChanges = Field(default_factory=PermissionChanges)
    member: PermissionChanges = Field(default_factory=PermissionChanges)
    guest: PermissionChanges = Field(default_factory=PermissionChanges)

    @field_validator("admin", "member", "guest")
    @classmethod
    def _within_ceiling(cls, value: PermissionChanges, info: Any) -> PermissionChanges:
        role: RoomRole = info.field_name
        try:
            check_assignable(role, frozenset(value.added))
        except NotAssignable as exc:
            allowed = ", ".join(names(ROLE_CEILINGS[role]))
            raise ValueError(f"{exc} (assignable: {allowed})") from None
        return value

    def role_overrides(self) -> RoleOverrides:
        return RoleOverrides(
            self.admin.overrides(), self.member.overrides(), self.guest.overrides()
        )


class RoomSettings(_Document):
    """SyncTV's room settings with its defaults, plus ``waitForEveryone``,
    ``allowAnonymousLive`` and ``liveTargetLatency``."""

    allow_guest_join: bool = Field(False, alias="allowGuestJoin")
    max_members: int = Field(100, ge=1, le=MAX_MEMBERS_LIMIT, alias="maxMembers")
    require_approval: bool = Field(False, alias="requireApproval")
    allow_auto_join: bool = Field(True, alias="allowAutoJoin")
    chat_enabled: bool = Field(True, alias="chatEnabled")
    voice_chat_enabled: bool = Field(True, alias="voiceChatEnabled")
    auto_play: AutoPlay = Field(default_factory=AutoPlay, alias="autoPlay")
    wait_for_everyone: bool = Field(False, alias="waitForEveryone")
    # Whether anyone with a stream's URL may play this room's live streams without a viewer
    # token. Only a public room without a password honours it: a private (or password) room's
    # streams always need one (synctv.core.room_live).
    allow_anonymous_live: bool = Field(True, alias="allowAnonymousLive")
    # Live in step (docs/realtime.md): the latency every viewer of a live stream plays at, in
    # seconds, 1 to 60; 0 (the default): the largest safe latency its viewers report, at least 1 s.
    live_target_latency: float = Field(0.0, ge=0.0, le=60.0, alias="liveTargetLatency")
    permissions: RolePermissions = Field(default_factory=RolePermissions)

    @field_validator("live_target_latency")
    @classmethod
    def _automatic_or_at_least_a_second(cls, value: float) -> float:
        if 0.0 < value < 1.0:
            raise ValueError("0 (automatic) or 1 to 60 seconds")
        return value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


_NESTED: Final = {"autoPlay", "permissions"}


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "settings"
    return f"{where}: {first['msg']}"


def default_settings(max_members: int = 100) -> RoomSettings:
    """A new room's settings (``room.defaultMaxMembers`` gives the member limit)."""
    return RoomSettings.model_validate({"maxMembers": max_members})


def load_settings(stored: Mapping[str, Any]) -> RoomSettings:
    """A stored document, with defaults for keys it predates."""
    try:
        return RoomSettings.model_validate(dict(stored))
    except ValidationError as exc:
        raise InvalidRoomSettings(_problem(exc)) from None


def apply_patch(current: RoomSettings, patch: Mapping[str, Any]) -> RoomSettings:
    """``current`` with ``patch`` applied (camelCase keys; nested objects merged one level)."""
    merged = current.to_json()
    for key, value in patch.items():
        if key in _NESTED and isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    try:
        return RoomSettings.model_validate(merged)
    except ValidationError as exc:
        raise InvalidRoomSettings(_problem(exc)) from None
