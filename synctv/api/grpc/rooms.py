"""``synctv.v1.RoomService`` on the public gRPC port: the operations of ``/api/rooms`` through
the same :class:`~synctv.core.rooms.RoomService`, :class:`~synctv.core.playlists.PlaylistService`,
:class:`~synctv.core.chat.ChatService`, :class:`~synctv.auth.room_passwords.RoomPasswords`,
:class:`~synctv.core.room_live.RoomLiveService` and
:class:`~synctv.api.http.routes.voice_ice.VoiceIce` calls as the REST routes
(``synctv.api.http.routes.rooms``, ``playlists``, ``chat``, ``room_channel``'s presence,
``room_live``, ``voice_ice``; the live URLs are built by ``room_live``'s own functions), so the
rules, the permission checks and the refusal codes are the REST API's. This module only
translates: the caller from the ``authorization`` metadata, messages to arguments, rows to messages
(:mod:`synctv.api.grpc.room_messages`), and the checks the REST schema makes before a route runs
(an enumerated string, a default for an absent field), always after the caller is known: an
unauthenticated call is refused as such whatever its message holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final, TypeVar, get_args

from google.protobuf.empty_pb2 import Empty
from google.protobuf.struct_pb2 import Struct
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from synctv import errors
from synctv.api.grpc import room_messages as out
from synctv.api.grpc._gen.synctv.v1 import room_grpc, room_pb2
from synctv.api.grpc.bridge import CallContext, unary_with_context
from synctv.api.grpc.room_channel import RoomChannelRpc
from synctv.api.http.routes.room_live import (
    UrlBases,
    diagnostics_fields,
    live_playback,
    stream_fields,
)
from synctv.api.http.routes.voice_ice import VoiceIce
from synctv.api.room_library import LibraryInstance, RoomLibrary
from synctv.api.room_session import RoomSessions
from synctv.auth.room_passwords import RoomPasswords
from synctv.auth.tokens import Claims
from synctv.core.chat import DEFAULT_PAGE as DEFAULT_CHAT_PAGE
from synctv.core.chat import MAX_TEXT, ChatService
from synctv.core.permissions import Permission
from synctv.core.playlists import NewItem, PlaybackOp, PlaylistService
from synctv.core.room_live import MAX_TITLE, RoomLiveService, ViewerPass
from synctv.core.rooms import Caller, GlobalRole, RoomService
from synctv.errors import DomainError
from synctv.realtime.presence import PresenceBook
from synctv.store.rooms import MemberRole

Authenticate = Callable[[str], Awaitable[Claims]]
"""Checks a bearer token (access or guest) and returns its claims; DomainError when it is bad
(the identity service's ``authenticate``)."""

# The REST schema's defaults for what a message leaves absent (routes.rooms / routes.playlists).
DEFAULT_PAGE_SIZE: Final = 20
DEFAULT_MEMBERS_PAGE_SIZE: Final = 50
DEFAULT_KICK_COOLDOWN: Final = 60
# routes.chat: the timeline's window when ``to`` is absent, and the longest text (before cleanup)
# and ids the schema lets through.
DEFAULT_TIMELINE_END: Final = 1e9
MAX_RAW_TEXT: Final = 4 * MAX_TEXT
MAX_ID: Final = 64
_ASSIGNABLE: Final[tuple[MemberRole, ...]] = ("admin", "member")
_OPS: Final = get_args(PlaybackOp)


Choice = TypeVar("Choice", bound=str)


def _one_of(value: str, allowed: tuple[Choice, ...], what: str) -> Choice:
    for choice in allowed:
        if value == choice:
            return choice
    raise DomainError(errors.INVALID_PARAMETER, f"{what} is one of {', '.join(allowed)}")


def _moment(text: str) -> datetime:
    """An RFC 3339 time (the REST body's ``AwareDatetime``); invalid_parameter otherwise."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(errors.INVALID_PARAMETER, "until is an RFC 3339 time") from None


def _global_role(role: str) -> GlobalRole:
    """An account's role as its token says (anything unknown counts as a plain user)."""
    known: tuple[GlobalRole, ...] = ("root", "admin")
    return next((r for r in known if r == role), "user")


class RoomServicer(room_grpc.RoomServiceBase):
    def __init__(
        self,
        authenticate: Authenticate,
        rooms: RoomService,
        playlists: PlaylistService,
        passwords: RoomPasswords,
        presence: PresenceBook,
        chat: ChatService,
        *,
        live: RoomLiveService,
        live_urls: UrlBases,
        voice_ice: VoiceIce,
        library: RoomLibrary | None = None,
        sessions: RoomSessions | None = None,
    ) -> None:
        self._channel = RoomChannelRpc(sessions, self._caller) if sessions is not None else None
        self._authenticate = authenticate
        self._rooms = rooms
        self._playlists = playlists
        self._passwords = passwords
        self._presence = presence
        self._chat = chat
        self._live = live
        self._live_urls = live_urls
        self._live_playback = live_playback(live, live_urls)
        self._voice_ice = voice_ice
        self._library = library or RoomLibrary()

    async def _caller(self, context: CallContext) -> Caller:
        """The caller as the rooms service sees it (REST: ``routes.rooms.caller``)."""
        token = context.bearer()
        if token is None:
            raise DomainError(errors.UNAUTHENTICATED, "sign in first")
        claims = await self._authenticate(token)
        if claims.type == "guest":
            return Caller(claims.user_id, "guest", claims.room_id, context.peer)
        return Caller(
            claims.user_id,
            _global_role(claims.role),
            None,
            context.peer,
            session_id=claims.session_id or None,
        )

    # -- rooms ---------------------------------------------------------------------------------

    @unary_with_context
    async def CreateRoom(
        self, request: room_pb2.CreateRoomRequest, context: CallContext
    ) -> room_pb2.RoomEnvelope:
        created = await self._rooms.create(
            await self._caller(context),
            name=request.name,
            description=request.description,
            is_public=request.is_public if request.HasField("is_public") else True,
            settings=out.document(request.settings) if request.HasField("settings") else None,
            password=request.password if request.HasField("password") else None,
        )
        return room_pb2.RoomEnvelope(room=out.room(created))

    @unary_with_context
    async def DiscoverRooms(
        self, request: room_pb2.DiscoverRoomsRequest, context: CallContext
    ) -> room_pb2.DiscoverRoomsResponse:
        await self._caller(context)
        page, size = request.page or 1, request.page_size or DEFAULT_PAGE_SIZE
        found, total = await self._rooms.discover(request.q, page, size)
        return room_pb2.DiscoverRoomsResponse(
            rooms=[out.room(r) for r in found], total=total, page=page, page_size=size
        )

    @unary_with_context
    async def ListMyRooms(self, request: Empty, context: CallContext) -> room_pb2.MyRooms:
        mine = await self._rooms.my_rooms(await self._caller(context))
        return room_pb2.MyRooms(rooms=[room_pb2.MyRoom(room=out.room(r), role=o) for r, o in mine])

    @unary_with_context
    async def GetRoom(self, request: room_pb2.RoomRef, context: CallContext) -> room_pb2.RoomAccess:
        return out.room_access(
            await self._rooms.access(await self._caller(context), request.room_id)
        )

    @unary_with_context
    async def UpdateRoom(
        self, request: room_pb2.UpdateRoomRequest, context: CallContext
    ) -> room_pb2.RoomEnvelope:
        updated = await self._rooms.update(
            await self._caller(context),
            request.room_id,
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            is_public=request.is_public if request.HasField("is_public") else None,
        )
        return room_pb2.RoomEnvelope(room=out.room(updated))

    @unary_with_context
    async def DeleteRoom(self, request: room_pb2.RoomRef, context: CallContext) -> Empty:
        await self._rooms.delete(await self._caller(context), request.room_id)
        return Empty()

    # -- settings ------------------------------------------------------------------------------

    @unary_with_context
    async def GetRoomSettings(self, request: room_pb2.RoomRef, context: CallContext) -> Struct:
        found = await self._rooms.settings(await self._caller(context), request.room_id)
        return out.struct(found.to_json())

    @unary_with_context
    async def UpdateRoomSettings(
        self, request: room_pb2.UpdateRoomSettingsRequest, context: CallContext
    ) -> Struct:
        changed = await self._rooms.patch_settings(
            await self._caller(context), request.room_id, out.document(request.patch)
        )
        return out.struct(changed.to_json())

    @unary_with_context
    async def ResetRoomSettings(self, request: room_pb2.RoomRef, context: CallContext) -> Struct:
        fresh = await self._rooms.reset_settings(await self._caller(context), request.room_id)
        return out.struct(fresh.to_json())

    # -- password ------------------------------------------------------------------------------

    @unary_with_context
    async def SetRoomPassword(
        self, request: room_pb2.SetRoomPasswordRequest, context: CallContext
    ) -> Empty:
        caller = await self._caller(context)
        if not request.password:
            raise DomainError(errors.INVALID_PARAMETER, "give a password (ClearRoomPassword)")
        await self._rooms.set_password(caller, request.room_id, request.password)
        return Empty()

    @unary_with_context
    async def ClearRoomPassword(self, request: room_pb2.RoomRef, context: CallContext) -> Empty:
        await self._rooms.set_password(await self._caller(context), request.room_id, None)
        return Empty()

    @unary_with_context
    async def RoomPasswordRegistrationStart(
        self, request: room_pb2.RoomPasswordRegistrationStartRequest, context: CallContext
    ) -> room_pb2.RoomPasswordRegistrationStartResponse:
        access = await self._rooms.access(await self._caller(context), request.room_id)
        access.require(Permission.MANAGE_ROOM_SETTINGS)
        handshake = await self._passwords.registration_start(
            request.room_id, request.registration_request
        )
        return room_pb2.RoomPasswordRegistrationStartResponse(
            session_id=handshake.session_id, registration_response=handshake.message
        )

    @unary_with_context
    async def RoomPasswordRegistrationFinish(
        self, request: room_pb2.RoomPasswordRegistrationFinishRequest, context: CallContext
    ) -> Empty:
        caller = await self._caller(context)
        record = await self._passwords.registration_finish(
            request.room_id, request.session_id, request.registration_upload
        )
        await self._rooms.set_password_record(caller, request.room_id, record)
        return Empty()

    @unary_with_context
    async def RoomPasswordLoginStart(
        self, request: room_pb2.RoomPasswordLoginStartRequest, context: CallContext
    ) -> room_pb2.RoomPasswordLoginStartResponse:
        caller = await self._caller(context)
        record = await self._rooms.password_record(caller, request.room_id)
        handshake = await self._passwords.login_start(
            request.room_id, record, request.credential_request, caller.address
        )
        return room_pb2.RoomPasswordLoginStartResponse(
            session_id=handshake.session_id, credential_response=handshake.message
        )

    @unary_with_context
    async def RoomPasswordLoginFinish(
        self, request: room_pb2.RoomPasswordLoginFinishRequest, context: CallContext
    ) -> room_pb2.JoinRoomResponse:
        caller = await self._caller(context)
        await self._passwords.login_finish(
            request.room_id, request.session_id, request.credential_finalization, caller.address
        )
        result = await self._rooms.join(caller, request.room_id, password_verified=True)
        return room_pb2.JoinRoomResponse(room=out.room(result.room), status=result.status)

    # -- members -------------------------------------------------------------------------------

    @unary_with_context
    async def JoinRoom(
        self, request: room_pb2.JoinRoomRequest, context: CallContext
    ) -> room_pb2.JoinRoomResponse:
        password = request.password if request.HasField("password") else None
        result = await self._rooms.join(await self._caller(context), request.room_id, password)
        return room_pb2.JoinRoomResponse(room=out.room(result.room), status=result.status)

    @unary_with_context
    async def LeaveRoom(self, request: room_pb2.RoomRef, context: CallContext) -> Empty:
        await self._rooms.leave(await self._caller(context), request.room_id)
        return Empty()

    @unary_with_context
    async def ListMembers(
        self, request: room_pb2.ListMembersRequest, context: CallContext
    ) -> room_pb2.Members:
        rows = await self._rooms.members(
            await self._caller(context),
            request.room_id,
            request.page or 1,
            request.page_size or DEFAULT_MEMBERS_PAGE_SIZE,
        )
        return room_pb2.Members(members=[out.member(m) for m in rows])

    @unary_with_context
    async def AddMember(self, request: room_pb2.AddMemberRequest, context: CallContext) -> Empty:
        caller = await self._caller(context)
        role = _one_of(request.role or "member", _ASSIGNABLE, "role")
        await self._rooms.add_member(caller, request.room_id, request.user_id, role)
        return Empty()

    @unary_with_context
    async def UpdateMember(
        self, request: room_pb2.UpdateMemberRequest, context: CallContext
    ) -> Empty:
        caller = await self._caller(context)
        role = _one_of(request.role, _ASSIGNABLE, "role") if request.HasField("role") else None
        await self._rooms.set_member(
            caller,
            request.room_id,
            request.user_id,
            role=role,
            added=out.string_list(request.added) if request.HasField("added") else None,
            removed=out.string_list(request.removed) if request.HasField("removed") else None,
        )
        return Empty()

    @unary_with_context
    async def KickMember(self, request: room_pb2.KickMemberRequest, context: CallContext) -> Empty:
        cooldown = (
            request.cooldown_seconds
            if request.HasField("cooldown_seconds")
            else DEFAULT_KICK_COOLDOWN
        )
        await self._rooms.kick(
            await self._caller(context), request.room_id, request.user_id, cooldown, request.reason
        )
        return Empty()

    @unary_with_context
    async def ListBans(self, request: room_pb2.RoomRef, context: CallContext) -> room_pb2.RoomBans:
        rows = await self._rooms.bans(await self._caller(context), request.room_id)
        return room_pb2.RoomBans(
            bans=[
                room_pb2.RoomBan(
                    user_id=b.user_id,
                    username=b.username,
                    reason=b.reason,
                    banned_by=b.banned_by,
                    banned_by_name=b.banned_by_name,
                    banned_at=out.timestamp(b.banned_at),
                    until=None if b.until is None else out.timestamp(b.until),
                )
                for b in rows
            ]
        )

    @unary_with_context
    async def BanUser(self, request: room_pb2.BanUserRequest, context: CallContext) -> Empty:
        until = _moment(request.until) if request.HasField("until") else None
        await self._rooms.ban(
            await self._caller(context), request.room_id, request.user_id, request.reason, until
        )
        return Empty()

    @unary_with_context
    async def UnbanUser(self, request: room_pb2.MemberRef, context: CallContext) -> Empty:
        await self._rooms.unban(await self._caller(context), request.room_id, request.user_id)
        return Empty()

    @unary_with_context
    async def ListJoinRequests(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.JoinRequests:
        rows = await self._rooms.join_requests(await self._caller(context), request.room_id)
        return room_pb2.JoinRequests(
            requests=[
                room_pb2.JoinRequestEntry(user_id=u, username=n, requested_at=out.timestamp(t))
                for u, n, t in rows
            ]
        )

    @unary_with_context
    async def ApproveJoinRequest(self, request: room_pb2.MemberRef, context: CallContext) -> Empty:
        await self._rooms.approve(await self._caller(context), request.room_id, request.user_id)
        return Empty()

    @unary_with_context
    async def RejectJoinRequest(self, request: room_pb2.MemberRef, context: CallContext) -> Empty:
        await self._rooms.reject(await self._caller(context), request.room_id, request.user_id)
        return Empty()

    @unary_with_context
    async def TransferOwnership(
        self, request: room_pb2.TransferOwnershipRequest, context: CallContext
    ) -> Empty:
        await self._rooms.transfer(
            await self._caller(context), request.room_id, request.new_owner_id
        )
        return Empty()

    @unary_with_context
    async def GetPresence(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.RoomPresence:
        access = await self._rooms.access(await self._caller(context), request.room_id)
        access.require(Permission.VIEW_MEMBERS)
        return out.presence(self._presence.room(request.room_id))

    # -- playlist ------------------------------------------------------------------------------

    @unary_with_context
    async def AddMedia(
        self, request: room_pb2.AddMediaRequest, context: CallContext
    ) -> room_pb2.MediaList:
        items = [
            NewItem(i.name, out.document(i.source), i.proxy_mode or "auto") for i in request.items
        ]
        rows = await self._playlists.add(
            await self._caller(context),
            request.room_id,
            items,
            request.playlist_id if request.HasField("playlist_id") else None,
        )
        return room_pb2.MediaList(media=[out.media(r) for r in rows])

    @unary_with_context
    async def ListMedia(
        self, request: room_pb2.ListMediaRequest, context: CallContext
    ) -> room_pb2.Playlist:
        found = await self._playlists.entries(
            await self._caller(context),
            request.room_id,
            request.playlist_id if request.HasField("playlist_id") else None,
        )
        return room_pb2.Playlist(
            playlist_id=found.playlist_id,
            folders=[out.folder(f) for f in found.folders],
            media=[out.media(m) for m in found.media],
        )

    @unary_with_context
    async def ClearMedia(self, request: room_pb2.RoomRef, context: CallContext) -> Empty:
        await self._playlists.clear(await self._caller(context), request.room_id)
        return Empty()

    @unary_with_context
    async def CreatePlaylist(
        self, request: room_pb2.CreatePlaylistRequest, context: CallContext
    ) -> room_pb2.Folder:
        parent = request.parent_id if request.HasField("parent_id") else None
        created = await self._playlists.create_folder(
            await self._caller(context), request.room_id, request.name, parent
        )
        return out.folder(created)

    @unary_with_context
    async def MoveMedia(
        self, request: room_pb2.MoveMediaRequest, context: CallContext
    ) -> room_pb2.Media:
        moved = await self._playlists.move(
            await self._caller(context),
            request.room_id,
            request.media_id,
            playlist_id=request.playlist_id if request.HasField("playlist_id") else None,
            before=request.before if request.HasField("before") else None,
            after=request.after if request.HasField("after") else None,
        )
        return out.media(moved)

    @unary_with_context
    async def DeleteMedia(self, request: room_pb2.MediaRef, context: CallContext) -> Empty:
        await self._playlists.delete(await self._caller(context), request.room_id, request.media_id)
        return Empty()

    # -- playback ------------------------------------------------------------------------------

    @unary_with_context
    async def GetPlayback(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.Playback:
        caller = await self._caller(context)
        view, media = await self._playlists.playback(caller, request.room_id)
        if media is not None:
            return out.playback(view, media=media)
        return out.playback(view, await self._live_playback(caller, request.room_id, view))

    @unary_with_context
    async def ControlPlayback(
        self, request: room_pb2.ControlPlaybackRequest, context: CallContext
    ) -> room_pb2.Playback:
        caller = await self._caller(context)
        op: PlaybackOp = _one_of(request.op, _OPS, "op")
        has = request.HasField
        view = await self._playlists.control(
            caller,
            request.room_id,
            op,
            position=request.position if has("position") else None,
            speed=request.speed if has("speed") else None,
            version=request.version if has("version") else None,
            expected_media_id=request.expected_media_id if has("expected_media_id") else None,
            client_sent_at=request.client_sent_at if has("client_sent_at") else None,
            clock_offset=request.clock_offset if has("clock_offset") else None,
        )
        return out.playback(view)

    @unary_with_context
    async def StartPlayback(
        self, request: room_pb2.StartPlaybackRequest, context: CallContext
    ) -> room_pb2.Playback:
        version = request.version if request.HasField("version") else None
        view = await self._playlists.start(
            await self._caller(context), request.room_id, request.media_id, version=version
        )
        return out.playback(view)

    async def _step(
        self, request: room_pb2.StepPlaybackRequest, context: CallContext, backwards: bool
    ) -> room_pb2.Playback:
        version = request.version if request.HasField("version") else None
        caller = await self._caller(context)
        return out.playback(await self._playlists.step(caller, request.room_id, backwards, version))

    @unary_with_context
    async def NextMedia(
        self, request: room_pb2.StepPlaybackRequest, context: CallContext
    ) -> room_pb2.Playback:
        return await self._step(request, context, backwards=False)

    @unary_with_context
    async def PreviousMedia(
        self, request: room_pb2.StepPlaybackRequest, context: CallContext
    ) -> room_pb2.Playback:
        return await self._step(request, context, backwards=True)

    @unary_with_context
    async def ListPlaybackHistory(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.PlaybackHistory:
        rows = await self._playlists.history(await self._caller(context), request.room_id)
        return room_pb2.PlaybackHistory(
            entries=[
                room_pb2.HistoryEntry(
                    media_id=m,
                    name=n,
                    chosen_by=c,
                    started_at=out.timestamp(t),
                    last_position=p,
                )
                for m, n, c, t, p in rows
            ]
        )

    # -- chat ----------------------------------------------------------------------------------

    @unary_with_context
    async def ListChatMessages(
        self, request: room_pb2.ListChatMessagesRequest, context: CallContext
    ) -> room_pb2.ChatHistory:
        caller = await self._caller(context)
        before = request.before if request.HasField("before") else None
        if before is not None and len(before) > MAX_ID:
            raise DomainError(errors.INVALID_PARAMETER, f"before is at most {MAX_ID} characters")
        page = await self._chat.history(
            caller, request.room_id, before, request.limit or DEFAULT_CHAT_PAGE
        )
        return room_pb2.ChatHistory(
            messages=[out.chat_message(r) for r in page.messages], next_before=page.next_before
        )

    @unary_with_context
    async def SendChatMessage(
        self, request: room_pb2.SendChatMessageRequest, context: CallContext
    ) -> room_pb2.ChatMessage:
        caller = await self._caller(context)
        if len(request.text) > MAX_RAW_TEXT:
            raise DomainError(
                errors.INVALID_CHAT_MESSAGE, f"a message is 1 to {MAX_TEXT} characters"
            )
        has = request.HasField
        row = await self._chat.send(
            caller,
            request.room_id,
            request.text,
            request.danmaku_mode if has("danmaku_mode") else None,
            request.danmaku_color if has("danmaku_color") else None,
        )
        return out.chat_message(row)

    @unary_with_context
    async def DeleteChatMessage(
        self, request: room_pb2.ChatMessageRef, context: CallContext
    ) -> Empty:
        await self._chat.delete(await self._caller(context), request.room_id, request.message_id)
        return Empty()

    @unary_with_context
    async def GetDanmakuTimeline(
        self, request: room_pb2.DanmakuTimelineRequest, context: CallContext
    ) -> room_pb2.DanmakuTimeline:
        caller = await self._caller(context)
        if not 1 <= len(request.media_id) <= MAX_ID:
            raise DomainError(errors.INVALID_PARAMETER, f"media_id is 1 to {MAX_ID} characters")
        end = request.end if request.HasField("end") else DEFAULT_TIMELINE_END
        found = await self._chat.timeline(
            caller, request.room_id, request.media_id, request.start, end
        )
        return room_pb2.DanmakuTimeline(
            danmaku=[out.chat_message(r) for r in found.danmaku], truncated=found.truncated
        )

    # -- live streams --------------------------------------------------------------------------

    @unary_with_context
    async def CreateLiveStream(
        self, request: room_pb2.CreateLiveStreamRequest, context: CallContext
    ) -> room_pb2.CreatedLiveStream:
        caller = await self._caller(context)
        if len(request.title) > MAX_TITLE:
            raise DomainError(errors.INVALID_PARAMETER, f"title is at most {MAX_TITLE} characters")
        created = await self._live.create(caller, request.room_id, request.title)
        return room_pb2.CreatedLiveStream(
            **stream_fields(self._live_urls, created.viewer),
            stream_key=created.stream_key,
            media_id=created.media.id,
        )

    @unary_with_context
    async def ListLiveStreams(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.LiveStreams:
        found = await self._live.streams(await self._caller(context), request.room_id)
        return room_pb2.LiveStreams(streams=[_live_stream(self._live_urls, v) for v in found])

    @unary_with_context
    async def DeleteLiveStream(
        self, request: room_pb2.LiveStreamRef, context: CallContext
    ) -> Empty:
        await self._live.delete(await self._caller(context), request.room_id, request.stream_id)
        return Empty()

    # -- voice ---------------------------------------------------------------------------------

    @unary_with_context
    async def GetVoiceIceServers(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.VoiceIceServers:
        """The built-in STUN's address is ``webrtc.public_host`` when set, else the host of the
        call's ``:authority`` (REST: of its ``Host`` header)."""
        listing = await self._voice_ice.servers(
            await self._caller(context), request.room_id, context.authority
        )
        return out.voice_ice_servers(listing)

    # -- the room's provider library -------------------------------------------------------------

    @unary_with_context
    async def ListRoomProviders(
        self, request: room_pb2.RoomRef, context: CallContext
    ) -> room_pb2.RoomProviders:
        found = await self._library.instances(await self._caller(context), request.room_id)
        return room_pb2.RoomProviders(instances=[_room_provider(i) for i in found])

    @unary_with_context
    async def BrowseRoomProvider(
        self, request: room_pb2.BrowseRoomProviderRequest, context: CallContext
    ) -> room_pb2.RoomProviderListing:
        listing = await self._library.browse(
            await self._caller(context), request.room_id, request.instance, request.path
        )
        return room_pb2.RoomProviderListing(
            instance=_room_provider(listing.instance),
            path=listing.path,
            entries=[
                room_pb2.ProviderEntry(name=e.name, path=e.ref, is_dir=e.is_dir, size=e.size)
                for e in listing.entries
            ],
        )

    # -- the realtime channel ------------------------------------------------------------------

    async def Channel(self, stream: Any) -> None:
        """The room channel as a stream (synctv.api.grpc.room_channel)."""
        if self._channel is None:
            raise GRPCError(Status.UNIMPLEMENTED, "this server has no room channel")
        await self._channel.handle(stream)


def _room_provider(instance: LibraryInstance) -> room_pb2.RoomProvider:
    return room_pb2.RoomProvider(
        id=instance.id, name=instance.name, kind=instance.kind, browsable=instance.browsable
    )


def _live_stream(bases: UrlBases, viewer: ViewerPass) -> room_pb2.LiveStream:
    """A listed stream, with its diagnostics for members (REST's ``LiveStreamOut``)."""
    found = viewer.diagnostics
    if found is None:
        return room_pb2.LiveStream(**stream_fields(bases, viewer))
    fields = diagnostics_fields(found)
    warnings = [room_pb2.StreamWarning(**w) for w in fields.pop("warnings")]
    viewers = room_pb2.LiveViewers(**fields.pop("viewers"))
    present = {k: v for k, v in fields.items() if v is not None}
    diagnostics = room_pb2.LiveDiagnostics(**present, warnings=warnings, viewers=viewers)
    return room_pb2.LiveStream(**stream_fields(bases, viewer), diagnostics=diagnostics)
