"""What the room page's "Watching" card reads: ``GET /presence`` and ``GET /members``. A member
the creator added (rather than one who joined) sees every open connection, their own included, a
name for each, two tabs of one person as two connections; without ``view_members`` both routes
refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up
from tests.support.websocket import channel, receive, send

pytestmark = pytest.mark.slow


async def test_an_added_member_sees_who_is_watching(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        viewer = await sign_up(server, 3, "viewer")
        made = await owner.ok("POST", "/api/rooms", {"name": "Movie night", "isPublic": False})
        room = made["room"]["id"]
        await owner.ok("POST", f"/api/rooms/{room}/members", {"userId": viewer.id})

        async with (
            channel(server.base, room, owner) as mine,
            channel(server.base, room, viewer) as tab,
            channel(server.base, room, viewer) as other_tab,
        ):
            for ws in (mine, tab, other_tab):
                await send(ws, {"hello": {}})
                assert "welcome" in await receive(ws)  # present once welcomed: no report needed
            presence = await viewer.ok("GET", f"/api/rooms/{room}/presence")
            members = await viewer.ok("GET", f"/api/rooms/{room}/members")
            online = sorted((p["userId"], p["role"], p["drift"]) for p in presence["online"])
            assert online == sorted(
                [
                    (owner.id, "creator", None),
                    (viewer.id, "member", None),
                    (viewer.id, "member", None),
                ]
            )
            assert len({p["connectionId"] for p in presence["online"]}) == 3
            names = {m["userId"]: m["username"] for m in members["members"]}
            assert names == {owner.id: "owner", viewer.id: "viewer"}

            await owner.ok(
                "PATCH", f"/api/rooms/{room}/members/{viewer.id}", {"removed": ["view_members"]}
            )
            for route in ("presence", "members"):
                refused = await viewer.refused("GET", f"/api/rooms/{room}/{route}")
                assert refused == (403, "permission_denied"), route
