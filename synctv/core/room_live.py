"""A room's own live streams: created by its members, played as its media, private with it.

Theory of operation. A member with ``manage_live_streams`` creates a stream for the room
(:meth:`RoomLiveService.create`): the live-stream registry issues its id and its publish key
(shown once) with the room id as its RTMP app, so OBS publishes to ``rtmp://HOST:1935/<room
id>``; the stream joins the room's playlist as an item of kind ``live`` (source ``{kind:
"live", streamId}``), which any member who may navigate playback makes current for everyone.
Deleting the stream removes its items (playback stops if one was current), ends a running
publish and forgets the key.

Privacy. Whether a stream of a room may be played without proof is the room's business:
:func:`anonymous_live` (a public room without a password, not suspended, whose
``allowAnonymousLive`` setting is on: the default). Otherwise every playback request (HTTP-FLV,
HLS playlist and segment, RTMP play) must bring a viewer token for that room, which the service
mints, for one viewer and a few minutes, into the URLs it hands out to whoever may see the
room's playlist (members, admitted guests, platform admins). :class:`RoomLiveGate` is the
livestream layer's viewer gate (``synctv.livestream.access``), injected by the app: it checks a
token without the database, and asks the database (through a short cache) only when a request
comes without a valid one.

This module sees the registry and the tokens through the small seams below (the app passes the
real ones), so the rooms stay below the livestream and auth packages they do not import.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import trio

from synctv import errors
from synctv.core.ordering import keys_between
from synctv.core.permissions import Permission
from synctv.core.playlists import PlaylistService, require_in_room
from synctv.core.room_settings import InvalidRoomSettings, RoomSettings, load_settings
from synctv.core.rooms import Access, Caller, RoomService
from synctv.errors import DomainError
from synctv.store.audit import AuditActor
from synctv.store.playlists import MediaRow, NewMedia, PlaylistStore
from synctv.store.rooms import RoomRow, RoomStore

MAX_TITLE: Final = 200  # the registry's limit (it checks titles: length, control characters)
DEFAULT_MEDIA_NAME: Final = "Live"
# The gate's memory of "may a room's streams be played anonymously": a room made private stops
# admitting anonymous viewers within this many seconds.
GATE_CACHE_TTL_SECONDS: Final = 5.0
GATE_CACHE_MAX_ENTRIES: Final = 10_000
# The streamer's diagnostics (see :func:`diagnose`): what browsers play and what keeps latency
# low. Key frames every 2 s make 2 s HLS segments and a 2 s wait for a late joiner.
RECOMMENDED_KEYFRAME_SECONDS: Final = 2.0
KEYFRAME_TOLERANCE_MS: Final = 500
# Above this (audio + video) most home connections cannot keep up with the stream.
MAX_RECOMMENDED_KBPS: Final = 6000
BROWSER_VIDEO_CODECS: Final = frozenset({"avc"})
BROWSER_AUDIO_CODECS: Final = frozenset({"aac", "mp3"})


class StreamInfo(Protocol):
    """What this module reads of a live stream record (``LiveStreamRecord``)."""

    @property
    def stream_id(self) -> str: ...

    @property
    def app(self) -> str: ...

    @property
    def room_id(self) -> str | None: ...

    @property
    def title(self) -> str: ...

    @property
    def created_at_ms(self) -> int: ...


class StreamRegistry(Protocol):
    """The live-stream registry (``synctv.livestream.registry.LiveStreamRegistry``)."""

    async def create(
        self, *, room_id: str | None, title: str, by: AuditActor
    ) -> tuple[StreamInfo, str]:
        """The new stream and its publish key; ValueError for a title it cannot use."""
        ...

    async def list(self, room_id: str | None = None) -> Sequence[StreamInfo]: ...

    async def get(self, stream_id: str) -> StreamInfo | None: ...

    async def delete(self, stream_id: str, *, by: AuditActor) -> bool: ...


class PublisherFacts(Protocol):
    """What the RTMP server recorded of a publisher (``synctv.rtmp.publisher_profile``)."""

    @property
    def encoder(self) -> str: ...

    @property
    def video_codec(self) -> str: ...

    @property
    def video_profile(self) -> str: ...

    @property
    def video_level(self) -> str: ...

    @property
    def audio_codec(self) -> str: ...

    @property
    def width(self) -> int | None: ...

    @property
    def height(self) -> int | None: ...

    @property
    def frame_rate(self) -> float | None: ...

    @property
    def video_kbps(self) -> float | None: ...

    @property
    def audio_kbps(self) -> float | None: ...

    @property
    def keyframe_interval_ms(self) -> int | None: ...

    @property
    def measured_kbps(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class StreamWarning:
    """One problem the streamer can fix in OBS: a stable ``code`` and a plain sentence."""

    code: str  # video_codec_unsupported, audio_codec_unsupported, keyframe_interval_long,
    # no_audio, bitrate_high
    message: str


@dataclass(frozen=True, slots=True)
class ViewerCounts:
    """Who watches a stream now, by protocol: HTTP-FLV and RTMP connections, HLS players by
    session (those that fetched over the last few segments)."""

    flv: int = 0
    hls: int = 0
    rtmp: int = 0

    @property
    def total(self) -> int:
        return self.flv + self.hls + self.rtmp

    @classmethod
    def of(cls, by_protocol: Mapping[str, int]) -> ViewerCounts:
        """From the stream hub's ``viewers`` (by protocol; other protocols are not counted)."""
        return cls(
            flv=by_protocol.get("flv", 0),
            hls=by_protocol.get("hls", 0),
            rtmp=by_protocol.get("rtmp", 0),
        )


@dataclass(frozen=True, slots=True)
class Diagnostics:
    """What the server sees of a stream's publisher now, and what to fix."""

    encoder: str
    video_codec: str  # "avc", "hevc" ... ("" before the first video)
    video_profile: str
    video_level: str
    width: int | None
    height: int | None
    frame_rate: float | None
    bitrate_kbps: float | None  # measured over the publish (audio + video)
    announced_kbps: float | None  # what the encoder announced (video + audio)
    keyframe_interval_ms: int | None  # the longest gap between key frames seen
    audio_codec: str  # "" when no audio has arrived
    warnings: tuple[StreamWarning, ...]
    viewers: ViewerCounts = ViewerCounts()  # who watches the stream now (on this node)


_CODEC_NAMES: Final = {"avc": "H.264", "hevc": "HEVC", "av1": "AV1", "vp9": "VP9"}


def diagnose(facts: PublisherFacts, viewers: ViewerCounts = ViewerCounts()) -> Diagnostics:
    """The publisher's facts with the warnings that apply, and who watches (pure)."""
    warnings: list[StreamWarning] = []
    video = facts.video_codec
    if video and video not in BROWSER_VIDEO_CODECS:
        name = _CODEC_NAMES.get(video, video)
        warnings.append(
            StreamWarning(
                "video_codec_unsupported",
                f"{name}: most browsers cannot play this; set OBS to x264",
            )
        )
    interval = facts.keyframe_interval_ms
    limit_ms = RECOMMENDED_KEYFRAME_SECONDS * 1000 + KEYFRAME_TOLERANCE_MS
    if interval is not None and interval > limit_ms:
        warnings.append(
            StreamWarning(
                "keyframe_interval_long",
                f"keyframe interval {interval / 1000:.3g} s: set "
                f"{RECOMMENDED_KEYFRAME_SECONDS:g} s for lower latency",
            )
        )
    measured = facts.measured_kbps
    if measured is not None and video and not facts.audio_codec:
        warnings.append(StreamWarning("no_audio", "no audio: viewers will hear nothing"))
    elif facts.audio_codec and facts.audio_codec not in BROWSER_AUDIO_CODECS:
        warnings.append(
            StreamWarning(
                "audio_codec_unsupported",
                f"audio {facts.audio_codec}: browsers may not play it; set OBS to AAC",
            )
        )
    announced = None
    if facts.video_kbps is not None or facts.audio_kbps is not None:
        announced = (facts.video_kbps or 0.0) + (facts.audio_kbps or 0.0)
    rate = measured if measured is not None else announced
    if rate is not None and rate > MAX_RECOMMENDED_KBPS:
        warnings.append(
            StreamWarning(
                "bitrate_high",
                f"bitrate {rate:.0f} kbps is above the {MAX_RECOMMENDED_KBPS} kbps limit:"
                " many viewers cannot keep up; lower it in OBS",
            )
        )
    return Diagnostics(
        encoder=facts.encoder,
        video_codec=video,
        video_profile=facts.video_profile,
        video_level=facts.video_level,
        width=facts.width,
        height=facts.height,
        frame_rate=facts.frame_rate,
        bitrate_kbps=measured,
        announced_kbps=announced,
        keyframe_interval_ms=interval,
        audio_codec=facts.audio_codec,
        warnings=tuple(warnings),
        viewers=viewers,
    )


# (room id, viewer id) -> (viewer token, its expiry in Unix seconds)
MintToken = Callable[[str, str], tuple[str, int]]
# (token, room id) -> viewer id; raises DomainError (live_token_invalid / live_token_expired)
CheckToken = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class ViewerPass:
    """What one viewer needs to play a stream: the stream, and the token its URLs carry (None
    when the stream plays without one)."""

    stream: StreamInfo
    token: str | None
    expires_at: int | None
    live: bool  # someone is publishing it now (on this node)
    # What the server sees of the publisher (room members only; None when not live here).
    diagnostics: Diagnostics | None = None


@dataclass(frozen=True, slots=True)
class LiveNow:
    """What a room plays when it plays one of the server's live streams."""

    media_id: str
    stream_id: str
    target_latency: float | None  # the room's liveTargetLatency (None: from the reports)


@dataclass(frozen=True, slots=True)
class CreatedStream:
    viewer: ViewerPass
    stream_key: str  # shown once
    media: MediaRow


_MEMBER_ROLES: Final = frozenset({"creator", "admin", "member"})  # not guests


def anonymous_live(room: RoomRow, settings: RoomSettings) -> bool:
    """Whether the room's live streams play without a viewer token."""
    return (
        room.is_public
        and not room.has_password
        and room.suspended_at is None
        and room.closed_at is None
        and settings.allow_anonymous_live
    )


def _stream_not_found() -> DomainError:
    return DomainError(errors.STREAM_NOT_FOUND, "no live stream with this id in this room")


class RoomLiveService:
    """Create, list and delete a room's live streams; viewer passes for its members."""

    def __init__(
        self,
        rooms: RoomService,
        playlists: PlaylistService,
        store: PlaylistStore,
        registry: StreamRegistry,
        mint: MintToken,
        *,
        is_live: Callable[[str], bool] = lambda _stream_id: False,
        kick: Callable[[str], bool] = lambda _stream_id: False,
        profile: Callable[[str], PublisherFacts | None] = lambda _stream_id: None,
        viewers: Callable[[str], Mapping[str, int]] = lambda _stream_id: {},
    ) -> None:
        self._rooms = rooms
        self._playlists = playlists
        self._store = store
        self._registry = registry
        self._mint = mint
        self._is_live = is_live
        self._kick = kick
        self._profile = profile
        self._viewers = viewers

    async def create(self, caller: Caller, room_id: str, title: str) -> CreatedStream:
        """A new stream of the room and its publish key, listed at the end of the room's
        playlist (``manage_live_streams``)."""
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.MANAGE_LIVE_STREAMS)
        try:
            stream, key = await self._registry.create(
                room_id=access.room.id, title=title, by=caller.actor()
            )
        except ValueError as exc:  # the registry's InvalidLiveStream: says what is wrong
            raise DomainError(errors.INVALID_PARAMETER, str(exc)) from None
        item = NewMedia(
            name=stream.title or DEFAULT_MEDIA_NAME,
            source={"kind": "live", "streamId": stream.stream_id},
            proxy_mode="auto",
            kind="live",
            duration=None,
        )
        rows: list[MediaRow] | None = None
        try:
            rows = await self._store.add_media(
                access.room.id, None, [item], caller.user_id, keys_between
            )
        finally:
            if rows is None:  # the room went away (or the write failed): no stream without item
                with trio.CancelScope(shield=True):
                    await self._registry.delete(stream.stream_id, by=caller.actor())
        if rows is None:
            raise DomainError(errors.ROOM_NOT_FOUND, "no room with this id")
        return CreatedStream(self._pass(access, caller, stream), key, rows[0])

    async def streams(self, caller: Caller, room_id: str) -> list[ViewerPass]:
        """The room's streams, oldest first, with the caller's viewer passes."""
        access = await self._rooms.access(caller, room_id)
        require_in_room(access)
        found = await self._registry.list(access.room.id)
        return [self._pass(access, caller, stream) for stream in found]

    async def delete(self, caller: Caller, room_id: str, stream_id: str) -> None:
        """Delete a stream of the room: its items leave the playlist, a running publish ends,
        its key stops working (``manage_live_streams``)."""
        access = await self._rooms.access(caller, room_id)
        access.require(Permission.MANAGE_LIVE_STREAMS)
        stream = await self._registry.get(stream_id)
        if stream is None or stream.room_id != access.room.id:
            raise _stream_not_found()
        await self._playlists.remove_live_stream(caller, access.room.id, stream_id)
        if not await self._registry.delete(stream_id, by=caller.actor()):
            raise _stream_not_found()  # deleted meanwhile
        self._kick(stream_id)

    async def playback(self, caller: Caller, room_id: str, media_id: str) -> ViewerPass | None:
        """The caller's pass for a live item of the room (None: not a stream of this server,
        or the stream is gone)."""
        access = await self._rooms.access(caller, room_id)
        require_in_room(access)
        item = await self._store.media(access.room.id, media_id)
        if item is None or item.source.get("kind") != "live":
            return None
        stream_id = item.source.get("streamId")
        stream = await self._registry.get(stream_id) if isinstance(stream_id, str) else None
        return None if stream is None else self._pass(access, caller, stream)

    async def current_stream(self, room_id: str) -> LiveNow | None:
        """The room's current media when it is a live stream known to the registry, with the
        room's fixed target latency (``liveTargetLatency``, None: automatic); None otherwise. A
        system read (no caller): live in step sends the stream's clock to whoever is in the
        room's channel."""
        state = await self._store.playback(room_id)
        if state.media_id is None or state.media_kind != "live":
            return None
        item = await self._store.media(room_id, state.media_id)
        stream_id = item.source.get("streamId") if item is not None else None
        if not isinstance(stream_id, str) or await self._registry.get(stream_id) is None:
            return None
        try:
            settings = await self._rooms.settings_of(room_id)
        except DomainError:  # settings a newer version wrote: automatic here
            settings = None
        fixed = settings.live_target_latency if settings is not None else 0.0
        return LiveNow(state.media_id, stream_id, fixed or None)

    def _pass(self, access: Access, caller: Caller, stream: StreamInfo) -> ViewerPass:
        live = self._is_live(stream.stream_id)
        diagnostics = None
        if access.role in _MEMBER_ROLES or (access.role is None and access.permissions):
            facts = self._profile(stream.stream_id) if live else None
            if facts is not None:
                watching = ViewerCounts.of(self._viewers(stream.stream_id))
                diagnostics = diagnose(facts, watching)
        # Only this room's streams get this room's token; a stream of no room plays openly,
        # and another room's stream is that room's to open (never minted here).
        if stream.room_id != access.room.id or anonymous_live(access.room, access.settings):
            return ViewerPass(stream, None, None, live, diagnostics)
        token, expires = self._mint(access.room.id, caller.user_id)
        return ViewerPass(stream, token, expires, live, diagnostics)


class RoomStream(Protocol):
    """What the gate reads of a stream record."""

    @property
    def room_id(self) -> str | None: ...


class RoomLiveGate:
    """The viewer gate of room streams (see the module docstring; ``ViewerGate`` seam).

    A stream of no room is admitted. A valid token for the stream's room admits without a
    database read; without one, the stream's room is looked up (through a short cache) and
    admits anonymous viewers only as :func:`anonymous_live` says. A refusal carries the token's
    problem (``live_token_invalid`` / ``live_token_expired``), else ``live_token_required``.
    """

    def __init__(
        self,
        rooms: RoomStore,
        check: CheckToken,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_ttl: float = GATE_CACHE_TTL_SECONDS,
        cache_max_entries: int = GATE_CACHE_MAX_ENTRIES,
    ) -> None:
        self._rooms = rooms
        self._check = check
        self._clock = clock
        self._ttl = cache_ttl
        self._max_entries = max(1, cache_max_entries)
        # room id -> (expires at, anonymous allowed); insertion order is expiry order
        self._cache: dict[str, tuple[float, bool]] = {}

    async def admit(self, stream: RoomStream, token: str | None) -> None:
        room_id = stream.room_id
        if room_id is None:
            return
        refusal: DomainError | None = None
        if token:
            try:
                self._check(token, room_id)
            except DomainError as exc:
                refusal = exc
            else:
                return
        if await self._anonymous(room_id):
            return
        raise refusal or DomainError(
            errors.LIVE_TOKEN_REQUIRED, "this room's live streams need a viewer token"
        )

    async def _anonymous(self, room_id: str) -> bool:
        now = self._clock()
        cached = self._cache.get(room_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        room = await self._rooms.room(room_id)
        allowed = False
        if room is not None:
            try:
                allowed = anonymous_live(room, load_settings(room.settings))
            except InvalidRoomSettings:  # a row from a newer version: not decided here
                allowed = False
        self._remember(room_id, allowed, self._clock() + self._ttl)
        return allowed

    def _remember(self, room_id: str, allowed: bool, expires: float) -> None:
        self._cache.pop(room_id, None)
        while len(self._cache) >= self._max_entries:
            del self._cache[next(iter(self._cache))]
        self._cache[room_id] = (expires, allowed)
