"""HLS segmenter driven by the real StreamHub: segments, playlists, PDT, reconnects, the end.

The oracle is FFmpeg: ffprobe/ffmpeg read the served playlist over HTTP with ``-v warning`` and
must print nothing, and the decoded video frames (framemd5) must be the source's frames from the
join point on.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import trio
import trio.lowlevel
import trio.testing

from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.config import LivestreamConfig
from synctv.livestream.errors import StreamEnded
from synctv.livestream.hls import VIEWER_PROTOCOL, HlsSegmenter, SegmentBuilder, session_start
from synctv.livestream.hls_store import FileHlsStore, HlsStore, MemoryHlsStore
from synctv.livestream.hub import StreamHub
from synctv.livestream.registry import LiveStreamRecord
from synctv.livestream.stream import PublisherHandle
from synctv.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, FlvTag
from synctv.media.hls import SegmentationPolicy
from tests.livestream.hls_support import (
    encode_flv,
    looped,
    read_tags,
    send,
    serve_routes,
    split_tags,
)

CLIP_SECONDS = 10
CLIP_MS = CLIP_SECONDS * 1000
EPOCH = 1_700_000_000.0
STREAM = "stream_1"

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe not installed",
)


@dataclass(frozen=True)
class Clip:
    path: Path
    headers: list[FlvTag]
    media: list[FlvTag]


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """10 s of 320x240 25 fps H.264 (2 s GOP) + AAC, encoded once per session."""
    data = encode_flv(CLIP_SECONDS)
    path = tmp_path_factory.mktemp("hls_clip") / "clip.flv"
    path.write_bytes(data)
    headers, media = split_tags(read_tags(data))
    return Clip(path, headers, media)


@dataclass
class Rig:
    hub: StreamHub
    store: HlsStore
    segmenter: HlsSegmenter
    nursery: trio.Nursery

    async def publish(self, stream_id: str = STREAM) -> PublisherHandle:
        """Start (or resume) publishing; returns once the segmenter is subscribed, so a test
        publisher faster than real time cannot run ahead of the segmenter's join."""
        handle = await self.hub.start_publish(LiveStreamRecord(stream_id, "live", None, "t", 0))
        with trio.fail_after(5):
            while VIEWER_PROTOCOL not in self.hub_viewers(stream_id):  # noqa: ASYNC110
                await trio.sleep(0.001)
        return handle

    def hub_viewers(self, stream_id: str) -> dict[str, int]:
        stats = self.hub.stream_statistics(stream_id)
        return {} if stats is None else stats.viewers

    async def playlist(self, stream_id: str = STREAM) -> str:
        snapshot = await self.store.get_playlist(stream_id)
        assert snapshot is not None
        return snapshot.text.decode()


async def open_rig(
    nursery: trio.Nursery, store: HlsStore | None = None, *, grace: float = 0.0
) -> Rig:
    config = LivestreamConfig(publisher_reconnect_grace_seconds=grace, fanout_batch_window_ms=0)
    hub = StreamHub(config)
    await nursery.start(hub.run)
    store = store or MemoryHlsStore(64 * 1024 * 1024)
    await nursery.start(store.run)
    segmenter = HlsSegmenter(store, wall_clock=lambda: EPOCH + trio.current_time())
    hub.add_stream_task_factory(segmenter.task_factory)
    return Rig(hub, store, segmenter, nursery)


@pytest.fixture
async def rig(nursery: trio.Nursery) -> Rig:
    return await open_rig(nursery)


@dataclass(frozen=True)
class Listed:
    sequence: int
    duration: float
    pdt_ms: int
    discontinuity: bool


def parse_playlist(text: str) -> tuple[dict[str, str], list[Listed]]:
    """(header tags, segments) of one of our media playlists."""
    tags: dict[str, str] = {}
    segments: list[Listed] = []
    sequence = None
    duration, pdt, disc = 0.0, 0, False
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].rstrip(","))
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            pdt = _pdt_ms(line.split(":", 1)[1])
        elif line == "#EXT-X-DISCONTINUITY":
            disc = True
        elif line.startswith("#"):
            name, _, value = line.partition(":")
            tags[name] = value
        elif line:
            sequence = int(line.removesuffix(".ts"))
            segments.append(Listed(sequence, duration, pdt, disc))
            disc = False
    return tags, segments


def _pdt_ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


async def wait_ended(rig: Rig) -> None:
    """Until the playlist carries ENDLIST (the store wakes waiters when a stream ends)."""
    with trio.fail_after(5):
        assert await rig.store.wait_for_sequence(STREAM, 2**62, 5)
    assert (await rig.playlist()).endswith("#EXT-X-ENDLIST\n")


async def run_tool(*argv: str) -> tuple[int, str, str]:
    result = await trio.run_process(
        list(argv), capture_stdout=True, capture_stderr=True, check=False
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


async def framemd5(source: str, *extra: str) -> list[str]:
    code, out, err = await run_tool(
        "ffmpeg", "-nostdin", "-v", "warning", *extra, "-i", source, "-map", "0:v",
        "-f", "framemd5", "-",
    )  # fmt: skip
    assert code == 0, err
    assert err == "", err
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if not line.startswith("#")]


# --------------------------------------------------------------------------- pure builder


def test_builder_cuts_two_second_segments_at_keyframes(clip: Clip) -> None:
    builder = SegmentBuilder(SegmentationPolicy(2.0))
    finished = []
    for tag in [*clip.headers, *looped(clip.media, 30, span_ms=CLIP_MS)]:
        finished += builder.feed(tag)
    finished += builder.finish()
    durations = [s.duration_ms for s in finished]
    assert len(finished) == 150  # 5 minutes of media
    assert all(abs(d - 2000) <= 500 for d in durations), durations
    assert all(s.data[:3] == b"\x47\x40\x00" for s in finished)  # starts with the PAT
    assert all(len(s.data) % 188 == 0 for s in finished)
    assert builder.errors == 0


def test_builder_audio_only_cuts_on_time(clip: Clip) -> None:
    builder = SegmentBuilder(SegmentationPolicy(2.0))
    audio = [t for t in clip.headers + clip.media if t.tag_type in (TAG_SCRIPT, TAG_AUDIO)]
    finished = []
    for tag in audio:
        finished += builder.feed(tag)
    finished += builder.finish()
    assert len(finished) == 5
    assert all(abs(s.duration_ms - 2000) <= 150 for s in finished[:-1])


def test_builder_skips_malformed_tags(clip: Clip) -> None:
    builder = SegmentBuilder(SegmentationPolicy(2.0))
    finished = []
    for tag in clip.headers:
        finished += builder.feed(tag)
    finished += builder.feed(FlvTag(TAG_VIDEO, 5, b"\x17\x01\x00\x00\x00\x00\x00\x00\xff"))
    for tag in clip.media:
        finished += builder.feed(tag)
    finished += builder.finish()
    assert builder.errors == 1
    assert len(finished) == 5


# --------------------------------------------------------------------------- through the hub


async def test_long_stream_window_sequence_and_pdt(
    clip: Clip, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Five minutes of media in real-time pace (on the autojump clock): the window stays at six
    segments, the media sequence advances by one per segment, PDT follows the wall clock, the
    store holds only the window plus the retire grace."""
    rig = await open_rig(nursery)
    handle = await rig.publish()
    start = trio.current_time()
    await send(handle, clip.headers, paced_from=start)
    seen_sequences: list[int] = []
    for loop in range(30):
        await send(
            handle,
            looped(clip.media, 1, span_ms=CLIP_MS, start_ms=loop * CLIP_MS),
            paced_from=start,
        )
        tags, segments = parse_playlist(await rig.playlist())
        media_sequence = int(tags["#EXT-X-MEDIA-SEQUENCE"])
        assert segments[0].sequence == media_sequence
        assert tags["#EXT-X-TARGETDURATION"] == "3"
        if loop >= 2:
            assert len(segments) == 6
            assert rig.store.statistics().segments <= 6 + 3
        assert all(abs(s.duration - 2.0) <= 0.5 for s in segments)
        for a, b in itertools.pairwise(segments):
            assert b.pdt_ms - a.pdt_ms == pytest.approx(a.duration * 1000, abs=2)
        # Live edge: the newest segment ended no later than now, and not long before.
        newest = segments[-1]
        edge_ms = (EPOCH + trio.current_time()) * 1000
        assert 0 <= edge_ms - (newest.pdt_ms + newest.duration * 1000) < 2500
        seen_sequences += [s.sequence for s in segments]
    distinct = sorted(set(seen_sequences))
    assert distinct == list(range(distinct[0], distinct[0] + len(distinct)))
    assert len(distinct) >= 148
    assert distinct[0] >= int(EPOCH * 10)  # the wall-clock floor of a run's first number
    assert rig.segmenter.statistics().segments >= 149
    rig.hub.kick(STREAM)
    await trio.sleep(1)
    text = await rig.playlist()
    assert text.endswith("#EXT-X-ENDLIST\n")
    await trio.sleep(31)
    assert await rig.store.get_playlist(STREAM) is None
    assert rig.store.statistics().segments == 0


@needs_ffmpeg
async def test_ffmpeg_reads_the_served_playlist_and_frames_match(
    clip: Clip, rig: Rig, nursery: trio.Nursery
) -> None:
    handle = await rig.publish()
    await send(handle, [*clip.headers, *looped(clip.media, 2, span_ms=CLIP_MS)])
    handle.close()  # grace 0: the stream ends, the playlist gets ENDLIST
    await wait_ended(rig)
    _, segments = parse_playlist(await rig.playlist())
    assert len(segments) == 6
    assert all(abs(s.duration - 2.0) <= 0.5 for s in segments)
    base = await serve_routes(
        nursery, live_hls_routes(rig.store, config=LivestreamConfig(), cors_origins=("*",))
    )
    url = f"{base}/live/{STREAM}/index.m3u8"

    code, out, err = await run_tool(
        "ffprobe", "-v", "warning", "-show_entries", "stream=codec_name,width,height",
        "-of", "csv=p=0", url,
    )  # fmt: skip
    assert code == 0, err
    assert err == ""
    assert set(out.split()) == {"aac", "h264,320,240"}
    code, _, err = await run_tool(
        "ffmpeg", "-nostdin", "-v", "warning", "-i", url, "-f", "null", "-"
    )
    assert code == 0, err
    assert err == "", err  # no continuity, timestamp or PCR complaints

    source = await framemd5(str(clip.path))
    served = await framemd5(url)
    assert len(served) == 6 * 50
    # The playlist starts at a keyframe 8 s into the 20 s: loop 0 frame 200 onwards.
    cycle = source * 3
    start = cycle.index(served[0])
    assert served == cycle[start : start + len(served)]


@needs_ffmpeg
async def test_reconnect_is_a_discontinuity_and_stays_playable(
    clip: Clip, nursery: trio.Nursery
) -> None:
    rig = await open_rig(nursery, grace=5.0)
    handle = await rig.publish()
    await send(handle, [*clip.headers, *looped(clip.media, 1, span_ms=CLIP_MS)])
    handle.close()
    # A new encoder: timestamps start from 0 again; the hub keeps time running.
    handle = await rig.publish()
    await send(handle, [*clip.headers, *looped(clip.media, 1, span_ms=CLIP_MS)])
    rig.hub.kick(STREAM)
    await wait_ended(rig)
    text = await rig.playlist()
    tags, segments = parse_playlist(text)
    assert text.count("#EXT-X-DISCONTINUITY\n") == 1
    assert [s.discontinuity for s in segments].count(True) == 1
    assert "#EXT-X-DISCONTINUITY-SEQUENCE" not in tags  # the discontinuity is still listed
    assert all(abs(s.duration - 2.0) <= 0.5 for s in segments)
    base = await serve_routes(
        nursery, live_hls_routes(rig.store, config=LivestreamConfig(), cors_origins=("*",))
    )
    url = f"{base}/live/{STREAM}/index.m3u8"
    code, _, err = await run_tool(
        "ffmpeg", "-nostdin", "-v", "warning", "-i", url, "-f", "null", "-"
    )
    assert code == 0, err
    assert err == "", err
    assert len(await framemd5(url)) == len(segments) * 50


async def test_file_backend_writes_files_and_removes_them_after_the_end(
    clip: Clip, tmp_path: Path, nursery: trio.Nursery
) -> None:
    root = tmp_path / "hls"
    store = FileHlsStore(root)
    rig = await open_rig(nursery, store)
    rig.segmenter.linger_seconds = 0.2
    handle = await rig.publish()
    await send(handle, [*clip.headers, *looped(clip.media, 2, span_ms=CLIP_MS)])
    with trio.fail_after(5):
        while (snapshot := await store.get_playlist(STREAM)) is None or (  # noqa: ASYNC110
            len(parse_playlist(snapshot.text.decode())[1]) < 6
        ):
            await trio.sleep(0.01)
    names = {p.name for p in (root / STREAM).iterdir()}
    assert "index.m3u8" in names
    assert (root / STREAM / "index.m3u8").read_text() == await rig.playlist()
    for listed in parse_playlist(await rig.playlist())[1]:
        assert f"{listed.sequence}.ts" in names
    assert not [n for n in names if n.endswith(".tmp")]
    handle.close()
    with trio.fail_after(5):
        while (root / STREAM).exists():  # noqa: ASYNC110 (polling the file system)
            await trio.sleep(0.05)
    assert await store.get_playlist(STREAM) is None


async def test_segmenter_survives_a_failing_store(clip: Clip, nursery: trio.Nursery) -> None:
    class FullDisk(MemoryHlsStore):
        fail = True

        async def put_segment(self, stream_id: str, sequence: int, data: bytes) -> None:
            if self.fail:
                self.fail = False
                raise OSError(28, "No space left on device")
            await super().put_segment(stream_id, sequence, data)

    rig = await open_rig(nursery, FullDisk(64 * 1024 * 1024))
    handle = await rig.publish()
    await send(handle, [*clip.headers, *looped(clip.media, 1, span_ms=CLIP_MS)])
    handle.close()
    await wait_ended(rig)
    _, segments = parse_playlist(await rig.playlist())
    assert len(segments) == 4  # the first of five was lost
    assert segments[0].discontinuity
    assert rig.segmenter.statistics().store_failures == 1


def test_session_start_finds_the_new_session_in_a_merged_batch(clip: Clip) -> None:
    tail = clip.media[-6:]
    assert session_start([*tail, *clip.headers, *clip.media[:4]]) == 6
    assert session_start([*clip.headers, *clip.media[:4]]) == 0
    assert session_start(clip.media[:4]) == 0  # no headers: the whole batch is the new session


async def test_merged_reconnect_batch_keeps_the_old_sessions_tail(clip: Clip) -> None:
    """The hub merged the old session's last tags and the new session's first into one batch:
    no frame of either is lost, and the discontinuity sits between them."""

    @dataclass
    class FakeBatch:
        tags: tuple[FlvTag, ...]
        discontinuity: bool

    first = [*clip.headers, *looped(clip.media, 1, span_ms=CLIP_MS)]
    cut = next(i for i, t in enumerate(first) if t.timestamp >= 9000)
    second = [
        FlvTag(t.tag_type, t.timestamp + CLIP_MS, t.data)
        for t in [*clip.headers, *looped(clip.media, 1, span_ms=CLIP_MS)]
    ]
    batches = [FakeBatch(tuple(first[:cut]), False), FakeBatch((*first[cut:], *second), True)]

    class FakeSubscription:
        join_tags: tuple[FlvTag, ...] = ()

        async def receive(self) -> FakeBatch:
            if not batches:
                raise StreamEnded
            return batches.pop(0)

    class FakeStream:
        stream_id = STREAM

        @contextmanager
        def subscribe(self, *, protocol: str = "") -> Iterator[FakeSubscription]:
            yield FakeSubscription()

    store = MemoryHlsStore(64 * 1024 * 1024)
    segmenter = HlsSegmenter(store, playlist_length=20)
    await segmenter.run_stream(FakeStream())
    snapshot = await store.get_playlist(STREAM)
    assert snapshot is not None
    _, segments = parse_playlist(snapshot.text.decode())
    assert [s.discontinuity for s in segments] == [False] * 5 + [True] + [False] * 4
    frames = 0
    for listed in segments:
        stored = await store.get_segment(STREAM, listed.sequence)
        assert stored is not None
        frames += stored.data.count(b"\x00\x00\x00\x01\x09\xf0")  # one AUD per frame
    assert frames == 2 * 250
