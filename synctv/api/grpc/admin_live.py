"""``LiveAdmin`` servicer: live stream management over the management socket.

The server, not the CLI, computes the URLs an operator needs (OBS "Server", HTTP-FLV, HLS, RTMP
play), because only the server knows its configuration and the ports it actually bound.

Host names in those URLs (:class:`LiveUrls`):

* ``server.public_url`` is the base of the HTTP URLs, verbatim (scheme, host, port, path prefix);
* ``livestream.rtmp_public_host`` is the RTMP host, else the public URL's host;
* otherwise the listener's bind address when it is a specific address (the only one that works),
  and for a wildcard bind (``0.0.0.0``/``::``) the machine's host name, which is the name most
  likely to resolve for other machines on the LAN; ``127.0.0.1`` when there is no usable host
  name. Behind NAT or a reverse proxy, set the two options.

Live status and kicking come from this node's stream hub, injected as two callables so this
module does not depend on the hub's types (see :class:`LiveStatus`).

The caller is the management socket, so every change is audited as ``cli``; a kick changes
nothing stored, so its row is written on its own, after the kick.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from synctv import errors
from synctv.api.grpc._gen.synctv.admin.v1 import live_grpc, live_pb2
from synctv.api.grpc.bridge import unary
from synctv.config import Config
from synctv.errors import DomainError
from synctv.livestream.registry import (
    InvalidLiveStream,
    LiveStreamNotFound,
    LiveStreamRecord,
    LiveStreamRegistry,
)
from synctv.store.audit import CLI_ACTOR

_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})


class LiveStatus(Protocol):
    """What the servicer needs from the hub's per-stream statistics."""

    @property
    def live(self) -> bool: ...

    @property
    def bitrate_bps(self) -> float: ...

    @property
    def viewers(self) -> int: ...


@dataclass(frozen=True, slots=True)
class LiveStatusSnapshot:
    """A plain :class:`LiveStatus`, for adapters over the hub's statistics (and tests)."""

    live: bool
    bitrate_bps: float
    viewers: int


LiveStatusSource = Callable[[str], LiveStatus | None]
Kicker = Callable[[str], bool]


def advertised_host(bind_host: str) -> str:
    """The host to print for a listener bound to ``bind_host`` (see the module docstring)."""
    if bind_host in _WILDCARDS:
        name = socket.gethostname()
        return name if name and name != "localhost" else "127.0.0.1"
    return _bracket(bind_host)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _bound_port(binds: Sequence[str]) -> int | None:
    for bind in binds:
        try:
            port = urlsplit(bind).port
        except ValueError:
            continue
        if port:
            return port
    return None


class LiveUrls:
    """Builds the publish and playback URLs of a stream from the config and the bound ports."""

    def __init__(
        self,
        config: Config,
        *,
        http_binds: Callable[[], Sequence[str]] = tuple,
        rtmp_port: Callable[[], int | None] = lambda: None,
    ) -> None:
        """``http_binds``: the HTTP listener's bound URLs (``http://host:port``), once known;
        ``rtmp_port``: the RTMP listener's bound port, once known (else the configured ones)."""
        self._config = config
        self._http_binds = http_binds
        self._rtmp_port = rtmp_port
        public = config.server.public_url
        self._http_public = public.rstrip("/") if public else None
        public_host = urlsplit(public).hostname if public else None
        rtmp_public = config.livestream.rtmp_public_host or public_host
        self._rtmp_host = (
            _bracket(rtmp_public) if rtmp_public else advertised_host(config.livestream.rtmp_host)
        )
        self._http_host = advertised_host(config.server.host)

    def http_base(self) -> str:
        if self._http_public is not None:
            return self._http_public
        port = _bound_port(self._http_binds()) or self._config.server.port
        return f"http://{self._http_host}:{port}"

    def rtmp_base(self) -> str:
        port = self._rtmp_port() or self._config.livestream.rtmp_port
        return f"rtmp://{self._rtmp_host}:{port}"

    def for_stream(self, record: LiveStreamRecord) -> live_pb2.LiveStreamUrls:
        http, rtmp = self.http_base(), self.rtmp_base()
        return live_pb2.LiveStreamUrls(
            publish_server=f"{rtmp}/{record.app}",
            http_flv=f"{http}/live/{record.stream_id}.flv",
            hls=f"{http}/live/{record.stream_id}/index.m3u8",
            rtmp_play=f"{rtmp}/{record.app}/{record.stream_id}",
        )


def _message(record: LiveStreamRecord) -> live_pb2.LiveStream:
    return live_pb2.LiveStream(
        stream_id=record.stream_id,
        app=record.app,
        room_id=record.room_id or "",
        title=record.title,
        created_at_ms=record.created_at_ms,
    )


class LiveAdminService(live_grpc.LiveAdminBase):
    """``synctv admin live create|list|rotate-key|kick|delete``."""

    def __init__(
        self,
        registry: LiveStreamRegistry,
        urls: LiveUrls,
        *,
        live_status: LiveStatusSource | None = None,
        kick: Kicker | None = None,
    ) -> None:
        self._registry = registry
        self._urls = urls
        self._live_status = live_status
        self._kick = kick

    @unary
    async def Create(
        self, request: live_pb2.CreateLiveStreamRequest
    ) -> live_pb2.CreateLiveStreamResponse:
        try:
            record, key = await self._registry.create(
                room_id=request.room_id or None, title=request.title, by=CLI_ACTOR
            )
        except InvalidLiveStream as exc:
            raise DomainError(errors.INVALID_PARAMETER, str(exc)) from None
        return live_pb2.CreateLiveStreamResponse(
            stream=_message(record), stream_key=key, urls=self._urls.for_stream(record)
        )

    @unary
    async def List(
        self, request: live_pb2.ListLiveStreamsRequest
    ) -> live_pb2.ListLiveStreamsResponse:
        records = await self._registry.list()
        return live_pb2.ListLiveStreamsResponse(
            streams=[
                live_pb2.ListedLiveStream(
                    stream=_message(record),
                    status=self._status(record.stream_id),
                    urls=self._urls.for_stream(record),
                )
                for record in records
            ]
        )

    @unary
    async def RotateKey(
        self, request: live_pb2.RotateLiveStreamKeyRequest
    ) -> live_pb2.RotateLiveStreamKeyResponse:
        try:
            key = await self._registry.rotate_key(request.stream_id, by=CLI_ACTOR)
        except LiveStreamNotFound:
            raise _not_found(request.stream_id) from None
        record = await self._registry.get(request.stream_id)
        urls = self._urls.for_stream(record) if record is not None else None
        return live_pb2.RotateLiveStreamKeyResponse(stream_key=key, urls=urls)

    @unary
    async def Kick(
        self, request: live_pb2.KickLiveStreamRequest
    ) -> live_pb2.KickLiveStreamResponse:
        stream_id = request.stream_id
        if await self._registry.get(stream_id) is None:
            await self._registry.record_kick(
                stream_id, by=CLI_ACTOR, kicked=False, reason="stream_not_found"
            )
            raise _not_found(stream_id)
        kicked = self._kick_publisher(stream_id)
        await self._registry.record_kick(
            stream_id, by=CLI_ACTOR, kicked=kicked, reason="" if kicked else "not_live"
        )
        return live_pb2.KickLiveStreamResponse(kicked=kicked)

    @unary
    async def Delete(
        self, request: live_pb2.DeleteLiveStreamRequest
    ) -> live_pb2.DeleteLiveStreamResponse:
        stream_id = request.stream_id
        if not await self._registry.delete(stream_id, by=CLI_ACTOR):
            raise _not_found(stream_id)
        # The key no longer authorizes anything; a connected publisher must not outlive it.
        kicked = self._kick_publisher(stream_id)
        if kicked:
            await self._registry.record_kick(stream_id, by=CLI_ACTOR, kicked=True, reason="deleted")
        return live_pb2.DeleteLiveStreamResponse(kicked=kicked)

    def _kick_publisher(self, stream_id: str) -> bool:
        return self._kick(stream_id) if self._kick is not None else False

    def _status(self, stream_id: str) -> live_pb2.LiveStreamStatus:
        status = self._live_status(stream_id) if self._live_status is not None else None
        if status is None:
            return live_pb2.LiveStreamStatus(live=False, bitrate_bps=0, viewers=0)
        return live_pb2.LiveStreamStatus(
            live=status.live, bitrate_bps=int(status.bitrate_bps), viewers=status.viewers
        )


def _not_found(stream_id: str) -> DomainError:
    return DomainError(errors.STREAM_NOT_FOUND, f"no live stream with id {stream_id!r}")
