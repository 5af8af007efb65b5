"""A room's media, resolved: for one viewer (playback info) and for the proxy (its grants).

Theory of operation: a playlist item's source (``core.media``) is resolved when it is needed,
never stored resolved. :meth:`RoomMediaLinks.playback` turns the current item into a
:class:`~synctv.core.delivery.PlaybackInfo`: a URL source as stored (its headers, subtitles,
expiry), a provider source through the provider service (a fresh link each time, with the
provider's expiry), then the routes :func:`synctv.core.delivery.routes` allows for the item's
proxy mode. A proxy route is ``/proxy/<token>`` for the grant ``(room:<room id>, <media id>)``
(plus ``subtitle:<n>`` for a subtitle); the proxy resolves that grant through
:meth:`RoomMediaLinks.resolve_for_proxy` on every (uncached) request, so a proxied viewer never
sees an expired upstream link. A direct route's URL expires with its source, so the info carries
``refreshAt``: the client refetches the info then and swaps the URL at its current position
(docs/realtime.md, "Playback source expiry").

Grants that are not a room's (``instance`` without the ``room:`` prefix) are the provider
service's, as before (the admin ``resolve`` links). Live sources (kind ``live``) get no links
here yet: the room live-stream work adds them as one more branch of :meth:`_resolve`.

Wiring: the rooms feature is built before the media proxy; it holds this object from
``Services.room_media`` and asks it at request time. Until the media proxy feature has called
:meth:`attach`, :meth:`playback` answers ``None`` (no proxy, no providers: nothing to play).

Error handling: a provider failure is its :class:`~synctv.errors.DomainError`; an item that is
gone is ``media_not_found`` for the proxy; ``direct_only`` on a source that needs credentials
is ``direct_playback_refused``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import trio

from synctv import errors
from synctv.core import delivery
from synctv.core.media import LiveSource, ProviderSource, UrlSource, parse_source
from synctv.errors import DomainError
from synctv.media import duration as durations
from synctv.media.errors import ProtocolError
from synctv.providers.base import (
    PlaybackSource,
    ResolvedSource,
    Subtitle,
    carries_credentials,
    sub_resource_id,
)
from synctv.proxy.m3u8 import MAX_PLAYLIST_BYTES
from synctv.store.playlists import MediaRow

log = logging.getLogger("synctv.proxy")

ROOM_GRANT_PREFIX = "room:"
# A duration probe reads this much of the file first (an MP4 with its moov up front, an FLV's
# metadata, a playlist), then follows what the parser asks for, at most PROBE_STEPS times.
PROBE_BYTES: Final = 256 * 1024
PROBE_STEPS: Final = 4
ProxyServe = Callable[
    [str, str, Mapping[str, str], Callable[[MutableMapping[str, Any]], Awaitable[None]]],
    Awaitable[None],
]
"""``MediaProxy.serve``: the proxy answering one request in-process."""
IssueToken = Callable[[str, str, str | None], str]
"""``(instance, media_ref, selector) -> token`` (``MediaProxy.issue_token``)."""


class ProviderSources(Protocol):
    """The provider service, as far as room media need it."""

    async def resolve(self, ref: str, media_ref: str) -> PlaybackSource: ...

    async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource: ...

    def subscribe(self, listener: Callable[[str], Awaitable[None]]) -> None: ...


class MediaRows(Protocol):
    async def media(self, room_id: str, media_id: str) -> MediaRow | None: ...


@dataclass(frozen=True, slots=True)
class _Attached:
    rows: MediaRows
    providers: ProviderSources
    issue_token: IssueToken
    token_ttl: float
    serve: ProxyServe | None


def _url_source(source: UrlSource) -> PlaybackSource:
    return PlaybackSource(
        source.url,
        tuple((name.lower(), value) for name, value in source.headers.items()),
        "proxy",
        source.expires_at,
        subtitles=tuple(
            Subtitle(s.name, s.url, format=s.format, id=str(n))
            for n, s in enumerate(source.subtitles)
        ),
    )


def _needs(source: PlaybackSource, from_provider: bool) -> delivery.SourceNeeds:
    return delivery.SourceNeeds(
        credentials=carries_credentials(source),
        forbidden_headers=any(delivery.is_forbidden_header(n) for n, _ in source.headers),
        # A provider plays by proxy when its instance says so, or when client_safe() found a
        # secret a client would see: either way, not directly.
        provider_proxies=from_provider and source.mode == "proxy",
    )


class RoomMediaLinks:
    """See the module docstring."""

    def __init__(self) -> None:
        self._attached: _Attached | None = None
        self._listeners: list[Callable[[str], Awaitable[None]]] = []

    def attach(
        self,
        rows: MediaRows,
        providers: ProviderSources,
        issue_token: IssueToken,
        token_ttl: float,
        serve: ProxyServe | None = None,
    ) -> None:
        """Called once by the media proxy feature, with its provider service and proxy."""
        self._attached = _Attached(rows, providers, issue_token, token_ttl, serve)
        for listener in self._listeners:
            providers.subscribe(listener)

    # -- the proxy's SourceResolver -------------------------------------------------------

    async def resolve_for_proxy(self, instance_id: str, media_ref: str) -> ResolvedSource:
        attached = self._require()
        if not instance_id.startswith(ROOM_GRANT_PREFIX):
            return await attached.providers.resolve_for_proxy(instance_id, media_ref)
        row = await attached.rows.media(instance_id[len(ROOM_GRANT_PREFIX) :], media_ref)
        if row is None:
            raise DomainError(errors.MEDIA_NOT_FOUND, "the media is no longer in the room")
        source = parse_source(row.source)
        if isinstance(source, UrlSource):
            return ResolvedSource(_url_source(source))
        if isinstance(source, ProviderSource):
            return await attached.providers.resolve_for_proxy(source.instance, source.path)
        raise DomainError(errors.MEDIA_NOT_FOUND, "a live stream is not played through /proxy")

    def subscribe(self, listener: Callable[[str], Awaitable[None]]) -> None:
        if self._attached is not None:
            self._attached.providers.subscribe(listener)
        else:
            self._listeners.append(listener)

    # -- playback info ----------------------------------------------------------------------

    async def playback(self, item: MediaRow, now: float) -> delivery.PlaybackInfo | None:
        """The item resolved for one viewer at ``now`` (``None``: nothing to play yet)."""
        attached = self._attached
        if attached is None:
            return None
        resolved = await self._resolve(attached, item)
        if resolved is None:
            return None
        source, from_provider = resolved
        vias = delivery.routes(item.proxy_mode, _needs(source, from_provider))
        grant = ROOM_GRANT_PREFIX + item.room_id
        proxy_expiry = now + attached.token_ttl

        def proxied(selector: str | None) -> str:
            return "/proxy/" + attached.issue_token(grant, item.id, selector)

        links = tuple(
            delivery.Link("direct", source.url, source.expires_at)
            if via == "direct"
            else delivery.Link("proxy", proxied(None), proxy_expiry)
            for via in vias
        )
        direct = vias[0] == "direct"
        headers, removed = delivery.browser_headers(source.headers) if direct else ({}, [])
        subtitles = tuple(
            delivery.SubtitleLink(
                s.name,
                s.url if direct else proxied(f"subtitle:{sub_resource_id(s, n)}"),
                s.format,
            )
            for n, s in enumerate(source.subtitles)
        )
        expiries = [x.expires_at for x in links if x.expires_at is not None]
        return delivery.PlaybackInfo(
            media_id=item.id,
            kind=item.kind,
            links=links,
            headers=headers,
            removed_headers=tuple(removed),
            subtitles=subtitles,
            duration=item.duration if item.duration is not None else source.duration,
            expires_at=links[0].expires_at,
            # Before the first of the links expires: a client may be on its fallback.
            refresh_at=delivery.refresh_at(min(expiries, default=None), now),
        )

    async def _resolve(
        self, attached: _Attached, item: MediaRow
    ) -> tuple[PlaybackSource, bool] | None:
        source = parse_source(item.source)
        if isinstance(source, UrlSource):
            return _url_source(source), False
        if isinstance(source, ProviderSource):
            return await attached.providers.resolve(source.instance, source.path), True
        assert isinstance(source, LiveSource)
        return None  # room live streams: their viewer URLs come with the live-stream work

    # -- duration probe ---------------------------------------------------------------------

    async def probe_duration(self, item: MediaRow) -> float | None:
        """The item's duration from its provider's metadata, else read from its first bytes
        through the proxy (in-process); ``None`` when it cannot be told (live, unknown format,
        an upstream failure: logged)."""
        attached = self._attached
        if attached is None or attached.serve is None or item.kind == "live":
            return None
        token = attached.issue_token(ROOM_GRANT_PREFIX + item.room_id, item.id, None)
        try:
            source = parse_source(item.source)
            if isinstance(source, ProviderSource):  # the provider's metadata first
                told = await attached.providers.resolve(source.instance, source.path)
                if told.duration is not None:
                    return told.duration
            return await _probe(attached.serve, token)
        except (DomainError, ProtocolError) as exc:
            log.info("no duration for media %s: %s", item.id, exc)
            return None

    def _require(self) -> _Attached:
        if self._attached is None:
            raise DomainError(errors.MEDIA_NOT_FOUND, "the media proxy is not running")
        return self._attached


async def _fetch(serve: ProxyServe, token: str, first: int, length: int) -> tuple[int, bytes]:
    """(status, up to ``length`` body bytes from offset ``first``) through the proxy.

    Once it has the bytes, the response is abandoned by cancelling it, as a client hanging up
    would; an exception raised from ``send`` instead would surface wrapped in the proxy's
    nursery's ExceptionGroup."""
    status = 0
    body = bytearray()

    with trio.CancelScope() as enough:

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if len(body) >= length:
                    enough.cancel()

        await serve(token, "GET", {"range": f"bytes={first}-{first + length - 1}"}, send)
    return status, bytes(body[:length])


async def _probe(serve: ProxyServe, token: str) -> float | None:
    status, data = await _fetch(serve, token, 0, PROBE_BYTES)
    answer = durations.probe(data) if status in (200, 206) else None
    for _ in range(PROBE_STEPS):
        if isinstance(answer, durations.ReadAt):
            status, data = await _fetch(serve, token, answer.offset, answer.length)
            if status not in (200, 206):
                return None
            answer = durations.mp4_duration(data, answer.offset)
        elif isinstance(answer, durations.Variant):
            # The proxy rewrote every URI of the playlist into a token of its own.
            token = answer.uri.rsplit("/", 1)[-1].split("?", 1)[0]
            status, data = await _fetch(serve, token, 0, MAX_PLAYLIST_BYTES)
            answer = durations.hls_duration(data) if status in (200, 206) else None
        else:
            break
    return answer if isinstance(answer, float) else None
