"""Playlist rewriting: case tables, a proxy round trip, and hypothesis over arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.proxy.m3u8 import PlaylistError, decode_playlist, looks_like_playlist, rewrite_playlist
from tests.proxy.conftest import Harness, HarnessFactory
from tests.proxy.upstream_server import Obj

BASE = "https://cdn.example/live/index.m3u8"

MEDIA = (
    "#EXTM3U\r\n"
    "#EXT-X-VERSION:7\r\n"
    '#EXT-X-KEY:METHOD=AES-128,URI="keys/k1.bin",IV=0x1\r\n'
    '#EXT-X-MAP:URI="init.mp4"\r\n'
    "#EXTINF:2.0,\r\n"
    "seg1.m4s\r\n"
    '# a comment with URI="x"\r\n'
    "#EXTINF:2.0,\r\n"
    "https://other.example/seg2.m4s?x=1\r\n"
    '#EXT-X-KEY:METHOD=SAMPLE-AES,KEYFORMAT="com.apple.streamingkeydelivery",URI="skd://k"\r\n'
    "\r\n"
)
MASTER = (
    "#EXTM3U\n"
    '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/en.m3u8"\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=1000,AUDIO="a"\n'
    "v1/index.m3u8\n"
    '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="/iframes.m3u8"\n'
)


def mark(url: str) -> str:
    return f"P[{url}]"


def test_media_playlist() -> None:
    out = rewrite_playlist(MEDIA, BASE, mark)
    assert out == (
        "#EXTM3U\r\n"
        "#EXT-X-VERSION:7\r\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="P[https://cdn.example/live/keys/k1.bin]",IV=0x1\r\n'
        '#EXT-X-MAP:URI="P[https://cdn.example/live/init.mp4]"\r\n'
        "#EXTINF:2.0,\r\n"
        "P[https://cdn.example/live/seg1.m4s]\r\n"
        '# a comment with URI="x"\r\n'
        "#EXTINF:2.0,\r\n"
        "P[https://other.example/seg2.m4s?x=1]\r\n"
        '#EXT-X-KEY:METHOD=SAMPLE-AES,KEYFORMAT="com.apple.streamingkeydelivery",URI="skd://k"\r\n'
        "\r\n"
    )


def test_master_playlist() -> None:
    out = rewrite_playlist(MASTER, BASE, mark).splitlines()
    assert 'URI="P[https://cdn.example/live/audio/en.m3u8]"' in out[1]
    assert out[3] == "P[https://cdn.example/live/v1/index.m3u8]"
    assert 'URI="P[https://cdn.example/iframes.m3u8]"' in out[4]


@pytest.mark.parametrize(
    "body", [b"", b"<html>", b"\xff\xfe#EXTM3U", b"#EXTM3U" + b"x" * (4 << 20)]
)
def test_not_a_playlist(body: bytes) -> None:
    with pytest.raises(PlaylistError):
        decode_playlist(body)


def test_looks_like_playlist() -> None:
    assert looks_like_playlist("http://a/b/INDEX.M3U8?x=1")
    assert not looks_like_playlist("http://a/b/video.mp4")


@given(st.text(max_size=400))
def test_arbitrary_text_keeps_its_line_structure(text: str) -> None:
    out = rewrite_playlist(text, BASE, lambda url: "u")
    assert out.count("\n") == text.count("\n")
    for before, after in zip(text.split("\n"), out.split("\n"), strict=True):
        if before.startswith("#") and "URI=" not in before:
            assert before == after


@given(st.lists(st.from_regex(r"[a-z0-9]{1,8}\.ts", fullmatch=True), max_size=20))
def test_every_segment_is_rewritten_once(names: list[str]) -> None:
    text = "#EXTM3U\n" + "".join(f"#EXTINF:1,\n{n}\n" for n in names)
    seen: list[str] = []

    def record(url: str) -> str:
        seen.append(url)
        return "x"

    rewrite_playlist(text, BASE, record)
    assert seen == [f"https://cdn.example/live/{n}" for n in names]


async def test_playlist_through_the_proxy(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness()
    origin = harness.origin
    origin.objects["/hls/index.m3u8"] = Obj(
        b"#EXTM3U\n#EXTINF:2,\nseg0.ts\n#EXTINF:2,\nseg1.ts\n",
        content_type="application/vnd.apple.mpegurl",
    )
    origin.objects["/hls/seg0.ts"] = Obj(b"\x47" * 188 * 10, content_type="video/mp2t")
    origin.objects["/hls/seg1.ts"] = Obj(b"\x47" * 188 * 5, content_type="video/mp2t")
    reply = await harness.get(harness.path("/hls/index.m3u8"))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/vnd.apple.mpegurl"
    lines = reply.body.decode().splitlines()
    segments = [line for line in lines if line and not line.startswith("#")]
    assert len(segments) == 2
    for segment, size in zip(segments, (1880, 940), strict=True):
        assert segment.startswith("v2.")  # a bare token: relative to /proxy/<token>
        got = await harness.get(f"/proxy/{segment}")
        assert (got.status, len(got.body)) == (200, size)
    # Playlists are fetched fresh every time (live playlists change every segment).
    await harness.get(harness.path("/hls/index.m3u8"))
    assert len([s for s in origin.seen if s.path == "/hls/index.m3u8"]) == 2
