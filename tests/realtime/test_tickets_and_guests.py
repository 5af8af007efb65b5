"""Browsers open the room channel with one-time tickets; guests enter public rooms that admit
them with a room-bound token. Over real HTTP and WebSocket against the whole server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from tests.support.cli import synctv
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up
from tests.support.websocket import open_with

pytestmark = pytest.mark.slow


async def ticket(who: Member, room: str) -> str:
    return str((await who.ok("POST", "/api/tickets", {"roomId": room}))["ticket"])


async def test_tickets(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        room = (await owner.ok("POST", "/api/rooms", {"name": "a"}))["room"]["id"]
        other = (await owner.ok("POST", "/api/rooms", {"name": "b"}))["room"]["id"]
        issued = await owner.ok("POST", "/api/tickets", {"roomId": room})
        assert (issued["roomId"], issued["expiresInSecs"]) == (room, 30)

        first, code = await open_with(server.base, room, issued["ticket"])
        assert "welcome" in first
        assert code is None
        # Once only.
        first, code = await open_with(server.base, room, issued["ticket"])
        assert (first["error"]["code"], code) == ("authentication_required", 4401)
        # For its own room only.
        first, code = await open_with(server.base, other, await ticket(owner, room))
        assert (first["error"]["code"], code) == ("authentication_required", 4401)
        # A ticket is not a credential for REST calls (it is in a URL, so in logs).
        unused = await ticket(owner, room)
        me = await owner.person.http.get(f"/api/user?ticket={unused}")
        assert me.status_code == 401
        # A ticket dies with its session.
        late = await ticket(owner, room)
        await owner.ok("POST", "/api/user/logout")
        first, code = await open_with(server.base, room, late)
        assert (first["error"]["code"], code) == ("token_revoked", 4401)


async def test_guests(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        open_room = (
            await owner.ok(
                "POST",
                "/api/rooms",
                {
                    "name": "open",
                    "settings": {
                        "allowGuestJoin": True,
                        "permissions": {"guest": {"added": ["view_members"]}},
                    },
                },
            )
        )["room"]["id"]
        closed_room = (await owner.ok("POST", "/api/rooms", {"name": "members only"}))["room"]["id"]
        private = (
            await owner.ok(
                "POST",
                "/api/rooms",
                {"name": "p", "isPublic": False, "settings": {"allowGuestJoin": True}},
            )
        )["room"]["id"]
        locked = (
            await owner.ok(
                "POST",
                "/api/rooms",
                {"name": "l", "password": "pw", "settings": {"allowGuestJoin": True}},
            )
        )["room"]["id"]

        async with httpx.AsyncClient(base_url=server.base) as anonymous:

            async def guest_token(room: str) -> httpx.Response:
                return await anonymous.post("/api/auth/guest-token", json={"roomId": room})

            for refused_room in (closed_room, private, locked, "nope"):
                refused = await guest_token(refused_room)
                assert (refused.status_code, refused.json()["code"]) == (
                    403,
                    "guest_not_admitted",
                ), refused_room
            issued = (await guest_token(open_room)).json()
            assert issued["guestId"].startswith("guest-")
            guest = Member(server.person(9), issued["guestId"], issued["token"])

            view = await guest.ok("GET", f"/api/rooms/{open_room}")
            assert (view["myRole"], view["myPermissions"]) == ("guest", ["view_members"])
            assert len(await guest.ok("GET", f"/api/rooms/{open_room}/members")) == 1
            # Bound to that room; never an account.
            assert await guest.refused("GET", f"/api/rooms/{closed_room}") == (
                404,
                "room_not_found",
            )
            assert await guest.refused("GET", "/api/user") == (403, "permission_denied")
            assert await guest.refused("POST", "/api/rooms", {"name": "x"}) == (
                403,
                "permission_denied",
            )
            assert await guest.refused("POST", "/api/tickets", {"roomId": closed_room}) == (
                403,
                "permission_denied",
            )
            first, code = await open_with(server.base, open_room, await ticket(guest, open_room))
            assert first["welcome"]["room"]["myRole"] == "guest"
            assert code is None

            # user.enableGuest off: no new guest tokens, and existing ones stop admitting.
            status, _out, err = await synctv(
                server.data_dir, "admin", "settings", "set", "user.enableGuest", "false"
            )
            assert status == 0, err
            with trio.fail_after(10):
                while True:  # applied when the settings notification arrives
                    if (await guest_token(open_room)).status_code == 403:
                        break
                    await trio.sleep(0.05)
            assert await guest.refused("GET", f"/api/rooms/{open_room}") == (
                404,
                "room_not_found",
            )


async def test_guest_tokens_are_limited_per_address(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """``ratelimit.guestTokensPerAddressPerHour`` (30 by default) counts every request for a
    guest token from one address, admitted or not; the next one gets 429 with Retry-After, and
    another address still gets its token."""
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        settings = {"allowGuestJoin": True}
        room = (await owner.ok("POST", "/api/rooms", {"name": "g", "settings": settings}))["room"][
            "id"
        ]
        flood = server.person(7).http
        for n in range(30):
            asked = await flood.post("/api/auth/guest-token", json={"roomId": room if n else "x"})
            assert asked.status_code == (200 if n else 403), asked.text
        refused = await flood.post("/api/auth/guest-token", json={"roomId": room})
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
        assert refused.headers["retry-after"] == "120"  # one token back every 3600/30 s
        other = await server.person(8).http.post("/api/auth/guest-token", json={"roomId": room})
        assert other.status_code == 200, other.text
