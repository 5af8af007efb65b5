"""Rooms: ``/api/rooms`` (members, settings, join requests), their playlists and playback, and
the realtime room channel (``/ws/rooms/{room}``) fed by the room hub.

The server-wide rules (``server.allowRoomCreation``, ``server.maxRoomsPerUser``,
``room.defaultMaxMembers``, ``user.enableGuest``) are read from the runtime settings at each
request, so a change applies to the next one.
"""

from __future__ import annotations

import time

from synctv.api.grpc.admin_rooms import RoomAdmin
from synctv.api.http.routes.playlists import playlists_router
from synctv.api.http.routes.room_channel import RoomChannel, presence_router
from synctv.api.http.routes.rooms import guest_router, rooms_router
from synctv.api.realtime_messages import event_frame
from synctv.app.feature import Feature, Services, Task
from synctv.auth.room_passwords import RoomPasswords
from synctv.auth.server_setup import server_setup_from_seed
from synctv.auth.tokens import TokenIssuer
from synctv.core.autoplay import AutoAdvance
from synctv.core.playlists import PlaylistService
from synctv.core.rooms import Limits, RoomService
from synctv.core.settings import (
    ROOM_DEFAULT_MAX_MEMBERS,
    ROOM_PASSWORD_POLICY,
    SERVER_ALLOW_ROOM_CREATION,
    SERVER_MAX_ROOMS_PER_USER,
    USER_ENABLE_GUEST,
)
from synctv.metrics import ROOM_CHANNEL_SLOW_CUT, ROOM_PLAYBACK_DRIFT
from synctv.realtime.hub import RoomHub
from synctv.realtime.presence import PresenceBook
from synctv.store.playlists import PlaylistStore
from synctv.store.rooms import RoomStore


def room_service(services: Services) -> tuple[RoomService, RoomPasswords]:
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
    return RoomService(RoomStore(services.db), limits, passwords), passwords


async def build(services: Services) -> Feature:
    rooms, passwords = room_service(services)
    playlists = PlaylistService(rooms, PlaylistStore(services.db), resolver=services.room_media)
    hub = RoomHub(
        services.db, RoomStore(services.db), event_frame, on_slow=ROOM_CHANNEL_SLOW_CUT.inc
    )
    presence = PresenceBook(on_drift=ROOM_PLAYBACK_DRIFT.observe)
    channel = RoomChannel(rooms, playlists, hub, presence)
    guests = TokenIssuer(
        services.secrets.jwt_secret,
        time.time,
        guest_ttl=services.config.security.guest_token_ttl_seconds,
    )
    routers = [
        rooms_router(rooms, passwords),
        playlists_router(playlists),
        guest_router(rooms, guests.issue_guest),
        presence_router(rooms, presence),
    ]
    return Feature(
        "rooms",
        api_routers=routers,
        websocket_routes=[channel.route()],
        admin_handlers=[RoomAdmin(rooms)],
        tasks=[
            Task("room_hub", hub.run),
            Task("auto_advance", AutoAdvance(playlists, services.room_media).run),
        ],
    )
