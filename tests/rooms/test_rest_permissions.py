"""Every REST operation under /api/rooms, from the served OpenAPI document, either refuses a
member without its permission (``permission_denied``, the permission named in ``details``) or is
listed with the reason it needs none: a route added without a line here fails this test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from synctv.core.permissions import Permission
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up

pytestmark = pytest.mark.slow

# (method, OpenAPI path) → the permission a member without it is refused for.
NEEDS: dict[tuple[str, str], str] = {
    ("PATCH", "/api/rooms/{room_id}"): "manage_room_settings",
    ("DELETE", "/api/rooms/{room_id}"): "delete_room",
    ("PATCH", "/api/rooms/{room_id}/settings"): "manage_room_settings",
    ("POST", "/api/rooms/{room_id}/settings/reset"): "manage_room_settings",
    ("PUT", "/api/rooms/{room_id}/password"): "manage_room_settings",
    ("DELETE", "/api/rooms/{room_id}/password"): "manage_room_settings",
    ("POST", "/api/rooms/{room_id}/password/opaque/registration/start"): "manage_room_settings",
    ("GET", "/api/rooms/{room_id}/members"): "view_members",
    ("POST", "/api/rooms/{room_id}/members"): "add_members",
    ("PATCH", "/api/rooms/{room_id}/members/{user_id}"): "manage_member_permissions",
    ("DELETE", "/api/rooms/{room_id}/members/{user_id}"): "remove_members",
    ("GET", "/api/rooms/{room_id}/bans"): "remove_members",
    ("PUT", "/api/rooms/{room_id}/bans/{user_id}"): "remove_members",
    ("DELETE", "/api/rooms/{room_id}/bans/{user_id}"): "remove_members",
    ("GET", "/api/rooms/{room_id}/join-requests"): "review_join_requests",
    ("POST", "/api/rooms/{room_id}/join-requests/{user_id}/approve"): "review_join_requests",
    ("POST", "/api/rooms/{room_id}/join-requests/{user_id}/reject"): "review_join_requests",
    ("GET", "/api/rooms/{room_id}/presence"): "view_members",
    ("POST", "/api/rooms/{room_id}/media"): "manage_own_media",
    ("DELETE", "/api/rooms/{room_id}/media"): "clear_media",
    ("POST", "/api/rooms/{room_id}/playlists"): "reorder_media",
    ("POST", "/api/rooms/{room_id}/media/{media_id}/move"): "reorder_media",
    ("DELETE", "/api/rooms/{room_id}/media/{media_id}"): "delete_media",
    ("PATCH", "/api/rooms/{room_id}/playback"): "control_playback_state",
    ("POST", "/api/rooms/{room_id}/playback/start"): "navigate_playback",
    ("POST", "/api/rooms/{room_id}/playback/next"): "navigate_playback",
    ("POST", "/api/rooms/{room_id}/playback/previous"): "navigate_playback",
    ("GET", "/api/rooms/{room_id}/playback/history"): "view_playback_history",
    ("GET", "/api/rooms/{room_id}/chat"): "view_chat_history",
    ("POST", "/api/rooms/{room_id}/chat"): "send_chat_messages",
    ("DELETE", "/api/rooms/{room_id}/chat/{message_id}"): "delete_chat_messages",
    ("GET", "/api/rooms/{room_id}/chat/timeline"): "view_chat_history",
    ("POST", "/api/rooms/{room_id}/live"): "manage_live_streams",
    ("DELETE", "/api/rooms/{room_id}/live/{stream_id}"): "manage_live_streams",
    ("GET", "/api/rooms/{room_id}/webrtc/ice-servers"): "use_voice_chat",
    ("GET", "/api/rooms/{room_id}/providers"): "browse_library",
    ("GET", "/api/rooms/{room_id}/providers/{instance}/browse"): "browse_library",
}

# Operations that need no room permission, and why.
NEEDS_NONE: dict[tuple[str, str], str] = {
    ("POST", "/api/rooms"): "any account (server.allowRoomCreation, maxRoomsPerUser)",
    ("GET", "/api/rooms/discover"): "public rooms, for anyone signed in",
    ("GET", "/api/rooms/mine"): "the caller's own rooms",
    ("GET", "/api/rooms/{room_id}"): "whoever may know the room (members, visitors of public ones)",
    ("GET", "/api/rooms/{room_id}/settings"): "whoever may know the room",
    ("PUT", "/api/rooms/{room_id}/members/@me"): "joining (password, approval, bans apply)",
    ("DELETE", "/api/rooms/{room_id}/members/@me"): "leaving",
    ("POST", "/api/rooms/{room_id}/password/opaque/login/start"): "joining a password room",
    ("POST", "/api/rooms/{room_id}/password/opaque/login/finish"): "joining a password room",
    ("POST", "/api/rooms/{room_id}/password/opaque/registration/finish"): (
        "spends a session that registration/start (manage_room_settings) opened"
    ),
    ("GET", "/api/rooms/{room_id}/media"): "members (a visitor is refused)",
    ("GET", "/api/rooms/{room_id}/playback"): "members (a visitor is refused)",
    ("GET", "/api/rooms/{room_id}/live"): "members (a visitor is refused)",
    ("POST", "/api/rooms/{room_id}/owner"): "the creator only (no permission grants it)",
}


async def test_every_room_route_refuses_without_its_permission(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        other = await sign_up(server, 4, "other")
        document = (await owner.person.http.get("/api/openapi.json")).json()
        operations = {
            (method.upper(), path)
            for path, item in document["paths"].items()
            if path == "/api/rooms" or path.startswith("/api/rooms/")
            for method in item
            if method in ("get", "put", "post", "delete", "patch")
        }
        assert len(operations) >= 45
        unlisted = sorted(operations - NEEDS.keys() - NEEDS_NONE.keys())
        assert not unlisted, f"room routes in neither NEEDS nor NEEDS_NONE: {unlisted}"
        assert not (NEEDS.keys() | NEEDS_NONE.keys()) - operations, "listed but not served"

        room = (await owner.ok("POST", "/api/rooms", {"name": "r"}))["room"]["id"]
        for person in (member, other):
            await person.ok("PUT", f"/api/rooms/{room}/members/@me")
        item = {"name": "a", "source": {"kind": "url", "url": "https://media.example/a.mp4"}}
        media = (await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]}))["media"][0][
            "id"
        ]
        message = (await owner.ok("POST", f"/api/rooms/{room}/chat", {"text": "hi"}))["id"]
        stream = (await owner.ok("POST", f"/api/rooms/{room}/live", {"title": "t"}))["streamId"]
        everything = [p.value for p in Permission if p.value != "delete_room"]
        await owner.ok(
            "PATCH",
            f"/api/rooms/{room}/settings",
            {"permissions": {"member": {"removed": everything}}},
        )
        values = {
            "room_id": room,
            "user_id": other.id,
            "media_id": media,
            "message_id": message,
            "stream_id": stream,
            "instance": "any",  # the permission is checked before the instance is looked up
        }
        bodies: dict[tuple[str, str], Any] = {
            ("PATCH", "/api/rooms/{room_id}"): {"name": "x"},
            ("PATCH", "/api/rooms/{room_id}/settings"): {"chatEnabled": True},
            ("POST", "/api/rooms/{room_id}/settings/reset"): {},
            ("PUT", "/api/rooms/{room_id}/password"): {"password": "p"},
            ("POST", "/api/rooms/{room_id}/password/opaque/registration/start"): {
                "registrationRequest": "AAAA"
            },
            ("POST", "/api/rooms/{room_id}/members"): {"userId": other.id},
            ("PATCH", "/api/rooms/{room_id}/members/{user_id}"): {"role": "member"},
            ("DELETE", "/api/rooms/{room_id}/members/{user_id}"): {"cooldownSeconds": 60},
            ("PUT", "/api/rooms/{room_id}/bans/{user_id}"): {},
            ("POST", "/api/rooms/{room_id}/media"): {"items": [item]},
            ("POST", "/api/rooms/{room_id}/playlists"): {"name": "f"},
            ("POST", "/api/rooms/{room_id}/media/{media_id}/move"): {},
            ("PATCH", "/api/rooms/{room_id}/playback"): {"op": "pause"},
            ("POST", "/api/rooms/{room_id}/playback/start"): {"mediaId": media},
            ("POST", "/api/rooms/{room_id}/playback/next"): {},
            ("POST", "/api/rooms/{room_id}/playback/previous"): {},
            ("POST", "/api/rooms/{room_id}/chat"): {"text": "hi"},
            ("POST", "/api/rooms/{room_id}/live"): {"title": "t"},
        }
        queries = {("GET", "/api/rooms/{room_id}/chat/timeline"): f"?media={media}"}
        for (method, template), permission in sorted(NEEDS.items()):
            path = template.format(**values) + queries.get((method, template), "")
            response = await member.call(method, path, bodies.get((method, template)))
            assert response.status_code == 403, (method, template, response.text)
            body = response.json()
            assert body["code"] == "permission_denied", (method, template, body)
            assert body["details"].get("permission") == permission, (method, template, body)
        # The creator-only transfer is refused too, and nothing above changed the room.
        assert await member.refused(
            "POST", f"/api/rooms/{room}/owner", {"newOwnerId": member.id}
        ) == (403, "permission_denied")
        assert (await owner.ok("GET", f"/api/rooms/{room}"))["room"]["name"] == "r"
