"""GET /api/rooms/{id}/playback resolves the current media for the caller: the routes of its
proxy mode, the headers a page may send, subtitles, expiry; credentials never go direct."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up

pytestmark = pytest.mark.slow


async def play(owner: Member, room: str, item: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    media = (await owner.ok("POST", f"{room}/media", {"items": [item]}))["media"][0]
    await owner.ok("POST", f"{room}/playback/start", {"mediaId": media["id"]})
    response = await owner.call("GET", f"{room}/playback")
    return response.status_code, response.json()


async def test_playback_info(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        owner = await sign_up(server, 2, "owner")
        room = "/api/rooms/" + (await owner.ok("POST", "/api/rooms", {"name": "r"}))["room"]["id"]
        assert (await owner.ok("GET", f"{room}/playback"))["playback"] is None

        url = "https://media.test/a.mp4"
        subtitle = {"name": "English", "url": "https://media.test/a.vtt", "format": "vtt"}
        source = {
            "kind": "url",
            "url": url,
            "headers": {"Referer": "https://media.test/", "Accept-Language": "fr"},
            "subtitles": [subtitle],
            "expiresAt": 4102444800,
        }
        status, body = await play(
            owner, room, {"name": "a", "source": source, "proxyMode": "direct_prefer"}
        )
        assert status == 200, body
        info = body["playback"]
        assert info["mediaId"] == body["state"]["mediaId"]
        assert (info["via"], info["url"]) == ("direct", url)
        assert [u["via"] for u in info["urls"]] == ["direct", "proxy"]
        assert info["urls"][1]["url"].startswith("/proxy/")
        assert info["headers"] == {"accept-language": "fr"}
        assert info["removedHeaders"] == ["referer"]
        assert info["subtitles"] == [subtitle]
        assert info["expiresAt"] == 4102444800
        assert info["kind"] == "regular"
        assert info["refreshAt"] < info["expiresAt"]

        # auto: a Referer the page cannot send needs the proxy; subtitles follow the route.
        status, body = await play(owner, room, {"name": "b", "source": source})
        info = body["playback"]
        assert info["via"] == "proxy"
        assert [u["via"] for u in info["urls"]] == ["proxy"]
        assert info["headers"] == {}
        assert info["subtitles"][0]["url"].startswith("/proxy/")
        plain = {"kind": "url", "url": url}
        status, body = await play(owner, room, {"name": "c", "source": plain})
        assert (body["playback"]["via"], body["playback"]["url"]) == ("direct", url)
        assert body["playback"]["expiresAt"] is None

        # A credential never goes to a client: proxy only, and direct_only is refused.
        secret = {"kind": "url", "url": url, "headers": {"Authorization": "Bearer s3cret"}}
        status, body = await play(
            owner, room, {"name": "d", "source": secret, "proxyMode": "direct_prefer"}
        )
        assert [u["via"] for u in body["playback"]["urls"]] == ["proxy"]
        assert "s3cret" not in str(body)
        status, body = await play(
            owner, room, {"name": "e", "source": secret, "proxyMode": "direct_only"}
        )
        assert (status, body["code"]) == (409, "direct_playback_refused")
        keyed = {"kind": "url", "url": url + "?api_key=k3y"}
        status, body = await play(owner, room, {"name": "f", "source": keyed})
        assert body["playback"]["via"] == "proxy"
        assert "k3y" not in str(body)
