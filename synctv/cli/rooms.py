"""``synctv admin room list|show|delete|ban|unban|members``: rooms, as the operator sees them.

A client of the ``RoomAdmin`` service on the management socket. ``ban`` suspends a whole room
(nobody but platform administrators may enter it) until ``unban``; banning one person from a
room is a room manager's job, in the room. ``--json`` prints machine-readable output.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from synctv.cli.common import CommandError, add_config_option, admin_socket, group_help

if TYPE_CHECKING:
    from grpclib.client import Channel

    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

_TIMEOUT = 10.0


def add_commands(admin_subparsers: Any) -> None:
    room = admin_subparsers.add_parser("room", help="rooms: list, inspect, delete, suspend")
    room.set_defaults(handler=partial(group_help, room))
    verbs = room.add_subparsers(title="room commands", metavar="COMMAND")

    listing = verbs.add_parser("list", help="every room, newest first (private ones too)")
    listing.add_argument("--search", default="", help="a part of the name, or an exact room id")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--page-size", type=int, default=50, help="1 to 100 (default 50)")
    listing.set_defaults(handler=_list)

    show = verbs.add_parser("show", help="one room: settings, owner, counts")
    show.add_argument("room_id", metavar="ROOM_ID")
    show.set_defaults(handler=_show)

    delete = verbs.add_parser("delete", help="delete a room for everyone")
    delete.add_argument("room_id", metavar="ROOM_ID")
    delete.set_defaults(handler=_delete)

    ban = verbs.add_parser("ban", help="suspend a whole room (nobody may enter) until unban")
    ban.add_argument("room_id", metavar="ROOM_ID")
    ban.add_argument("--reason", required=True, help="why; shown to those who try to enter")
    ban.set_defaults(handler=_ban)

    unban = verbs.add_parser("unban", help="lift a room's suspension")
    unban.add_argument("room_id", metavar="ROOM_ID")
    unban.set_defaults(handler=_unban)

    members = verbs.add_parser("members", help="a room's members, creator and admins first")
    members.add_argument("room_id", metavar="ROOM_ID")
    members.add_argument("--page", type=int, default=1)
    members.add_argument("--page-size", type=int, default=50)
    members.set_defaults(handler=_members)

    for command in (listing, show, delete, ban, unban, members):
        add_config_option(command)
        command.add_argument("--json", action="store_true", help="print JSON")


def _call(args: argparse.Namespace, method: str, request: Any) -> Any:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_grpc
    from synctv.cli import client

    async def operation(channel: Channel) -> Any:
        return await getattr(rooms_grpc.RoomAdminStub(channel), method)(request, timeout=_TIMEOUT)

    try:
        return client.call(admin_socket(args), operation)
    except client.AdminUnavailable as exc:
        raise CommandError(str(exc)) from None


def _json(message: Any) -> int:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, always_print_fields_with_no_presence=True)))
    return 0


def _list(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

    request = rooms_pb2.ListRoomsRequest(
        search=args.search, page=max(args.page, 0), page_size=max(args.page_size, 0)
    )
    reply = _call(args, "List", request)
    if args.json:
        return _json(reply)
    if not reply.rooms:
        print("No rooms match." if args.search else "There are no rooms yet.")
        return 0
    rows = [("ID", "NAME", "VISIBILITY", "MEMBERS", "OWNER", "STATE")]
    for room in reply.rooms:
        visibility = ("public" if room.is_public else "private") + (
            ", password" if room.has_password else ""
        )
        state = f"suspended: {room.suspend_reason}" if room.suspended_at else "open"
        rows.append((room.id, room.name, visibility, str(room.member_count), room.owner_id, state))
    print(_table(rows))
    shown = len(reply.rooms)
    if reply.total > shown:
        print(f"\n{shown} of {reply.total} rooms (--page N for more)")
    return 0


def _show(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

    reply = _call(args, "Show", rooms_pb2.RoomRequest(room_id=args.room_id))
    if args.json:
        return _json(reply)
    room = reply.room
    lines = [
        f"room:        {room.id}",
        f"name:        {room.name}",
        f"visibility:  {'public' if room.is_public else 'private'}"
        + (" (password)" if room.has_password else ""),
        f"owner:       {room.owner_id}",
        f"members:     {room.member_count}",
        f"created:     {room.created_at}",
        f"changes:     {reply.last_event_seq}",
    ]
    if room.suspended_at:
        lines.append(f"suspended:   {room.suspended_at} ({room.suspend_reason})")
    if reply.description:
        lines.append(f"description: {reply.description}")
    lines.append("settings:")
    lines.extend(
        "  " + line for line in json.dumps(json.loads(reply.settings_json), indent=2).splitlines()
    )
    print("\n".join(lines))
    return 0


def _done(args: argparse.Namespace, message: str) -> int:
    print(json.dumps({"ok": True}) if args.json else message)
    return 0


def _delete(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

    _call(args, "Delete", rooms_pb2.RoomRequest(room_id=args.room_id))
    return _done(args, f"Room {args.room_id} deleted.")


def _ban(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

    _call(args, "Ban", rooms_pb2.BanRoomRequest(room_id=args.room_id, reason=args.reason))
    return _done(args, f"Room {args.room_id} suspended: nobody but administrators may enter.")


def _unban(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

    _call(args, "Unban", rooms_pb2.RoomRequest(room_id=args.room_id))
    return _done(args, f"Room {args.room_id} is open again.")


def _members(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import rooms_pb2

    request = rooms_pb2.MembersRequest(
        room_id=args.room_id, page=max(args.page, 0), page_size=max(args.page_size, 0)
    )
    reply: rooms_pb2.MembersResponse = _call(args, "Members", request)
    if args.json:
        return _json(reply)
    rows = [("USER ID", "NAME", "ROLE", "JOINED", "OVERRIDES")]
    for member in reply.members:
        overrides = " ".join([*(f"+{p}" for p in member.added), *(f"-{p}" for p in member.removed)])
        rows.append((member.user_id, member.username, member.role, member.joined_at, overrides))
    print(_table(rows))
    return 0


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
