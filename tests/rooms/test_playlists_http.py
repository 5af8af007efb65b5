"""The playlist and the playback state over real HTTP: batch adds, ordering across folders,
ownership of items, concurrent seeks (one wins), expected media, transit compensation, the
remembered position, live media, and the events every change writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from synctv.core.permissions import Permission
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, room_events, sign_up

pytestmark = pytest.mark.slow


def url_item(name: str, **source: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": {"kind": "url", "url": f"https://media.test/{name}.mp4", **source},
    }


async def room_with_member(server: Any) -> tuple[Member, Member, str]:
    owner = await sign_up(server, 2, "owner")
    member = await sign_up(server, 3, "member")
    room = (await owner.ok("POST", "/api/rooms", {"name": "films"}))["room"]["id"]
    await member.ok("PUT", f"/api/rooms/{room}/members/@me")
    return owner, member, f"/api/rooms/{room}"


async def test_playlist(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner, member, path = await room_with_member(server)
        added = await member.ok(
            "POST", f"{path}/media", {"items": [url_item("a"), url_item("b"), url_item("c")]}
        )
        ids = [m["id"] for m in added["media"]]
        assert [m["name"] for m in added["media"]] == ["a", "b", "c"]
        assert all(m["addedBy"] == member.id for m in added["media"])
        listed = await member.ok("GET", f"{path}/media")
        assert [m["id"] for m in listed["media"]] == ids

        # Members may not reorder (reorder_media); the owner moves c before a.
        assert await member.refused("POST", f"{path}/media/{ids[2]}/move", {"before": ids[0]}) == (
            403,
            "permission_denied",
        )
        await owner.ok("POST", f"{path}/media/{ids[2]}/move", {"before": ids[0]})
        await owner.ok("POST", f"{path}/media/{ids[1]}/move", {"after": ids[2]})
        order = [m["id"] for m in (await member.ok("GET", f"{path}/media"))["media"]]
        assert order == [ids[2], ids[1], ids[0]]

        folder = await owner.ok("POST", f"{path}/playlists", {"name": "Season 1"})
        await owner.ok("POST", f"{path}/media/{ids[0]}/move", {"playlistId": folder["id"]})
        root = await member.ok("GET", f"{path}/media")
        assert [f["name"] for f in root["folders"]] == ["Season 1"]
        assert [m["id"] for m in root["media"]] == [ids[2], ids[1]]
        inside = await member.ok("GET", f"{path}/media?playlistId={folder['id']}")
        assert [m["id"] for m in inside["media"]] == [ids[0]]

        # Own items: the member removes theirs; another's needs delete_media.
        mine = (await owner.ok("POST", f"{path}/media", {"items": [url_item("owners")]}))["media"]
        assert await member.refused("DELETE", f"{path}/media/{mine[0]['id']}") == (
            403,
            "permission_denied",
        )
        await member.ok("DELETE", f"{path}/media/{ids[1]}")
        assert await member.refused("DELETE", f"{path}/media") == (403, "permission_denied")
        await owner.ok("DELETE", f"{path}/media")
        assert (await member.ok("GET", f"{path}/media"))["media"] == []

        # Bad sources are refused with the field named; nothing is added.
        for item, field in [
            ({"name": "x", "source": {"kind": "url", "url": "ftp://h/x"}}, "items[0].source.url"),
            (url_item("x", headers={"Host": "evil"}), "items[0].source.headers"),
            ({"name": "x", "source": {"kind": "torrent"}}, "items[0].source"),
        ]:
            response = await member.call("POST", f"{path}/media", {"items": [item]})
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "invalid_media_source"
            assert field in response.json()["message"]
        too_many = {"items": [url_item(f"n{i}") for i in range(101)]}
        assert (await member.call("POST", f"{path}/media", too_many)).status_code == 422
        hundred = await member.ok(
            "POST", f"{path}/media", {"items": [url_item(f"n{i}") for i in range(100)]}
        )
        keys = [m["position"] for m in hundred["media"]]
        assert keys == sorted(keys)
        assert len(set(keys)) == 100
        assert (await member.ok("GET", f"{path}/media"))["media"][0]["name"] == "n0"

        types = [t for _, t in await room_events(server, path.rsplit("/", 1)[1])]
        assert types.count("media_added") == 3
        assert "media_moved" in types
        assert "playlist_cleared" in types


async def test_playback(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner, member, path = await room_with_member(server)
        media = (
            await owner.ok(
                "POST",
                f"{path}/media",
                {"items": [url_item("a"), url_item("b"), url_item("live", live=True)]},
            )
        )["media"]
        a, b, live = (m["id"] for m in media)
        empty = (await member.ok("GET", f"{path}/playback"))["state"]
        assert (empty["mediaId"], empty["playing"], empty["version"]) == (None, False, 0)
        assert await owner.refused("PATCH", f"{path}/playback", {"op": "play"}) == (
            422,
            "invalid_playback_change",
        )
        # Members have neither control_playback_state nor navigate_playback by default.
        assert await member.refused("POST", f"{path}/playback/start", {"mediaId": a}) == (
            403,
            "permission_denied",
        )
        assert await member.refused("PATCH", f"{path}/playback", {"op": "pause"}) == (
            403,
            "permission_denied",
        )

        started = (await owner.ok("POST", f"{path}/playback/start", {"mediaId": a}))["state"]
        assert (started["mediaId"], started["playing"]) == (a, True)
        await trio.sleep(0.3)
        later = (await member.ok("GET", f"{path}/playback"))["state"]
        assert later["position"] == pytest.approx(
            later["serverTime"] - started["serverTime"], abs=0.05
        )

        # Two seeks against one version: one wins, the other is told.
        version = later["version"]
        results: list[int] = []

        async def seek(to: float) -> None:
            response = await owner.call(
                "PATCH", f"{path}/playback", {"op": "seek", "position": to, "version": version}
            )
            results.append(response.status_code)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(seek, 100.0)
            nursery.start_soon(seek, 200.0)
        assert sorted(results) == [200, 409]

        # A seek meant for other media is refused, not applied to this one.
        assert await owner.refused(
            "PATCH", f"{path}/playback", {"op": "seek", "position": 5, "expectedMediaId": b}
        ) == (409, "version_conflict")

        # Transit compensation: sent 0.5 s ago by a client whose clock matches the server's.
        now = (await member.ok("GET", f"{path}/playback"))["state"]["serverTime"]
        sought = (
            await owner.ok(
                "PATCH",
                f"{path}/playback",
                {"op": "seek", "position": 50, "clientSentAt": now - 0.5, "clockOffset": 0.0},
            )
        )["state"]
        assert 50.4 < sought["position"] < 51.5

        paused = (await owner.ok("PATCH", f"{path}/playback", {"op": "pause"}))["state"]
        left_at = paused["position"]
        await owner.ok("POST", f"{path}/playback/next", {})
        assert (await member.ok("GET", f"{path}/playback"))["state"]["mediaId"] == b
        back = (await owner.ok("POST", f"{path}/playback/previous", {}))["state"]
        assert back["mediaId"] == a
        assert back["position"] == pytest.approx(left_at, abs=0.01)  # remembered

        live_state = (await owner.ok("POST", f"{path}/playback/start", {"mediaId": live}))["state"]
        assert live_state["kind"] == "live"
        assert await owner.refused("PATCH", f"{path}/playback", {"op": "seek", "position": 1}) == (
            422,
            "invalid_playback_change",
        )

        history = (await owner.ok("GET", f"{path}/playback/history"))["entries"]
        assert [h["mediaId"] for h in history] == [live, a, b, a]
        assert await member.refused("GET", f"{path}/playback/history") == (
            403,
            "permission_denied",
        )

        # Removing the current media stops playback for everyone.
        await owner.ok("DELETE", f"{path}/media/{live}")
        assert (await member.ok("GET", f"{path}/playback"))["state"]["mediaId"] is None
        types = [t for _, t in await room_events(server, path.rsplit("/", 1)[1])]
        assert types.count("playback_changed") == 8


async def test_every_playlist_route_refuses_without_its_permission(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """A room that takes every permission from members: each route answers permission_denied;
    the owner's own permissions are what let the same calls through."""
    async with identity_server(tmp_path, postgres) as server:
        owner, member, path = await room_with_member(server)
        item = (await owner.ok("POST", f"{path}/media", {"items": [url_item("x")]}))["media"][0]
        everything = [p.value for p in Permission if p.value != "delete_room"]
        await owner.ok(
            "PATCH", f"{path}/settings", {"permissions": {"member": {"removed": everything}}}
        )
        assert (await member.ok("GET", path))["myPermissions"] == []
        denied = [
            ("POST", f"{path}/media", {"items": [url_item("y")]}),
            ("POST", f"{path}/playlists", {"name": "f"}),
            ("POST", f"{path}/media/{item['id']}/move", {}),
            ("DELETE", f"{path}/media/{item['id']}", None),
            ("DELETE", f"{path}/media", None),
            ("PATCH", f"{path}/playback", {"op": "pause"}),
            ("POST", f"{path}/playback/start", {"mediaId": item["id"]}),
            ("POST", f"{path}/playback/next", {}),
            ("POST", f"{path}/playback/previous", {}),
            ("GET", f"{path}/playback/history", None),
            ("GET", f"{path}/members", None),
        ]
        for method, where, body in denied:
            response = await member.call(method, where, body)
            assert (response.status_code, response.json()["code"]) == (
                403,
                "permission_denied",
            ), (method, where)
            assert response.json()["details"]["permission"]
        # Reading the playlist and the state only needs membership.
        assert (await member.ok("GET", f"{path}/media"))["media"][0]["id"] == item["id"]
        assert (await member.ok("GET", f"{path}/playback"))["state"]["version"] == 0
        # A visitor of the public room (not a member) sees neither.
        visitor = await sign_up(server, 9, "visitor")
        assert await visitor.refused("GET", f"{path}/media") == (403, "permission_denied")
        assert await visitor.refused("GET", f"{path}/playback") == (403, "permission_denied")
