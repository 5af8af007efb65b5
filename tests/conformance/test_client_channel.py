"""The client side of docs/realtime.md: the reference client (``synctv.client.room``) against a
scripted server that plays the document's exchanges (tests/support/fake_room_server.py) — the
handshake, hello and welcome, the clock estimate over asymmetric paths and a server clock 100 s
ahead, commands answered by opId or refused, events applied once in order, and a reconnect that
resumes from the last sequence applied."""

from __future__ import annotations

import pytest
import trio

from synctv.client.room import ChannelError, RoomClient
from tests.support.fake_room_server import FakeClock, Peer, fake_room_server

pytestmark = pytest.mark.slow

AHEAD = 100.0  # the fake server's clock runs this far ahead of the client's
# (uplink, downlink) delays of five clock exchanges; the third is the quickest and symmetric.
# The others are skewed one way, so an average of all five would be off by 22 ms.
PATHS = [(0.06, 0.0), (0.04, 0.0), (0.002, 0.002), (0.05, 0.01), (0.08, 0.0)]


def event(seq: int, kind: str, payload: dict[str, object]) -> dict[str, object]:
    return {"event": {"seq": str(seq), "type": kind, "payload": payload, "actor": "u", "at": 1.0}}


async def wait_for(client: RoomClient, seq: int) -> None:
    with trio.fail_after(10):
        while client.view.last_seq < seq:
            await client.changed.wait()


async def test_the_reference_client_follows_the_document() -> None:
    welcome_state: dict[str, object] = {}
    left = trio.Event()

    async def first(peer: Peer) -> None:
        assert peer.path == "/ws/rooms/r1"
        assert peer.headers["authorization"] == "Bearer tok"
        assert await peer.receive() == {"hello": {"resumeFrom": "0"}}
        welcome_state.update(peer.playback(position=10.0, playing=True))
        room = {"room": {"id": "r1"}, "myRole": "member", "myPermissions": ["playback"]}
        welcome = {"room": room, "playback": welcome_state, "lastSeq": "4", "connectionId": "c"}
        await peer.send({"welcome": welcome})
        for uplink, downlink in PATHS:
            await peer.answer_clock(uplink, downlink)

        seek = await peer.receive()
        command = seek["playback"]
        assert command["action"] == "seek"
        assert command["position"] == 30
        assert command["version"] == "1"
        assert command["clockOffset"] == pytest.approx(AHEAD, abs=0.01)
        assert command["clientSent"] + AHEAD == pytest.approx(peer.clock.now(), abs=0.5)
        state = peer.playback(position=30.0, playing=True, version="2")
        # The event may come before the answer (docs: either order).
        await peer.send(event(5, "playback_changed", state))
        await peer.send({"playbackState": {**state, "opId": seek["opId"]}})

        pause = await peer.receive()
        error = {"code": "version_conflict", "message": "stale", "opId": pause["opId"]}
        await peer.send({"error": {**error, "details": {}}})

        await peer.send(event(6, "settings_changed", {"settings": {}}))
        await peer.send(event(5, "playback_changed", state))  # again: ignored
        paused = peer.playback(position=42.0, playing=False, version="3")
        await peer.send(event(7, "playback_changed", paused))
        await left.wait()  # the connection drops here

    async def second(peer: Peer) -> None:
        assert await peer.receive() == {"hello": {"resumeFrom": "7"}}
        await peer.send(event(8, "media_added", {"playlistId": "p", "mediaIds": ["m2"]}))
        await trio.sleep_forever()

    clock = FakeClock(AHEAD)
    async with fake_room_server([first, second], clock) as fake:
        async with RoomClient.connect(fake.base, "r1", "tok") as client:
            with trio.fail_after(10):
                while not client.view.room:
                    await client.changed.wait()
            assert client.view.room["myRole"] == "member"
            assert client.view.last_seq == 4

            offset = await client.measure_clock(samples=len(PATHS))
            # The quickest sample's (error ≤ 2 ms), not an average of the skewed ones.
            assert offset == pytest.approx(AHEAD, abs=0.01)
            assert client.clock.error_bound is not None
            assert client.clock.error_bound < 0.01

            # Where the room is now, in the client's clock: the welcome's anchor moved on.
            now = clock.now()
            expected = 10.0 + (now - float(welcome_state["serverTime"]))  # type: ignore[arg-type]
            assert client.room_position(now - AHEAD) == pytest.approx(expected, abs=0.02)

            answer = await client.command("seek", position=30, version="1")
            assert answer["position"] == 30.0
            with pytest.raises(ChannelError) as refused:
                await client.command("pause")
            assert refused.value.code == "version_conflict"

            await wait_for(client, 7)
            assert [int(e["seq"]) for e in client.view.events] == [5, 6, 7]  # 5 once
            assert client.view.playback["playing"] is False
            assert client.room_position() == 42.0  # paused: the anchor itself
            last = client.view.last_seq
        left.set()

        async with RoomClient.connect(fake.base, "r1", "tok", resume_from=last) as back:
            await wait_for(back, 8)
            assert [e["type"] for e in back.view.events] == ["media_added"]
            assert not back.view.room  # resumed: no snapshot was needed
