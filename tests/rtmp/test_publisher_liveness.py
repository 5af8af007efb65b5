"""A publisher is alive while whole media messages arrive: audio, video, and data messages too
(onTextData captions, onCuePoint), not only onMetaData."""

from __future__ import annotations

import trio

from synctv.livestream.registry import LiveStreamRegistry
from synctv.media import amf0
from synctv.rtmp.chunk import ChunkEncoder
from synctv.rtmp.messages import MessageType
from tests.support.rtmp import MEDIA, rig

CAPTION_CSID = 40  # a chunk stream the client session's own encoder never uses


async def test_data_messages_keep_a_publisher_alive(registry: LiveStreamRegistry) -> None:
    """Only captions for 2.5 idle timeouts: still publishing (before: cut as idle)."""
    async with rig(registry, publisher_idle_timeout_seconds=0.4) as r:
        peer = r.memory("192.0.2.1")
        await peer.publish("live", r.key)
        await peer.send_tags(MEDIA[:3])
        encoder = ChunkEncoder()
        for i in range(10):
            body = amf0.encode("onTextData", {"text": f"caption {i}"})
            wire = encoder.encode(
                CAPTION_CSID, 100 * i, MessageType.DATA_AMF0, peer.stream_id, body
            )
            await peer.stream.send_all(wire)
            await trio.sleep(0.1)
        assert r.closed("idle_timeout") == 0
        assert r.server.statistics().publishers == 1
