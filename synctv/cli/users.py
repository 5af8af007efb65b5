"""``synctv admin user …``: accounts, as the operator (root) manages them.

A client of the ``UserAdmin`` service on the management socket. ``create`` runs OPAQUE's client
side here, so the password never leaves this process: it is read from the terminal (asked twice,
not echoed) or from the first line of ``--password-file``, never from the command line (where
``ps`` and the shell history would show it). The account then signs in from the browser or any
other client, because the key stretching (Argon2id) is the browser library's.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from synctv.cli.common import CommandError, add_config_option, admin_socket, group_help

_TIMEOUT = 10.0
# Argon2id with the browser library's parameters takes a moment; the server waits for the finish.
_CREATE_TIMEOUT = 60.0
MIN_PASSWORD_CHARS = 8


def add_commands(admin_subparsers: Any) -> None:
    user = admin_subparsers.add_parser("user", help="accounts: create, list, roles, bans, sessions")
    user.set_defaults(handler=partial(group_help, user))
    verbs = user.add_subparsers(title="user commands", metavar="COMMAND")
    commands = []

    listing = verbs.add_parser("list", help="accounts, oldest first")
    listing.add_argument("--search", default="", help="a part of the name, or an exact id")
    listing.add_argument("--role", choices=["root", "admin", "user"])
    listing.add_argument("--pending", action="store_true", help="only those waiting for review")
    listing.add_argument("--banned", action="store_true", help="only banned accounts")
    listing.add_argument("--page", type=int, default=1)
    listing.set_defaults(handler=_list)
    commands.append(listing)

    create = verbs.add_parser(
        "create",
        help="create an account (the password is asked for, or read from --password-file)",
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("--role", choices=["root", "admin", "user"], default="user")
    create.add_argument(
        "--password-file", type=Path, help="read the password from this file's first line"
    )
    create.set_defaults(handler=_create)
    commands.append(create)

    for name, text, handler in (
        ("show", "one account", _show),
        ("unban", "lift a ban", partial(_simple, "Unban", "unbanned")),
        ("delete", "delete an account (its name is free again; its sessions end)", _delete),
        (
            "approve",
            "let an account waiting for review sign in",
            partial(_simple, "Approve", "approved"),
        ),
        ("reject", "refuse an account waiting for review", partial(_simple, "Reject", "rejected")),
        ("sessions", "an account's live sessions", _sessions),
        ("revoke-sessions", "sign an account out everywhere", _revoke),
        ("reset-password", "clear a password; prints a one-time link to set a new one", _reset),
    ):
        command = verbs.add_parser(name, help=text)
        command.add_argument("user", metavar="USER", help="an account id or name")
        command.set_defaults(handler=handler)
        commands.append(command)

    role = verbs.add_parser("set-role", help="change an account's role (its sessions end)")
    role.add_argument("user", metavar="USER")
    role.add_argument("role", choices=["root", "admin", "user"])
    role.set_defaults(handler=_set_role)
    commands.append(role)

    ban = verbs.add_parser("ban", help="ban an account (its sessions end at once)")
    ban.add_argument("user", metavar="USER")
    ban.add_argument("--reason", required=True)
    ban.add_argument("--until", help="RFC 3339 time the ban ends (default: until lifted)")
    ban.set_defaults(handler=_ban)
    commands.append(ban)

    for command in commands:
        add_config_option(command)
        command.add_argument("--json", action="store_true", help="print JSON")


def _call(args: argparse.Namespace, method: str, request: Any, timeout: float = _TIMEOUT) -> Any:
    from synctv.api.grpc._gen.synctv.admin.v1 import users_grpc
    from synctv.cli import client

    try:
        return client.call_method(
            admin_socket(args), users_grpc.UserAdminStub, method, request, timeout
        )
    except client.AdminUnavailable as exc:
        raise CommandError(str(exc)) from None


def _json(message: Any) -> None:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, always_print_fields_with_no_presence=True)))


def _describe(account: Any) -> str:
    flags = [account.role]
    if account.status == "pending_review":
        flags.append("waiting for review")
    if account.banned:
        flags.append("banned")
    return f"{account.username} ({account.id}): {', '.join(flags)}"


def _print_account(args: argparse.Namespace, account: Any, verb: str = "") -> int:
    if args.json:
        _json(account)
    else:
        print(f"{verb} {_describe(account)}".strip())
    return 0


def _ref(args: argparse.Namespace) -> Any:
    from synctv.api.grpc._gen.synctv.admin.v1 import users_pb2

    return users_pb2.UserRef(user=args.user)


def _list(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import users_pb2

    request = users_pb2.ListUsersRequest(
        search=args.search,
        role=args.role or "",
        status="pending_review" if args.pending else "",
        banned="yes" if args.banned else "",
        page=max(args.page, 1),
        page_size=50,
    )
    reply = _call(args, "List", request)
    if args.json:
        _json(reply)
        return 0
    if not reply.users:
        print("No accounts match." if (args.search or args.role or args.pending or args.banned)
              else "There are no accounts yet.")  # fmt: skip
        return 0
    rows = [("ID", "NAME", "ROLE", "STATE", "CREATED")]
    for account in reply.users:
        state = "banned" if account.banned else account.status.replace("_", " ")
        rows.append((account.id, account.username, account.role, state, account.created_at[:19]))
    print(_table(rows))
    if reply.total > len(reply.users):
        print(f"\n{len(reply.users)} of {reply.total} accounts (--page N for more)")
    return 0


def _show(args: argparse.Namespace) -> int:
    account = _call(args, "Show", _ref(args))
    if args.json:
        _json(account)
        return 0
    print(
        "\n".join(
            [
                f"id:        {account.id}",
                f"name:      {account.username}",
                f"role:      {account.role}",
                f"status:    {account.status.replace('_', ' ')}"
                + (", banned" if account.banned else ""),
                f"password:  {'set' if account.has_password else 'none (must be reset)'}",
                f"created:   {account.created_at}",
                *(_ban_lines(account.ban) if account.HasField("ban") else []),
            ]
        )
    )
    return 0


def _ban_lines(ban: Any) -> list[str]:
    by = ban.banned_by
    if ban.HasField("banned_by_name"):
        by = f"{ban.banned_by_name} ({ban.banned_by})"
    return [
        f"ban:       {ban.reason or '(no reason given)'}",
        f"banned by: {by}",
        f"banned at: {ban.banned_at}",
        f"until:     {ban.until if ban.HasField('until') else 'lifted'}",
    ]


def read_password(path: Path | None, *, prompt: bool) -> str:
    """From the file's first line, or asked twice on the terminal; never from argv."""
    if path is not None:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
        password = lines[0] if lines else ""
    else:
        if not prompt:
            raise CommandError(
                "no terminal to ask for the password: pass --password-file PATH "
                "(its first line is the password)"
            )
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CommandError("the two passwords differ; nothing was created")
    if len(password) < MIN_PASSWORD_CHARS:
        raise CommandError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    return password


def _create(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import users_pb2
    from synctv.auth import opaque

    password = read_password(args.password_file, prompt=sys.stdin.isatty())
    request, state = opaque.client_registration_start(password.encode())
    started = _call(
        args,
        "CreateStart",
        users_pb2.CreateUserStartRequest(
            username=args.name, role=args.role, registration_request=request
        ),
    )
    upload = opaque.client_registration_finish(state, started.registration_response)
    account = _call(
        args,
        "CreateFinish",
        users_pb2.CreateUserFinishRequest(
            session_id=started.session_id, registration_upload=upload.registration_upload
        ),
        _CREATE_TIMEOUT,
    )
    return _print_account(args, account, "Created")


def _simple(method: str, verb: str, args: argparse.Namespace) -> int:
    return _print_account(args, _call(args, method, _ref(args)), verb.capitalize() + ":")


def _delete(args: argparse.Namespace) -> int:
    account = _call(args, "Delete", _ref(args))
    return _print_account(args, account, "Deleted:")


def _set_role(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import users_pb2

    account = _call(args, "SetRole", users_pb2.SetRoleRequest(user=args.user, role=args.role))
    return _print_account(args, account, "Now")


def _ban(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import users_pb2

    request = users_pb2.BanUserRequest(user=args.user, reason=args.reason, until=args.until or "")
    return _print_account(args, _call(args, "Ban", request), "Banned:")


def _sessions(args: argparse.Namespace) -> int:
    reply = _call(args, "Sessions", _ref(args))
    if args.json:
        _json(reply)
        return 0
    if not reply.sessions:
        print("No live sessions.")
        return 0
    rows = [("SESSION", "SIGNED IN", "LAST USED", "ADDRESS", "CLIENT")]
    rows += [
        (s.id, s.created_at[:19], s.last_used_at[:19], s.client_address, s.user_agent[:40])
        for s in reply.sessions
    ]
    print(_table(rows))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    reply = _call(args, "RevokeSessions", _ref(args))
    if args.json:
        _json(reply)
    else:
        print(f"Revoked {reply.revoked} session(s); their tokens stop working now.")
    return 0


def _reset(args: argparse.Namespace) -> int:
    reply = _call(args, "ResetPassword", _ref(args))
    if args.json:
        _json(reply)
        return 0
    hours = reply.expires_in_secs // 3600
    print(f"The password of {args.user} is cleared and every session ended.")
    print(f"Give this link to them (it works once, for {hours} h) to set a new one:")
    print(f"  {reply.reset_url}")
    return 0


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
