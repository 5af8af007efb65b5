"""Rooms over real HTTP against the whole server on a real PostgreSQL: creation and its limit under
concurrency, access and visibility, joining (limits, approval, kicks, bans), member management
and its role rules, and the room_events row every change writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trio

from synctv.core.permissions import ALL, ROLE_DEFAULTS, names
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, room_events, sign_up

pytestmark = pytest.mark.slow


async def test_create_see_join_and_leave(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        alice = await sign_up(server, 2, "alice")
        bob = await sign_up(server, 3, "bob")
        created = await alice.call(
            "POST", "/api/rooms", {"name": "  Movie night ", "settings": {"chatEnabled": False}}
        )
        assert created.status_code == 201, created.text
        room = created.json()["room"]
        assert room["name"] == "Movie night"
        assert room["isPublic"] is True
        assert room["ownerId"] == alice.id
        assert room["memberCount"] == 1
        assert room["settings"]["chatEnabled"] is False
        assert len(room["id"]) >= 16
        path = f"/api/rooms/{room['id']}"

        mine = await alice.ok("GET", path)
        assert mine["myRole"] == "creator"
        assert mine["myPermissions"] == names(ALL)

        # A visitor of a public room sees it, with no role and no permission.
        visiting = await bob.ok("GET", path)
        assert (visiting["myRole"], visiting["myPermissions"]) == (None, [])
        found = await bob.ok("GET", "/api/rooms/discover?q=movie")
        assert [r["id"] for r in found["rooms"]] == [room["id"]]
        assert found["total"] == 1
        assert (await bob.ok("GET", "/api/rooms/discover?q=100%25"))["total"] == 0

        joined = await bob.ok("PUT", f"{path}/members/@me")
        assert joined["status"] == "joined"
        assert (await bob.ok("PUT", f"{path}/members/@me"))["status"] == "joined"  # idempotent
        member_view = await bob.ok("GET", path)
        assert member_view["myRole"] == "member"
        assert member_view["myPermissions"] == names(ROLE_DEFAULTS["member"])
        assert member_view["room"]["memberCount"] == 2
        assert [r["role"] for r in (await bob.ok("GET", "/api/rooms/mine"))["rooms"]] == ["member"]

        # Private: gone from discovery, invisible to non-members, joinable by id.
        await alice.ok("PATCH", path, {"isPublic": False})
        assert (await bob.ok("GET", "/api/rooms/discover"))["total"] == 0
        await bob.ok("DELETE", f"{path}/members/@me")
        assert await bob.refused("GET", path) == (404, "room_not_found")
        assert (await bob.ok("PUT", f"{path}/members/@me"))["status"] == "joined"

        # The creator cannot leave before transferring; after, they are an admin.
        assert await alice.refused("DELETE", f"{path}/members/@me") == (
            409,
            "creator_must_transfer",
        )
        await alice.ok("POST", f"{path}/owner", {"newOwnerId": bob.id})
        assert (await alice.ok("GET", path))["myRole"] == "admin"
        assert (await bob.ok("GET", path))["myRole"] == "creator"
        await alice.ok("DELETE", f"{path}/members/@me")

        assert [t for _, t in await room_events(server, room["id"])] == [
            "room_created",
            "member_joined",
            "room_updated",
            "member_left",
            "member_joined",
            "owner_transferred",
            "member_left",
        ]
        seqs = [s for s, _ in await room_events(server, room["id"])]
        assert seqs == list(range(1, len(seqs) + 1))

        await bob.ok("DELETE", path)
        assert await bob.refused("GET", path) == (404, "room_not_found")
        assert await alice.refused("PUT", f"{path}/members/@me") == (404, "room_not_found")


async def test_limits_hold_under_concurrency(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        alice = await sign_up(server, 2, "alice")
        results: list[int] = []

        async def create(n: int) -> None:
            response = await alice.call("POST", "/api/rooms", {"name": f"room {n}"})
            results.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for n in range(13):  # server.maxRoomsPerUser is 10
                nursery.start_soon(create, n)
        assert sorted(results) == [201] * 10 + [409] * 3

        room = (await alice.ok("GET", "/api/rooms/mine"))["rooms"][0]["room"]["id"]
        await alice.ok("PATCH", f"/api/rooms/{room}/settings", {"maxMembers": 3})
        people = [await sign_up(server, 10 + n, f"person{n}") for n in range(5)]
        outcomes: list[tuple[int, str]] = []

        async def join(person: Member) -> None:
            response = await person.call("PUT", f"/api/rooms/{room}/members/@me")
            outcomes.append((response.status_code, response.json().get("code", "joined")))

        async with trio.open_nursery() as nursery:
            for person in people:
                nursery.start_soon(join, person)
        assert sorted(outcomes) == [(200, "joined")] * 2 + [(409, "room_full")] * 3


async def test_management_and_its_role_rules(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        helper = await sign_up(server, 3, "helper")
        viewer = await sign_up(server, 4, "viewer")
        other = await sign_up(server, 5, "other")
        room = (await owner.ok("POST", "/api/rooms", {"name": "r"}))["room"]["id"]
        path = f"/api/rooms/{room}"
        for person in (helper, viewer, other):
            await person.ok("PUT", f"{path}/members/@me")

        # Every management route refuses a plain member with permission_denied.
        denied = [
            ("PATCH", path, {"name": "x"}),
            ("DELETE", path, None),
            ("PATCH", f"{path}/settings", {"chatEnabled": False}),
            ("POST", f"{path}/settings/reset", None),
            ("POST", f"{path}/members", {"userId": other.id}),
            ("PATCH", f"{path}/members/{other.id}", {"added": ["clear_media"]}),
            ("DELETE", f"{path}/members/{other.id}", {"cooldownSeconds": 5}),
            ("PUT", f"{path}/bans/{other.id}", {}),
            ("DELETE", f"{path}/bans/{other.id}", None),
            ("GET", f"{path}/bans", None),
            ("GET", f"{path}/join-requests", None),
            ("POST", f"{path}/join-requests/{other.id}/approve", None),
            ("POST", f"{path}/join-requests/{other.id}/reject", None),
            ("POST", f"{path}/owner", {"newOwnerId": other.id}),
        ]
        for method, where, body in denied:
            assert await viewer.refused(method, where, body) == (403, "permission_denied"), (
                method,
                where,
            )

        # Only the creator makes admins; an admin manages members, not other admins.
        assert await owner.ok("PATCH", f"{path}/members/{helper.id}", {"role": "admin"}) is None
        assert (await helper.ok("GET", path))["myRole"] == "admin"
        assert await helper.refused("PATCH", f"{path}/members/{viewer.id}", {"role": "admin"}) == (
            403,
            "permission_denied",
        )
        assert await helper.refused("DELETE", f"{path}/members/{owner.id}", {}) == (
            403,
            "permission_denied",
        )
        # Nobody gives what they do not hold: an admin lacks delete_room.
        assert await helper.refused(
            "PATCH", f"{path}/settings", {"permissions": {"member": {"added": ["delete_room"]}}}
        ) == (403, "permission_denied")
        assert await owner.refused(
            "PATCH", f"{path}/settings", {"permissions": {"member": {"added": ["delete_room"]}}}
        ) == (422, "invalid_room_settings")

        # The room takes chat from members, then gives it back to one.
        await helper.ok(
            "PATCH",
            f"{path}/settings",
            {"permissions": {"member": {"removed": ["send_chat_messages"]}}},
        )
        assert "send_chat_messages" not in (await viewer.ok("GET", path))["myPermissions"]
        await helper.ok("PATCH", f"{path}/members/{viewer.id}", {"added": ["send_chat_messages"]})
        assert "send_chat_messages" in (await viewer.ok("GET", path))["myPermissions"]
        assert "send_chat_messages" not in (await other.ok("GET", path))["myPermissions"]

        # Kick with a cool-down, ban, unban.
        await helper.ok("DELETE", f"{path}/members/{other.id}", {"cooldownSeconds": 3600})
        status, code = await other.refused("PUT", f"{path}/members/@me")
        assert (status, code) == (403, "room_kick_cooldown")
        past = {"reason": "late", "until": "2001-01-01T00:00:00Z"}
        assert await helper.refused("PUT", f"{path}/bans/{viewer.id}", past) == (
            400,
            "invalid_parameter",
        )
        assert await helper.refused("PUT", f"{path}/bans/nobody", {}) == (404, "user_not_found")
        later = {"reason": "first", "until": "2099-01-01T00:00:00+02:00"}
        await helper.ok("PUT", f"{path}/bans/{viewer.id}", later)
        (first,) = (await helper.ok("GET", f"{path}/bans"))["bans"]
        assert (first["reason"], first["until"]) == ("first", "2098-12-31T22:00:00+00:00")
        # Banning again replaces the ban: its reason, and no end now.
        await helper.ok("PUT", f"{path}/bans/{viewer.id}", {"reason": "spoilers"})
        await helper.ok("PUT", f"{path}/bans/{other.id}", {})  # not a member now: still banned
        assert (await viewer.ok("GET", path))["myRole"] is None  # a visitor again
        assert await viewer.refused("PUT", f"{path}/members/@me") == (403, "room_banned")
        bans = (await helper.ok("GET", f"{path}/bans"))["bans"]
        assert [(b["userId"], b["username"], b["reason"]) for b in bans] == [
            (other.id, "other", ""),
            (viewer.id, "viewer", "spoilers"),
        ]  # newest first
        assert {(b["bannedBy"], b["bannedByName"], b["until"]) for b in bans} == {
            (helper.id, "helper", None)
        }
        assert all(b["bannedAt"].endswith("+00:00") for b in bans)
        assert await viewer.refused("GET", f"{path}/bans") == (403, "permission_denied")
        await helper.ok("DELETE", f"{path}/bans/{viewer.id}")
        await helper.ok("DELETE", f"{path}/bans/{other.id}")
        assert (await owner.ok("GET", f"{path}/bans"))["bans"] == []
        assert (await viewer.ok("PUT", f"{path}/members/@me"))["status"] == "joined"

        # Approval queue.
        await owner.ok("PATCH", f"{path}/settings", {"requireApproval": True})
        late = await sign_up(server, 6, "late")
        assert (await late.ok("PUT", f"{path}/members/@me"))["status"] == "pending"
        requests = (await helper.ok("GET", f"{path}/join-requests"))["requests"]
        assert [r["userId"] for r in requests] == [late.id]
        await helper.ok("POST", f"{path}/join-requests/{late.id}/approve")
        assert (await late.ok("GET", path))["myRole"] == "member"
        assert await helper.refused("POST", f"{path}/join-requests/{late.id}/reject") == (
            404,
            "join_request_not_found",
        )

        members = (await viewer.ok("GET", f"{path}/members"))["members"]
        assert [m["role"] for m in members][:2] == ["creator", "admin"]
        assert {m["userId"] for m in members} == {owner.id, helper.id, viewer.id, late.id}


async def test_a_ban_with_an_end_ends_by_itself(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        guest = await sign_up(server, 3, "guest")
        path = f"/api/rooms/{(await owner.ok('POST', '/api/rooms', {'name': 'r'}))['room']['id']}"
        until = datetime.now(UTC) + timedelta(seconds=2)
        await owner.ok("PUT", f"{path}/bans/{guest.id}", {"until": until.isoformat()})
        assert await guest.refused("PUT", f"{path}/members/@me") == (403, "room_banned")
        (ban,) = (await owner.ok("GET", f"{path}/bans"))["bans"]
        assert datetime.fromisoformat(ban["until"]) == until  # to the microsecond
        await trio.sleep((until - datetime.now(UTC)).total_seconds() + 0.2)
        assert (await owner.ok("GET", f"{path}/bans"))["bans"] == []  # over: no longer listed
        assert (await guest.ok("PUT", f"{path}/members/@me"))["status"] == "joined"
        assert await owner.refused("DELETE", f"{path}/bans/{guest.id}") == (
            404,
            "member_not_found",
        )  # nothing to lift


async def test_the_document_describes_the_answers(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        alice = await sign_up(server, 2, "alice")
        document = (await alice.person.http.get("/api/openapi.json")).json()
        room = await alice.ok("POST", "/api/rooms", {"name": "doc"})
        access = await alice.ok("GET", f"/api/rooms/{room['room']['id']}")
        schemas = document["components"]["schemas"]
        assert set(access) == set(schemas["RoomAccessOut"]["properties"])
        assert set(access["room"]) == set(schemas["RoomOut"]["properties"])
        operations = {
            (method.upper(), path)
            for path, item in document["paths"].items()
            if path.startswith("/api/rooms")
            for method in item
        }
        assert ("PUT", "/api/rooms/{room_id}/members/@me") in operations
        assert len(operations) >= 19
