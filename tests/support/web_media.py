"""What the browser client's tests share (tests/e2e/test_web_*_browser.py): the test media made by
FFmpeg, a second local origin serving it with byte ranges (what a <video> asks for to seek) and
CORS, and the check that Chromium, FFmpeg and playwright are here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"


def require_tools() -> None:
    missing = [tool for tool in (CHROMIUM, "ffmpeg") if shutil.which(tool) is None]
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("python playwright")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} required in CI")
        pytest.skip(f"{', '.join(missing)} not installed")


def make_media(directory: Path) -> None:
    """pattern.mp4: 20 s of test picture and tone, H.264/AAC, moov first (plays while it
    downloads); the same streams as HLS (pattern.m3u8, 2 s segments) and as pattern.flv."""
    mp4 = directory / "pattern.mp4"
    subprocess.run(
        [
            "ffmpeg", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
            "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-g", "25", "-c:a", "aac", "-movflags", "+faststart", str(mp4),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    for extra in (
        ["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "vod", "pattern.m3u8"],
        ["-f", "flv", "pattern.flv"],
    ):
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(mp4), "-c", "copy", *extra],
            check=True, timeout=60, cwd=directory,
        )  # fmt: skip


class RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single byte ranges (what a <video> asks for to seek)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        # hls.js and mpegts.js fetch: a cross-origin read needs CORS (a <video> src does not).
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def send_head(self) -> Any:
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if found is None or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        start = int(found.group(1))
        end = min(int(found.group(2) or size - 1), size - 1)
        handle = path.open("rb")
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        return _Limited(handle, end - start + 1)


class _Limited:
    """A file object that ends after ``left`` bytes (copyfile reads it to the end)."""

    def __init__(self, handle: Any, left: int) -> None:
        self.handle, self.left = handle, left

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data: bytes = self.handle.read(size)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a player that stops reading mid-file is no error here


@contextmanager
def media_origin(directory: Path) -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), partial(RangeHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
