"""Voice chat with real WebRTC stacks: aiortc peers signal through the room channel of the whole
server, gather server-reflexive candidates from its built-in STUN, reach ICE connected, and hear
each other's tones; two, then four in a mesh; then through a real coturn with relay-only
candidates. The server relays signalling only: the audio goes peer to peer (or through TURN)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from synctv.client.voice import VoiceMesh
from tests.support.identity import Server, identity_server
from tests.support.postgres import RunningPostgres
from tests.support.voice import coturn, dump, ice_servers, voice_room, voices

pytestmark = pytest.mark.slow

TONES = [300.0, 500.0, 700.0, 900.0]


async def scrape(server: Server) -> str:
    metrics = server.controller.addresses.metrics[0]
    async with httpx.AsyncClient() as client:
        return (await client.get(metrics.replace("0.0.0.0", "127.0.0.1") + "/metrics")).text


def assert_heard_tones(meshes: list[VoiceMesh], tone_of: dict[str, float]) -> None:
    for mesh in meshes:
        for remote, link in mesh.links.items():
            assert link.loud_frames >= 10, (mesh.connection_id, remote, link.frames)
            assert link.tone_hz() == pytest.approx(tone_of[remote], rel=0.1), (remote, tone_of)


async def test_two_then_four_peers_talk_in_a_mesh(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        room, members = await voice_room(server, 4)
        listing = await ice_servers(members[1], room)
        stun_port = server.controller.addresses.stun_port()
        assert listing["iceServers"] == [{"urls": [f"stun:127.0.0.1:{stun_port}"]}]
        assert listing["builtinStun"] == {
            "url": f"stun:127.0.0.1:{stun_port}",
            "transports": ["udp", "tcp"],
            "reachable": True,
            "problem": None,
        }
        assert (listing["turnExpiresAt"], listing["maxParticipants"]) == (None, 8)

        async with voices(server, room) as rig:
            tone_of: dict[str, float] = {}
            meshes = []
            for member, hz in zip(members[:2], TONES[:2], strict=True):
                mesh = await rig.open(member, tone_hz=hz)
                tone_of[mesh.connection_id] = hz
                meshes.append(mesh)
            a, b = meshes
            await a.join()
            assert (await a.wait_for("voiceJoined"))["voiceJoined"]["participants"] == []
            await b.join()
            joined = (await b.wait_for("voiceJoined"))["voiceJoined"]
            assert joined["participants"] == [{"connectionId": a.connection_id,
                                               "userId": members[0].id, "reason": ""}]  # fmt: skip
            assert joined["maxParticipants"] == 8
            peer = (await a.wait_for("voicePeerJoined"))["voicePeerJoined"]
            assert (peer["connectionId"], peer["userId"]) == (b.connection_id, members[1].id)
            try:
                for mesh in meshes:
                    await mesh.wait_connected(1)
                for mesh in meshes:
                    await mesh.wait_heard(25)
            except (TimeoutError, ConnectionError) as exc:
                raise AssertionError(dump(meshes)) from exc
            # Each gathered a server-reflexive candidate from the built-in STUN.
            for mesh in meshes:
                [link] = mesh.links.values()
                assert "srflx" in link.local_candidate_types, link.local_candidate_types
            assert_heard_tones(meshes, tone_of)

            # Two more join: a mesh of four, six peer connections, every tone heard everywhere.
            for member, hz in zip(members[2:], TONES[2:], strict=True):
                mesh = await rig.open(member, tone_hz=hz)
                tone_of[mesh.connection_id] = hz
                meshes.append(mesh)
                await mesh.join()
                await mesh.wait_for("voiceJoined")
            try:
                for mesh in meshes:
                    await mesh.wait_connected(3)
                for mesh in meshes:
                    await mesh.wait_heard(25)
            except (TimeoutError, ConnectionError) as exc:
                raise AssertionError(dump(meshes)) from exc
            assert_heard_tones(meshes, tone_of)
            scraped = await scrape(server)
            assert "synctv_voice_participants 4.0" in scraped
            assert "synctv_voice_sessions 1.0" in scraped

            # One hangs up by closing its connection: the others hear of it and drop the link.
            gone = meshes.pop()
            await rig.hang_up(gone)
            for mesh in meshes:
                left = (await mesh.wait_for("voicePeerLeft"))["voicePeerLeft"]
                assert (left["connectionId"], left["reason"]) == (
                    gone.connection_id,
                    "disconnected",
                )
                assert gone.connection_id not in mesh.links

            # Voice turned off in the room settings ends the session for everyone.
            await members[0].ok("PATCH", f"/api/rooms/{room}/settings", {"voiceChatEnabled": False})
            for mesh in meshes:
                ended = (await mesh.wait_for("voiceEnded"))["voiceEnded"]
                assert ended["reason"] == "voice_disabled"
            await meshes[0].send({"opId": "j", "voiceJoin": {}})
            error = (await meshes[0].wait_for("error"))["error"]
            assert (error["code"], error["opId"]) == ("voice_disabled", "j")


async def test_relay_only_peers_connect_through_coturn(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    secret = "turn-test-secret"
    async with coturn(tmp_path, secret) as turn_port:
        turn = {
            "urls": [f"turn:127.0.0.1:{turn_port}?transport=udp"],
            "shared_secret": secret,
            "ttl_seconds": 600,
        }
        async with identity_server(tmp_path, postgres, webrtc={"turn": turn}) as server:
            room, members = await voice_room(server, 2)
            listing = await ice_servers(members[1], room)
            [_stun, relay] = listing["iceServers"]
            assert relay["urls"] == turn["urls"]
            expiry, user = relay["username"].split(":")
            assert user == members[1].id
            assert int(expiry) == listing["turnExpiresAt"]
            assert 590 <= int(expiry) - time.time() <= 600

            async with voices(server, room) as rig:
                a = await rig.open(members[0], tone_hz=TONES[0], relay_only=True)
                b = await rig.open(members[1], tone_hz=TONES[1], relay_only=True)
                await a.join()
                await a.wait_for("voiceJoined")
                await b.join()
                meshes = [a, b]
                try:
                    for mesh in meshes:
                        await mesh.wait_connected(1)
                    for mesh in meshes:
                        await mesh.wait_heard(25)
                except (TimeoutError, ConnectionError) as exc:
                    raise AssertionError(dump(meshes)) from exc
                for mesh in meshes:
                    [link] = mesh.links.values()
                    assert set(link.local_candidate_types) == {"relay"}, link.local_candidate_types
                    assert link.selected_pair_types() == ("relay", "relay")
                assert_heard_tones(meshes, {a.connection_id: TONES[0], b.connection_id: TONES[1]})
