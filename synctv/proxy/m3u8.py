"""Rewrite HLS playlists (RFC 8216) so every URI they reference goes through the proxy.

Pure. A playlist is lines: tags (``#EXT…``), comments (``#…``), blank lines and URI lines. URI
lines (segments, variant streams) and the quoted ``URI="…"`` attribute of any tag (EXT-X-KEY,
EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF, EXT-X-PART, EXT-X-PRELOAD-HINT,
EXT-X-RENDITION-REPORT, EXT-X-SESSION-KEY, EXT-X-SESSION-DATA) are resolved against the
playlist's own URL (RFC 8216 §4.1: relative URIs are relative to the playlist) and replaced by
what ``rewrite`` returns for the absolute URL. URIs that do not resolve to http(s) (``data:``,
``skd://`` key systems) are left as they are. Everything else is kept byte for byte, including
line endings, so a player sees the same playlist with other addresses.

Errors: :class:`PlaylistError` when the body is not a playlist (no ``#EXTM3U`` header), is too
large, or is not UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

from synctv.media.errors import RemoteProtocolError

# Media playlists of long live windows reach a few hundred KiB; 4 MiB bounds hostile ones.
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
PLAYLIST_CONTENT_TYPES = frozenset(
    {"application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl", "audio/x-mpegurl"}
)
_URI_ATTRIBUTE = re.compile(r'(?<![A-Z0-9-])URI="([^"\r\n]*)"')
_BOM = "\ufeff"


class PlaylistError(RemoteProtocolError):
    """The upstream body is not a playlist we can rewrite."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="upstream")


def is_playlist_content_type(value: str | None) -> bool:
    return value is not None and value.split(";", 1)[0].strip().lower() in PLAYLIST_CONTENT_TYPES


def looks_like_playlist(url: str) -> bool:
    """Whether a URL names a playlist by its extension (``.m3u8``/``.m3u``)."""
    try:
        path = urlsplit(url).path.lower()
    except ValueError:
        return False
    return path.endswith((".m3u8", ".m3u"))


def decode_playlist(body: bytes) -> str:
    if len(body) > MAX_PLAYLIST_BYTES:
        raise PlaylistError(f"playlist larger than {MAX_PLAYLIST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PlaylistError("playlist is not UTF-8") from None
    if not text.removeprefix(_BOM).startswith("#EXTM3U"):
        raise PlaylistError("not a playlist (no #EXTM3U)")
    return text


def rewrite_playlist(text: str, base_url: str, rewrite: Callable[[str], str]) -> str:
    """``text`` with every http(s) URI replaced by ``rewrite(absolute_uri)``."""

    def replace(uri: str) -> str:
        stripped = uri.strip()
        try:
            absolute = urljoin(base_url, stripped)
            scheme = urlsplit(absolute).scheme
        except ValueError:
            return uri
        if scheme not in ("http", "https"):
            return uri
        return rewrite(absolute)

    out: list[str] = []
    for line in text.split("\n"):  # RFC 8216 §4.1: lines end with LF or CR LF
        body = line.removesuffix("\r")
        ending = line[len(body) :]
        if body.startswith("#EXT"):
            body = _URI_ATTRIBUTE.sub(lambda m: f'URI="{replace(m.group(1))}"', body)
        elif body.strip() and not body.startswith(("#", _BOM + "#")):
            body = replace(body)
        out.append(body + ending)
    return "\n".join(out)
