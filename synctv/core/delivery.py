"""How one viewer gets the current media: directly from its origin or through ``/proxy/…``.

Pure rules, no I/O (the resolution itself is ``synctv.proxy.room_media``):

* :func:`routes` turns a media's proxy mode (SyncTV's five) and what its resolved source needs
  into the ordered ways a client may fetch it. A source that needs credentials (credential
  headers, an account key in its URL: ``providers.base.carries_credentials``) is never handed
  out directly, whatever the mode; ``direct_only`` is then refused
  (``direct_playback_refused``). The modes:

  ========================  ==========================================================
  ``auto``                  proxy when the source needs it (credentials, headers a
                            browser may not send, a provider that plays by proxy),
                            else direct; one route
  ``prefer``                proxy first, direct as the fallback when it is safe
  ``only``                  proxy only
  ``direct_prefer``         direct first (when safe), proxy as the fallback
  ``direct_only``           direct only; refused when direct is not safe
  ========================  ==========================================================

* :func:`browser_headers` splits a source's headers into those a page may set on a media
  request and those it may not (the Fetch standard's forbidden request headers, plus
  ``User-Agent``, which Chromium still refuses): the latter are removed from direct mode.
* :func:`refresh_at` is when a client refetches the playback info: a margin before its
  expiry (a quarter of the remaining life, at least 1 s, at most 60 s), so a resolved URL is
  replaced before it stops working (docs/realtime.md, "Playback source expiry").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

from synctv import errors
from synctv.errors import DomainError
from synctv.store.playlists import MediaRow

Via = Literal["direct", "proxy"]
ProxyMode = Literal["auto", "prefer", "only", "direct_prefer", "direct_only"]

# Fetch standard §2.2.2 "forbidden request-header" names (and the Proxy-/Sec- prefixes), plus
# User-Agent: still refused by Chromium. A page cannot send these, so a direct URL that relies
# on them needs the proxy.
FORBIDDEN_REQUEST_HEADERS: Final = frozenset(
    {
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "via",
    }
)
_FORBIDDEN_PREFIXES: Final = ("proxy-", "sec-")
# Refresh margins: a quarter of the remaining life, within these bounds (seconds).
MIN_REFRESH_MARGIN: Final = 1.0
MAX_REFRESH_MARGIN: Final = 60.0


@dataclass(frozen=True, slots=True)
class SourceNeeds:
    """What a resolved source needs from its client."""

    credentials: bool  # a client fetching it would learn a secret
    forbidden_headers: bool  # it relies on headers a browser may not send
    provider_proxies: bool  # its provider asks to be played by proxy


def is_forbidden_header(name: str) -> bool:
    lower = name.lower()
    return lower in FORBIDDEN_REQUEST_HEADERS or lower.startswith(_FORBIDDEN_PREFIXES)


def browser_headers(
    headers: Iterable[tuple[str, str]],
) -> tuple[dict[str, str], list[str]]:
    """(headers a page may set, names of those it may not), names lower-cased."""
    kept: dict[str, str] = {}
    dropped: list[str] = []
    for name, value in headers:
        if is_forbidden_header(name):
            dropped.append(name.lower())
        else:
            kept[name.lower()] = value
    return kept, dropped


def routes(mode: str, needs: SourceNeeds) -> tuple[Via, ...]:
    """The ways a client may fetch the media, preferred first (see the module docstring)."""
    # A provider that plays by proxy may need it for a reason we cannot see (its instance's
    # choice, or a secret client_safe() found): never direct either.
    direct_safe = not needs.credentials and not needs.provider_proxies
    if mode == "auto":
        wants_proxy = needs.credentials or needs.forbidden_headers or needs.provider_proxies
        return ("proxy",) if wants_proxy else ("direct",)
    if mode == "prefer":
        return ("proxy", "direct") if direct_safe else ("proxy",)
    if mode == "only":
        return ("proxy",)
    if mode == "direct_prefer":
        return ("direct", "proxy") if direct_safe else ("proxy",)
    if mode == "direct_only":
        if not direct_safe:
            raise DomainError(
                errors.DIRECT_PLAYBACK_REFUSED,
                "this media needs credentials, so it plays only through the proxy; "
                "change its proxy mode",
            )
        return ("direct",)
    raise DomainError(errors.INVALID_PARAMETER, f"unknown proxy mode {mode!r}")


def refresh_at(expires_at: float | None, now: float) -> float | None:
    """When to refetch the playback info for a URL that stops working at ``expires_at``."""
    if expires_at is None:
        return None
    life = max(0.0, expires_at - now)
    margin = min(MAX_REFRESH_MARGIN, max(MIN_REFRESH_MARGIN, life / 4))
    return max(now, expires_at - margin)


@dataclass(frozen=True, slots=True)
class Link:
    """One way to fetch the media: ``url`` is absolute (direct) or ``/proxy/…`` (proxy)."""

    via: Via
    url: str
    expires_at: float | None  # when the URL stops working (None: not known to)


@dataclass(frozen=True, slots=True)
class SubtitleLink:
    name: str
    url: str
    format: str | None


@dataclass(frozen=True, slots=True)
class PlaybackInfo:
    """The current media, resolved for one viewer (``links[0]`` is the one to play)."""

    media_id: str
    kind: Literal["regular", "live"]
    links: tuple[Link, ...]
    headers: dict[str, str]  # to send on direct requests (only those a page may set)
    removed_headers: tuple[str, ...]  # the source's headers a page may not send (direct mode)
    subtitles: tuple[SubtitleLink, ...]
    duration: float | None
    expires_at: float | None  # of links[0]
    refresh_at: float | None  # refetch the info then: before any of the links expires


def info_json(info: PlaybackInfo) -> dict[str, object]:
    """The API's ``playback`` object."""
    first = info.links[0]
    return {
        "mediaId": info.media_id,
        "kind": info.kind,
        "via": first.via,
        "url": first.url,
        "urls": [{"via": x.via, "url": x.url, "expiresAt": x.expires_at} for x in info.links],
        "headers": info.headers,
        "removedHeaders": list(info.removed_headers),
        "subtitles": [{"name": s.name, "url": s.url, "format": s.format} for s in info.subtitles],
        "duration": info.duration,
        "expiresAt": info.expires_at,
        "refreshAt": info.refresh_at,
    }


class PlaybackResolver(Protocol):
    """Resolves a playlist item for one viewer (``synctv.proxy.room_media.RoomMediaLinks``)."""

    async def playback(self, item: MediaRow, now: float) -> PlaybackInfo | None: ...
