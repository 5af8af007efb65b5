"""End to end with real OBS Studio (issue 18): what a streamer does, checked from the server's
log, with ffprobe, and byte by byte on an HTTP-FLV viewer that watches across an OBS restart.

OBS runs headless (Xvfb, Mesa software GL), configured the way a streamer would: Settings →
Stream, Custom service, Server ``rtmp://127.0.0.1:PORT/live`` and the stream key; Output in
Simple mode with x264; one scene with a looping Media Source (a short clip made with FFmpeg).
See tests/support/obs.py for the files written into a throwaway HOME.

One test, in order (each OBS start costs ~2 s of a core, so they are not repeated):

1. OBS with Simple-mode defaults publishes: the publish and the announcement (flashVer,
   ``encoder``) are logged; the viewer count is 0 although the HLS segmenter runs; ffprobe
   reads HTTP-FLV and HLS; x264's default key-frame interval (250 frames, 8.3 s) draws the
   key-frame warning once.
2. OBS stops cleanly (SIGINT): logged as "unpublished", not as a handshake timeout.
3. Within the reconnect grace OBS starts again with x264 option ``keyint=60``: no warning, and
   the HTTP-FLV viewer that watched throughout saw one stream: no onMetaData after its join
   snapshot, timestamps strictly after the old session's, and FFmpeg reads the capture without
   a new stream or a non-monotonic timestamp.
4. OBS with a wrong key is refused with NetStream.Publish.BadName.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from prometheus_client import REGISTRY

from synctv.media.flv import (
    TAG_AUDIO,
    TAG_SCRIPT,
    TAG_VIDEO,
    FlvReader,
    FlvTag,
    is_sequence_header,
)
from tests.support.obs import (
    ObsProfile,
    Xvfb,
    free_port,
    obs_or_skip,
    running_obs,
    write_obs_home,
)
from tests.support.server import create_live_stream, running_server, server_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GUARD = 90  # seconds, the whole test (issue 18: under 90 s)
GRACE_SECONDS = 15.0  # the reconnect grace: OBS's restart must fit well inside it
SAMPLE_SECONDS = 4


@dataclass
class Viewer:
    """An HTTP-FLV viewer in the test process: every tag, as received."""

    url: str
    tags: list[FlvTag] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    error: BaseException | None = None
    done: bool = False  # the response ended (the stream ended, for HTTP-FLV)

    async def run(self) -> None:
        reader = FlvReader()
        try:
            async with (
                httpx.AsyncClient(timeout=None) as client,
                client.stream("GET", self.url) as response,
            ):
                response.raise_for_status()
                async for chunk in response.aiter_raw():
                    self.raw += chunk
                    self.tags += reader.receive_data(chunk)
        except (httpx.HTTPError, trio.BrokenResourceError) as exc:
            self.error = exc
        finally:
            self.done = True

    def video_keyframes(self, after: int = 0) -> int:
        return sum(
            1
            for tag in self.tags[after:]
            if tag.tag_type == TAG_VIDEO
            and tag.data[:1] == b"\x17"
            and not is_sequence_header(TAG_VIDEO, tag.data)
        )


async def wait_until(what: str, condition: Callable[[], bool], timeout: float) -> float:
    """Poll ``condition``; return the seconds it took."""
    started = trio.current_time()
    with trio.move_on_after(timeout):
        while not condition():  # noqa: ASYNC110
            await trio.sleep(0.05)
        return trio.current_time() - started
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def messages(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


async def run_tool(*argv: str, env: dict[str, str] | None = None) -> str:
    with trio.fail_after(20):
        done = await trio.run_process(list(argv), capture_stdout=True, env=env)
    return done.stdout.decode()


async def ffprobe_codecs(url: str) -> list[str]:
    out = await run_tool(
        "ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", url
    )
    return sorted(stream["codec_name"] for stream in json.loads(out)["streams"])


async def make_sample(path: Path) -> None:
    """A short 640x360 30 fps clip with a 440 Hz tone, looped by OBS's Media Source."""
    await run_tool(
        "ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-t", str(SAMPLE_SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip


def rtmp_closed(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("synctv_rtmp_connections_closed_total", {"reason": reason}) or 0.0
    )


@pytest.fixture
async def xvfb() -> AsyncIterator[Xvfb]:
    obs_or_skip()
    display = await trio.to_thread.run_sync(Xvfb)
    try:
        yield display
    finally:
        await trio.to_thread.run_sync(display.close)


async def test_obs_publishes_restarts_within_the_grace_and_is_refused_a_wrong_key(
    fresh_dsn: str, tmp_path: Path, xvfb: Xvfb, caplog: pytest.LogCaptureFixture
) -> None:
    obs = obs_or_skip()
    caplog.set_level(logging.INFO, "synctv")
    started = time.monotonic()
    sample = tmp_path / "sample.mp4"
    config = server_config(
        tmp_path / "data",
        fresh_dsn,
        livestream={"publisher_reconnect_grace_seconds": GRACE_SECONDS},
    )
    with trio.fail_after(GUARD):
        async with trio.open_nursery() as nursery, running_server(config) as server:
            await make_sample(sample)
            rtmp_port = server.addresses.rtmp[0][1]
            http = server.addresses.http[0].replace("0.0.0.0", "127.0.0.1")
            stream_id, key = await create_live_stream(config.data_dir)
            ingest = f"rtmp://127.0.0.1:{rtmp_port}/live"

            websocket = free_port()

            def home(name: str, **settings: Any) -> Path:
                path = tmp_path / name
                settings.setdefault("websocket_port", websocket)
                write_obs_home(
                    path, ObsProfile(ingest, settings.pop("key", key), sample, **settings)
                )
                return path

            # 1. Simple-mode defaults.
            log_a = tmp_path / "obs-a.log"
            async with running_obs(obs, home("obs-a"), xvfb.display, log_a, websocket):
                took = await wait_until(
                    "the publish", lambda: bool(messages(caplog, f"publishing {stream_id}")), 20
                )
                print(f"OBS published {took:.1f}s after start", file=sys.stderr)
                [publish] = messages(caplog, f"publishing {stream_id}")
                assert "flashVer 'FMLE/3.0 (compatible; FMSc/1.0)'" in publish.getMessage()
                await wait_until(
                    "the announcement", lambda: bool(messages(caplog, "announced:")), 5
                )
                announced = messages(caplog, "announced:")[0].getMessage()
                assert "encoder='obs-output module (libobs version 29." in announced
                assert "640x360 30fps" in announced

                env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
                env["SYNCTV_DATA_DIR"] = str(config.data_dir)
                listed = json.loads(
                    await run_tool(
                        sys.executable, "-m", "synctv", "admin", "live", "list", "--json", env=env
                    )
                )
                [entry] = [e for e in listed if e["stream_id"] == stream_id]
                assert entry["live"]
                assert entry["viewers"] == 0  # the HLS segmenter runs, but it is no one

                viewer = Viewer(f"{http}/live/{stream_id}.flv")
                nursery.start_soon(viewer.run)
                assert await ffprobe_codecs(viewer.url) == ["aac", "h264"]
                await wait_until(
                    "the key-frame warning",
                    lambda: bool(messages(caplog, "sends a key frame every")),
                    15,
                )
                warning = messages(caplog, "sends a key frame every")[0]
                assert warning.levelno == logging.WARNING
                # x264's default keyint is 250 frames: 8.3 s at 30 fps (less when OBS drops
                # frames, as under software GL on a busy machine)
                every = re.search(r"sends a key frame every ([0-9.]+)s", warning.getMessage())
                assert every is not None
                assert float(every[1]) > 4 * config.livestream.hls_segment_seconds / 2
                assert "keyint=60" in warning.getMessage()
                playlist = f"{http}/live/{stream_id}/index.m3u8"
                assert await ffprobe_codecs(playlist) == ["aac", "h264"]

            # 2. A clean stop.
            await wait_until("the end", lambda: bool(messages(caplog, "ended: unpublished")), 5)
            before_restart = len(viewer.tags)

            # 3. Restart within the grace, keyint=60.
            async with running_obs(
                obs,
                home("obs-b", x264_settings="keyint=60"),
                xvfb.display,
                tmp_path / "obs-b.log",
                websocket,
            ):
                await wait_until(
                    "the second publish",
                    lambda: len(messages(caplog, f"publishing {stream_id}")) == 2,
                    20,
                )
                back = messages(caplog, f"publishing {stream_id}")[1].created
                gone = messages(caplog, "ended: unpublished")[0].created
                print(f"OBS back {back - gone:.1f}s after its clean stop", file=sys.stderr)
                assert back - gone < GRACE_SECONDS
                await wait_until(
                    "3 key frames", lambda: viewer.video_keyframes(before_restart) >= 3, 15
                )
            await wait_until("the end", lambda: len(messages(caplog, "ended: unpublished")) == 2, 5)
            assert len(messages(caplog, "sends a key frame every")) == 1  # not for keyint=60
            assert (
                "keyframe_interval=2.00s" in messages(caplog, "ended: unpublished")[1].getMessage()
            )
            assert viewer.error is None
            assert not viewer.done  # one stream throughout: the viewer is still watching
            assert rtmp_closed("handshake_timeout") == 0
            assert not messages(caplog, "handshake_timeout")

            # 4. A wrong key: OBS shows "Could not access the specified channel or stream key".
            log_c = tmp_path / "obs-c.log"
            async with running_obs(obs, home("obs-c", key="not-the-key"), xvfb.display, log_c):
                await wait_until("the refusal", lambda: rtmp_closed("bad_name") == 1, 20)
                await wait_until(
                    "OBS's report", lambda: "Connection to rtmp" in log_c.read_text(), 5
                )
            obs_log = log_c.read_text()
            assert "NetStream.Publish.BadName (Invalid stream key for this app.)" in obs_log
            assert len(messages(caplog, f"publishing {stream_id}")) == 2
            nursery.cancel_scope.cancel()

    check_splice(viewer.tags, before_restart, tmp_path)
    await check_with_ffmpeg(viewer, tmp_path)
    elapsed = time.monotonic() - started
    print(f"OBS e2e took {elapsed:.1f}s", file=sys.stderr)
    assert elapsed < GUARD


def check_splice(tags: list[FlvTag], before_restart: int, tmp_path: Path) -> None:
    """One timeline across the restart: metadata once (the join snapshot's), every media
    timestamp of the new session after every one of the old session, and no track going
    backwards or standing still at the splice."""
    (tmp_path / "viewer-tags.txt").write_text(
        "\n".join(f"{t.tag_type} {t.timestamp} {t.data[:2].hex()}" for t in tags)
    )
    assert tags[0].tag_type == TAG_SCRIPT
    assert tags[0].timestamp == 0
    assert [t for t in tags[1:] if t.tag_type == TAG_SCRIPT] == []
    headers = [
        i
        for i, t in enumerate(tags)
        if t.tag_type == TAG_VIDEO and is_sequence_header(TAG_VIDEO, t.data)
    ]
    assert len(headers) == 2, headers  # the join's and the new session's
    splice = min(
        i
        for i, t in enumerate(tags)
        if i >= before_restart and is_sequence_header(t.tag_type, t.data)
    )
    old = [t for t in tags[:splice] if t.tag_type in (TAG_AUDIO, TAG_VIDEO)]
    new = [t for t in tags[splice:] if t.tag_type in (TAG_AUDIO, TAG_VIDEO)]
    assert min(t.timestamp for t in new) > max(t.timestamp for t in old)
    for track in (TAG_AUDIO, TAG_VIDEO):
        times = [
            t.timestamp
            for t in tags
            if t.tag_type == track and not is_sequence_header(track, t.data)
        ]
        assert all(a < b for a, b in itertools.pairwise(times)), (
            f"track {track} not strictly rising"
        )


async def check_with_ffmpeg(viewer: Viewer, tmp_path: Path) -> None:
    """FFmpeg reads the capture as two streams with rising timestamps."""
    capture = tmp_path / "viewer.flv"
    capture.write_bytes(bytes(viewer.raw))
    out = await run_tool(
        "ffprobe",
        "-v",
        "error",
        "-show_entries",
        "stream=index,codec_type",
        "-of",
        "json",
        str(capture),
    )
    assert sorted(s["codec_type"] for s in json.loads(out)["streams"]) == ["audio", "video"]
    with trio.fail_after(30):
        done = await trio.run_process(
            ["ffmpeg", "-nostdin", "-v", "warning", "-i", str(capture), "-f", "null", "-"],
            capture_stderr=True,
        )
    warnings = done.stderr.decode()
    assert "out of order" not in warnings
    assert "non monotonically increasing" not in warnings.lower()
