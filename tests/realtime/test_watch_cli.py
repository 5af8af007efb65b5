"""``synctv watch ROOM``: a newcomer's terminal view of a room, against the whole server."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.cli import synctv
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up

pytestmark = pytest.mark.slow


async def test_watch_shows_the_state_and_the_events(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        room = (await owner.ok("POST", "/api/rooms", {"name": "Film club"}))["room"]["id"]
        media = (
            await owner.ok(
                "POST",
                f"/api/rooms/{room}/media",
                {"items": [{"name": "a", "source": {"kind": "url", "url": "https://h.test/a"}}]},
            )
        )["media"][0]["id"]
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media})
        result: list[tuple[int, str, str]] = []

        async def watch() -> None:
            result.append(
                await synctv(
                    server.data_dir,
                    "watch",
                    room,
                    "--url",
                    server.base,
                    "--token",
                    owner.token,
                    "--seconds",
                    "4",
                )
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.sleep(2.5)
            await owner.ok("PATCH", f"/api/rooms/{room}/playback", {"op": "seek", "position": 3600})
        code, out, err = result[0]
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith(f"Film club ({room}) — you are creator; 1 member"), out
        assert any(line.startswith(f"▶ {media}  0:00:") for line in lines), out
        assert any("playback_changed by" in line for line in lines), out
        assert any(line.startswith(f"▶ {media}  1:00:0") and "  v2 " in line for line in lines), out

        code, _out, err = await synctv(server.data_dir, "watch", room, "--url", server.base)
        assert code == 1
        assert "--token" in err
