"""Rooms: ``/api/rooms`` (members, settings, join requests), their playlists and playback, chat
and danmaku (with their retention task), their gRPC twin ``synctv.v1.RoomService``; the realtime
room channel (``/ws/rooms/{room}``) fed by the room hub.

The server-wide rules (``server.allowRoomCreation``, ``server.maxRoomsPerUser``,
``room.defaultMaxMembers``, ``user.enableGuest``) are read from the runtime settings at each
request, so a change applies to the next one.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import trio

from synctv.api.grpc.admin_live import LiveUrls
from synctv.api.grpc.admin_rooms import RoomAdmin
from synctv.api.grpc.rooms import RoomServicer
from synctv.api.http.routes.chat import chat_router
from synctv.api.http.routes.playlists import playlists_router
from synctv.api.http.routes.providers import room_providers_router
from synctv.api.http.routes.room_channel import RoomChannel, presence_router
from synctv.api.http.routes.room_live import live_playback, room_live_router
from synctv.api.http.routes.rooms import guest_router, rooms_router
from synctv.api.http.routes.voice_ice import VoiceIce, voice_ice_router
from synctv.api.live_clock import LiveClocks
from synctv.api.realtime_messages import event_frame
from synctv.api.room_session import RoomSessions
from synctv.api.voice_signalling import VoiceSignalling
from synctv.app.feature import Feature, Services, Task
from synctv.app.identity_service import identity_service
from synctv.auth.live_tokens import LiveViewerTokens
from synctv.auth.room_passwords import RoomPasswords
from synctv.auth.server_setup import server_setup_from_seed
from synctv.core.autoplay import AutoAdvance
from synctv.core.chat import ChatRetention, ChatService
from synctv.core.playlists import PlaylistService
from synctv.core.room_live import RoomLiveService
from synctv.core.rooms import Limits, RoomService
from synctv.core.settings import (
    CHAT_MAX_MESSAGES_PER_ROOM,
    CHAT_MESSAGE_RETENTION_DAYS,
    ROOM_DEFAULT_MAX_MEMBERS,
    ROOM_PASSWORD_POLICY,
    SERVER_ALLOW_ROOM_CREATION,
    SERVER_MAX_ROOMS_PER_USER,
    USER_ENABLE_GUEST,
    WEBRTC_EXTERNAL_ICE_SERVERS,
    WEBRTC_MAX_VOICE_PARTICIPANTS_PER_ROOM,
)
from synctv.livestream.hub import StreamHub
from synctv.metrics import (
    ROOM_CHANNEL_SLOW_CUT,
    ROOM_PLAYBACK_DRIFT,
    VOICE_SESSIONS,
    export_snapshot,
)
from synctv.realtime.hub import RoomHub
from synctv.realtime.limits import ConnectionCaps
from synctv.realtime.presence import PresenceBook
from synctv.realtime.voice import VoiceSessions
from synctv.realtime.waiting import RoomWaiter
from synctv.rtmp.publisher_profile import PublisherProfile
from synctv.store.chat import ChatStore
from synctv.store.playlists import PlaylistStore
from synctv.store.room_cache import RoomReadCache
from synctv.store.rooms import EventRow, RoomStore


def room_service(
    services: Services, cache: RoomReadCache[Any] | None = None
) -> tuple[RoomService, RoomPasswords]:
    settings = services.settings
    limits = Limits(
        creation_allowed=lambda: settings.get(SERVER_ALLOW_ROOM_CREATION),
        max_rooms_per_user=lambda: settings.get(SERVER_MAX_ROOMS_PER_USER),
        default_max_members=lambda: settings.get(ROOM_DEFAULT_MAX_MEMBERS),
        guests_allowed=lambda: settings.get(USER_ENABLE_GUEST),
        password_policy=lambda: settings.get(ROOM_PASSWORD_POLICY),
    )
    passwords = RoomPasswords(
        server_setup_from_seed(services.secrets.opaque_server_setup),
        services.state,
        services.limits,
    )
    return RoomService(RoomStore(services.db, cache), limits, passwords), passwords


async def build(services: Services) -> Feature:
    # GET /api/rooms/{id} reads through it; the room's events invalidate it (its task listens).
    read_cache: RoomReadCache[Any] = RoomReadCache(clock=trio.current_time)
    rooms, passwords = room_service(services, read_cache)
    playlists = PlaylistService(rooms, PlaylistStore(services.db), resolver=services.room_media)
    room_live, urls = _room_live(services, rooms, playlists)
    services.room_library.attach_rooms(rooms)
    settings = services.settings
    sessions = VoiceSessions()
    voice = VoiceSignalling(
        rooms, sessions, lambda: settings.get(WEBRTC_MAX_VOICE_PARTICIPANTS_PER_ROOM)
    )

    def room_event(event: EventRow) -> None:
        voice.room_event(event)  # voice ends for who may no longer talk
        live_clocks.room_event(event)
        room_sessions.room_event(event)  # the channel ends for who was kicked, banned, ...

    hub = RoomHub(
        services.db,
        RoomStore(services.db),
        event_frame,
        on_slow=ROOM_CHANNEL_SLOW_CUT.inc,
        on_event=room_event,
    )
    presence = PresenceBook(
        on_drift=ROOM_PLAYBACK_DRIFT.observe, on_change=lambda room: waiter.look_at(room)
    )
    # Live in step: this node's stream hub says when frames arrived (the livestream layer
    # knows no rooms: its clock is handed in).
    live_clocks = LiveClocks(hub, presence, room_live.current_stream, services.hub.media_clock)
    waiter = RoomWaiter(presence, playlists)
    chat_store = ChatStore(services.db)
    chat = ChatService(rooms, chat_store, services.limits.check_chat_message)
    # Read at each run, so a changed setting applies from the next one.
    retention = ChatRetention(
        chat_store,
        lambda: services.settings.get(CHAT_MESSAGE_RETENTION_DAYS),
        lambda: services.settings.get(CHAT_MAX_MESSAGES_PER_ROOM),
    )
    caps = services.config.realtime
    identity = identity_service(services)  # reads callers' tokens, issues guest tokens
    room_sessions = RoomSessions(
        rooms,
        playlists,
        hub,
        presence,
        chat,
        voice,
        ConnectionCaps(
            caps.max_connections_per_user, caps.max_connections_per_room, caps.max_connections
        ),
        session_revoked=identity.session_revoked,
    )
    channel = RoomChannel(room_sessions)
    ice = VoiceIce(
        rooms,
        services.config.webrtc,
        bound_stun_port=services.addresses.stun_port,
        external_servers=lambda: settings.get(WEBRTC_EXTERNAL_ICE_SERVERS),
        max_participants=lambda: settings.get(WEBRTC_MAX_VOICE_PARTICIPANTS_PER_ROOM),
    )
    routers = [
        rooms_router(rooms, passwords),
        playlists_router(playlists, live_playback(room_live, urls)),
        room_providers_router(services.room_library),
        room_live_router(room_live, urls),
        guest_router(rooms, identity.tokens.issue_guest, services.limits.check_guest_token),
        presence_router(rooms, presence),
        chat_router(chat),
        voice_ice_router(ice),
    ]
    return Feature(
        "rooms",
        api_routers=routers,
        websocket_routes=[channel.route()],
        grpc_handlers=[
            RoomServicer(
                identity.authenticate,
                rooms,
                playlists,
                passwords,
                presence,
                chat,
                live=room_live,
                live_urls=urls,
                voice_ice=ice,
                library=services.room_library,
                sessions=room_sessions,
            )
        ],
        admin_handlers=[RoomAdmin(rooms)],
        tasks=[
            Task("room_hub", hub.run),
            Task("room_read_cache", partial(read_cache.run, services.db)),
            Task("live_clock", live_clocks.run),
            Task("chat_retention", retention.run),
            Task("wait_for_everyone", waiter.run),
            Task("auto_advance", AutoAdvance(playlists, services.room_media).run),
        ],
        collectors=[partial(export_snapshot, VOICE_SESSIONS, sessions.statistics)],
    )


def _room_live(
    services: Services, rooms: RoomService, playlists: PlaylistService
) -> tuple[RoomLiveService, LiveUrls]:
    """A room's own live streams: the shared registry, viewer tokens minted for the room's
    members (the live feature's gate checks them), this node's hub for status and kicks."""
    tokens = LiveViewerTokens(
        services.secrets.jwt_secret, time.time, ttl=services.config.security.live_token_ttl_seconds
    )
    hub = services.hub
    service = RoomLiveService(
        rooms,
        playlists,
        PlaylistStore(services.db),
        services.live_streams,
        tokens.issue,
        is_live=lambda stream_id: hub.get(stream_id) is not None,
        kick=hub.kick,
        profile=partial(_publisher_profile, hub),
        viewers=partial(_stream_viewers, hub),
    )
    urls = LiveUrls(
        services.config,
        http_binds=services.addresses.http_binds,
        rtmp_port=services.addresses.rtmp_port,
    )
    return service, urls


def _stream_viewers(hub: StreamHub, stream_id: str) -> dict[str, int]:
    """Who watches the stream on this node now, by protocol (HLS sessions included)."""
    stats = hub.stream_statistics(stream_id)
    return {} if stats is None else stats.viewers


def _publisher_profile(hub: StreamHub, stream_id: str) -> PublisherProfile | None:
    """What this node's RTMP server recorded of the stream's publisher (the diagnostics)."""
    found = hub.publisher_profile(stream_id)
    return found if isinstance(found, PublisherProfile) else None
