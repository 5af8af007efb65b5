"""``synctv admin room ...`` against a running server: the operator sees every room, suspends
and restores one, lists members, deletes; refusals come back as one line with their code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import synctv
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up

pytestmark = pytest.mark.slow


async def test_operator_commands(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        viewer = await sign_up(server, 3, "viewer")
        public = (await owner.ok("POST", "/api/rooms", {"name": "Open house"}))["room"]["id"]
        private = (await owner.ok("POST", "/api/rooms", {"name": "Back room", "isPublic": False}))[
            "room"
        ]["id"]
        await viewer.ok("PUT", f"/api/rooms/{public}/members/@me")

        async def admin(*words: str) -> str:
            code, out, err = await synctv(server.data_dir, "admin", "room", *words)
            assert code == 0, err
            return out

        listed = await admin("list")
        assert "Open house" in listed
        assert "Back room" in listed
        assert "private" in listed
        as_json = json.loads(await admin("list", "--json", "--search", "back"))
        assert [r["id"] for r in as_json["rooms"]] == [private]
        assert json.loads(await admin("list", "--json", "--search", public))["total"] == 1

        shown = await admin("show", public)
        assert "Open house" in shown
        assert '"maxMembers": 100' in shown
        members = await admin("members", public)
        assert members.splitlines()[1].split()[2] == "creator"
        assert "viewer" in members

        assert "suspended" in await admin("ban", public, "--reason", "copyright notice")
        assert await viewer.refused("GET", f"/api/rooms/{public}") == (403, "room_suspended")
        assert (await viewer.ok("GET", "/api/rooms/discover"))["total"] == 0
        assert "suspended: copyright notice" in await admin("list")
        await admin("unban", public)
        assert (await viewer.ok("GET", f"/api/rooms/{public}"))["myRole"] == "member"

        await admin("delete", private)
        assert await owner.refused("GET", f"/api/rooms/{private}") == (404, "room_not_found")
        code, _out, err = await synctv(server.data_dir, "admin", "room", "show", private)
        assert code == 1
        assert "room_not_found" in err
        code, _out, err = await synctv(server.data_dir, "admin", "room", "ban", public)
        assert code != 0
        assert "--reason" in err

        audit = await synctv(server.data_dir, "admin", "audit", "list", "--action", "room")
        assert audit[0] == 0, audit[2]
        for action in ("room.created", "room.suspended", "room.restored", "room.deleted"):
            assert action in audit[1]
