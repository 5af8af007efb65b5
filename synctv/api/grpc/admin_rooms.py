"""``RoomAdmin`` servicer: rooms over the management socket (``synctv admin room``).

Thin: the operator (whoever can open the 0600 socket) acts as a platform administrator through
:class:`~synctv.core.rooms.RoomService`, audited as the CLI; the rules and refusals are the
service's, the same as over REST.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.empty_pb2 import Empty

from synctv.api.grpc._gen.synctv.admin.v1 import rooms_grpc, rooms_pb2
from synctv.api.grpc.bridge import unary
from synctv.core.rooms import Caller, RoomService
from synctv.store.audit import CLI
from synctv.store.rooms import MemberRow, RoomRow

OPERATOR = Caller(user_id=CLI, global_role="root")
DEFAULT_PAGE_SIZE = 50


def _time(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _summary(room: RoomRow) -> rooms_pb2.RoomSummary:
    return rooms_pb2.RoomSummary(
        id=room.id,
        name=room.name,
        is_public=room.is_public,
        has_password=room.has_password,
        owner_id=room.owner_id,
        member_count=room.member_count,
        created_at=_time(room.created_at),
        suspended_at=_time(room.suspended_at),
        suspend_reason=room.suspend_reason,
    )


def _member(member: MemberRow) -> rooms_pb2.RoomMember:
    return rooms_pb2.RoomMember(
        user_id=member.user_id,
        username=member.username,
        role=member.role,
        added=list(member.added),
        removed=list(member.removed),
        joined_at=_time(member.joined_at),
    )


class RoomAdmin(rooms_grpc.RoomAdminBase):
    def __init__(self, rooms: RoomService) -> None:
        self._rooms = rooms

    @unary
    async def List(self, request: rooms_pb2.ListRoomsRequest) -> rooms_pb2.ListRoomsResponse:
        rooms, total = await self._rooms.all_rooms(
            OPERATOR, request.search, request.page or 1, request.page_size or DEFAULT_PAGE_SIZE
        )
        return rooms_pb2.ListRoomsResponse(rooms=[_summary(r) for r in rooms], total=total)

    @unary
    async def Show(self, request: rooms_pb2.RoomRequest) -> rooms_pb2.RoomDetail:
        access = await self._rooms.access(OPERATOR, request.room_id)
        room = access.room
        return rooms_pb2.RoomDetail(
            room=_summary(room),
            description=room.description,
            settings_json=json.dumps(access.settings.to_json(), sort_keys=True),
            last_event_seq=room.last_event_seq,
        )

    @unary
    async def Delete(self, request: rooms_pb2.RoomRequest) -> Empty:
        await self._rooms.delete(OPERATOR, request.room_id)
        return Empty()

    @unary
    async def Ban(self, request: rooms_pb2.BanRoomRequest) -> Empty:
        await self._rooms.suspend(OPERATOR, request.room_id, request.reason)
        return Empty()

    @unary
    async def Unban(self, request: rooms_pb2.RoomRequest) -> Empty:
        await self._rooms.suspend(OPERATOR, request.room_id, None)
        return Empty()

    @unary
    async def Members(self, request: rooms_pb2.MembersRequest) -> rooms_pb2.MembersResponse:
        members = await self._rooms.members(
            OPERATOR, request.room_id, request.page or 1, request.page_size or DEFAULT_PAGE_SIZE
        )
        return rooms_pb2.MembersResponse(members=[_member(m) for m in members])
