"""Auto-advance and duration probes over the whole server: a playing media's duration is read
once through the proxy (an MP4 with its moov first, one with it last) and stored; at its end
plus the room's autoPlay delay the next item plays (actor: system); a sequential playlist stops
at its end; a pause made before the step wins."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up
from tests.support.signed_origin import SignedOrigin

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
]


async def mp4(path: Path, seconds: int, faststart: bool) -> bytes:
    await trio.run_process(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size=64x48:rate=10",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         *(["-movflags", "+faststart"] if faststart else []), "-y", str(path)],
    )  # fmt: skip
    return await trio.Path(path).read_bytes()


async def state(owner: Member, room: str) -> dict[str, Any]:
    body: dict[str, Any] = (await owner.ok("GET", f"{room}/playback"))["state"]
    return body


async def wait_for(owner: Member, room: str, check: Any, within: float) -> dict[str, Any]:
    with trio.fail_after(within):
        while True:
            now = await state(owner, room)
            if check(now):
                return now
            await trio.sleep(0.1)


async def test_auto_advance(tmp_path: Path, postgres: RunningPostgres) -> None:
    files = {
        "/a.mp4": await mp4(tmp_path / "a.mp4", 2, faststart=True),
        "/b.mp4": await mp4(tmp_path / "b.mp4", 1, faststart=False),  # moov after mdat
    }
    origin = SignedOrigin(files)
    proxy = {"proxy": {"allow_private_upstreams": True}}
    async with trio.open_nursery() as nursery:
        await nursery.start(origin.serve)
        async with identity_server(tmp_path, postgres, **proxy) as server:
            owner = await sign_up(server, 2, "owner")
            room = (
                "/api/rooms/" + (await owner.ok("POST", "/api/rooms", {"name": "r"}))["room"]["id"]
            )
            await owner.ok("PATCH", f"{room}/settings", {"autoPlay": {"delay": 1}})
            items = [
                {"name": name, "source": {"kind": "url", "url": f"{origin.base}/files/{name}.mp4"}}
                for name in ("a", "b")
            ]
            a, b = [
                m["id"]
                for m in (await owner.ok("POST", f"{room}/media", {"items": items}))["media"]
            ]
            started = time.time()
            await owner.ok("POST", f"{room}/playback/start", {"mediaId": a})

            # The duration is probed through the proxy and lands in the state and on the row.
            known = await wait_for(owner, room, lambda s: s["duration"] is not None, 5)
            assert known["mediaId"] == a
            assert known["duration"] == pytest.approx(2.0, abs=0.15)
            # At the end plus the delay, b plays, chosen by the server.
            moved = await wait_for(owner, room, lambda s: s["mediaId"] == b, 8)
            assert time.time() - started >= 2.0 + 1.0 - 0.3
            assert moved["playing"]
            assert moved["position"] < 1.0
            history = (await owner.ok("GET", f"{room}/playback/history"))["entries"]
            assert [(e["mediaId"], e["chosenBy"]) for e in history[:2]] == [
                (b, "system"),
                (a, owner.id),
            ]
            # b's moov is at its end: found all the same.
            known_b = await wait_for(owner, room, lambda s: s["duration"] is not None, 5)
            assert known_b["duration"] == pytest.approx(1.0, abs=0.15)
            listed = {
                m["id"]: m["duration"] for m in (await owner.ok("GET", f"{room}/media"))["media"]
            }
            assert listed[a] == pytest.approx(2.0, abs=0.15)
            # Sequential: after the last item nothing more plays.
            await trio.sleep(1.0 + 1.0 + 1.5)
            after = await state(owner, room)
            assert (after["mediaId"], after["version"]) == (b, known_b["version"])

            # A pause after the end but before the delay ran out wins over the step.
            await owner.ok(
                "PATCH", f"{room}/settings", {"autoPlay": {"mode": "repeat_all", "delay": 2}}
            )
            chosen = await owner.ok("POST", f"{room}/playback/start", {"mediaId": a})
            await trio.sleep(2.5)
            paused = await owner.ok(
                "PATCH", f"{room}/playback", {"op": "pause", "version": chosen["state"]["version"]}
            )
            await trio.sleep(2.5)
            final = await state(owner, room)
            assert (final["mediaId"], final["playing"]) == (a, False)
            assert final["version"] == paused["state"]["version"]
            # Playing again (already at its end) advances: repeat_all wraps to b after a.
            await owner.ok("PATCH", f"{room}/playback", {"op": "play"})
            wrapped = await wait_for(owner, room, lambda s: s["mediaId"] == b, 5)
            assert wrapped["playing"]
        nursery.cancel_scope.cancel()
