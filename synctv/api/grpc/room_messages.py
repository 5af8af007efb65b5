"""The rooms service's rows and views as ``synctv.v1`` room messages (and JSON documents in and
out of ``google.protobuf.Struct``): the gRPC twin of the REST routes' ``*Out`` models, field for
field, so the proto JSON mapping of a reply is the REST body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import ListValue, Struct

from synctv.api.grpc._gen.synctv.v1 import room_pb2
from synctv.api.http.routes.room_live import LivePlaybackOut
from synctv.api.http.routes.voice_ice import VoiceIceServersOut
from synctv.core.chat import message_json
from synctv.core.delivery import PlaybackInfo, info_json
from synctv.core.permissions import names
from synctv.core.playlists import PlaybackView, state_json
from synctv.core.rooms import Access
from synctv.realtime.presence import RoomPresence
from synctv.store.chat import ChatRow
from synctv.store.playlists import FolderRow, MediaRow
from synctv.store.rooms import MemberRow, RoomRow


def struct(document: Mapping[str, Any]) -> Struct:
    message = Struct()
    message.update(document)
    return message


def document(message: Struct) -> dict[str, Any]:
    """A Struct as the JSON object it stands for (numbers are floats: the services' validation
    takes a whole float where it wants an integer, as it does JSON's ``1.0``)."""
    return json_format.MessageToDict(message)


def string_list(message: ListValue) -> list[str]:
    """A ListValue of names; a non-string entry becomes a name no one knows (then refused)."""
    return [value if isinstance(value, str) else repr(value) for value in message]


def timestamp(moment: datetime) -> str:
    return moment.isoformat()


def room(row: RoomRow) -> room_pb2.Room:
    return room_pb2.Room(
        id=row.id,
        name=row.name,
        description=row.description,
        is_public=row.is_public,
        has_password=row.has_password,
        owner_id=row.owner_id,
        member_count=row.member_count,
        settings=struct(row.settings),
        created_at=timestamp(row.created_at),
    )


def room_access(access: Access) -> room_pb2.RoomAccess:
    return room_pb2.RoomAccess(
        room=room(access.room), my_role=access.role, my_permissions=names(access.permissions)
    )


def member(row: MemberRow) -> room_pb2.Member:
    return room_pb2.Member(
        user_id=row.user_id,
        username=row.username,
        role=row.role,
        added=list(row.added),
        removed=list(row.removed),
        joined_at=timestamp(row.joined_at),
    )


def presence(book: RoomPresence) -> room_pb2.RoomPresence:
    return room_pb2.RoomPresence(
        online=[
            room_pb2.OnlineMember(
                connection_id=p.connection_id,
                user_id=p.user_id,
                role=p.role,
                buffering=p.buffering,
                drift=p.drift,
            )
            for p in book.members()
        ],
        worst_drift=book.worst_drift(),
        buffering=book.buffering(),
    )


def media(row: MediaRow) -> room_pb2.Media:
    return room_pb2.Media(
        id=row.id,
        playlist_id=row.playlist_id,
        position=row.position,
        name=row.name,
        source=struct(row.source),
        proxy_mode=row.proxy_mode,
        kind=row.kind,
        duration=row.duration,
        added_by=row.added_by,
    )


def folder(row: FolderRow) -> room_pb2.Folder:
    return room_pb2.Folder(id=row.id, parent_id=row.parent_id, name=row.name, position=row.position)


def playback(
    view: PlaybackView,
    live: LivePlaybackOut | None = None,
    media: PlaybackInfo | None = None,
) -> room_pb2.Playback:
    """The state, and (GetPlayback) the caller's URLs of the live item playing, or the current
    media resolved for them (the REST body's ``playback``, through the same ``info_json``)."""
    state = state_json(view.state, view.server_time)
    resolved = None
    if media is not None:
        resolved = json_format.ParseDict(info_json(media), room_pb2.MediaPlayback())
    return room_pb2.Playback(
        media=resolved,
        playback=None if live is None else room_pb2.LivePlayback(**live.model_dump()),
        state=room_pb2.PlaybackState(
            media_id=state["mediaId"],
            kind=state["kind"],
            position=state["position"],
            speed=state["speed"],
            playing=state["playing"],
            version=state["version"],
            duration=state["duration"],
            server_time=state["serverTime"],
        ),
    )


def chat_message(row: ChatRow) -> room_pb2.ChatMessage:
    """A message as the channel's event and REST show it (:func:`~synctv.core.chat.message_json`,
    so the three cannot drift apart)."""
    shown = message_json(row)
    danmaku = shown["danmaku"]
    return room_pb2.ChatMessage(
        id=shown["id"],
        sender_id=shown["senderId"],
        sender_name=shown["senderName"],
        text=shown["text"],
        sent_at=shown["sentAt"],
        danmaku=None
        if danmaku is None
        else room_pb2.Danmaku(
            mode=danmaku["mode"],
            color=danmaku["color"],
            media_id=danmaku["mediaId"],
            position=danmaku["position"],
        ),
    )


def voice_ice_servers(listing: VoiceIceServersOut) -> room_pb2.VoiceIceServers:
    stun = listing.builtin_stun
    return room_pb2.VoiceIceServers(
        ice_servers=[
            room_pb2.IceServer(urls=s.urls, username=s.username, credential=s.credential)
            for s in listing.ice_servers
        ],
        builtin_stun=None
        if stun is None
        else room_pb2.BuiltinStun(
            url=stun.url,
            transports=stun.transports,
            reachable=stun.reachable,
            problem=stun.problem,
        ),
        turn_expires_at=listing.turn_expires_at,
        max_participants=listing.max_participants,
    )
