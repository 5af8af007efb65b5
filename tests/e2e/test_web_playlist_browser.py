"""The playlist and the synchronized player in the browser client (issue 15, browser tests 1 and
4), two people in Chromium (the driver is ``tests/support/web_playlist_browser.py``; why a child
process: ``tests/e2e/test_web_client_browser.py``).

Both sign up in the page (OPAQUE there). The owner creates a room and adds a local MP4 with
SRT subtitles as a URL item in proxy mode ``only`` (so both pages fetch it through this server's
``/proxy``); the other joins; both play. After play, pause, seek and a speed change, both pages'
``currentTime`` is sampled against the server's clock (this machine's) for 30 s: the p95 of the
difference is printed and must be ≤ 100 ms. The subtitles are a text track (converted from SRT
in the page) with the cue showing. The playlist by keyboard alone (Tab to an item's move button,
Enter), by dragging, play next, a folder, remove, clear: each seen live in the other page. A
non-member can open neither a private room (the page says so) nor its live stream (REST, the
channel's ticket, the FLV URL). Screenshots 30-33, desktop and phone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.web_media import REPO, media_origin, require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

P95_SECONDS = 0.1  # the issue: p95 difference ≤ 100 ms
TOKEN_TTL = 20
SUBTITLE = "Hello from the subtitles"


def make_film(directory: Path) -> None:
    """film.mp4: 60 s of a small test picture (time enough for 30 s of sampling at 1.25×), moov
    first; film.srt: one cue over all of it."""
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=192x108:rate=25",
            "-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-g", "25", "-movflags", "+faststart", str(directory / "film.mp4"),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    srt = f"1\r\n00:00:00,000 --> 00:01:00,000\r\n{SUBTITLE}\r\n\r\n"
    (directory / "film.srt").write_text(srt, encoding="utf-8")


async def test_playlist_and_sync_in_two_pages(tmp_path: Path, postgres: RunningPostgres) -> None:
    require_tools()
    media = tmp_path / "media"
    media.mkdir()
    await trio.to_thread.run_sync(make_film, media)
    # The origin is on loopback: the proxy may reach it only when told so.
    # Proxy links live 20 s: each page refetches its link at refreshAt (15 s after it was
    # resolved) and swaps it in, during the sampling.
    proxy = {"allow_private_upstreams": True, "token_ttl_seconds": TOKEN_TTL}
    with trio.fail_after(150), media_origin(media) as origin:
        async with identity_server(tmp_path, postgres, proxy=proxy) as server:
            driven = await trio.run_process(
                [sys.executable, "-m", "tests.support.web_playlist_browser",
                 server.base, f"{origin}/film"],
                cwd=REPO, capture_stdout=True, check=False,
            )  # fmt: skip
    assert driven.returncode == 0, "the browser part failed (its traceback is above)"
    seen = json.loads(driven.stdout.decode().strip().splitlines()[-1])
    p95 = seen["p95"]
    print(
        f"p95 |currentTime - server| over {seen['samples']} samples in 30 s:"
        f" owner {p95['owner'] * 1000:.1f} ms, friend {p95['friend'] * 1000:.1f} ms;"
        f" between the pages {seen['p95_between'] * 1000:.1f} ms"
        f" (max {seen['max']['owner'] * 1000:.1f} / {seen['max']['friend'] * 1000:.1f} ms)"
    )
    print(f"state sampled against: {seen['state']}")
    print(f"sources: {seen['sources']} then {seen['sources_after']}; tracks: {seen['tracks']}")
    print(f"non-member: {seen['non_member']}, ticket {seen['non_member_ticket']},"
          f" channel {seen.get('non_member_channel')}, flv {seen['non_member_flv']}")  # fmt: skip
    assert not seen["console_errors"], seen["console_errors"]
    mode, source = seen["stored"]["Pattern"]
    assert mode == "only"
    assert source["headers"] == {"X-Test": "yes"}
    assert source["subtitles"][0]["name"] == "English"
    assert source["subtitles"][0]["format"] == "srt"
    assert all("/proxy/" in s for s in seen["sources"]), seen["sources"]
    # The links were refreshed while playing (a new token in each page's player).
    for before, after in zip(seen["sources"], seen["sources_after"], strict=True):
        assert "/proxy/" in after
        assert after != before
    assert seen["state"]["speed"] == 1.25
    assert seen["state"]["playing"]
    assert seen["samples"] >= 60
    assert max(p95.values()) <= P95_SECONDS, p95
    assert seen["p95_between"] <= P95_SECONDS
    assert seen["tracks"] == [["English", "showing", 1, SUBTITLE]]
    assert seen["keyboard_focus"] == "Move Second down"
    assert seen["focus_after_move"] == "Move Second up"
    assert seen["friend_can_remove"] == 0  # not theirs, no delete_media
    assert seen["order"] == ["Pattern", "Third", "Bonus"]
    assert seen["live_created"] == 201
    assert "room_not_found" in seen["private_page"]
    assert all(status == 404 for status in seen["non_member"].values()), seen["non_member"]
    # A ticket may be issued; the channel it opens is refused (4404: the room is not found).
    if seen["non_member_ticket"] == 200:
        assert seen["non_member_channel"] in (4403, 4404), seen["non_member_channel"]
    else:
        assert seen["non_member_ticket"] == 404
    assert seen["non_member_flv"] in (401, 403, 404)
