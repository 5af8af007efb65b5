"""A room's playlist and its one playback state: the service behind ``/api/rooms/{id}/media``
and ``/api/rooms/{id}/playback``.

Every operation resolves the caller's access through :class:`~synctv.core.rooms.RoomService`
and checks the permission it needs: adding media ``manage_own_media``; removing one's own media
the same, other people's ``delete_media``; folders and moves ``reorder_media``; clearing
``clear_media``; play, pause, seek and speed ``control_playback_state``; choosing media, next and
previous ``navigate_playback``; the history ``view_playback_history``. Reading the playlist and
the state needs a role in the room (member or admitted guest).

Playback transitions are :mod:`synctv.core.playback`'s pure rules, run inside the store's
transaction on the locked row (so a version check and its write are one step), with the server
clock read here, once per change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from synctv import errors
from synctv.core import delivery, playback
from synctv.core.media import (
    MAX_BATCH,
    InvalidMediaSource,
    is_live,
    parse_source,
    source_json,
)
from synctv.core.ordering import InvalidKey, key_between, keys_between
from synctv.core.permissions import Permission
from synctv.core.rooms import Access, Caller, RoomService
from synctv.errors import DomainError
from synctv.store.playlists import (
    FolderRow,
    MediaRow,
    NewMedia,
    PlayingRoom,
    PlaylistStore,
    StoredPlayback,
)

PlaybackOp = Literal["play", "pause", "seek", "speed"]
_PROXY_MODES: Final = ("auto", "prefer", "only", "direct_prefer", "direct_only")
MAX_HISTORY: Final = 100
# Who the server's own changes (auto-advance) act as: a platform-level caller, no member.
SYSTEM_CALLER: Final = Caller("system", "admin")


@dataclass(frozen=True, slots=True)
class NewItem:
    """One item of an add request, as the API received it."""

    name: str
    source: Mapping[str, Any]
    proxy_mode: str = "auto"


@dataclass(frozen=True, slots=True)
class Playlist:
    playlist_id: str
    folders: list[FolderRow]
    media: list[MediaRow]


@dataclass(frozen=True, slots=True)
class PlaybackView:
    state: playback.PlaybackState
    position: float  # at server_time
    server_time: float


def _state(stored: StoredPlayback) -> playback.PlaybackState:
    return playback.PlaybackState(
        media_id=stored.media_id,
        media_kind=stored.media_kind,
        anchor_position=stored.anchor_position,
        anchor_time=stored.anchor_time,
        speed=stored.speed,
        playing=stored.playing,
        version=stored.version,
        duration=stored.duration,
    )


def position_of(stored: StoredPlayback, now: float) -> float:
    """Where the stored state's media is at server time ``now`` (the playback rules' own
    arithmetic: the chat stamps danmaku with it)."""
    return _state(stored).position_at(now)


as_state = _state  # the stored row as the playback rules' state


def _stored(state: playback.PlaybackState) -> StoredPlayback:
    return StoredPlayback(
        media_id=state.media_id,
        media_kind=state.media_kind,
        anchor_position=state.anchor_position,
        anchor_time=state.anchor_time,
        speed=state.speed,
        playing=state.playing,
        version=state.version,
        duration=state.duration,
    )


def state_json(state: playback.PlaybackState, now: float) -> dict[str, Any]:
    """The state as events and the API show it: position computed at ``serverTime``."""
    return {
        "mediaId": state.media_id,
        "kind": state.media_kind,
        "position": state.position_at(now),
        "speed": state.speed,
        "playing": state.playing,
        "version": state.version,
        "duration": state.duration,
        "serverTime": now,
    }


# The actor of the changes the room makes by itself (wait for everyone): not a user id.
_ROOM_ITSELF = Caller("room", "user")


def _refused(exc: playback.PlaybackRefused) -> DomainError:
    if isinstance(exc, playback.Conflict):
        return DomainError(errors.VERSION_CONFLICT, str(exc))
    return DomainError(errors.INVALID_PLAYBACK_CHANGE, str(exc))


def _not_found() -> DomainError:
    return DomainError(errors.PLAYLIST_ITEM_NOT_FOUND, "no such media or playlist in this room")


def require_in_room(access: Access) -> None:
    """A role in the room (member or admitted guest), or a platform admin: who sees its
    playlist, its playback and its live streams."""
    if access.role is None and not access.permissions:  # a visitor; platform admins have all
        raise DomainError(errors.PERMISSION_DENIED, "join the room to see its playlist")


class PlaylistService:
    def __init__(
        self,
        rooms: RoomService,
        store: PlaylistStore,
        clock: Callable[[], float] = time.time,
        resolver: delivery.PlaybackResolver | None = None,
    ) -> None:
        self._rooms = rooms
        self._store = store
        self._clock = clock
        self._resolver = resolver

    # -- the playlist --------------------------------------------------------------------------

    async def add(
        self,
        caller: Caller,
        room_id: str,
        items: Sequence[NewItem],
        playlist_id: str | None = None,
    ) -> list[MediaRow]:
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.MANAGE_OWN_MEDIA)
        if not 1 <= len(items) <= MAX_BATCH:
            raise DomainError(errors.INVALID_PARAMETER, f"add 1 to {MAX_BATCH} items at a time")
        prepared = [_prepare(index, item) for index, item in enumerate(items)]
        rows = await self._store.add_media(
            room_id, playlist_id, prepared, caller.user_id, keys_between
        )
        if rows is None:
            raise _not_found()
        return rows

    async def entries(self, caller: Caller, room_id: str, playlist_id: str | None) -> Playlist:
        require_in_room(await self._rooms.access(caller, room_id))
        found = await self._store.entries(room_id, playlist_id)
        if found is None:
            raise _not_found()
        return Playlist(*found)

    async def create_folder(
        self, caller: Caller, room_id: str, name: str, parent_id: str | None
    ) -> FolderRow:
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.REORDER_MEDIA)
        clean = name.strip()
        if not 1 <= len(clean) <= 100:
            raise DomainError(errors.INVALID_PARAMETER, "a folder name is 1 to 100 characters")
        folder = await self._store.create_folder(
            room_id, parent_id, clean, caller.user_id, key_between
        )
        if folder is None:
            raise _not_found()
        return folder

    async def move(
        self,
        caller: Caller,
        room_id: str,
        media_id: str,
        *,
        playlist_id: str | None = None,
        before: str | None = None,
        after: str | None = None,
    ) -> MediaRow:
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.REORDER_MEDIA)
        if before is not None and after is not None:
            raise DomainError(errors.INVALID_PARAMETER, "give before or after, not both")
        try:
            moved = await self._store.move(
                room_id, media_id, playlist_id, before, after, caller.user_id, key_between
            )
        except InvalidKey:  # positions changed under a concurrent move: the anchor moved too
            raise DomainError(errors.VERSION_CONFLICT, "the playlist changed; try again") from None
        if moved is None:
            raise _not_found()
        return moved

    async def delete(self, caller: Caller, room_id: str, media_id: str) -> None:
        access = await self._rooms.access(caller, room_id)
        item = await self._store.media(room_id, media_id)
        if item is None:
            raise _not_found()
        access.require(
            Permission.MANAGE_OWN_MEDIA
            if item.added_by == caller.user_id
            else Permission.DELETE_MEDIA
        )
        await self._store.delete(room_id, [media_id], caller.user_id)
        await self._stop_if_current(caller, room_id, {media_id})

    async def remove_live_stream(self, caller: Caller, room_id: str, stream_id: str) -> int:
        """Remove the items that play live stream ``stream_id`` (it is being deleted: the
        caller's right to delete it was checked by the room live service); playback stops if
        one of them is current. How many were removed."""
        ids = await self._store.live_media(room_id, stream_id)
        if not ids:
            return 0
        removed = await self._store.delete(room_id, ids, caller.user_id)
        await self._stop_if_current(caller, room_id, set(ids))
        return removed

    async def clear(self, caller: Caller, room_id: str) -> int:
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.CLEAR_MEDIA)
        removed = await self._store.clear(room_id, caller.user_id)
        await self._stop_if_current(caller, room_id, None)
        return removed

    async def _stop_if_current(
        self, caller: Caller, room_id: str, removed: set[str] | None
    ) -> None:
        now = self._clock()

        def decide(current: StoredPlayback, _remembered: float | None) -> StoredPlayback:
            if current.media_id is None or (
                removed is not None and current.media_id not in removed
            ):
                raise _Unchanged
            return _stored(playback.stop(_state(current), now))

        try:
            await self._store.change_playback(
                room_id,
                decide,
                caller.user_id,
                lambda s: state_json(_state(s), now),
                lambda s: _state(s).position_at(now),
            )
        except _Unchanged:
            pass

    # -- playback ------------------------------------------------------------------------------

    async def state(self, caller: Caller, room_id: str) -> PlaybackView:
        require_in_room(await self._rooms.access(caller, room_id))
        now = self._clock()
        state = _state(await self._store.playback(room_id))
        return PlaybackView(state, state.position_at(now), now)

    async def playback(
        self, caller: Caller, room_id: str
    ) -> tuple[PlaybackView, delivery.PlaybackInfo | None]:
        """The state, and the current media resolved for this caller (``None``: no media, or
        nothing to play it with). Resolved afresh each time: a client refetches at the info's
        ``refresh_at`` and gets a new link before the old one expires."""
        view = await self.state(caller, room_id)
        if view.state.media_id is None or self._resolver is None:
            return view, None
        item = await self._store.media(room_id, view.state.media_id)
        if item is None:
            return view, None
        return view, await self._resolver.playback(item, view.server_time)

    async def control(
        self,
        caller: Caller,
        room_id: str,
        op: PlaybackOp,
        *,
        position: float | None = None,
        speed: float | None = None,
        version: int | None = None,
        expected_media_id: str | None = None,
        client_sent_at: float | None = None,
        clock_offset: float | None = None,
    ) -> PlaybackView:
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.CONTROL_PLAYBACK_STATE)
        seen = playback.Expectation(version, expected_media_id)
        now = self._clock()
        if op == "seek" and position is None:
            raise DomainError(errors.INVALID_PARAMETER, "seek needs a position")
        if op == "speed" and speed is None:
            raise DomainError(errors.INVALID_PARAMETER, "speed needs a speed")

        def decide(current: StoredPlayback, _remembered: float | None) -> StoredPlayback:
            state = _state(current)
            if op == "play":
                return _stored(playback.play(state, now, seen))
            if op == "pause":
                return _stored(playback.pause(state, now, seen))
            if op == "speed":
                return _stored(playback.set_speed(state, now, float(speed or 0), seen))
            transit = playback.transit_seconds(now, client_sent_at, clock_offset)
            return _stored(playback.seek(state, now, float(position or 0), seen, transit))

        return await self._change(caller, room_id, decide, now)

    async def start(
        self,
        caller: Caller,
        room_id: str,
        media_id: str,
        *,
        version: int | None = None,
    ) -> PlaybackView:
        """Play ``media_id`` for everyone (from where it was left, if it played before)."""
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.NAVIGATE_PLAYBACK)
        item = await self._store.media(room_id, media_id)
        if item is None:
            raise _not_found()
        return await self._select(caller, room_id, item, version)

    async def step(
        self, caller: Caller, room_id: str, backwards: bool, version: int | None = None
    ) -> PlaybackView:
        """Next (or previous) in the current media's playlist, as the room's auto-play mode
        orders it; wraps around only in the repeat modes."""
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.NAVIGATE_PLAYBACK)
        current = await self._store.playback(room_id)
        playlist_id: str | None = None
        if current.media_id is not None:
            item = await self._store.media(room_id, current.media_id)
            playlist_id = item.playlist_id if item is not None else None
        if playlist_id is None:
            found = await self._store.entries(room_id, None)
            playlist_id = found[0] if found is not None else None
        order = await self._store.order(room_id, playlist_id) if playlist_id else []
        chosen = playback.next_media(
            order,
            current.media_id,
            access.settings.auto_play.mode,
            random.SystemRandom().randrange,
            backwards=backwards,
            manual=True,
        )
        if chosen is None:
            raise DomainError(errors.PLAYLIST_ITEM_NOT_FOUND, "nothing more to play that way")
        item = await self._store.media(room_id, chosen)
        if item is None:
            raise _not_found()
        return await self._select(caller, room_id, item, version)

    async def _select(
        self, caller: Caller, room_id: str, item: MediaRow, version: int | None
    ) -> PlaybackView:
        now = self._clock()
        seen = playback.Expectation(version=version)

        def decide(current: StoredPlayback, remembered: float | None) -> StoredPlayback:
            return _stored(
                playback.change_media(
                    _state(current),
                    now,
                    item.id,
                    item.kind,
                    item.duration,
                    start_at=remembered or 0.0,
                    seen=seen,
                )
            )

        return await self._change(caller, room_id, decide, now, item)

    # -- wait for everyone (the room pauses itself; the setting is the permission) ------------

    async def wait_view(self, room_id: str) -> tuple[bool, bool, int] | None:
        """(``waitForEveryone``, playing, version) of the room, or None when it is gone."""
        settings = await self._rooms.settings_of(room_id)
        if settings is None:
            return None
        stored = await self._store.playback(room_id)
        return settings.wait_for_everyone, stored.playing, stored.version

    async def wait_pause(self, room_id: str, waiting_for: Sequence[str], version: int) -> int:
        """Pause for the buffering members (the event names them); the new version."""
        now = self._clock()
        seen = playback.Expectation(version, None)
        view = await self._change(
            _ROOM_ITSELF,
            room_id,
            lambda current, _r: _stored(playback.pause(_state(current), now, seen)),
            now,
            extra={"waitingFor": list(waiting_for)},
        )
        return view.state.version

    async def wait_resume(self, room_id: str, version: int) -> None:
        """Play on from where the wait paused; refused (version_conflict) if anybody changed the
        state since."""
        now = self._clock()
        seen = playback.Expectation(version, None)
        await self._change(
            _ROOM_ITSELF,
            room_id,
            lambda current, _r: _stored(playback.play(_state(current), now, seen)),
            now,
            extra={"waitingFor": []},
        )

    async def _change(
        self,
        caller: Caller,
        room_id: str,
        decide: Callable[[StoredPlayback, float | None], StoredPlayback],
        now: float,
        item: MediaRow | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> PlaybackView:
        try:
            stored = await self._store.change_playback(
                room_id,
                decide,
                caller.user_id,
                lambda s: {**state_json(_state(s), now), **(extra or {})},
                lambda s: _state(s).position_at(now),
                next_media=item.id if item else None,
                history_name=item.name if item else None,
            )
        except playback.PlaybackRefused as exc:
            raise _refused(exc) from None
        if stored is None:
            raise DomainError(errors.ROOM_NOT_FOUND, "no room with this id")
        state = _state(stored)
        return PlaybackView(state, state.position_at(now), now)

    # -- the server's own changes ---------------------------------------------------------------

    @property
    def rooms(self) -> RoomService:
        return self._rooms

    async def item(self, room_id: str, media_id: str) -> MediaRow | None:
        return await self._store.media(room_id, media_id)

    async def playing(self) -> list[PlayingRoom]:
        """Every room playing media now."""
        return await self._store.playing()

    async def advance(self, room_id: str, seen: StoredPlayback) -> PlaybackView | None:
        """Auto-advance: play what follows ``seen``'s media per the room's ``autoPlay`` — only if
        the state is still ``seen`` (same version and media: a concurrent manual change wins)
        and it has reached its end. None when nothing changed (auto-play off, the end of a
        sequential playlist, the state moved on)."""
        access = await self._rooms.access(SYSTEM_CALLER, room_id)
        auto = access.settings.auto_play
        if not auto.enabled or access.room.suspended_at is not None or seen.media_id is None:
            return None
        item = await self._store.media(room_id, seen.media_id)
        if item is None:
            return None
        order = await self._store.order(room_id, item.playlist_id)
        chosen = playback.next_media(
            order, seen.media_id, auto.mode, random.SystemRandom().randrange, manual=False
        )
        following = await self._store.media(room_id, chosen) if chosen else None
        if following is None:
            return None
        now = self._clock()

        def decide(current: StoredPlayback, _remembered: float | None) -> StoredPlayback:
            state = _state(current)
            if (current.version, current.media_id) != (seen.version, seen.media_id):
                raise _Unchanged  # someone changed it meanwhile: theirs wins
            if not state.ended_at(now):
                raise _Unchanged
            return _stored(
                playback.change_media(
                    state, now, following.id, following.kind, following.duration, start_at=0.0
                )
            )

        try:
            return await self._change(SYSTEM_CALLER, room_id, decide, now, following)
        except _Unchanged:
            return None

    async def learn_duration(self, room_id: str, media_id: str, duration: float | None) -> None:
        """Store a probed duration (``None``: probed, unknown) once; the state follows."""
        now = self._clock()
        await self._store.learn_duration(
            room_id, media_id, duration, lambda s: state_json(_state(s), now)
        )

    async def history(
        self, caller: Caller, room_id: str
    ) -> list[tuple[str, str, str, datetime, float]]:
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.VIEW_PLAYBACK_HISTORY)
        return await self._store.history(room_id, MAX_HISTORY)


class _Unchanged(Exception):
    """Raised inside a decision that needs no write (rolls the transaction back, harmlessly)."""


def _prepare(index: int, item: NewItem) -> NewMedia:
    name = item.name.strip()
    if not 1 <= len(name) <= 200:
        raise DomainError(
            errors.INVALID_PARAMETER, f"items[{index}].name must be 1 to 200 characters"
        )
    if item.proxy_mode not in _PROXY_MODES:
        raise DomainError(
            errors.INVALID_PARAMETER,
            f"items[{index}].proxyMode must be one of {', '.join(_PROXY_MODES)}",
        )
    try:
        source = parse_source(dict(item.source))
    except InvalidMediaSource as exc:
        raise DomainError(errors.INVALID_MEDIA_SOURCE, f"items[{index}].{exc}") from None
    return NewMedia(
        name=name,
        source=source_json(source),
        proxy_mode=item.proxy_mode,
        kind="live" if is_live(source) else "regular",
        duration=None,
    )
