"""``/api/rooms/{room}/live``: a room's own live streams (the REST face of
:mod:`synctv.core.room_live`), and the playback URLs of a live item for one viewer.

Viewer URLs (HTTP-FLV, HLS, RTMP play) carry ``?token=`` when the room's streams need a viewer
token (a private room, or ``allowAnonymousLive`` off): the token is the caller's, for a few
minutes (``expiresAt``); read the room's playback (or this list) again for fresh ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Path, Response
from pydantic import Field

from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.rooms import Who
from synctv.core.playlists import PlaybackView
from synctv.core.room_live import MAX_TITLE, Diagnostics, RoomLiveService, ViewerPass
from synctv.core.rooms import Caller

RoomId = Annotated[str, Path(min_length=1, max_length=64)]
StreamId = Annotated[str, Path(min_length=1, max_length=64)]
_AUTH = (401, "`authentication_required`, `token_expired` or `token_revoked`")
_DENIED = (403, "`permission_denied` (the room permission named in details)")
_MISSING = (404, "`room_not_found`")


class UrlBases(Protocol):
    """Where this server is reached (``synctv.api.grpc.admin_live.LiveUrls``)."""

    def http_base(self) -> str: ...

    def rtmp_base(self) -> str: ...


class LiveUrlsOut(CamelModel):
    stream_id: str
    flv_url: str = Field(description="HTTP-FLV (with ?token= when the room needs one).")
    hls_url: str = Field(description="HLS playlist (its segment URIs carry the same token).")
    rtmp_url: str = Field(description="RTMP play.")
    expires_at: int | None = Field(
        description="When the token in these URLs expires (Unix seconds); None: no token."
    )
    live: bool = Field(description="Someone is publishing the stream now.")


class StreamWarningOut(CamelModel):
    code: Literal[
        "video_codec_unsupported",
        "audio_codec_unsupported",
        "keyframe_interval_long",
        "no_audio",
        "bitrate_high",
    ]
    message: str = Field(description="A plain sentence for the streamer.")


class ViewersOut(CamelModel):
    """Who watches the stream now (on the node that serves it)."""

    flv: int = Field(description="HTTP-FLV connections (browser players, VLC ...).")
    hls: int = Field(
        description="HLS players, by session: those that fetched over the last few segments."
    )
    rtmp: int = Field(description="RTMP play connections.")
    total: int = Field(description="flv + hls + rtmp.")


class DiagnosticsOut(CamelModel):
    """What the server sees of the publisher now (room members, while the stream is live)."""

    encoder: str = Field(description="As the encoder announced it (OBS, FFmpeg ...).")
    video_codec: str = Field(description="`avc`, `hevc`, `av1` ...; empty before any video.")
    video_profile: str = Field(description="`High`, `Main` ...; empty when unknown.")
    video_level: str = Field(description="`3.1` ...; empty when unknown.")
    width: int | None
    height: int | None
    frame_rate: float | None = Field(description="Announced frames per second.")
    bitrate_kbps: float | None = Field(
        description="Measured audio + video rate since the publish began (after 1 s)."
    )
    announced_kbps: float | None = Field(description="Video + audio rate the encoder announced.")
    keyframe_interval_ms: int | None = Field(
        description="The longest gap between two key frames seen; None before two arrived."
    )
    audio_codec: str = Field(description="`aac`, `mp3`, `opus` ...; empty: no audio yet.")
    warnings: list[StreamWarningOut]
    viewers: ViewersOut = Field(
        description="How many watch now: HTTP-FLV and RTMP connections, HLS players by session."
    )


class StreamOut(LiveUrlsOut):
    title: str
    created_at: str = Field(description="RFC 3339, UTC.")
    rtmp_server: str = Field(description='OBS "Server": rtmp://HOST:PORT/<room id>.')


class LiveStreamOut(StreamOut):
    diagnostics: DiagnosticsOut | None = Field(
        None, description="The publisher's codecs and warnings (members; None when not live)."
    )


class CreatedLiveOut(StreamOut):
    stream_key: str = Field(description='OBS "Stream Key": shown once, never again.')
    media_id: str = Field(description="The playlist item that plays the stream.")


class LiveListOut(CamelModel):
    streams: list[LiveStreamOut]


class CreateLiveIn(CamelModel):
    title: str = Field("", max_length=MAX_TITLE)


class LivePlaybackOut(LiveUrlsOut):
    kind: Literal["live"] = "live"


# (caller, room id, the room's playback) -> the caller's URLs of the live item playing, or None
LivePlayback = Callable[[Caller, str, PlaybackView], Awaitable[LivePlaybackOut | None]]


def viewer_urls(bases: UrlBases, viewer: ViewerPass) -> dict[str, Any]:
    """A viewer's URLs of a stream (:class:`LiveUrlsOut`'s fields; the gRPC twin's too)."""
    stream = viewer.stream
    query = "" if viewer.token is None else f"?token={quote(viewer.token, safe='')}"
    http, rtmp = bases.http_base(), bases.rtmp_base()
    return {
        "stream_id": stream.stream_id,
        "flv_url": f"{http}/live/{stream.stream_id}.flv{query}",
        "hls_url": f"{http}/live/{stream.stream_id}/index.m3u8{query}",
        "rtmp_url": f"{rtmp}/{stream.app}/{stream.stream_id}{query}",
        "expires_at": viewer.expires_at,
        "live": viewer.live,
    }


def stream_fields(bases: UrlBases, viewer: ViewerPass) -> dict[str, Any]:
    """A listed stream (:class:`LiveStreamOut`'s fields but ``diagnostics``; the gRPC twin's
    too)."""
    stream = viewer.stream
    created = datetime.fromtimestamp(stream.created_at_ms / 1000, UTC)
    return {
        **viewer_urls(bases, viewer),
        "title": stream.title,
        "created_at": created.isoformat(),
        "rtmp_server": f"{bases.rtmp_base()}/{stream.app}",
    }


def diagnostics_fields(found: Diagnostics) -> dict[str, Any]:
    """:class:`DiagnosticsOut`'s fields (the gRPC twin's too)."""
    return {
        "encoder": found.encoder,
        "video_codec": found.video_codec,
        "video_profile": found.video_profile,
        "video_level": found.video_level,
        "width": found.width,
        "height": found.height,
        "frame_rate": found.frame_rate,
        "bitrate_kbps": found.bitrate_kbps,
        "announced_kbps": found.announced_kbps,
        "keyframe_interval_ms": found.keyframe_interval_ms,
        "audio_codec": found.audio_codec,
        "warnings": [{"code": w.code, "message": w.message} for w in found.warnings],
        "viewers": {
            "flv": found.viewers.flv,
            "hls": found.viewers.hls,
            "rtmp": found.viewers.rtmp,
            "total": found.viewers.total,
        },
    }


def _listed(bases: UrlBases, viewer: ViewerPass) -> LiveStreamOut:
    found = viewer.diagnostics
    diagnostics = None if found is None else DiagnosticsOut(**diagnostics_fields(found))
    return LiveStreamOut(**stream_fields(bases, viewer), diagnostics=diagnostics)


def live_playback(service: RoomLiveService, bases: UrlBases) -> LivePlayback:
    """The caller's URLs of the live item playing now (None: nothing playing, not a live item,
    or not a stream of this server), for the room's playback (REST and gRPC)."""

    async def urls(caller: Caller, room_id: str, view: PlaybackView) -> LivePlaybackOut | None:
        media_id = view.state.media_id
        if media_id is None or view.state.media_kind != "live":
            return None
        viewer = await service.playback(caller, room_id, media_id)
        return None if viewer is None else LivePlaybackOut(**viewer_urls(bases, viewer))

    return urls


def room_live_router(service: RoomLiveService, bases: UrlBases) -> APIRouter:
    router = APIRouter(prefix="/api/rooms/{room_id}/live", tags=["room live streams"])

    @router.post(
        "",
        status_code=201,
        response_model=CreatedLiveOut,
        responses=refusals(
            (400, "`invalid_parameter` (a title with control characters)"),
            _AUTH,
            _DENIED,
            _MISSING,
            (422, "`invalid_request` (a title over 200 characters)"),
        ),
    )
    async def create(who: Who, room_id: RoomId, body: CreateLiveIn) -> Any:
        """A live stream of the room, at the end of its playlist (``manage_live_streams``).

        Publish with OBS to ``rtmpServer`` with ``streamKey`` (shown this once)."""
        created = await service.create(who, room_id, body.title)
        return CreatedLiveOut(
            **stream_fields(bases, created.viewer),
            stream_key=created.stream_key,
            media_id=created.media.id,
        )

    @router.get("", response_model=LiveListOut, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def streams(who: Who, room_id: RoomId) -> Any:
        """The room's live streams with your playback URLs (members, admitted guests); for
        members, a live stream's ``diagnostics``: what the server sees of its publisher."""
        found = await service.streams(who, room_id)
        return LiveListOut(streams=[_listed(bases, v) for v in found])

    @router.delete(
        "/{stream_id}",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, (404, "`room_not_found` or `stream_not_found`")),
    )
    async def delete(who: Who, room_id: RoomId, stream_id: StreamId) -> Response:
        """Delete a stream: its playlist items go, a running publish ends, its key stops
        working (``manage_live_streams``)."""
        await service.delete(who, room_id, stream_id)
        return Response(status_code=204)

    return router
