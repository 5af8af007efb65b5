"""``synctv.v1.RoomService`` seen by Google's grpcio client against the whole server on a real
PostgreSQL: rooms, settings, members, join requests, bans and kicks, room passwords (plain and
OPAQUE), the playlist and playback, chat and danmaku, the room's live streams, the voice ICE
servers, each answer what the REST API answers; refusals carry the catalogue code and its
details in ``google.rpc.ErrorInfo``. And the twin rule of issue 12: every REST operation under
``/api/rooms`` (from the served OpenAPI document) has its named rpc, served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import ListValue, Struct

from synctv.api.grpc._gen.synctv.v1 import room_pb2
from synctv.auth import opaque
from synctv.core.permissions import ALL, ROLE_DEFAULTS, Permission, names
from tests.support.grpc_client import Refused, call, grpc_address
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, room_events, sign_up
from tests.support.websocket import channel, receive, send

pytestmark = pytest.mark.slow
M = TypeVar("M", bound=Message)
SERVICE = room_pb2.DESCRIPTOR.services_by_name["RoomService"]

# Every REST operation under /api/rooms and its gRPC twin in synctv.v1.RoomService. A route
# added without a twin fails test_every_rest_operation_has_a_grpc_twin until it has one here.
TWINS: dict[tuple[str, str], str] = {
    ("POST", "/api/rooms"): "CreateRoom",
    ("GET", "/api/rooms/discover"): "DiscoverRooms",
    ("GET", "/api/rooms/mine"): "ListMyRooms",
    ("GET", "/api/rooms/{room_id}"): "GetRoom",
    ("PATCH", "/api/rooms/{room_id}"): "UpdateRoom",
    ("DELETE", "/api/rooms/{room_id}"): "DeleteRoom",
    ("GET", "/api/rooms/{room_id}/settings"): "GetRoomSettings",
    ("PATCH", "/api/rooms/{room_id}/settings"): "UpdateRoomSettings",
    ("POST", "/api/rooms/{room_id}/settings/reset"): "ResetRoomSettings",
    ("PUT", "/api/rooms/{room_id}/password"): "SetRoomPassword",
    ("DELETE", "/api/rooms/{room_id}/password"): "ClearRoomPassword",
    ("POST", "/api/rooms/{room_id}/password/opaque/registration/start"): (
        "RoomPasswordRegistrationStart"
    ),
    ("POST", "/api/rooms/{room_id}/password/opaque/registration/finish"): (
        "RoomPasswordRegistrationFinish"
    ),
    ("POST", "/api/rooms/{room_id}/password/opaque/login/start"): "RoomPasswordLoginStart",
    ("POST", "/api/rooms/{room_id}/password/opaque/login/finish"): "RoomPasswordLoginFinish",
    ("PUT", "/api/rooms/{room_id}/members/@me"): "JoinRoom",
    ("DELETE", "/api/rooms/{room_id}/members/@me"): "LeaveRoom",
    ("GET", "/api/rooms/{room_id}/members"): "ListMembers",
    ("POST", "/api/rooms/{room_id}/members"): "AddMember",
    ("PATCH", "/api/rooms/{room_id}/members/{user_id}"): "UpdateMember",
    ("DELETE", "/api/rooms/{room_id}/members/{user_id}"): "KickMember",
    ("GET", "/api/rooms/{room_id}/bans"): "ListBans",
    ("PUT", "/api/rooms/{room_id}/bans/{user_id}"): "BanUser",
    ("DELETE", "/api/rooms/{room_id}/bans/{user_id}"): "UnbanUser",
    ("GET", "/api/rooms/{room_id}/join-requests"): "ListJoinRequests",
    ("POST", "/api/rooms/{room_id}/join-requests/{user_id}/approve"): "ApproveJoinRequest",
    ("POST", "/api/rooms/{room_id}/join-requests/{user_id}/reject"): "RejectJoinRequest",
    ("POST", "/api/rooms/{room_id}/owner"): "TransferOwnership",
    ("GET", "/api/rooms/{room_id}/presence"): "GetPresence",
    ("POST", "/api/rooms/{room_id}/media"): "AddMedia",
    ("GET", "/api/rooms/{room_id}/media"): "ListMedia",
    ("DELETE", "/api/rooms/{room_id}/media"): "ClearMedia",
    ("POST", "/api/rooms/{room_id}/playlists"): "CreatePlaylist",
    ("POST", "/api/rooms/{room_id}/media/{media_id}/move"): "MoveMedia",
    ("DELETE", "/api/rooms/{room_id}/media/{media_id}"): "DeleteMedia",
    ("GET", "/api/rooms/{room_id}/playback"): "GetPlayback",
    ("PATCH", "/api/rooms/{room_id}/playback"): "ControlPlayback",
    ("POST", "/api/rooms/{room_id}/playback/start"): "StartPlayback",
    ("POST", "/api/rooms/{room_id}/playback/next"): "NextMedia",
    ("POST", "/api/rooms/{room_id}/playback/previous"): "PreviousMedia",
    ("GET", "/api/rooms/{room_id}/playback/history"): "ListPlaybackHistory",
    ("GET", "/api/rooms/{room_id}/chat"): "ListChatMessages",
    ("POST", "/api/rooms/{room_id}/chat"): "SendChatMessage",
    ("DELETE", "/api/rooms/{room_id}/chat/{message_id}"): "DeleteChatMessage",
    ("GET", "/api/rooms/{room_id}/chat/timeline"): "GetDanmakuTimeline",
    ("POST", "/api/rooms/{room_id}/live"): "CreateLiveStream",
    ("GET", "/api/rooms/{room_id}/live"): "ListLiveStreams",
    ("DELETE", "/api/rooms/{room_id}/live/{stream_id}"): "DeleteLiveStream",
    ("GET", "/api/rooms/{room_id}/webrtc/ice-servers"): "GetVoiceIceServers",
    ("GET", "/api/rooms/{room_id}/providers"): "ListRoomProviders",
    ("GET", "/api/rooms/{room_id}/providers/{instance}/browse"): "BrowseRoomProvider",
}
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


class Rooms:
    """One person's RoomService client (their token in the metadata)."""

    def __init__(self, address: str, token: str | None, authority: str | None = None) -> None:
        self.address = address
        self.token = token
        self.authority = authority  # the calls' :authority (default: the address)

    async def __call__(self, method: str, request: Message, reply: type[M]) -> M:
        path = f"/synctv.v1.RoomService/{method}"
        return await call(self.address, path, request, reply, self.token, self.authority)

    async def refused(self, method: str, request: Message) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(Refused) as failure:
            await self(method, request, Empty)
        return failure.value.status, failure.value.code

    async def denied(self, method: str, request: Message) -> str:
        """The permission named by a permission_denied refusal."""
        with pytest.raises(Refused) as failure:
            await self(method, request, Empty)
        refusal = failure.value
        assert (refusal.status, refusal.code) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "permission_denied",
        )
        return str(refusal.details.get("permission", ""))


def struct(document: dict[str, Any]) -> Struct:
    message = Struct()
    message.update(document)
    return message


def permission_list(*permissions: str) -> ListValue:
    message = ListValue()
    message.extend(list(permissions))
    return message


def without_empty(value: Any) -> Any:
    """A REST body as proto3 JSON leaves it: no nulls, no empty lists or objects."""
    if isinstance(value, dict):
        kept = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def as_json(message: Message) -> dict[str, Any]:
    """The proto3 JSON mapping, defaults included (as a REST body has them)."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def without_nulls(body: Any) -> Any:
    """A REST body as the proto JSON mapping writes it (absent optional fields, not null)."""
    if isinstance(body, dict):
        return {k: without_nulls(v) for k, v in body.items() if v is not None}
    if isinstance(body, list):
        return [without_nulls(v) for v in body]
    return body


def url_item(name: str) -> room_pb2.NewMedia:
    return room_pb2.NewMedia(
        name=name, source=struct({"kind": "url", "url": f"https://media.test/{name}.mp4"})
    )


async def people(server: Any, *names_: str) -> list[tuple[Member, Rooms]]:
    address = grpc_address(server.controller)
    found = []
    for n, name in enumerate(names_, start=2):
        member = await sign_up(server, n, name)
        found.append((member, Rooms(address, member.token)))
    return found


async def test_rooms_settings_and_members(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        (alice_rest, alice), (bob_rest, bob), (carol_rest, carol) = await people(
            server, "alice", "bob", "carol"
        )
        anonymous = Rooms(grpc_address(server.controller), None)
        assert await anonymous.refused("ListMyRooms", Empty()) == (
            grpc.StatusCode.UNAUTHENTICATED,
            "authentication_required",
        )
        created = await alice(
            "CreateRoom",
            room_pb2.CreateRoomRequest(
                name=" Movie night ", settings=struct({"chatEnabled": False})
            ),
            room_pb2.RoomEnvelope,
        )
        room = created.room
        assert (room.name, room.is_public, room.owner_id, room.member_count) == (
            "Movie night",
            True,
            alice_rest.id,
            1,
        )
        assert room.settings["chatEnabled"] is False
        ref = room_pb2.RoomRef(room_id=room.id)
        path = f"/api/rooms/{room.id}"

        mine = await alice("GetRoom", ref, room_pb2.RoomAccess)
        assert (mine.my_role, list(mine.my_permissions)) == ("creator", names(ALL))
        # The proto JSON mapping of the reply is the REST body.
        assert as_json(mine) == without_nulls(await alice_rest.ok("GET", path))
        visiting = await bob("GetRoom", ref, room_pb2.RoomAccess)
        assert (visiting.HasField("my_role"), list(visiting.my_permissions)) == (False, [])
        found = await bob(
            "DiscoverRooms",
            room_pb2.DiscoverRoomsRequest(q="movie"),
            room_pb2.DiscoverRoomsResponse,
        )
        assert ([r.id for r in found.rooms], found.total, found.page, found.page_size) == (
            [room.id],
            1,
            1,
            20,
        )

        joined = await bob(
            "JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id), room_pb2.JoinRoomResponse
        )
        assert (joined.status, joined.room.id) == ("joined", room.id)
        bobs = await bob("GetRoom", ref, room_pb2.RoomAccess)
        assert (bobs.my_role, bobs.room.member_count) == ("member", 2)
        assert list(bobs.my_permissions) == names(ROLE_DEFAULTS["member"])
        assert [
            (r.room.id, r.role) for r in (await bob("ListMyRooms", Empty(), room_pb2.MyRooms)).rooms
        ] == [(room.id, "member")]

        # A member without the permission is refused with it named, as over REST.
        update = room_pb2.UpdateRoomRequest(room_id=room.id, name="Mine now")
        assert await bob.denied("UpdateRoom", update) == "manage_room_settings"
        assert await bob_rest.refused("PATCH", path, {"name": "Mine now"}) == (
            403,
            "permission_denied",
        )
        assert await bob.denied("ListJoinRequests", ref) == "review_join_requests"
        assert await bob.denied("DeleteRoom", ref) == "delete_room"
        assert await carol.denied("GetPresence", ref) == "view_members"  # a visitor
        presence = await bob("GetPresence", ref, room_pb2.RoomPresence)
        assert (list(presence.online), presence.HasField("worst_drift")) == ([], False)

        renamed = await alice(
            "UpdateRoom",
            room_pb2.UpdateRoomRequest(room_id=room.id, description="Fridays"),
            room_pb2.RoomEnvelope,
        )
        assert (renamed.room.name, renamed.room.description) == ("Movie night", "Fridays")

        # Settings: partial patches merge one level; bad values are refused with the key named.
        patched = await alice(
            "UpdateRoomSettings",
            room_pb2.UpdateRoomSettingsRequest(
                room_id=room.id, patch=struct({"autoPlay": {"mode": "shuffle"}, "maxMembers": 5})
            ),
            Struct,
        )
        settings = as_json(patched)
        assert (settings["maxMembers"], settings["autoPlay"]) == (
            5,
            {"enabled": True, "mode": "shuffle", "delay": 3},
        )
        assert settings == await alice_rest.ok("GET", f"{path}/settings")
        assert as_json(await alice("GetRoomSettings", ref, Struct)) == settings
        bad = room_pb2.UpdateRoomSettingsRequest(room_id=room.id, patch=struct({"maxMembers": 0}))
        assert await alice.refused("UpdateRoomSettings", bad) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_room_settings",
        )
        assert as_json(await alice("ResetRoomSettings", ref, Struct))["maxMembers"] == 100

        # Own overrides: alice takes chat from bob; the list present but empty gives it back.
        take = room_pb2.UpdateMemberRequest(
            room_id=room.id, user_id=bob_rest.id, removed=permission_list("send_chat_messages")
        )
        await alice("UpdateMember", take, Empty)
        assert (
            "send_chat_messages"
            not in (await bob("GetRoom", ref, room_pb2.RoomAccess)).my_permissions
        )
        members = await alice(
            "ListMembers", room_pb2.ListMembersRequest(room_id=room.id), room_pb2.Members
        )
        assert [(m.username, m.role, list(m.removed)) for m in members.members] == [
            ("alice", "creator", []),
            ("bob", "member", ["send_chat_messages"]),
        ]
        give_back = room_pb2.UpdateMemberRequest(
            room_id=room.id, user_id=bob_rest.id, removed=permission_list()
        )
        await alice("UpdateMember", give_back, Empty)
        assert (
            "send_chat_messages" in (await bob("GetRoom", ref, room_pb2.RoomAccess)).my_permissions
        )
        assert await alice.refused(
            "AddMember",
            room_pb2.AddMemberRequest(room_id=room.id, user_id=carol_rest.id, role="creator"),
        ) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_parameter")

        # Join requests, kicks and bans.
        await alice(
            "UpdateRoomSettings",
            room_pb2.UpdateRoomSettingsRequest(
                room_id=room.id, patch=struct({"requireApproval": True})
            ),
            Struct,
        )
        join = room_pb2.JoinRoomRequest(room_id=room.id)
        assert (await carol("JoinRoom", join, room_pb2.JoinRoomResponse)).status == "pending"
        pending = await alice("ListJoinRequests", ref, room_pb2.JoinRequests)
        assert [r.username for r in pending.requests] == ["carol"]
        carol_ref = room_pb2.MemberRef(room_id=room.id, user_id=carol_rest.id)
        await alice("ApproveJoinRequest", carol_ref, Empty)
        assert (await carol("GetRoom", ref, room_pb2.RoomAccess)).my_role == "member"
        await alice(
            "KickMember",
            room_pb2.KickMemberRequest(
                room_id=room.id, user_id=carol_rest.id, cooldown_seconds=3600
            ),
            Empty,
        )
        assert await carol.refused("JoinRoom", join) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "room_kick_cooldown",
        )
        assert await alice.refused(
            "BanUser",
            room_pb2.BanUserRequest(room_id=room.id, user_id=carol_rest.id, until="soon"),
        ) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_parameter")
        await alice(
            "BanUser",
            room_pb2.BanUserRequest(
                room_id=room.id, user_id=carol_rest.id, reason="x", until="2099-01-01T00:00:00Z"
            ),
            Empty,
        )
        banned = (await alice("ListBans", ref, room_pb2.RoomBans)).bans
        assert [(b.reason, b.until) for b in banned] == [("x", "2099-01-01T00:00:00+00:00")]
        await alice(
            "BanUser",
            room_pb2.BanUserRequest(room_id=room.id, user_id=carol_rest.id, reason="spoilers"),
            Empty,
        )
        banned = (await alice("ListBans", ref, room_pb2.RoomBans)).bans
        assert [(b.user_id, b.username, b.reason) for b in banned] == [
            (carol_rest.id, "carol", "spoilers")
        ]
        assert (banned[0].banned_by_name, banned[0].HasField("until")) == ("alice", False)
        assert banned[0].banned_at.endswith("+00:00")
        await alice("UnbanUser", carol_ref, Empty)
        assert list((await alice("ListBans", ref, room_pb2.RoomBans)).bans) == []
        assert await alice.refused("UnbanUser", carol_ref) == (
            grpc.StatusCode.NOT_FOUND,
            "member_not_found",
        )
        assert await alice.refused("RejectJoinRequest", carol_ref) == (
            grpc.StatusCode.NOT_FOUND,
            "join_request_not_found",
        )

        # Ownership, leaving, deleting.
        assert await alice.refused("LeaveRoom", ref) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "creator_must_transfer",
        )
        await alice(
            "TransferOwnership",
            room_pb2.TransferOwnershipRequest(room_id=room.id, new_owner_id=bob_rest.id),
            Empty,
        )
        assert (await bob("GetRoom", ref, room_pb2.RoomAccess)).my_role == "creator"
        await alice("LeaveRoom", ref, Empty)
        await bob("DeleteRoom", ref, Empty)
        assert await bob.refused("GetRoom", ref) == (grpc.StatusCode.NOT_FOUND, "room_not_found")
        events = [t for _, t in await room_events(server, room.id)]
        assert events[:2] == ["room_created", "member_joined"]
        assert events[-3:] == ["owner_transferred", "member_left", "room_deleted"]


async def test_room_passwords(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        (_, owner), (_, dave), (_, erin), (_, fred) = await people(
            server, "owner", "dave", "erin", "fred"
        )
        room = (
            await owner(
                "CreateRoom",
                room_pb2.CreateRoomRequest(name="Locked", is_public=False, password="first one"),
                room_pb2.RoomEnvelope,
            )
        ).room
        assert (room.is_public, room.has_password) == (False, True)
        join = room_pb2.JoinRoomRequest(room_id=room.id)
        assert await dave.refused("JoinRoom", join) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "room_password_required",
        )
        join.password = "first one"
        assert (await dave("JoinRoom", join, room_pb2.JoinRoomResponse)).status == "joined"

        # The owner sets a new password with OPAQUE (it never leaves the client) ...
        request, state = opaque.client_registration_start(b"second one")
        begun = await owner(
            "RoomPasswordRegistrationStart",
            room_pb2.RoomPasswordRegistrationStartRequest(
                room_id=room.id, registration_request=request
            ),
            room_pb2.RoomPasswordRegistrationStartResponse,
        )
        upload = opaque.client_registration_finish(state, begun.registration_response)
        await owner(
            "RoomPasswordRegistrationFinish",
            room_pb2.RoomPasswordRegistrationFinishRequest(
                room_id=room.id,
                session_id=begun.session_id,
                registration_upload=upload.registration_upload,
            ),
            Empty,
        )
        # ... and erin joins with OPAQUE; a member without manage_room_settings may not set it.
        ke1, login = opaque.client_login_start(b"second one")
        started = await erin(
            "RoomPasswordLoginStart",
            room_pb2.RoomPasswordLoginStartRequest(room_id=room.id, credential_request=ke1),
            room_pb2.RoomPasswordLoginStartResponse,
        )
        ke3 = opaque.client_login_finish(login, started.credential_response)
        joined = await erin(
            "RoomPasswordLoginFinish",
            room_pb2.RoomPasswordLoginFinishRequest(
                room_id=room.id,
                session_id=started.session_id,
                credential_finalization=ke3.credential_finalization,
            ),
            room_pb2.JoinRoomResponse,
        )
        assert joined.status == "joined"
        again = room_pb2.SetRoomPasswordRequest(room_id=room.id, password="mine")
        assert await dave.denied("SetRoomPassword", again) == "manage_room_settings"
        assert await fred.refused(
            "JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id, password="first one")
        ) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "room_password_required",
        )
        await owner("ClearRoomPassword", room_pb2.RoomRef(room_id=room.id), Empty)
        fred_joined = await fred(
            "JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id), room_pb2.JoinRoomResponse
        )
        assert (fred_joined.status, fred_joined.room.has_password) == ("joined", False)


async def test_playlist_and_playback(tmp_path: Path, postgres: RunningPostgres) -> None:
    async with identity_server(tmp_path, postgres) as server:
        (alice_rest, alice), (_, bob) = await people(server, "alice", "bob")
        films = room_pb2.CreateRoomRequest(name="Films", settings=struct({"allowGuestJoin": True}))
        room = (await alice("CreateRoom", films, room_pb2.RoomEnvelope)).room
        other = (await alice("CreateRoom", films, room_pb2.RoomEnvelope)).room
        ref = room_pb2.RoomRef(room_id=room.id)
        await bob("JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id), room_pb2.JoinRoomResponse)
        # A guest token (REST) works over gRPC for its one room, and only there.
        issued = await alice_rest.person.post("/api/auth/guest-token", {"roomId": room.id})
        guest = Rooms(alice.address, issued.json()["token"])
        assert (await guest("GetRoom", ref, room_pb2.RoomAccess)).my_role == "guest"
        assert await guest.refused("GetRoom", room_pb2.RoomRef(room_id=other.id)) == (
            grpc.StatusCode.NOT_FOUND,
            "room_not_found",
        )
        assert await guest.refused("JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id)) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "permission_denied",
        )

        added = await alice(
            "AddMedia",
            room_pb2.AddMediaRequest(room_id=room.id, items=[url_item("one"), url_item("two")]),
            room_pb2.MediaList,
        )
        one, two = added.media
        assert (one.name, one.kind, one.proxy_mode, one.HasField("duration")) == (
            "one",
            "regular",
            "auto",
            False,
        )
        bad = room_pb2.AddMediaRequest(
            room_id=room.id,
            items=[room_pb2.NewMedia(name="x", source=struct({"kind": "url", "url": "ftp://h/x"}))],
        )
        assert await alice.refused("AddMedia", bad) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_media_source",
        )
        folder = await alice(
            "CreatePlaylist",
            room_pb2.CreatePlaylistRequest(room_id=room.id, name="Extras"),
            room_pb2.Folder,
        )
        moved = await alice(
            "MoveMedia",
            room_pb2.MoveMediaRequest(room_id=room.id, media_id=two.id, before=one.id),
            room_pb2.Media,
        )
        assert moved.position < one.position
        listed = await bob(
            "ListMedia", room_pb2.ListMediaRequest(room_id=room.id), room_pb2.Playlist
        )
        assert ([f.name for f in listed.folders], [m.id for m in listed.media]) == (
            ["Extras"],
            [two.id, one.id],
        )
        assert as_json(listed) == without_nulls(
            await alice_rest.ok("GET", f"/api/rooms/{room.id}/media")
        )
        assert folder.id in {f.id for f in listed.folders}

        # Playback: start, a seek with the version seen, a stale version refused.
        started = await alice(
            "StartPlayback",
            room_pb2.StartPlaybackRequest(room_id=room.id, media_id=one.id),
            room_pb2.Playback,
        )
        assert (started.state.media_id, started.state.playing) == (one.id, True)
        seek = room_pb2.ControlPlaybackRequest(
            room_id=room.id, op="seek", position=30.0, version=started.state.version
        )
        sought = await alice("ControlPlayback", seek, room_pb2.Playback)
        assert 30.0 <= sought.state.position < 31.0
        assert await alice.refused("ControlPlayback", seek) == (
            grpc.StatusCode.ABORTED,
            "version_conflict",
        )
        assert await alice.refused(
            "ControlPlayback", room_pb2.ControlPlaybackRequest(room_id=room.id, op="rewind")
        ) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_parameter")
        # A member has neither control_playback_state nor navigate_playback nor delete_media.
        pause = room_pb2.ControlPlaybackRequest(room_id=room.id, op="pause")
        assert await bob.denied("ControlPlayback", pause) == "control_playback_state"
        step = room_pb2.StepPlaybackRequest(room_id=room.id)
        assert await bob.denied("NextMedia", step) == "navigate_playback"
        media_ref = room_pb2.MediaRef(room_id=room.id, media_id=one.id)
        assert await bob.denied("DeleteMedia", media_ref) == "delete_media"
        assert await bob.denied("ClearMedia", ref) == "clear_media"
        assert await bob.denied("ListPlaybackHistory", ref) == "view_playback_history"

        assert (await alice("PreviousMedia", step, room_pb2.Playback)).state.media_id == two.id
        assert (await alice("NextMedia", step, room_pb2.Playback)).state.media_id == one.id
        state = (await guest("GetPlayback", ref, room_pb2.Playback)).state
        rest = (await alice_rest.ok("GET", f"/api/rooms/{room.id}/playback"))["state"]
        assert (state.media_id, state.version, state.playing) == (
            rest["mediaId"],
            rest["version"],
            rest["playing"],
        )
        history = await alice("ListPlaybackHistory", ref, room_pb2.PlaybackHistory)
        assert [e.media_id for e in history.entries][:3] == [one.id, two.id, one.id]
        assert history.entries[-1].chosen_by == alice_rest.id

        await alice("DeleteMedia", media_ref, Empty)
        stopped = (await alice("GetPlayback", ref, room_pb2.Playback)).state
        assert stopped.HasField("media_id") is False
        await alice("ClearMedia", ref, Empty)
        emptied = await alice(
            "ListMedia", room_pb2.ListMediaRequest(room_id=room.id), room_pb2.Playlist
        )
        assert (list(emptied.media), list(emptied.folders)) == ([], [])


async def test_chat_and_danmaku(tmp_path: Path, postgres: RunningPostgres) -> None:
    """Chat over gRPC is chat over REST and the channel: a message sent here is the REST
    history's and every connection's chat_message event; danmaku are stamped and replay along
    the timeline; deletes and refusals are REST's."""
    async with identity_server(tmp_path, postgres) as server:
        (alice_rest, alice), (bob_rest, bob), (_, carol) = await people(
            server, "alice", "bob", "carol"
        )
        room = (
            await alice(
                "CreateRoom", room_pb2.CreateRoomRequest(name="Chat"), room_pb2.RoomEnvelope
            )
        ).room
        await bob("JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id), room_pb2.JoinRoomResponse)
        media = (
            await alice(
                "AddMedia",
                room_pb2.AddMediaRequest(room_id=room.id, items=[url_item("film")]),
                room_pb2.MediaList,
            )
        ).media[0]
        path = f"/api/rooms/{room.id}/chat"
        r = {"room_id": room.id}

        async with channel(server.base, room.id, alice_rest) as ws:
            await send(ws, {"hello": {}})
            assert "welcome" in await receive(ws)
            # Sent over gRPC, cleaned as REST and the channel clean it.
            sent = await bob(
                "SendChatMessage",
                room_pb2.SendChatMessageRequest(**r, text="  <b>hi</b>\x00\u202e "),
                room_pb2.ChatMessage,
            )
            assert (sent.text, sent.sender_id, sent.sender_name) == (
                "<b>hi</b>",
                bob_rest.id,
                "bob",
            )
            assert sent.HasField("danmaku") is False
            # Every connection hears of it: the event's payload is the reply's JSON.
            event = (await receive(ws)).get("event", {})
            while event.get("type") != "chat_message":  # (a snapshot may overlap an event)
                event = (await receive(ws)).get("event", {})
            assert (event["type"], event["actor"]) == ("chat_message", bob_rest.id)
            assert without_nulls(event["payload"]) == as_json(sent)

        # Seen in the REST history, field for field.
        history = await alice_rest.ok("GET", path)
        assert [m["id"] for m in history["messages"]] == [sent.id]
        assert without_nulls(history["messages"][0]) == as_json(sent)

        # A danmaku needs media selected; then it is stamped with where the room is.
        scroll = room_pb2.SendChatMessageRequest(
            **r, text="look\nhere", danmaku_mode="scroll", danmaku_color="#FF0000"
        )
        assert await alice.refused("SendChatMessage", scroll) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_chat_message",
        )
        await alice_rest.ok("POST", f"/api/rooms/{room.id}/playback/start", {"mediaId": media.id})
        paused = await alice_rest.ok("PATCH", f"/api/rooms/{room.id}/playback", {"op": "pause"})
        version = int(paused["state"]["version"])
        await alice_rest.ok(
            "PATCH",
            f"/api/rooms/{room.id}/playback",
            {"op": "seek", "position": 30.0, "version": version},
        )
        danmaku = await alice("SendChatMessage", scroll, room_pb2.ChatMessage)
        assert danmaku.text == "look here"  # one line
        assert (danmaku.danmaku.mode, danmaku.danmaku.color, danmaku.danmaku.media_id) == (
            "scroll",
            "#ff0000",
            media.id,
        )
        assert danmaku.danmaku.position == pytest.approx(30.0, abs=0.01)
        top = await bob(
            "SendChatMessage",
            room_pb2.SendChatMessageRequest(**r, text="top", danmaku_mode="top"),
            room_pb2.ChatMessage,
        )
        assert top.danmaku.color == "#ffffff"

        # The timeline: over gRPC as over REST, and windowed.
        whole = await bob(
            "GetDanmakuTimeline",
            room_pb2.DanmakuTimelineRequest(**r, media_id=media.id),
            room_pb2.DanmakuTimeline,
        )
        assert ([d.id for d in whole.danmaku], whole.truncated) == ([danmaku.id, top.id], False)
        rest_timeline = await bob_rest.ok("GET", f"{path}/timeline?media={media.id}")
        assert as_json(whole) == without_nulls(rest_timeline)
        later = await bob(
            "GetDanmakuTimeline",
            room_pb2.DanmakuTimelineRequest(**r, media_id=media.id, start=31.0),
            room_pb2.DanmakuTimeline,
        )
        assert list(later.danmaku) == []
        window = room_pb2.DanmakuTimelineRequest(**r, media_id=media.id, start=29.0, end=30.5)
        assert len((await bob("GetDanmakuTimeline", window, room_pb2.DanmakuTimeline)).danmaku) == 2
        backwards = room_pb2.DanmakuTimelineRequest(**r, media_id=media.id, start=5.0, end=1.0)
        assert await bob.refused("GetDanmakuTimeline", backwards) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_parameter",
        )

        # History pages: newest first, with the cursor of the older page; as REST's.
        first = await bob(
            "ListChatMessages", room_pb2.ListChatMessagesRequest(**r, limit=2), room_pb2.ChatHistory
        )
        assert [m.id for m in first.messages] == [top.id, danmaku.id]
        assert first.next_before == danmaku.id
        assert as_json(first) == without_nulls(await bob_rest.ok("GET", f"{path}?limit=2"))
        rest = await bob(
            "ListChatMessages",
            room_pb2.ListChatMessagesRequest(**r, before=first.next_before),
            room_pb2.ChatHistory,
        )
        assert ([m.id for m in rest.messages], rest.HasField("next_before")) == ([sent.id], False)
        too_many = room_pb2.ListChatMessagesRequest(**r, limit=101)
        assert await bob.refused("ListChatMessages", too_many) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_parameter",
        )

        # Deleting: another's needs delete_chat_messages (a member has not), one's own does not.
        theirs = room_pb2.ChatMessageRef(**r, message_id=danmaku.id)
        assert await bob.denied("DeleteChatMessage", theirs) == "delete_chat_messages"
        await bob("DeleteChatMessage", room_pb2.ChatMessageRef(**r, message_id=top.id), Empty)
        await alice("DeleteChatMessage", room_pb2.ChatMessageRef(**r, message_id=sent.id), Empty)
        assert await alice.refused(
            "DeleteChatMessage", room_pb2.ChatMessageRef(**r, message_id=sent.id)
        ) == (grpc.StatusCode.NOT_FOUND, "chat_message_not_found")
        assert [m["id"] for m in (await bob_rest.ok("GET", path))["messages"]] == [danmaku.id]
        assert [t for _, t in await room_events(server, room.id)][-2:] == [
            "chat_message_deleted",
            "chat_message_deleted",
        ]

        # Refusals: the text's length (before and after cleanup), a bad mode, a visitor, chat off.
        for text in ("", " \x00 ", "x" * 501, "x" * 5000):
            assert await bob.refused(
                "SendChatMessage", room_pb2.SendChatMessageRequest(**r, text=text)
            ) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_chat_message"), len(text)
        sideways = room_pb2.SendChatMessageRequest(**r, text="x", danmaku_mode="sideways")
        assert await bob.refused("SendChatMessage", sideways) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "invalid_chat_message",
        )
        hello = room_pb2.SendChatMessageRequest(**r, text="hello")
        assert await carol.denied("SendChatMessage", hello) == "send_chat_messages"
        assert await carol.denied("ListChatMessages", room_pb2.ListChatMessagesRequest(**r)) == (
            "view_chat_history"
        )
        await alice_rest.ok("PATCH", f"/api/rooms/{room.id}/settings", {"chatEnabled": False})
        assert await bob.refused("SendChatMessage", hello) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "chat_disabled",
        )
        gone = await bob(
            "ListChatMessages", room_pb2.ListChatMessagesRequest(**r), room_pb2.ChatHistory
        )
        assert [m.id for m in gone.messages] == [danmaku.id]  # reading is still allowed


def without_token(url: str) -> str:
    return url.split("?", 1)[0]


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def untokened(body: dict[str, Any]) -> dict[str, Any]:
    """A stream's or a playback's URLs without their viewer token (minted per call) and its
    expiry (an int64: a JSON string over gRPC)."""
    return {
        k: without_token(v) if k.endswith("Url") else v for k, v in body.items() if k != "expiresAt"
    }


async def gate(url: str) -> int:
    """The status of a HEAD on a live URL: 503 once past the viewer gate (nobody publishes)."""
    async with httpx.AsyncClient(timeout=20) as client:
        return (await client.head(url)).status_code


async def test_live_streams(tmp_path: Path, postgres: RunningPostgres) -> None:
    """A room's live streams over gRPC are REST's: created (the key shown once, the stream an
    item of the playlist), listed and deleted through the same service, the same URLs with the
    caller's own viewer token, which the live gate admits; GetPlayback carries the playing
    stream's URLs as REST's playback does."""
    async with identity_server(tmp_path, postgres) as server:
        (owner_rest, owner), (member_rest, member), (_, outsider) = await people(
            server, "owner", "member", "outsider"
        )
        private = room_pb2.CreateRoomRequest(name="Films", is_public=False)
        room = (await owner("CreateRoom", private, room_pb2.RoomEnvelope)).room
        other = (await outsider("CreateRoom", private, room_pb2.RoomEnvelope)).room
        r = {"room_id": room.id}
        ref = room_pb2.RoomRef(**r)
        await member("JoinRoom", room_pb2.JoinRoomRequest(**r), room_pb2.JoinRoomResponse)

        created = await owner(
            "CreateLiveStream",
            room_pb2.CreateLiveStreamRequest(**r, title="Friday"),
            room_pb2.CreatedLiveStream,
        )
        stream = created.stream_id
        rtmp_port = server.controller.addresses.rtmp[0][1]
        assert created.rtmp_server == f"rtmp://127.0.0.1:{rtmp_port}/{room.id}"
        assert (created.title, created.live, bool(created.stream_key)) == ("Friday", False, True)
        assert created.HasField("expires_at")  # a private room: the URLs carry a token
        assert (
            created.flv_url == f"{server.base}/live/{stream}.flv?token={token_of(created.flv_url)}"
        )
        assert created.hls_url.startswith(f"{server.base}/live/{stream}/index.m3u8?token=")
        assert created.rtmp_url.startswith(
            f"rtmp://127.0.0.1:{rtmp_port}/{room.id}/{stream}?token="
        )
        # The token opens the gate (nobody publishes: 503); without it, the gate refuses.
        assert await gate(created.flv_url) == 503
        assert await gate(without_token(created.flv_url)) == 401
        # The stream is the playlist's live item.
        [item] = (
            await member("ListMedia", room_pb2.ListMediaRequest(**r), room_pb2.Playlist)
        ).media
        assert (item.id, item.kind) == (created.media_id, "live")
        assert as_json(item.source) == {"kind": "live", "streamId": stream}

        # Listed over gRPC as over REST, each with the caller's own token.
        listed = await member("ListLiveStreams", ref, room_pb2.LiveStreams)
        [mine] = listed.streams
        assert token_of(mine.flv_url) != token_of(created.flv_url)
        assert await gate(mine.hls_url) == 503
        rest = await member_rest.ok("GET", f"/api/rooms/{room.id}/live")
        assert [untokened(s) for s in as_json(listed)["streams"]] == [
            untokened(without_nulls(s)) for s in rest["streams"]
        ]
        # Field for field the REST models (their OpenAPI schemas).
        schemas = (await owner_rest.person.http.get("/api/openapi.json")).json()["components"][
            "schemas"
        ]
        assert set(as_json(created)) == set(schemas["CreatedLiveOut"]["properties"])
        # diagnostics: absent while nobody publishes (REST's null)
        assert set(as_json(mine)) | {"diagnostics"} == set(schemas["LiveStreamOut"]["properties"])

        # The playback of the live item: the caller's URLs, as REST's playback field.
        await owner(
            "StartPlayback", room_pb2.StartPlaybackRequest(**r, media_id=item.id), room_pb2.Playback
        )
        playing = await member("GetPlayback", ref, room_pb2.Playback)
        assert (playing.state.kind, playing.playback.kind, playing.playback.stream_id) == (
            "live",
            "live",
            stream,
        )
        assert token_of(playing.playback.flv_url) != token_of(created.flv_url)
        assert await gate(playing.playback.flv_url) == 503
        rest_playing = await member_rest.ok("GET", f"/api/rooms/{room.id}/playback")
        assert untokened(as_json(playing)["playback"]) == untokened(rest_playing["playback"])
        assert abs(playing.playback.expires_at - rest_playing["playback"]["expiresAt"]) <= 2
        assert set(as_json(playing.playback)) == set(schemas["LivePlaybackOut"]["properties"])

        # Refusals: REST's.
        assert (
            await member.denied(
                "CreateLiveStream", room_pb2.CreateLiveStreamRequest(**r, title="mine")
            )
            == "manage_live_streams"
        )
        mine_ref = room_pb2.LiveStreamRef(**r, stream_id=stream)
        assert await member.denied("DeleteLiveStream", mine_ref) == "manage_live_streams"
        assert await outsider.refused("ListLiveStreams", ref) == (
            grpc.StatusCode.NOT_FOUND,
            "room_not_found",
        )
        for title in ("x" * 201, "a\x07b"):
            assert await owner.refused(
                "CreateLiveStream", room_pb2.CreateLiveStreamRequest(**r, title=title)
            ) == (grpc.StatusCode.INVALID_ARGUMENT, "invalid_parameter"), title
        # Another room's stream is not this room's to delete.
        elsewhere = await outsider(
            "CreateLiveStream",
            room_pb2.CreateLiveStreamRequest(room_id=other.id),
            room_pb2.CreatedLiveStream,
        )
        assert await owner.refused(
            "DeleteLiveStream", room_pb2.LiveStreamRef(**r, stream_id=elsewhere.stream_id)
        ) == (grpc.StatusCode.NOT_FOUND, "stream_not_found")
        assert await gate(elsewhere.flv_url) == 503

        # Deleting: the item leaves the playlist, playback stops, the URLs are gone.
        await owner("DeleteLiveStream", mine_ref, Empty)
        assert list((await member("ListLiveStreams", ref, room_pb2.LiveStreams)).streams) == []
        assert (
            list(
                (await member("ListMedia", room_pb2.ListMediaRequest(**r), room_pb2.Playlist)).media
            )
            == []
        )
        stopped = await member("GetPlayback", ref, room_pb2.Playback)
        assert (stopped.state.HasField("media_id"), stopped.HasField("playback")) == (False, False)
        assert await gate(created.flv_url) == 404
        assert await owner.refused("DeleteLiveStream", mine_ref) == (
            grpc.StatusCode.NOT_FOUND,
            "stream_not_found",
        )


TURN = {"turn": {"urls": ["turn:turn.test:3478"], "shared_secret": "k", "ttl_seconds": 600}}


async def test_voice_ice_servers(tmp_path: Path, postgres: RunningPostgres) -> None:
    """GetVoiceIceServers is REST's list: the built-in STUN at the host of the call's
    :authority (REST: Host) unless webrtc.public_host is set, a TURN credential of the
    caller's own, and REST's refusals."""
    async with identity_server(tmp_path, postgres, webrtc=TURN) as server:
        (owner_rest, owner), (member_rest, member), (_, visitor) = await people(
            server, "owner", "member", "visitor"
        )
        room = (
            await owner(
                "CreateRoom", room_pb2.CreateRoomRequest(name="Talk"), room_pb2.RoomEnvelope
            )
        ).room
        r = {"room_id": room.id}
        ref = room_pb2.RoomRef(**r)
        await member("JoinRoom", room_pb2.JoinRoomRequest(**r), room_pb2.JoinRoomResponse)
        path = f"/api/rooms/{room.id}/webrtc/ice-servers"
        stun_port = server.controller.addresses.stun_port()

        found = await member("GetVoiceIceServers", ref, room_pb2.VoiceIceServers)
        stun, turn = found.ice_servers
        assert list(stun.urls) == [f"stun:127.0.0.1:{stun_port}"]
        assert (stun.HasField("username"), stun.HasField("credential")) == (False, False)
        assert found.builtin_stun.url == f"stun:127.0.0.1:{stun_port}"
        assert (list(found.builtin_stun.transports), found.builtin_stun.reachable) == (
            ["udp", "tcp"],
            True,
        )
        assert found.builtin_stun.HasField("problem") is False
        assert list(turn.urls) == ["turn:turn.test:3478"]
        assert turn.username == f"{found.turn_expires_at}:{member_rest.id}"
        assert found.max_participants == 8
        # The proto JSON mapping is the REST body (the int64 expiry as a string).
        rest = await member_rest.ok("GET", path)
        mapped = as_json(found)
        assert abs(int(mapped.pop("turnExpiresAt")) - rest.pop("turnExpiresAt")) <= 2
        for entry in (*mapped["iceServers"], *rest["iceServers"]):
            entry.pop("username", None), entry.pop("credential", None)
        assert mapped == without_nulls(rest)

        # Another :authority, another advertised host (as another Host header over REST).
        elsewhere = Rooms(member.address, member.token, authority=f"localhost:{stun_port}")
        moved = await elsewhere("GetVoiceIceServers", ref, room_pb2.VoiceIceServers)
        assert list(moved.ice_servers[0].urls) == [f"stun:localhost:{stun_port}"]
        assert moved.builtin_stun.url == f"stun:localhost:{stun_port}"

        # Refusals: a visitor, a member without use_voice_chat, voice turned off.
        assert await visitor.denied("GetVoiceIceServers", ref) == ""
        await owner(
            "UpdateMember",
            room_pb2.UpdateMemberRequest(
                **r, user_id=member_rest.id, removed=permission_list("use_voice_chat")
            ),
            Empty,
        )
        assert await member.denied("GetVoiceIceServers", ref) == "use_voice_chat"
        await owner_rest.ok("PATCH", f"/api/rooms/{room.id}/settings", {"voiceChatEnabled": False})
        assert await owner.refused("GetVoiceIceServers", ref) == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "voice_disabled",
        )


async def test_voice_ice_servers_at_the_public_host(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """With webrtc.public_host set, the built-in STUN is advertised there whatever the call's
    :authority (the probe finds nobody at 127.0.0.2: unreachable, as REST reports it)."""
    async with identity_server(tmp_path, postgres, webrtc={"public_host": "127.0.0.2"}) as server:
        [(_, owner)] = await people(server, "owner")
        room = (
            await owner(
                "CreateRoom", room_pb2.CreateRoomRequest(name="Talk"), room_pb2.RoomEnvelope
            )
        ).room
        port = server.controller.addresses.stun_port()
        caller = Rooms(owner.address, owner.token, authority="localhost")
        found = await caller(
            "GetVoiceIceServers", room_pb2.RoomRef(room_id=room.id), room_pb2.VoiceIceServers
        )
        assert [list(s.urls) for s in found.ice_servers] == [[f"stun:127.0.0.2:{port}"]]
        assert (found.builtin_stun.reachable, found.builtin_stun.problem) == (
            False,
            "connection refused",
        )
        assert found.HasField("turn_expires_at") is False


def rest_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation under /api/rooms in an OpenAPI document."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path == "/api/rooms" or path.startswith("/api/rooms/")
        for method in item
        if method in _HTTP_METHODS
    }


async def test_every_rest_operation_has_a_grpc_twin(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    async with identity_server(tmp_path, postgres) as server:
        http = server.person(2).http
        operations = rest_operations((await http.get("/api/openapi.json")).json())
        assert len(operations) >= 40  # the document is the served one, with the rooms in it
        untwinned = sorted(operations - TWINS.keys())
        assert not untwinned, f"REST operations without a gRPC twin in TWINS: {untwinned}"
        gone = sorted(TWINS.keys() - operations)
        assert not gone, f"TWINS names operations the REST API does not have: {gone}"
        rpcs = {method.name for method in SERVICE.methods} - set(STREAM_TWINS)
        assert not set(TWINS.values()) - rpcs, "a twin named in TWINS is not in room.proto"
        assert not rpcs - set(TWINS.values()), "an rpc of room.proto is nobody's twin"
        assert len(set(TWINS.values())) == len(TWINS)  # one rpc per operation

        # Each rpc is served and reaches our handler (not UNIMPLEMENTED): it asks for a caller.
        anonymous = Rooms(grpc_address(server.controller), None)
        for rpc in sorted(rpcs):
            assert await anonymous.refused(rpc, Empty()) == (
                grpc.StatusCode.UNAUTHENTICATED,
                "authentication_required",
            ), rpc


# Streams: twins of the WebSocket routes (not in the OpenAPI document); tests/realtime has their
# own tests (test_channel_grpc.py).
STREAM_TWINS = {"Channel": "/ws/rooms/{room_id}"}

# The rpcs any caller who can see the room may call (no room permission of their own), and why.
NEEDS_NO_PERMISSION = {
    "Channel",  # members, admitted guests, platform admins: the room channel's own admission
    "CreateRoom", "DiscoverRooms", "ListMyRooms", "GetRoom", "GetRoomSettings",  # any account
    "JoinRoom", "LeaveRoom", "RoomPasswordLoginStart", "RoomPasswordLoginFinish",  # joining
    "ListMedia", "GetPlayback", "ListLiveStreams",  # members (a visitor is refused: below)
    # Checks its OPAQUE session first (the REST route's order), then manage_room_settings.
    "RoomPasswordRegistrationFinish",
}  # fmt: skip


async def test_every_rpc_refuses_without_its_permission(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """A room that takes every permission from members: each rpc answers PERMISSION_DENIED with
    the permission it needs in ErrorInfo (the REST table's twin), and every rpc is either in the
    table or in NEEDS_NO_PERMISSION."""
    async with identity_server(tmp_path, postgres) as server:
        (_, owner), (_, member), (other_rest, _), (_, visitor) = await people(
            server, "owner", "member", "other", "visitor"
        )
        room = (
            await owner("CreateRoom", room_pb2.CreateRoomRequest(name="r"), room_pb2.RoomEnvelope)
        ).room
        for person in (member, Rooms(owner.address, other_rest.token)):
            await person(
                "JoinRoom", room_pb2.JoinRoomRequest(room_id=room.id), room_pb2.JoinRoomResponse
            )
        item = (
            await owner(
                "AddMedia",
                room_pb2.AddMediaRequest(room_id=room.id, items=[url_item("x")]),
                room_pb2.MediaList,
            )
        ).media[0]
        owners_message = await owner(
            "SendChatMessage",
            room_pb2.SendChatMessageRequest(room_id=room.id, text="mine"),
            room_pb2.ChatMessage,
        )
        everything = [p.value for p in Permission if p.value != "delete_room"]
        await owner(
            "UpdateRoomSettings",
            room_pb2.UpdateRoomSettingsRequest(
                room_id=room.id, patch=struct({"permissions": {"member": {"removed": everything}}})
            ),
            Struct,
        )
        access = await member("GetRoom", room_pb2.RoomRef(room_id=room.id), room_pb2.RoomAccess)
        assert list(access.my_permissions) == []

        r = {"room_id": room.id}
        them = {**r, "user_id": other_rest.id}
        denied: list[tuple[str, Message, str]] = [
            ("UpdateRoom", room_pb2.UpdateRoomRequest(**r, name="x"), "manage_room_settings"),
            ("DeleteRoom", room_pb2.RoomRef(**r), "delete_room"),
            ("UpdateRoomSettings", room_pb2.UpdateRoomSettingsRequest(**r), "manage_room_settings"),
            ("ResetRoomSettings", room_pb2.RoomRef(**r), "manage_room_settings"),
            (
                "SetRoomPassword",
                room_pb2.SetRoomPasswordRequest(**r, password="p"),
                "manage_room_settings",
            ),
            ("ClearRoomPassword", room_pb2.RoomRef(**r), "manage_room_settings"),
            (
                "RoomPasswordRegistrationStart",
                room_pb2.RoomPasswordRegistrationStartRequest(**r, registration_request=b"x"),
                "manage_room_settings",
            ),
            ("ListMembers", room_pb2.ListMembersRequest(**r), "view_members"),
            ("GetPresence", room_pb2.RoomRef(**r), "view_members"),
            ("AddMember", room_pb2.AddMemberRequest(**them), "add_members"),
            (
                "UpdateMember",
                room_pb2.UpdateMemberRequest(**them, role="member"),
                "manage_member_permissions",
            ),
            ("KickMember", room_pb2.KickMemberRequest(**them), "remove_members"),
            ("ListBans", room_pb2.RoomRef(**r), "remove_members"),
            ("BanUser", room_pb2.BanUserRequest(**them), "remove_members"),
            ("UnbanUser", room_pb2.MemberRef(**them), "remove_members"),
            ("ListJoinRequests", room_pb2.RoomRef(**r), "review_join_requests"),
            ("ApproveJoinRequest", room_pb2.MemberRef(**them), "review_join_requests"),
            ("RejectJoinRequest", room_pb2.MemberRef(**them), "review_join_requests"),
            (
                "TransferOwnership",
                room_pb2.TransferOwnershipRequest(**r, new_owner_id=other_rest.id),
                "",
            ),
            ("AddMedia", room_pb2.AddMediaRequest(**r, items=[url_item("y")]), "manage_own_media"),
            ("CreatePlaylist", room_pb2.CreatePlaylistRequest(**r, name="f"), "reorder_media"),
            ("MoveMedia", room_pb2.MoveMediaRequest(**r, media_id=item.id), "reorder_media"),
            ("DeleteMedia", room_pb2.MediaRef(**r, media_id=item.id), "delete_media"),
            ("ClearMedia", room_pb2.RoomRef(**r), "clear_media"),
            (
                "ControlPlayback",
                room_pb2.ControlPlaybackRequest(**r, op="pause"),
                "control_playback_state",
            ),
            (
                "StartPlayback",
                room_pb2.StartPlaybackRequest(**r, media_id=item.id),
                "navigate_playback",
            ),
            ("NextMedia", room_pb2.StepPlaybackRequest(**r), "navigate_playback"),
            ("PreviousMedia", room_pb2.StepPlaybackRequest(**r), "navigate_playback"),
            ("ListPlaybackHistory", room_pb2.RoomRef(**r), "view_playback_history"),
            (
                "SendChatMessage",
                room_pb2.SendChatMessageRequest(**r, text="hi"),
                "send_chat_messages",
            ),
            (
                "DeleteChatMessage",
                room_pb2.ChatMessageRef(**r, message_id=owners_message.id),
                "delete_chat_messages",
            ),
            ("ListChatMessages", room_pb2.ListChatMessagesRequest(**r), "view_chat_history"),
            (
                "GetDanmakuTimeline",
                room_pb2.DanmakuTimelineRequest(**r, media_id=item.id),
                "view_chat_history",
            ),
            (
                "CreateLiveStream",
                room_pb2.CreateLiveStreamRequest(**r, title="t"),
                "manage_live_streams",
            ),
            (
                "DeleteLiveStream",
                room_pb2.LiveStreamRef(**r, stream_id="any"),
                "manage_live_streams",
            ),
            ("GetVoiceIceServers", room_pb2.RoomRef(**r), "use_voice_chat"),
            ("ListRoomProviders", room_pb2.RoomRef(**r), "browse_library"),
            (
                "BrowseRoomProvider",
                room_pb2.BrowseRoomProviderRequest(**r, instance="any"),
                "browse_library",
            ),
        ]
        for rpc, request, permission in denied:
            assert await member.denied(rpc, request) == permission, rpc
        rpcs = {method.name for method in SERVICE.methods}
        unclassified = rpcs - NEEDS_NO_PERMISSION - {rpc for rpc, _, _ in denied}
        assert not unclassified, (
            f"add these rpcs to the table or NEEDS_NO_PERMISSION: {unclassified}"
        )

        # Reading the playlist and the state needs membership only; a visitor gets neither.
        assert [
            m.id
            for m in (
                await member("ListMedia", room_pb2.ListMediaRequest(**r), room_pb2.Playlist)
            ).media
        ] == [item.id]
        assert (
            await member("GetPlayback", room_pb2.RoomRef(**r), room_pb2.Playback)
        ).state.version == 0
        assert await visitor.denied("ListMedia", room_pb2.ListMediaRequest(**r)) == ""
        assert await visitor.denied("GetPlayback", room_pb2.RoomRef(**r)) == ""
        assert (
            list(
                (
                    await member("ListLiveStreams", room_pb2.RoomRef(**r), room_pb2.LiveStreams)
                ).streams
            )
            == []
        )
        assert await visitor.denied("ListLiveStreams", room_pb2.RoomRef(**r)) == ""


async def test_get_playback_carries_the_resolved_media(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    """GetPlayback's `media` is REST's `playback` object for the same caller (direct links,
    which are the same on every call; proxy links carry a fresh token each time)."""
    async with identity_server(tmp_path, postgres) as server:
        ((alice_rest, alice),) = await people(server, "alice")
        room = (
            await alice("CreateRoom", room_pb2.CreateRoomRequest(name="r"), room_pb2.RoomEnvelope)
        ).room
        item = {
            "name": "film",
            "proxyMode": "direct_only",
            "source": {
                "kind": "url",
                "url": "https://media.example/film.mp4",
                "subtitles": [{"name": "en", "url": "https://media.example/en.vtt"}],
            },
        }
        media = await alice_rest.ok("POST", f"/api/rooms/{room.id}/media", {"items": [item]})
        await alice_rest.ok(
            "POST", f"/api/rooms/{room.id}/playback/start", {"mediaId": media["media"][0]["id"]}
        )
        rest = (await alice_rest.ok("GET", f"/api/rooms/{room.id}/playback"))["playback"]
        reply = await alice("GetPlayback", room_pb2.RoomRef(room_id=room.id), room_pb2.Playback)
        assert reply.HasField("media")
        assert not reply.HasField("playback")
        assert json_format.MessageToDict(reply.media) == without_empty(rest)
        assert rest["url"] == "https://media.example/film.mp4"
