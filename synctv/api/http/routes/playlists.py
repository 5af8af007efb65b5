"""``/api/rooms/{room}/media`` and ``/api/rooms/{room}/playback``: the playlist and the room's
one playback state (the REST face of :mod:`synctv.core.playlists`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import Field

from synctv.api.http.routes.auth import CamelModel, refusals
from synctv.api.http.routes.room_live import LivePlayback, LivePlaybackOut
from synctv.api.http.routes.rooms import Who
from synctv.core.delivery import PlaybackInfo, info_json
from synctv.core.media import MAX_BATCH
from synctv.core.playlists import NewItem, PlaybackView, PlaylistService, state_json
from synctv.store.playlists import FolderRow, MediaRow

RoomId = Annotated[str, Path(min_length=1, max_length=64)]
ItemId = Annotated[str, Path(min_length=1, max_length=64)]
_AUTH = (401, "`authentication_required`, `token_expired` or `token_revoked`")
_DENIED = (403, "`permission_denied` (the room permission named in details)")
_MISSING = (404, "`room_not_found` or `playlist_item_not_found`")
_CONFLICT = (409, "`version_conflict`: the state changed since the version you sent")


class MediaIn(CamelModel):
    name: str = Field(min_length=1, max_length=200)
    source: dict[str, Any] = Field(
        description='{kind: "url", url, headers?, subtitles?, danmaku?, live?, expiresAt?}'
        ' | {kind: "provider", instance, path} | {kind: "live", streamId}'
    )
    proxy_mode: Literal["auto", "prefer", "only", "direct_prefer", "direct_only"] = "auto"


class AddMediaIn(CamelModel):
    playlist_id: str | None = Field(None, description="A folder; the room's root when absent.")
    items: list[MediaIn] = Field(min_length=1, max_length=MAX_BATCH)


class MediaOut(CamelModel):
    id: str
    playlist_id: str
    position: str = Field(description="Sort key (byte order); opaque to clients.")
    name: str
    source: dict[str, Any]
    proxy_mode: str
    kind: Literal["regular", "live"]
    duration: float | None
    added_by: str


class MediaListOut(CamelModel):
    media: list[MediaOut]


class FolderOut(CamelModel):
    id: str
    parent_id: str | None
    name: str
    position: str


class PlaylistOut(CamelModel):
    playlist_id: str
    folders: list[FolderOut]
    media: list[MediaOut]


class FolderIn(CamelModel):
    name: str = Field(min_length=1, max_length=100)
    parent_id: str | None = None


class MoveIn(CamelModel):
    playlist_id: str | None = Field(None, description="Target folder (root when absent).")
    before: str | None = Field(None, description="Place right before this media id.")
    after: str | None = Field(None, description="Place right after this media id.")


class PlaybackStateOut(CamelModel):
    media_id: str | None
    kind: Literal["regular", "live"]
    position: float = Field(description="Seconds into the media at serverTime.")
    speed: float
    playing: bool
    version: int
    duration: float | None
    server_time: float = Field(description="The server clock (Unix seconds) it was computed at.")


class LinkOut(CamelModel):
    via: Literal["direct", "proxy"]
    url: str = Field(description="Absolute (direct) or /proxy/<token> on this server.")
    expires_at: float | None = Field(description="When it stops working (Unix seconds).")


class SubtitleOut(CamelModel):
    name: str
    url: str
    format: str | None


class PlaybackInfoOut(CamelModel):
    media_id: str
    kind: Literal["regular", "live"]
    via: Literal["direct", "proxy"] = Field(description="How urls[0] is fetched.")
    url: str = Field(description="The one to play: urls[0].")
    urls: list[LinkOut] = Field(description="Every allowed way, preferred first.")
    headers: dict[str, str] = Field(description="Send these on direct requests.")
    removed_headers: list[str] = Field(
        description="The source's headers a page may not send, removed from direct mode."
    )
    subtitles: list[SubtitleOut]
    duration: float | None
    expires_at: float | None = Field(description="When url stops working (Unix seconds).")
    refresh_at: float | None = Field(
        description="Refetch this before expiresAt: a new URL, same media and position."
    )


class PlaybackOut(CamelModel):
    state: PlaybackStateOut
    playback: PlaybackInfoOut | LivePlaybackOut | None = Field(
        None,
        description="GET only: the current media resolved for you (absent: nothing to play). For"
        " a live stream of this server, its playback URLs (with a viewer token when the room"
        " needs one; read again before expiresAt).",
    )


class PlaybackChangeIn(CamelModel):
    op: Literal["play", "pause", "seek", "speed"]
    position: float | None = None
    speed: float | None = None
    version: int | None = Field(None, description="The version you saw; a stale one conflicts.")
    expected_media_id: str | None = Field(
        None, description="The media you meant; other media playing now conflicts."
    )
    client_sent_at: float | None = Field(
        None, description="Your clock when sent (with clockOffset: transit compensation)."
    )
    clock_offset: float | None = Field(None, description="server - client clock, seconds.")


class StartIn(CamelModel):
    media_id: str = Field(min_length=1, max_length=64)
    version: int | None = None


class StepIn(CamelModel):
    version: int | None = None


class HistoryEntryOut(CamelModel):
    media_id: str
    name: str
    chosen_by: str
    started_at: str
    last_position: float


class HistoryOut(CamelModel):
    entries: list[HistoryEntryOut]


def _media_out(row: MediaRow) -> MediaOut:
    return MediaOut(
        id=row.id,
        playlist_id=row.playlist_id,
        position=row.position,
        name=row.name,
        source=row.source,
        proxy_mode=row.proxy_mode,
        kind=row.kind,
        duration=row.duration,
        added_by=row.added_by,
    )


def _folder_out(row: FolderRow) -> FolderOut:
    return FolderOut(id=row.id, parent_id=row.parent_id, name=row.name, position=row.position)


def _playback_out(view: PlaybackView, info: PlaybackInfo | None = None) -> PlaybackOut:
    return PlaybackOut(
        state=PlaybackStateOut(**state_json(view.state, view.server_time)),
        playback=None if info is None else PlaybackInfoOut.model_validate(info_json(info)),
    )


def playlists_router(
    playlists: PlaylistService, live_playback: LivePlayback | None = None
) -> APIRouter:
    router = APIRouter(prefix="/api/rooms/{room_id}", tags=["playlists"])

    @router.post(
        "/media",
        status_code=201,
        response_model=MediaListOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, (422, "`invalid_media_source`")),
    )
    async def add(who: Who, room_id: RoomId, body: AddMediaIn) -> Any:
        """Add up to 100 items at the end of a playlist, in one transaction (``manage_own_media``)."""
        items = [NewItem(i.name, i.source, i.proxy_mode) for i in body.items]
        rows = await playlists.add(who, room_id, items, body.playlist_id)
        return MediaListOut(media=[_media_out(r) for r in rows])

    @router.get("/media", response_model=PlaylistOut, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def entries(
        who: Who,
        room_id: RoomId,
        playlist_id: Annotated[str | None, Query(alias="playlistId", max_length=64)] = None,
    ) -> Any:
        """A playlist's folders and media, in order (the root's without ``playlistId``)."""
        found = await playlists.entries(who, room_id, playlist_id)
        return PlaylistOut(
            playlist_id=found.playlist_id,
            folders=[_folder_out(f) for f in found.folders],
            media=[_media_out(m) for m in found.media],
        )

    @router.post(
        "/playlists",
        status_code=201,
        response_model=FolderOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def create_folder(who: Who, room_id: RoomId, body: FolderIn) -> Any:
        """A folder at the end of a playlist (``reorder_media``)."""
        return _folder_out(await playlists.create_folder(who, room_id, body.name, body.parent_id))

    @router.post(
        "/media/{media_id}/move",
        response_model=MediaOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, _CONFLICT),
    )
    async def move(who: Who, room_id: RoomId, media_id: ItemId, body: MoveIn) -> Any:
        """Move before or after another item, or to the end of a folder (``reorder_media``)."""
        moved = await playlists.move(
            who,
            room_id,
            media_id,
            playlist_id=body.playlist_id,
            before=body.before,
            after=body.after,
        )
        return _media_out(moved)

    @router.delete(
        "/media/{media_id}",
        status_code=204,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def delete(who: Who, room_id: RoomId, media_id: ItemId) -> Response:
        """Remove an item (one's own: ``manage_own_media``; others': ``delete_media``)."""
        await playlists.delete(who, room_id, media_id)
        return Response(status_code=204)

    @router.delete("/media", status_code=204, responses=refusals(_AUTH, _DENIED, _MISSING))
    async def clear(who: Who, room_id: RoomId) -> Response:
        """Remove every item and folder (``clear_media``); playback stops."""
        await playlists.clear(who, room_id)
        return Response(status_code=204)

    @router.get(
        "/playback",
        response_model=PlaybackOut,
        response_model_exclude_none=False,
        responses=refusals(
            _AUTH,
            _DENIED,
            _MISSING,
            (409, "`direct_playback_refused`"),
            (502, "the provider's code (`provider_unavailable` ...)"),
        ),
    )
    async def get_playback(who: Who, room_id: RoomId) -> Any:
        """The playback state, with the position computed at ``serverTime``, and the current
        media resolved for you: where to fetch it (direct or through ``/proxy``), the headers
        to send, subtitles, duration, and when the URL expires. Refetch at ``refreshAt`` for a
        new URL; keep playing at the current position. For a live stream of this server, your
        playback URLs."""
        view, info = await playlists.playback(who, room_id)
        out = _playback_out(view, info)
        if out.playback is None and live_playback is not None:
            out.playback = await live_playback(who, room_id, view)
        return out

    @router.patch(
        "/playback",
        response_model=PlaybackOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, _CONFLICT, (422, "`invalid_playback_change`")),
    )
    async def control(who: Who, room_id: RoomId, body: PlaybackChangeIn) -> Any:
        """Play, pause, seek or change speed (``control_playback_state``)."""
        view = await playlists.control(
            who,
            room_id,
            body.op,
            position=body.position,
            speed=body.speed,
            version=body.version,
            expected_media_id=body.expected_media_id,
            client_sent_at=body.client_sent_at,
            clock_offset=body.clock_offset,
        )
        return _playback_out(view)

    @router.post(
        "/playback/start",
        response_model=PlaybackOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, _CONFLICT),
    )
    async def start(who: Who, room_id: RoomId, body: StartIn) -> Any:
        """Play this media for everyone (``navigate_playback``)."""
        return _playback_out(
            await playlists.start(who, room_id, body.media_id, version=body.version)
        )

    @router.post(
        "/playback/next",
        response_model=PlaybackOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, _CONFLICT),
    )
    async def next_item(who: Who, room_id: RoomId, body: StepIn) -> Any:
        """The next item, in the room's auto-play order (``navigate_playback``)."""
        return _playback_out(await playlists.step(who, room_id, False, body.version))

    @router.post(
        "/playback/previous",
        response_model=PlaybackOut,
        responses=refusals(_AUTH, _DENIED, _MISSING, _CONFLICT),
    )
    async def previous_item(who: Who, room_id: RoomId, body: StepIn) -> Any:
        """The previous item (``navigate_playback``)."""
        return _playback_out(await playlists.step(who, room_id, True, body.version))

    @router.get(
        "/playback/history",
        response_model=HistoryOut,
        responses=refusals(_AUTH, _DENIED, _MISSING),
    )
    async def history(who: Who, room_id: RoomId) -> Any:
        """What played, newest first (``view_playback_history``)."""
        rows = await playlists.history(who, room_id)
        return HistoryOut(
            entries=[
                HistoryEntryOut(
                    media_id=m,
                    name=n,
                    chosen_by=c,
                    started_at=t.isoformat(),
                    last_position=p,
                )
                for m, n, c, t, p in rows
            ]
        )

    return router
