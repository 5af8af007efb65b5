"""``synctv admin ...``: administer a running server over its management socket.

``admin status`` lives here; each area's verbs live in their own module (:mod:`synctv.cli.live`,
:mod:`synctv.cli.providers`, :mod:`synctv.cli.settings`, :mod:`synctv.cli.audit`, :mod:`synctv.cli.rooms`, :mod:`synctv.cli.users`) and are
registered below.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

from synctv.cli import audit, live, providers, rooms, settings, users
from synctv.cli.common import CommandError, add_config_option, admin_socket, group_help, print_line


def add_commands(commands: Any) -> None:
    admin = commands.add_parser("admin", help="administer a running server (management socket)")
    admin.set_defaults(handler=partial(group_help, admin))
    admin_commands = admin.add_subparsers(title="admin commands", metavar="COMMAND")
    status = admin_commands.add_parser("status", help="node id, uptime, version, database status")
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_admin_status)
    live.add_commands(admin_commands)
    providers.add_commands(admin_commands)
    settings.add_commands(admin_commands)
    audit.add_commands(admin_commands)
    rooms.add_commands(admin_commands)
    users.add_commands(admin_commands)


def _admin_status(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from synctv.cli.client import AdminUnavailable, status

    try:
        reply = status(admin_socket(args))
    except AdminUnavailable as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        return print_line(
            json.dumps(MessageToDict(reply, always_print_fields_with_no_presence=True))
        )
    lines = [
        f"node id:   {reply.node_id}",
        f"version:   {reply.version}",
        f"uptime:    {reply.uptime_seconds:.0f} s",
        f"ready:     {'yes' if reply.ready else 'no'}",
        f"database:  {reply.database_status} ({reply.database_kind}, schema "
        f"{reply.schema_version}/{reply.expected_schema_version})",
        f"state:     {reply.state_backend}",
    ]
    return print_line("\n".join(lines))
