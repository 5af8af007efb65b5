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
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from synctv.api.http.routes.live_hls import live_hls_routes
from synctv.config import LivestreamConfig
from synctv.livestream.errors import StreamEnded
from synctv.livestream.hls import (
    FinishedSegment,
    HlsSegmenter,
    SegmentBuilder,
    session_start,
)
from synctv.livestream.hls_store import FileHlsStore, MemoryHlsStore
from synctv.livestream.hub import StreamHub
from synctv.media.flv import TAG_AUDIO, TAG_SCRIPT, TAG_VIDEO, FlvTag
from synctv.media.hls import PlaylistWindow, Segment, SegmentationPolicy
from tests.livestream.hls_support import (
    encode_flv,
    looped,
    metric,
    read_tags,
    send,
    serve_routes,
    split_tags,
)
from tests.support.hls_rig import EPOCH, STREAM, Rig, open_rig
from tests.support.mpegts_tags import aac, aac_header, avc_header, nal, video

CLIP_SECONDS = 10
CLIP_MS = CLIP_SECONDS * 1000

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
            # Retired segments stay for 2 s + the 12 s playlist (§6.2.2), plus one sweep.
            assert rig.store.statistics().segments <= 6 + 7 + 1
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
    base = await serve_routes(nursery, live_hls_routes(rig.store, config=LivestreamConfig()))
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
    base = await serve_routes(nursery, live_hls_routes(rig.store, config=LivestreamConfig()))
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
    # The segmenter works behind the publisher, and the file store renames the playlist into
    # place (in a worker thread) before the in-memory copy changes, so a look can catch a write
    # half done. Look until one shows a settled state: the file and the served copy the same
    # version, a full window of 6 listed, no temporary file (the segmenter idles with all 9
    # closed segments of the 20 s stored; the 10th stays open while the publisher is connected).
    directory = root / STREAM
    with trio.fail_after(10):
        while True:
            text = await rig.playlist() if await store.get_playlist(STREAM) else ""
            names = {p.name for p in directory.iterdir()} if directory.exists() else set()
            on_disk = (directory / "index.m3u8").read_text() if "index.m3u8" in names else None
            listed = parse_playlist(text)[1]
            temporary = [n for n in names if n.endswith(".tmp")]
            if on_disk == text and len(listed) == 6 and not temporary:
                break
            await trio.sleep(0.01)
    for segment in listed:
        assert f"{segment.sequence}.ts" in names
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
        def subscribe(
            self, *, protocol: str = "", realtime: bool = True, whole_gop_cache: bool = False
        ) -> Iterator[FakeSubscription]:
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


# --------------------------------------------------------------------------- long GOPs, gaps, stalls


@dataclass(frozen=True)
class Built:
    builder: SegmentBuilder
    segments: list[FinishedSegment]
    directory: Path

    @property
    def durations(self) -> list[int]:
        return [s.duration_ms for s in self.segments]

    @property
    def playlist(self) -> Path:
        return self.directory / "index.m3u8"


def build(tags: list[FlvTag], directory: Path, *, target: float = 2.0) -> Built:
    """Segment ``tags`` with the pure builder and write the VOD-like result (every segment and an
    ENDLIST playlist) to ``directory``, for FFmpeg to read."""
    builder = SegmentBuilder(SegmentationPolicy(target))
    finished: list[FinishedSegment] = []
    for tag in tags:
        finished += builder.feed(tag)
    finished += builder.finish()
    assert builder.target_duration is not None
    directory.mkdir(parents=True, exist_ok=True)
    window = PlaylistWindow(len(finished) + 1, builder.target_duration)  # nothing slides out
    for index, segment in enumerate(finished):
        (directory / f"{index}.ts").write_bytes(segment.data)
        if segment.discontinuity:
            window.mark_discontinuity()
        window.add(Segment(index, segment.duration_ms / 1000, f"{index}.ts"))
    window.end()
    (directory / "index.m3u8").write_text(window.render())  # raises if an EXTINF does not fit
    return Built(builder, finished, directory)


async def decode_quietly(source: Path | str) -> int:
    """Decode ``source`` with FFmpeg at ``-v warning``: nothing may be printed. Returns the
    number of video frames decoded."""
    code, out, err = await run_tool(
        "ffmpeg", "-nostdin", "-v", "warning", "-i", str(source), "-map", "0:v?",
        "-f", "framemd5", "-",
    )  # fmt: skip
    assert code == 0, err
    assert err == "", err
    return sum(1 for line in out.splitlines() if line and not line.startswith("#"))


@pytest.fixture(scope="session")
def long_gop_clip() -> Clip:
    """20 s of H.264 with a 5 s GOP (+ AAC): GOPs longer than 1.5 × the 2 s target (10 s
    encoded, looped twice: PyAV's FLV muxer interleaves at most 10 s)."""
    headers, media = split_tags(read_tags(encode_flv(CLIP_SECONDS, gop_seconds=5.0)))
    return Clip(Path("long_gop.flv"), headers, list(looped(media, 2, span_ms=CLIP_MS)))


@needs_ffmpeg
async def test_long_gop_segments_start_at_keyframes_and_fix_the_target_duration(
    long_gop_clip: Clip, tmp_path: Path
) -> None:
    """A 5 s GOP: segments are whole GOPs with their real 5 s EXTINF, EXT-X-TARGETDURATION is 5
    (ceil of the first segment), and every segment decodes on its own (a player joining there)."""
    built = build([*long_gop_clip.headers, *long_gop_clip.media], tmp_path / "gop5")
    assert built.builder.target_duration == 5
    assert built.durations == [5000, 5000, 5000, 5000]
    assert built.builder.forced_cuts == 0
    text = built.playlist.read_text()
    assert "#EXT-X-TARGETDURATION:5\n" in text
    assert text.count("#EXTINF:5.000,") == 4
    for index in range(len(built.segments)):
        assert await decode_quietly(built.directory / f"{index}.ts") == 125  # whole GOP, no error
    assert await decode_quietly(built.playlist) == 500


async def test_a_longer_gop_after_a_reconnect_is_cut_mid_gop_within_the_fixed_target(
    clip: Clip, long_gop_clip: Clip, nursery: trio.Nursery
) -> None:
    """EXT-X-TARGETDURATION is fixed by the first segment and survives a publisher reconnect;
    a later GOP too long for it is force-cut (counted), never listed longer than the target, and
    the next cut realigns at the following keyframe."""
    versions: list[str] = []

    class Recording(MemoryHlsStore):
        async def put_playlist(self, stream_id: str, text: str, **kwargs: Any) -> None:
            versions.append(text)
            await super().put_playlist(stream_id, text, **kwargs)

    rig = await open_rig(nursery, Recording(64 * 1024 * 1024), grace=5.0)
    rig.segmenter.playlist_length = 30
    forced_before = metric("synctv_hls_forced_cuts_total")
    handle = await rig.publish()
    await send(handle, [*clip.headers, *looped(clip.media, 1, span_ms=CLIP_MS)])
    handle.close()
    handle = await rig.publish()
    await send(handle, [*long_gop_clip.headers, *long_gop_clip.media])
    rig.hub.kick(STREAM)
    await wait_ended(rig)
    assert {parse_playlist(v)[0]["#EXT-X-TARGETDURATION"] for v in versions} == {"3"}
    _, segments = parse_playlist(versions[-1])
    assert [s.discontinuity for s in segments].count(True) == 1
    assert all(s.duration <= 3.499 for s in segments)
    after = [round(s.duration * 1000) for s in segments[5:]]
    # Each 5 s GOP: forced at ~3.46 s (the next frame would pass 3.499 s), then the remaining
    # ~1.54 s up to the next keyframe, where the cut realigns.
    assert after[:-1] == [3480, 1520] * 3 + [3480]
    assert metric("synctv_hls_forced_cuts_total") - forced_before == 4


@needs_ffmpeg
async def test_timestamp_gap_ends_the_segment_and_starts_a_discontinuity(
    clip: Clip, tmp_path: Path
) -> None:
    """A 6 s DTS jump (below the hub normaliser's 10 s, so it reaches the segmenter): the
    segment before it keeps its real duration, the next one starts a new timeline."""
    gapped = [
        FlvTag(t.tag_type, t.timestamp + (6000 if t.timestamp >= 4000 else 0), t.data)
        for t in clip.media
    ]
    built = build([*clip.headers, *gapped], tmp_path / "gap")
    assert built.builder.target_duration == 3
    assert built.builder.gaps == 1
    assert [s.discontinuity for s in built.segments] == [False, False, True, False, False]
    starts = [s.start_dts_ms - built.segments[0].start_dts_ms for s in built.segments]
    # 4 s of media, 6 s of nothing, 6 s more: the new timeline starts with the first chunk
    # after the gap (audio a few ms before the keyframe; video in it starts at the keyframe).
    assert [round(start, -2) for start in starts] == [0, 2000, 10000, 12000, 14000], starts
    assert all(abs(d - 2000) <= 50 for d in built.durations), built.durations
    assert built.playlist.read_text().count("#EXT-X-DISCONTINUITY\n") == 1
    assert await decode_quietly(built.playlist) == 250


@needs_ffmpeg
async def test_video_stall_with_audio_going_on_still_cuts_segments(
    clip: Clip, tmp_path: Path
) -> None:
    """Video stops after 4 s, audio runs on to 30 s: segments keep coming on audio time (the
    playlist does not freeze on one 28 s segment), each within the target duration."""
    tags = [
        t
        for t in looped(clip.media, 3, span_ms=CLIP_MS)
        if t.tag_type != TAG_VIDEO or t.timestamp < 4000
    ]
    built = build([*clip.headers, *tags], tmp_path / "stall")
    assert built.builder.target_duration == 3
    assert len(built.segments) >= 14
    assert all(d <= 3499 for d in built.durations), built.durations
    assert all(abs(d - 2090) <= 100 for d in built.durations[2:-1]), built.durations
    assert sum(built.durations) >= 29_500
    assert await decode_quietly(built.playlist) == 100


@needs_ffmpeg
async def test_new_decoder_configuration_mid_stream_is_a_discontinuity(
    clip: Clip, tmp_path: Path
) -> None:
    """The publisher sends a new sequence header (another resolution) without reconnecting:
    the segment starting at its keyframe carries EXT-X-DISCONTINUITY, and FFmpeg decodes both."""
    other = split_tags(read_tags(encode_flv(4, width=256, height=144, audio=False)))
    second = [FlvTag(t.tag_type, t.timestamp + CLIP_MS, t.data) for t in [*other[0], *other[1]]]
    first = [t for t in [*clip.headers, *clip.media] if t.tag_type != TAG_AUDIO]
    built = build([*first, *second], tmp_path / "reconfigured")
    assert [s.discontinuity for s in built.segments] == [False] * 5 + [True, False]
    assert built.segments[5].start_dts_ms == CLIP_MS
    assert await decode_quietly(built.playlist) == 250 + 100


@needs_ffmpeg
async def test_b_frames_pass_through_with_matching_frames(tmp_path: Path) -> None:
    """H.264 with B-frames (bf=3: composition offsets, PTS != DTS): FFmpeg reads the playlist
    without warnings and decodes exactly the source's frames."""
    data = encode_flv(10, b_frames=3, audio=False)
    source = tmp_path / "bframes.flv"
    source.write_bytes(data)
    headers, media = split_tags(read_tags(data))
    assert any(int.from_bytes(t.data[2:5], "big") for t in media)  # composition offsets present
    built = build([*headers, *media], tmp_path / "bframes")
    assert built.durations == [2000] * 5
    code, out, err = await run_tool(
        "ffprobe", "-v", "warning", "-select_streams", "v", "-show_entries", "packet=pts,dts",
        "-of", "csv=p=0", str(built.directory / "0.ts"),
    )  # fmt: skip
    assert code == 0, err
    assert err == ""
    assert any(pts != dts for pts, dts in (line.split(",")[:2] for line in out.split()))
    await decode_quietly(built.playlist)
    assert await framemd5(str(built.playlist)) == await framemd5(str(source))


# --------------------------------------------------------------------------- timing through the hub


@pytest.mark.parametrize(("gap_ms", "discontinuities"), [(6_000, 1), (15_000, 0)])
async def test_publisher_gaps_through_the_hub(
    clip: Clip, nursery: trio.Nursery, gap_ms: int, discontinuities: int
) -> None:
    """The hub's normaliser folds a jump over 10 s into a 20 ms step (the timeline stays
    continuous: nothing for HLS to mark); a 6 s jump reaches the segmenter, which ends the
    segment and starts a new timeline with EXT-X-DISCONTINUITY."""
    rig = await open_rig(nursery)
    handle = await rig.publish()
    media = [
        FlvTag(t.tag_type, t.timestamp + (gap_ms if t.timestamp >= 4000 else 0), t.data)
        for t in clip.media
    ]
    await send(handle, [*clip.headers, *media])
    handle.close()
    await wait_ended(rig)
    text = await rig.playlist()
    _, segments = parse_playlist(text)
    assert text.count("#EXT-X-DISCONTINUITY\n") == discontinuities
    assert [s.discontinuity for s in segments].count(True) == discontinuities
    assert all(abs(s.duration - 2.0) <= 0.05 for s in segments), [s.duration for s in segments]
    assert "#EXT-X-TARGETDURATION:3\n" in text


async def test_first_playable_playlist_within_segment_seconds_plus_one_of_the_first_keyframe(
    clip: Clip, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """With the default config (200 ms fan-out batches) and a 2 s GOP, the first playlist that
    lists a segment exists no later than hls_segment_seconds + 1 s after the first keyframe."""
    config = LivestreamConfig()
    hub = StreamHub(config)
    await nursery.start(hub.run)
    store = MemoryHlsStore(64 * 1024 * 1024)
    await nursery.start(store.run)
    hub.add_stream_task_factory(HlsSegmenter.from_config(store, config).task_factory)
    rig = Rig(hub, store, HlsSegmenter(store), nursery)
    handle = await rig.publish()
    start = trio.current_time()
    keyframe = next(t for t in clip.media if t.tag_type == TAG_VIDEO and t.data[0] >> 4 == 1)
    first_keyframe = start + keyframe.timestamp / 1000  # when the paced publisher sends it
    nursery.start_soon(partial(send, handle, [*clip.headers, *clip.media], paced_from=start))
    assert await store.wait_for_sequence(STREAM, 0, 30)
    elapsed = trio.current_time() - first_keyframe
    assert elapsed <= config.hls_segment_seconds + 1, elapsed
    _, segments = parse_playlist(await rig.playlist())
    assert len(segments) == 1
    assert await store.get_segment(STREAM, segments[0].sequence) is not None


async def test_retired_segments_stay_available_for_their_availability_duration(
    clip: Clip, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """RFC 8216 §6.2.2: a segment that left the playlist stays fetchable for its duration plus
    the duration of the longest playlist that listed it (2 s + 6 × 2 s = 14 s), then goes."""
    rig = await open_rig(nursery)
    handle = await rig.publish()
    start = trio.current_time()
    nursery.start_soon(
        partial(
            send, handle, [*clip.headers, *looped(clip.media, 5, span_ms=CLIP_MS)], paced_from=start
        )
    )
    listed_once: set[int] = set()
    left: dict[int, float] = {}
    gone: dict[int, float] = {}
    poll = 0.05
    while trio.current_time() < start + 49:
        snapshot = await rig.store.get_playlist(STREAM)
        if snapshot is not None:
            now = trio.current_time()
            listed = {s.sequence for s in parse_playlist(snapshot.text.decode())[1]}
            listed_once |= listed
            for sequence in listed_once - listed:
                left.setdefault(sequence, now)
            for sequence in set(left) - set(gone):
                if await rig.store.get_segment(STREAM, sequence) is None:
                    gone[sequence] = now
        await trio.sleep(poll)
    assert len(gone) >= 10
    kept = [gone[seq] - left[seq] for seq in sorted(gone)]
    # At least the availability duration; deleted by the next once-a-second sweep after it.
    assert all(14 - poll <= k <= 14 + 1 + poll for k in kept), kept


_steps = st.lists(
    st.tuples(
        st.sampled_from(["video", "audio"]),
        st.one_of(st.integers(0, 120), st.integers(0, 12_000)),  # frame steps and odd jumps
        st.booleans(),  # keyframe (video)
    ),
    max_size=120,
)


@settings(max_examples=150)
@given(_steps, st.sampled_from([0.5, 2.0, 6.0]), st.booleans())
def test_builder_never_lists_a_segment_over_its_target_duration(
    steps: list[tuple[str, int, bool]], target: float, with_audio: bool
) -> None:
    """Whatever the timing (long GOPs, stalls, jumps short of the hub's 10 s collapse): the
    target duration is fixed once and every segment fits it, so the playlist always renders."""
    builder = SegmentBuilder(SegmentationPolicy(target))
    tags = [avc_header(), *([aac_header()] if with_audio else [])]
    now = 0
    for kind, step, key in steps:
        now += step
        if kind == "video" or not with_audio:
            tags.append(video(now, [nal(5 if key else 1, 40)], key=key))
        else:
            tags.append(aac(now, b"\x21\x00" * 20))
    finished: list[FinishedSegment] = []
    targets = set()
    for tag in tags:
        finished += builder.feed(tag)
        targets.add(builder.target_duration)
    finished += builder.finish()
    targets.add(builder.target_duration)
    if not finished:
        return
    target_duration = builder.target_duration
    assert target_duration is not None
    assert targets - {None} == {target_duration}  # set once, never changed
    window = PlaylistWindow(4, target_duration)
    for segment in finished:
        assert segment.duration_ms <= target_duration * 1000 + 499
        window.add(Segment(window.next_sequence, segment.duration_ms / 1000, "s.ts"))
    window.render()
