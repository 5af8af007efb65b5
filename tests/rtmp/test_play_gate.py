"""RTMP play asks the viewer gate (synctv.livestream.access) with the play name's ``?token=``:
a refusal is NetStream.Play.Failed naming the gate's code, and the connection may try again."""

from __future__ import annotations

from synctv import errors
from synctv.errors import DomainError
from synctv.livestream.registry import LiveStreamRecord, LiveStreamRegistry
from synctv.rtmp.events import StatusReceived
from tests.support.rtmp import Peer, rig


async def again(peer: Peer, name: str) -> StatusReceived:
    """``play`` once more on the peer's open stream."""
    peer.session.play(peer.stream_id, name)
    await peer.flush()
    return await peer.status()


async def test_the_viewer_gate_decides_who_plays(registry: LiveStreamRegistry) -> None:
    asked: list[tuple[str, str | None]] = []

    async def gate(record: LiveStreamRecord, token: str | None) -> None:
        asked.append((record.stream_id, token))
        if token is None:
            raise DomainError(errors.LIVE_TOKEN_REQUIRED, "a token, please")
        if token != "good":
            raise DomainError(errors.LIVE_TOKEN_INVALID, "not that one")

    async with rig(registry, gate=gate) as r:
        stream = r.record.stream_id
        publisher = r.memory("192.0.2.9")
        assert (await publisher.publish("live", r.key)).code == "NetStream.Publish.Start"
        await publisher.send_tags([])
        viewer = r.memory()
        status = await viewer.play("live", stream)
        assert (status.level, status.code) == ("error", "NetStream.Play.Failed")
        assert status.description.startswith("live_token_required: ")
        # The same connection tries again with a wrong token, then with the right one.
        status = await again(viewer, f"{stream}?token=bad&x=1")
        assert (status.code, status.description.split(":")[0]) == (
            "NetStream.Play.Failed",
            "live_token_invalid",
        )
        await r.live()
        status = await again(viewer, f"{stream}?x=1&token=good")
        if status.code == "NetStream.Play.Reset":
            status = await viewer.status()
        assert status.code == "NetStream.Play.Start"
        assert asked == [(stream, None), (stream, "bad"), (stream, "good")]
        assert r.server.plays_refused == 2
        # Unknown streams and another app's streams are not found before the gate is asked.
        unknown = await r.memory("192.0.2.3").play("live", "nosuchstream?token=good")
        assert unknown.code == "NetStream.Play.StreamNotFound"
        elsewhere = await r.memory("192.0.2.4").play("room1", f"{stream}?token=good")
        assert elsewhere.code == "NetStream.Play.StreamNotFound"
        assert len(asked) == 3
