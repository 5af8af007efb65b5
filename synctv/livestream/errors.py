"""Exceptions of the live-stream hub: what a viewer or a publisher can be told by the hub."""

from __future__ import annotations

__all__ = ["LivestreamError", "StreamEnded", "SubscriberLagged", "TagRejected"]


class LivestreamError(Exception):
    """Base class of the hub's own errors."""


class StreamEnded(LivestreamError):
    """The stream ended (publisher gone past the reconnect grace, kicked, or hub shut down).

    Raised by ``Subscription.receive()`` once every batch published before the end was delivered.
    """


class SubscriberLagged(LivestreamError):
    """The viewer fell further behind the live edge than its bound and was cut."""

    def __init__(self, bytes_behind: int, bound: int) -> None:
        super().__init__(f"viewer is {bytes_behind} bytes behind the live edge (bound {bound})")
        self.bytes_behind = bytes_behind
        self.bound = bound


class TagRejected(LivestreamError):
    """A publisher's tag was refused (larger than ``max_flv_tag_size_bytes``).

    The RTMP driver should treat it like a protocol error and close the publisher's connection.
    """
