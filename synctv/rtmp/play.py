"""RTMP play: players as fan-out members (Trio driver).

Outputs, the per-stream fan-out writer and the caught-up/catch-up dance are
:mod:`synctv.livestream.delivery` (shared with the native HTTP-FLV front). What is RTMP here: a
player's shared bytes are the batch's RTMP chunks for its message stream id
(``Batch.encoded(("rtmp", stream_id), ...)``: members of one id get one bytes object), and signals in the
broadcast become per-player control messages at their place in the byte stream (nginx-rtmp's
behaviour): an ``unpublished`` batch (the publisher left, the reconnect grace began) → Stream
EOF; the first batch of a new publisher session after it → Stream Begin; the end of the stream →
Stream EOF (if not sent) and NetStream.Play.UnpublishNotify, then the connection closes (FFmpeg
and librtmp players end cleanly on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Final, Protocol

from synctv.livestream.delivery import FanoutMember, FanoutWriter, Output, follow
from synctv.media.flv import FlvTag
from synctv.rtmp.session import encode_media_chunks

if TYPE_CHECKING:
    from synctv.livestream.fanout import Batch
    from synctv.livestream.stream import LiveStream, Subscription
    from synctv.rtmp.session import ServerSession

__all__ = [
    "FANOUT_STREAM_ID",
    "Closing",
    "Output",
    "Player",
    "PlayerHost",
    "StreamFanout",
    "encode_rtmp_tags",
]

# The message stream id of a connection's first createStream, which players nearly always use.
FANOUT_STREAM_ID: Final = 1


def encode_rtmp_tags(tags: Iterable[FlvTag], stream_id: int = FANOUT_STREAM_ID) -> bytes:
    """Chunk-encode FLV tags as RTMP messages once, for every player of ``stream_id``.

    Each tag becomes one message with a fmt 0 header on the fan-out chunk streams, so the bytes
    do not depend on what a viewer was sent before (see
    :func:`synctv.rtmp.session.encode_media_chunks`), and encoding batches one by one gives
    their encoding together (what ``Batch.encoded`` asks of an encoder).
    """
    return b"".join(
        encode_media_chunks(tag.tag_type, stream_id, tag.timestamp, tag.data) for tag in tags
    )


def _encode_batch(batch: Batch, stream_id: int) -> bytes:
    return encode_rtmp_tags(batch.tags, stream_id)


class Closing(Exception):
    """Raised inside a connection to end it; ``reason`` is counted (one of CLOSE_REASONS), or
    None when the peer left."""

    def __init__(self, reason: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class PlayerHost(Protocol):
    """What a player needs of its connection."""

    @property
    def session(self) -> ServerSession: ...

    @property
    def output(self) -> Output: ...

    @property
    def closing_reason(self) -> str | None: ...

    def cut(self, reason: str | None, detail: str = "") -> None: ...


class Player(FanoutMember):
    """One playing message stream of a connection: its subscription and its own task."""

    __slots__ = ("_rtmp_build", "_rtmp_key", "eof_sent", "fanout", "host", "live", "stream_id")

    def __init__(
        self,
        host: PlayerHost,
        stream_id: int,
        live: LiveStream,
        subscription: Subscription,
        fanout: StreamFanout | None,
    ) -> None:
        super().__init__(host.output, subscription, stream_id)
        self.host = host
        self.stream_id = stream_id
        self.live = live
        self.fanout = fanout
        self.eof_sent = False  # Stream EOF sent and no Stream Begin since
        # Every player of the same message stream id shares one encoding per batch.
        self._rtmp_key = ("rtmp", stream_id)
        self._rtmp_build = partial(_encode_batch, stream_id=stream_id)

    def shared_bytes(self, batch: Batch) -> bytes:
        return batch.encoded(self._rtmp_key, self._rtmp_build)

    def batch_bytes(self, batch: Batch) -> bytes:
        """What this player is sent for ``batch``: the shared bytes, or control messages."""
        if batch.unpublished:
            session = self.host.session
            if not self.eof_sent and session.notify_stream_eof(self.stream_id):
                self.eof_sent = True
            return session.data_to_send()
        if self.eof_sent and batch.discontinuity:
            session = self.host.session
            self.eof_sent = False
            session.notify_stream_begin(self.stream_id)
            return session.data_to_send() + self.shared_bytes(batch)
        return self.shared_bytes(batch)

    async def run(self) -> None:
        """Join snapshot, then batches (:func:`~synctv.livestream.delivery.follow`).

        Raises StreamEnded / SubscriberLagged for the connection to act on.
        """
        sub, sid = self.sub, self.stream_id
        self.output.write_nowait(
            sub.join.encoded(self._rtmp_key, partial(encode_rtmp_tags, stream_id=sid))
        )
        try:
            await follow(self, self.fanout)
        finally:
            if self.host.closing_reason == "write_timeout":
                sub.dropped("write_timeout")

    async def end_of_stream(self) -> None:
        """The stream ended: Stream EOF (unless sent) and UnpublishNotify, written out."""
        session = self.host.session
        if not self.eof_sent:
            session.notify_stream_eof(self.stream_id)
        session.notify_unpublished(self.stream_id)
        self.output.write_nowait(session.data_to_send())
        await self.output.drain()


# The RTMP play fan-out writer is the generic one.
StreamFanout = FanoutWriter
