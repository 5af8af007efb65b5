"""Test media and plumbing for the HLS tests: PyAV-generated FLV, looping, a real HTTP server,
and one request through an ASGI app in process (``asgi_call``: no sockets, so mock clocks work)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import trio
import trio.lowlevel
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from prometheus_client import REGISTRY

from synctv.api.http.asgi import App, Route
from synctv.livestream.hls_store import MemoryHlsStore
from synctv.livestream.stream import PublisherHandle
from synctv.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, FlvReader, FlvTag


def _video_frame(n: int, width: int, height: int, fps: int) -> av.VideoFrame:
    # A diagonal gradient that moves every frame: cheap to build, every frame distinct.
    frame = av.VideoFrame(width, height, "yuv420p")
    row = bytes((x * 3) & 0xFF for x in range(width + height + 4 * 600))
    shift = (4 * n) % 600
    luma = b"".join(row[y + shift : y + shift + width] for y in range(height))
    frame.planes[0].update(luma)
    cw, ch = width // 2, height // 2
    frame.planes[1].update(bytes(((n * 5) & 0xFF,)) * (cw * ch))
    frame.planes[2].update(bytes(((200 - n * 3) & 0xFF,)) * (cw * ch))
    frame.pts = n
    frame.time_base = Fraction(1, fps)
    return frame


def encode_flv(
    seconds: float,
    *,
    fps: int = 25,
    gop_seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    bitrate: int = 400_000,
    audio: bool = True,
    b_frames: int = 0,
) -> bytes:
    """H.264 (+ AAC 44.1 kHz stereo) FLV with a fixed GOP, encoded by PyAV's FFmpeg.

    ``b_frames`` > 0 gives B-frames (composition offsets); x264's ultrafast preset and the
    zerolatency tune turn them off, so that case uses veryfast without a tune."""
    out_buf = io.BytesIO()
    with av.open(out_buf, "w", format="flv") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = bitrate
        gop = int(fps * gop_seconds)
        video.options = {
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": str(b_frames),
            "preset": "veryfast" if b_frames else "ultrafast",
            "threads": "1",
        }
        if not b_frames:
            video.options = {**video.options, "tune": "zerolatency"}
        astream = out.add_stream("aac", rate=44100) if audio else None
        if astream is not None:
            astream.layout = "stereo"
        frames = int(seconds * fps)
        for n in range(frames):
            for packet in video.encode(_video_frame(n, width, height, fps)):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if astream is not None:
            size = astream.codec_context.frame_size or 1024
            total = int(seconds * 44100)
            for start in range(0, total, size):
                count = min(size, total - start)
                samples = bytearray()
                for i in range(start, start + count):
                    v = int(6000 * math.sin(2 * math.pi * 440 * i / 44100))
                    samples += v.to_bytes(2, "little", signed=True) * 2
                frame = av.AudioFrame(format="s16", layout="stereo", samples=count)
                frame.planes[0].update(bytes(samples))
                frame.sample_rate = 44100
                frame.pts = start
                frame.time_base = Fraction(1, 44100)
                for packet in astream.encode(frame):
                    out.mux(packet)
            for packet in astream.encode(None):
                out.mux(packet)
    return out_buf.getvalue()


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of the process-wide prometheus registry (0 when not exported yet)."""
    value = REGISTRY.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def read_tags(flv: bytes) -> list[FlvTag]:
    reader = FlvReader()
    return [*reader.receive_data(flv), *reader.receive_data(b"")]


def split_tags(tags: Iterable[FlvTag]) -> tuple[list[FlvTag], list[FlvTag]]:
    """(script + sequence headers, media frames) of a PyAV-written FLV; FFmpeg's trailing AVC
    end-of-sequence tag is left out."""
    headers: list[FlvTag] = []
    media: list[FlvTag] = []
    for tag in tags:
        if tag.tag_type == TAG_VIDEO and len(tag.data) > 1 and tag.data[1] == 2:
            continue
        is_header = tag.tag_type == TAG_SCRIPT or (len(tag.data) > 1 and tag.data[1] == 0)
        (headers if is_header and not media else media).append(tag)
    return headers, media


def looped(media: list[FlvTag], loops: int, *, span_ms: int, start_ms: int = 0) -> Iterator[FlvTag]:
    """``media`` (a clip ``span_ms`` long) repeated with increasing timestamps. Audio in the
    clip's last 20 ms is left out so no audio frame overlaps the next loop's first one."""
    clip = [t for t in media if t.tag_type != TAG_AUDIO or t.timestamp < span_ms - 20]
    for n in range(loops):
        offset = start_ms + n * span_ms
        for tag in clip:
            yield FlvTag(tag.tag_type, tag.timestamp + offset, tag.data)


async def serve_routes(
    nursery: trio.Nursery, routes: list[Route], *, host: str = "127.0.0.1"
) -> str:
    """Serve ``routes`` with hypercorn on an ephemeral port; returns the base URL."""
    config = HypercornConfig()
    config.bind = [f"{host}:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    app = App(routes, clock=trio.current_time)
    binds = await nursery.start(hypercorn_serve, app, config)
    return str(binds[0])


async def send(
    handle: PublisherHandle,
    tags: Iterable[FlvTag],
    *,
    paced_from: float | None = None,
    batch: int = 8,
) -> None:
    """Publish tags, one flush per ``batch`` tags; paced to media time when ``paced_from`` is
    the trio time media time 0 corresponds to."""
    pending = 0
    for tag in tags:
        if paced_from is not None:
            await trio.sleep_until(paced_from + tag.timestamp / 1000)
        if tag.tag_type == TAG_SCRIPT:
            handle.set_metadata(tag.data)
        elif tag.tag_type == TAG_VIDEO:
            handle.publish_video(tag.timestamp, tag.data)
        elif tag.tag_type == TAG_AUDIO:
            handle.publish_audio(tag.timestamp, tag.data)
        pending += 1
        if pending >= batch:
            handle.flush()
            pending = 0
            await trio.lowlevel.checkpoint()
    handle.flush()
    await trio.lowlevel.checkpoint()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def stored_stream(playlist: str, segment: bytes, target_duration: float) -> MemoryHlsStore:
    """A memory HLS store holding stream ``abc``: segments 10 and 11 (both ``segment``) and
    ``playlist``, live, with this target duration."""
    store = MemoryHlsStore(16 * 1024 * 1024)
    await store.begin_stream("abc", min_first_sequence=10)
    for sequence in (10, 11):
        await store.put_segment("abc", sequence, segment)
    await store.put_playlist(
        "abc", playlist, newest_sequence=11, ended=False, target_duration=target_duration
    )
    return store


async def asgi_call(
    app: App, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> Reply:
    path, _, query = path.partition("?")
    sent: list[MutableMapping[str, Any]] = []
    delivered = False

    async def receive() -> MutableMapping[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await trio.sleep_forever()
        raise AssertionError

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 1234),
    }
    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(bytes(m.get("body", b"")) for m in sent[1:])
    return Reply(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body)
