"""The HTTP-FLV body's start and headers, shared by both ways of serving a viewer (ASGI and
the native fan-out path)."""

from __future__ import annotations

import trio

from synctv.livestream.errors import StreamEnded, SubscriberLagged
from synctv.livestream.stream import LiveStream, Subscription
from synctv.media.flv import TAG_AUDIO, TAG_VIDEO, file_header

__all__ = [
    "FIRST_MEDIA_WAIT_SECONDS",
    "FLV_RESPONSE_HEADERS",
    "first_media",
    "opening_parts",
]

# How long a viewer of a stream that has published no audio/video yet waits for it before the
# FLV header (whose flags must say which tracks exist) is sent with both flags set.
FIRST_MEDIA_WAIT_SECONDS = 5.0


FLV_RESPONSE_HEADERS = (
    ("content-type", "video/x-flv"),
    ("cache-control", "no-cache"),
    ("x-content-type-options", "nosniff"),
)


async def first_media(subscription: Subscription) -> list[bytes]:
    """Batches received before the header when the stream has sent no audio/video yet: the
    FLV header's flags must say which tracks exist (waits up to FIRST_MEDIA_WAIT_SECONDS)."""
    if subscription.has_audio or subscription.has_video:
        return []
    pending: list[bytes] = []
    with trio.move_on_after(FIRST_MEDIA_WAIT_SECONDS):
        try:
            while True:
                batch = await subscription.receive()
                pending.append(batch.flv)
                if any(tag.tag_type in (TAG_AUDIO, TAG_VIDEO) for tag in batch.tags):
                    break
        except (StreamEnded, SubscriberLagged):
            pass  # the live loop sees it again on its first receive()
    return pending


def opening_parts(
    subscription: Subscription, stream: LiveStream, first: list[bytes]
) -> list[bytes]:
    """The start of the body: FLV file header, the join snapshot, what ``first_media`` got.

    Separate pieces: the join snapshot (the GOP cache, often a megabyte or more) is one bytes
    object shared by every viewer joining between the same two batches; a writer that can
    send pieces keeps it shared instead of holding a copy per viewer.
    """
    has_audio = subscription.has_audio or stream.has_audio
    has_video = subscription.has_video or stream.has_video
    if not (has_audio or has_video):
        has_audio = has_video = True  # unknown yet: let the player look for both
    opening = file_header(has_audio=has_audio, has_video=has_video)
    return [opening, subscription.join_flv, *first]
