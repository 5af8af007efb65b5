"""Issue 12, "Done means 3": a source whose signed URLs expire in 20 s keeps playing, through the
proxy and directly (re-resolved), past the expiry.

A local origin (tests/support/signed_origin.py) speaks Alist's ``/api/fs/get`` and signs its
download links for 20 s, refusing them with 403 afterwards. It serves a small MP4 made by FFmpeg.
The room plays it as an ``alist`` provider item in mode ``prefer`` (a proxy link first, the
direct link as the fallback); a viewer reads the file in consecutive ranges through both links
for 24 s, refetching the playback info at its ``refreshAt`` for a fresh direct link, as a player
does, and keeping the same proxy link. Every byte read matches the file, the first direct link
is refused by the origin after it expired, and the proxy re-resolved a new link by itself.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trio

from tests.support.cli import synctv
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up
from tests.support.signed_origin import SignedOrigin

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
]

LIFETIME = 20.0
CHUNK = 64 * 1024
RUN_FOR = LIFETIME + 4


async def make_mp4(path: Path) -> bytes:
    await trio.run_process(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=duration=16:size=320x240:rate=25",
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p",
         "-movflags", "+faststart", "-y", str(path)],
    )  # fmt: skip
    return await trio.Path(path).read_bytes()


async def test_expiring_signed_source_plays_past_expiry(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    film = await make_mp4(tmp_path / "film.mp4")
    chunks = len(film) // CHUNK
    assert chunks >= 30, f"the film is too small for the test: {len(film)} bytes"
    origin = SignedOrigin({"/films/film.mp4": film}, lifetime=LIFETIME)
    config = {"proxy_slice_cache": {"slice_size_bytes": CHUNK}}
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(origin.serve)
            async with identity_server(tmp_path, postgres, **config) as server:
                options = {"base_url": origin.base, "mode": "direct"}
                code, _out, err = await synctv(
                    server.data_dir, "admin", "provider", "add", "alist", "origin",
                    "--options", json.dumps(options), "--lan-service",
                )  # fmt: skip
                assert code == 0, err
                owner = await sign_up(server, 2, "owner")
                room = (await owner.ok("POST", "/api/rooms", {"name": "films"}))["room"]["id"]
                item = {
                    "name": "film",
                    "source": {"kind": "provider", "instance": "origin", "path": "/films/film.mp4"},
                    "proxyMode": "prefer",
                }
                added = await owner.ok("POST", f"/api/rooms/{room}/media", {"items": [item]})
                media_id = added["media"][0]["id"]
                await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": media_id})
                await play_past_expiry(server.base, owner, room, film, origin)
            nursery.cancel_scope.cancel()


async def play_past_expiry(
    base: str, owner: Member, room: str, film: bytes, origin: SignedOrigin
) -> None:
    started = time.time()
    info = (await owner.ok("GET", f"/api/rooms/{room}/playback"))["playback"]
    assert info["via"] == "proxy"
    assert info["url"].startswith("/proxy/")
    assert [u["via"] for u in info["urls"]] == ["proxy", "direct"]
    proxy_url = base + info["url"]
    direct = info["urls"][1]
    first_direct = direct["url"]
    # The direct link is the origin's, with its expiry; the info says when to refetch it.
    assert first_direct.startswith(origin.base + "/d/films/film.mp4?n=")
    assert started + LIFETIME - 2 <= direct["expiresAt"] <= started + LIFETIME + 1
    refresh_at = refreshed_at(info)
    assert direct["expiresAt"] - 6 <= refresh_at < direct["expiresAt"]

    read_proxy, read_direct = bytearray(), bytearray()
    direct_links = {first_direct}
    async with httpx.AsyncClient(timeout=10) as http:
        index = 0
        while time.time() - started < RUN_FOR:
            if time.time() >= refresh_at:  # the player refetches and swaps the URL in place
                info = (await owner.ok("GET", f"/api/rooms/{room}/playback"))["playback"]
                assert info["url"].startswith("/proxy/")
                direct = info["urls"][1]
                direct_links.add(direct["url"])
                refresh_at = refreshed_at(info)
            span = f"bytes={index * CHUNK}-{(index + 1) * CHUNK - 1}"
            for url, into in ((proxy_url, read_proxy), (direct["url"], read_direct)):
                response = await http.get(url, headers={"range": span})
                assert response.status_code == 206, (url, response.status_code, response.text)
                into += response.content
            index += 1
            await trio.sleep(1.0)
        # Continuity: every range of both paths, in order, is the film's.
        assert bytes(read_proxy) == film[: index * CHUNK]
        assert bytes(read_direct) == film[: index * CHUNK]
        refused = [d for d in origin.downloads if d.status == 403]
        # The first direct link really expired (the origin refuses it now) ...
        late = await http.get(first_direct, headers={"range": "bytes=0-1"})
        assert late.status_code == 403
    # ... and both paths went on with fresh signatures: the viewer's refetch for the direct
    # path, the proxy's own re-resolution for the proxy path.
    assert refused == []
    assert len(direct_links) >= 2
    direct_signs = {parse_qs(urlsplit(u).query)["n"][0] for u in direct_links}
    proxy_signs = {d.link for d in origin.downloads if d.status == 206} - direct_signs
    assert len(proxy_signs) >= 2, (proxy_signs, direct_signs)


def refreshed_at(info: dict[str, object]) -> float:
    value = info["refreshAt"]
    assert isinstance(value, float | int)
    return float(value)
