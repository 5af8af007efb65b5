"""A room's own live streams over the whole server: created over REST, published by FFmpeg
over RTMP to ``rtmp://HOST:PORT/<room id>``, played by ffprobe over HTTP-FLV, HLS and RTMP.

A private room's stream plays only with the room's viewer token: a non-member is refused the
HLS playlist, an HLS segment, HTTP-FLV and RTMP play; a member plays each with ffprobe; a token
of room A does not open room B's stream; an expired token is refused; creating a stream needs
``manage_live_streams``. A public room's stream plays anonymously until the room turns
``allowAnonymousLive`` off.
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import trio
from google.protobuf import json_format

from synctv.api.grpc._gen.synctv.v1 import room_pb2
from tests.conftest import FIXTURES
from tests.support.grpc_client import call, grpc_address
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
        reason="needs ffmpeg and ffprobe",
    ),
]

SAMPLE = FIXTURES / "flv" / "h264_aac.flv"
LIVE = {"hls_segment_seconds": 1.0}


async def private_room(owner: Member, name: str) -> str:
    created = await owner.ok("POST", "/api/rooms", {"name": name, "isPublic": False})
    room_id: str = created["room"]["id"]
    return room_id


async def anonymous(method: str, url: str) -> tuple[int, str]:
    """Status and error code (or content type) of a request carrying no credentials; the body
    of a success is not read (an HTTP-FLV body never ends)."""
    with trio.fail_after(20):
        async with httpx.AsyncClient(timeout=20) as client, client.stream(method, url) as response:
            if response.status_code < 400:
                return response.status_code, response.headers.get("content-type", "")
            if method == "HEAD":
                return response.status_code, ""
            body = json.loads(await response.aread())
            return response.status_code, body["code"]


async def ffprobe(url: str) -> tuple[list[str], str]:
    """(codec names, stderr) of ``ffprobe`` on ``url``; no codecs when it fails."""
    with trio.fail_after(30):
        done = await trio.run_process(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stderr = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        return [], stderr
    return sorted(s["codec_name"] for s in json.loads(done.stdout)["streams"]), stderr


def without_token(url: str) -> str:
    return url.split("?", 1)[0]


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def publish(nursery: trio.Nursery, rtmp_server: str, key: str) -> None:
    """FFmpeg publishes the sample in a loop, in real time, as OBS would (server + key)."""
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-stream_loop", "-1",
        "-i", str(SAMPLE), "-c", "copy", "-f", "flv", f"{rtmp_server}/{key}",
    ]  # fmt: skip
    nursery.start_soon(partial(trio.run_process, command, check=False))


async def wait_live(member: Member, room_id: str, stream_id: str) -> None:
    with trio.fail_after(20):
        while True:
            listed = await member.ok("GET", f"/api/rooms/{room_id}/live")
            if any(s["streamId"] == stream_id and s["live"] for s in listed["streams"]):
                return
            await trio.sleep(0.1)


async def first_segment(playlist_url: str) -> str:
    """The first segment URI of a playlist fetched with its token (relative to it; the
    playlist's first request is redirected to the same URL with a viewer session id)."""
    async with httpx.AsyncClient(timeout=20, follow_redirects=True) as client:
        response = await client.get(playlist_url)
    assert response.status_code == 200, response.text
    lines = [line for line in response.text.splitlines() if line and not line.startswith("#")]
    assert lines, response.text
    return lines[0]


async def test_a_private_rooms_stream_plays_for_members_only(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with (
        identity_server(tmp_path, postgres, livestream=LIVE) as server,
        trio.open_nursery() as nursery,
    ):
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        outsider = await sign_up(server, 4, "outsider")
        room = await private_room(owner, "films")
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")

        created = await owner.ok("POST", f"/api/rooms/{room}/live", {"title": "Friday"})
        rtmp_port = server.controller.addresses.rtmp[0][1]
        assert created["rtmpServer"] == f"rtmp://127.0.0.1:{rtmp_port}/{room}"
        assert created["streamKey"]
        assert created["expiresAt"] is not None
        stream = created["streamId"]
        assert created["flvUrl"].startswith(f"{server.base}/live/{stream}.flv?token=")
        assert created["hlsUrl"].startswith(f"{server.base}/live/{stream}/index.m3u8?token=")
        # The stream is a live item of the room's playlist; making it current plays it.
        listed = await member.ok("GET", f"/api/rooms/{room}/media")
        [item] = listed["media"]
        assert (item["kind"], item["source"]) == ("live", {"kind": "live", "streamId": stream})
        await owner.ok("POST", f"/api/rooms/{room}/playback/start", {"mediaId": item["id"]})

        await publish(nursery, created["rtmpServer"], created["streamKey"])
        await wait_live(owner, room, stream)

        # The member's playback info carries the member's own token.
        playback = (await member.ok("GET", f"/api/rooms/{room}/playback"))["playback"]
        assert (playback["kind"], playback["streamId"]) == ("live", stream)
        assert token_of(playback["flvUrl"]) != token_of(created["flvUrl"])
        flv, hls, rtmp = playback["flvUrl"], playback["hlsUrl"], playback["rtmpUrl"]
        assert rtmp == f"rtmp://127.0.0.1:{rtmp_port}/{room}/{stream}?token={token_of(flv)}"

        # Members play: HTTP-FLV, HLS and RTMP, with ffprobe.
        for url in (flv, hls, rtmp):
            codecs, stderr = await ffprobe(url)
            assert codecs == ["aac", "h264"], (url, stderr)
        # The playlist lists its segments with the token; a segment plays with it only.
        segment = await first_segment(hls)
        assert token_of(segment) == token_of(hls)
        segment_url = f"{server.base}/live/{stream}/{segment}"
        assert await anonymous("GET", segment_url) == (200, "video/mp2t")

        # A non-member: no URLs from the room, and every URL without a token is refused.
        assert await outsider.refused("GET", f"/api/rooms/{room}/live") == (404, "room_not_found")
        assert await outsider.refused("GET", f"/api/rooms/{room}/playback") == (
            404,
            "room_not_found",
        )
        required = (401, "live_token_required")
        assert await anonymous("GET", without_token(flv)) == required
        assert await anonymous("GET", without_token(hls)) == required
        assert await anonymous("GET", without_token(segment_url)) == required
        codecs, stderr = await ffprobe(without_token(rtmp))
        assert codecs == []
        assert "live_token_required" in stderr, stderr
        # ... nor does a made-up token open it.
        forged = f"{without_token(flv)}?token=eyJhbGciOiJIUzI1NiJ9.e30.AAAA"
        assert await anonymous("GET", forged) == (403, "live_token_invalid")
        # An access token is not a viewer token.
        bearer = f"{without_token(flv)}?token={member.token}"
        assert await anonymous("GET", bearer) == (403, "live_token_invalid")

        # Room B's stream: room A's token does not open it (HTTP-FLV, HLS, RTMP play).
        room_b = await private_room(outsider, "other")
        other = await outsider.ok("POST", f"/api/rooms/{room_b}/live", {"title": "B"})
        a_token = token_of(flv)
        b_flv, b_hls = without_token(other["flvUrl"]), without_token(other["hlsUrl"])
        invalid = (403, "live_token_invalid")
        assert await anonymous("GET", f"{b_flv}?token={a_token}") == invalid
        assert await anonymous("GET", f"{b_hls}?token={a_token}") == invalid
        b_segment = f"{server.base}/live/{other['streamId']}/1.ts?token={a_token}"
        assert await anonymous("GET", b_segment) == invalid
        b_rtmp = f"rtmp://127.0.0.1:{rtmp_port}/{room_b}/{other['streamId']}?token={a_token}"
        codecs, stderr = await ffprobe(b_rtmp)
        assert codecs == []
        assert "live_token_invalid" in stderr, stderr
        # ... while B's own token gets past the gate (the stream is just not live).
        assert await anonymous("HEAD", other["flvUrl"]) == (503, "")

        # Deleting the stream: its item leaves the playlist, the URLs are gone.
        assert await member.refused("DELETE", f"/api/rooms/{room}/live/{stream}") == (
            403,
            "permission_denied",
        )
        await owner.ok("DELETE", f"/api/rooms/{room}/live/{stream}")
        assert (await member.ok("GET", f"/api/rooms/{room}/media"))["media"] == []
        assert (await member.ok("GET", f"/api/rooms/{room}/live"))["streams"] == []
        assert await anonymous("GET", flv) == (404, "stream_not_found")
        nursery.cancel_scope.cancel()


async def test_an_expired_viewer_token_is_refused(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    ttl = 3
    async with identity_server(
        tmp_path, postgres, livestream=LIVE, security={"live_token_ttl_seconds": ttl}
    ) as server:
        owner = await sign_up(server, 2, "owner")
        room = await private_room(owner, "films")
        created = await owner.ok("POST", f"/api/rooms/{room}/live", {"title": ""})
        flv, hls = created["flvUrl"], created["hlsUrl"]
        # Fresh, the token gets past the gate (the stream is not live: 503).
        assert await anonymous("HEAD", flv) == (503, "")
        assert await anonymous("GET", hls) == (503, "stream_not_live")
        await trio.sleep(ttl + 1)
        expired = (401, "live_token_expired")
        assert await anonymous("GET", flv) == expired
        assert await anonymous("GET", hls) == expired
        segment = hls.replace("index.m3u8", "1.ts")
        assert await anonymous("GET", segment) == expired
        # A fresh pass from the room works again.
        [listed] = (await owner.ok("GET", f"/api/rooms/{room}/live"))["streams"]
        assert await anonymous("HEAD", listed["flvUrl"]) == (503, "")


async def test_creating_needs_manage_live_streams_and_public_rooms_may_play_anonymously(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres, livestream=LIVE) as server:
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        visitor = await sign_up(server, 4, "visitor")
        room = (await owner.ok("POST", "/api/rooms", {"name": "open"}))["room"]["id"]
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        path = f"/api/rooms/{room}/live"

        denied = (403, "permission_denied")
        assert await member.refused("POST", path, {"title": "mine"}) == denied
        assert await visitor.refused("POST", path, {"title": "mine"}) == denied
        response = await member.call("POST", path, {"title": "mine"})
        assert response.json()["details"] == {"permission": "manage_live_streams"}
        assert (await owner.ok("GET", path))["streams"] == []
        # Given the permission, the member creates one.
        await owner.ok(
            "PATCH", f"/api/rooms/{room}/members/{member.id}", {"added": ["manage_live_streams"]}
        )
        created = await member.ok("POST", path, {"title": "mine"})
        assert created["flvUrl"] == f"{server.base}/live/{created['streamId']}.flv"
        assert created["expiresAt"] is None
        # The OpenAPI document describes the routes, their answers and refusals.
        document = (await owner.person.http.get("/api/openapi.json")).json()
        operations = document["paths"]["/api/rooms/{room_id}/live"]
        assert set(created) == set(
            document["components"]["schemas"]["CreatedLiveOut"]["properties"]
        )
        assert {"401", "403", "404"} <= set(operations["post"]["responses"])
        assert "get" in operations
        assert "delete" in document["paths"]["/api/rooms/{room_id}/live/{stream_id}"]
        assert await owner.refused("POST", path, {"title": "x" * 201}) == (422, "invalid_request")
        assert await owner.refused("POST", path, {"title": "a\x07b"}) == (400, "invalid_parameter")

        # A public room's stream plays without a token (allowAnonymousLive, on by default) ...
        flv = created["flvUrl"]
        assert await anonymous("HEAD", flv) == (503, "")
        # ... until the room turns it off: then its URLs carry tokens, and none is refused.
        await owner.ok("PATCH", f"/api/rooms/{room}/settings", {"allowAnonymousLive": False})
        [listed] = (await member.ok("GET", path))["streams"]
        assert listed["flvUrl"].startswith(f"{flv}?token=")
        with trio.fail_after(15):  # the gate's memory of the room lasts a few seconds
            while await anonymous("HEAD", flv) != (401, ""):  # noqa: ASYNC110
                await trio.sleep(0.2)
        assert await anonymous("GET", flv) == (401, "live_token_required")
        assert await anonymous("HEAD", listed["flvUrl"]) == (503, "")


async def publish_test_picture(
    nursery: trio.Nursery, rtmp_server: str, key: str, *, gop: int, audio: bool
) -> None:
    """FFmpeg encodes a 640x360 25 fps H.264 test picture (ultrafast: Constrained Baseline) in real time, a key frame
    every ``gop`` frames, with an AAC tone when ``audio``, and publishes it as OBS would."""
    inputs = ["-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    command = [
        "ffmpeg", "-nostdin", "-loglevel", "error", *inputs,
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        *(["-c:a", "aac"] if audio else []), "-f", "flv", f"{rtmp_server}/{key}",
    ]  # fmt: skip
    nursery.start_soon(partial(trio.run_process, command, check=False))


async def diagnostics_of(member: Member, room_id: str, stream_id: str) -> dict[str, Any]:
    """The stream's diagnostics once a key-frame interval has been measured."""
    with trio.fail_after(30):
        while True:
            listed = await member.ok("GET", f"/api/rooms/{room_id}/live")
            [stream] = [s for s in listed["streams"] if s["streamId"] == stream_id]
            found = stream["diagnostics"]
            if found and found["keyframeIntervalMs"] is not None:
                return dict(found)
            await trio.sleep(0.25)


async def watch_flv(
    url: str, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """An HTTP-FLV player on the loopback: reads the stream until cancelled (started once the
    first bytes arrived)."""
    async with httpx.AsyncClient(timeout=20) as client, client.stream("GET", url) as response:
        assert response.status_code == 200, response.status_code
        playing = False
        async for _chunk in response.aiter_bytes():
            if not playing:
                playing = True
                task_status.started()


def watchers(flv: int = 0) -> dict[str, int]:
    return {"flv": flv, "hls": 0, "rtmp": 0, "total": flv}


async def viewers_become(member: Member, room_id: str, expected: dict[str, Any]) -> None:
    """Wait until the room's live report counts ``expected`` (stream id -> ``viewers``) for
    the streams being published."""
    seen: dict[str, Any] = {}
    with trio.move_on_after(20):
        while True:
            listed = await member.ok("GET", f"/api/rooms/{room_id}/live")
            seen = {
                s["streamId"]: s["diagnostics"]["viewers"]
                for s in listed["streams"]
                if s["diagnostics"] is not None
            }
            if seen == expected:
                return
            await trio.sleep(0.1)
    raise AssertionError(f"viewers {seen}, expected {expected}")


async def test_diagnostics_report_what_the_publisher_sends(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """Two publishers in one room: H.264 with AAC and a key frame every 4 s (the key-frame
    warning), and H.264 without audio every 2 s (the no-audio warning only). Members read the
    diagnostics over REST and gRPC alike; a stream nobody publishes has none. The report counts
    who watches: a member's HTTP-FLV player is one viewer of its stream (and none of the other),
    until it leaves."""
    async with (
        identity_server(tmp_path, postgres, livestream=LIVE) as server,
        trio.open_nursery() as nursery,
    ):
        owner = await sign_up(server, 2, "owner")
        member = await sign_up(server, 3, "member")
        room = await private_room(owner, "studio")
        await member.ok("PUT", f"/api/rooms/{room}/members/@me")
        slow = await owner.ok("POST", f"/api/rooms/{room}/live", {"title": "slow keys"})
        mute = await owner.ok("POST", f"/api/rooms/{room}/live", {"title": "no audio"})
        idle = await owner.ok("POST", f"/api/rooms/{room}/live", {"title": "idle"})
        await publish_test_picture(
            nursery, slow["rtmpServer"], slow["streamKey"], gop=100, audio=True
        )
        await publish_test_picture(
            nursery, mute["rtmpServer"], mute["streamKey"], gop=50, audio=False
        )

        found = await diagnostics_of(member, room, slow["streamId"])
        assert (found["videoCodec"], found["videoProfile"], found["audioCodec"]) == (
            "avc",
            "Baseline",
            "aac",
        )
        assert (found["width"], found["height"], found["frameRate"]) == (640, 360, 25)
        assert found["videoLevel"]  # x264 picks it (3.0 for this size and rate)
        assert 3900 <= found["keyframeIntervalMs"] <= 4100, found
        assert "Lavf" in found["encoder"]
        assert [w["code"] for w in found["warnings"]] == ["keyframe_interval_long"]
        assert found["warnings"][0]["message"] == (
            "keyframe interval 4 s: set 2 s for lower latency"
        )

        quiet = await diagnostics_of(owner, room, mute["streamId"])
        assert (quiet["videoCodec"], quiet["audioCodec"]) == ("avc", "")
        assert 1900 <= quiet["keyframeIntervalMs"] <= 2100, quiet
        assert [w["code"] for w in quiet["warnings"]] == ["no_audio"]

        # The gRPC twin: the same diagnostics (proto JSON: absent optionals, not null).
        listed = await call(
            grpc_address(server.controller),
            "/synctv.v1.RoomService/ListLiveStreams",
            room_pb2.RoomRef(room_id=room),
            room_pb2.LiveStreams,
            member.token,
        )
        rest = await member.ok("GET", f"/api/rooms/{room}/live")
        by_id = {s["streamId"]: s["diagnostics"] for s in rest["streams"]}
        for stream in listed.streams:
            if by_id[stream.stream_id] is None:
                assert not stream.HasField("diagnostics")
                continue
            twin = json_format.MessageToDict(
                stream.diagnostics, always_print_fields_with_no_presence=True
            )
            expected = {k: v for k, v in by_id[stream.stream_id].items() if v is not None}
            # measured bitrate moves between the two reads; int64 is a JSON string over gRPC
            assert twin.pop("bitrateKbps") > 0
            assert expected.pop("bitrateKbps") > 0
            assert int(twin.pop("keyframeIntervalMs")) > 0
            expected.pop("keyframeIntervalMs")
            assert twin == expected
        assert by_id[idle["streamId"]] is None

        # Who watches: one HTTP-FLV player of the first stream, on REST and gRPC alike.
        assert found["viewers"] == quiet["viewers"] == watchers(0)
        [slow_listed] = [s for s in rest["streams"] if s["streamId"] == slow["streamId"]]
        one, other = slow["streamId"], mute["streamId"]
        async with trio.open_nursery() as player:
            await player.start(watch_flv, slow_listed["flvUrl"])
            await viewers_become(member, room, {one: watchers(1), other: watchers(0)})
            listed = await call(
                grpc_address(server.controller),
                "/synctv.v1.RoomService/ListLiveStreams",
                room_pb2.RoomRef(room_id=room),
                room_pb2.LiveStreams,
                owner.token,
            )
            counted = {s.stream_id: s.diagnostics.viewers for s in listed.streams}
            assert counted[one] == room_pb2.LiveViewers(flv=1, total=1)
            assert counted[other] == room_pb2.LiveViewers()
            player.cancel_scope.cancel()
        # The player left: nobody watches any more.
        await viewers_become(owner, room, {one: watchers(0), other: watchers(0)})
        nursery.cancel_scope.cancel()
