"""Room settings: defaults, partial patches, validation that names the key."""

from __future__ import annotations

import pytest

from synctv.core.permissions import Permission, effective_permissions
from synctv.core.room_settings import (
    InvalidRoomSettings,
    apply_patch,
    default_settings,
    load_settings,
)


def test_defaults_are_synctvs() -> None:
    assert default_settings().to_json() == {
        "allowGuestJoin": False,
        "maxMembers": 100,
        "requireApproval": False,
        "allowAutoJoin": True,
        "chatEnabled": True,
        "voiceChatEnabled": True,
        "autoPlay": {"enabled": True, "mode": "sequential", "delay": 3},
        "waitForEveryone": False,
        "allowAnonymousLive": True,
        "liveTargetLatency": 0.0,
        "permissions": {
            "admin": {"added": [], "removed": []},
            "member": {"added": [], "removed": []},
            "guest": {"added": [], "removed": []},
        },
    }
    assert default_settings(max_members=12).max_members == 12


def test_a_patch_changes_only_what_it_names() -> None:
    settings = apply_patch(default_settings(), {"autoPlay": {"delay": 10}, "chatEnabled": False})
    assert settings.auto_play.delay == 10
    assert settings.auto_play.mode == "sequential"
    assert not settings.chat_enabled
    guests = apply_patch(settings, {"permissions": {"guest": {"added": ["view_members"]}}})
    overrides = guests.permissions.role_overrides()
    assert effective_permissions("guest", overrides) == {Permission.VIEW_MEMBERS}
    assert guests.auto_play.delay == 10
    assert apply_patch(default_settings(), {"liveTargetLatency": 2.5}).live_target_latency == 2.5


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"maxMembers": 0}, "maxMembers"),
        ({"maxMembers": 10_001}, "maxMembers"),
        ({"autoPlay": {"mode": "random"}}, "autoPlay.mode"),
        ({"autoPlay": {"delay": -1}}, "autoPlay.delay"),
        ({"colour": "red"}, "colour"),
        ({"chatEnabled": "yes please"}, "chatEnabled"),
        ({"liveTargetLatency": 0.5}, "liveTargetLatency"),
        ({"liveTargetLatency": 61}, "liveTargetLatency"),
        ({"permissions": {"guest": {"added": ["send_chat_messages"]}}}, "send_chat_messages"),
        ({"permissions": {"admin": {"added": ["delete_room"]}}}, "delete_room"),
        ({"permissions": {"member": {"added": ["fly"]}}}, "permissions.member.added"),
    ],
)
def test_bad_patches_are_refused_with_the_key(patch: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidRoomSettings, match=named.replace(".", r"\.")):
        apply_patch(default_settings(), patch)


def test_an_old_document_gets_the_new_defaults() -> None:
    old = {"maxMembers": 5, "chatEnabled": False}
    loaded = load_settings(old)
    assert loaded.max_members == 5
    assert loaded.wait_for_everyone is False
