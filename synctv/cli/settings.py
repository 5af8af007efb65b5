"""``synctv admin settings list|get|set|reset|export|import``: ``SettingsAdmin`` clients.

``set KEY VALUE`` takes JSON or plain text (``set server.name My TV`` needs no quotes inside the
shell's). A value with a secret field (``oauth2.providers``) is better given with
``--value-file PATH`` (``-`` = standard input) than on the command line (shell history, ``ps``).
``export`` prints the stored settings as one JSON document (secret fields left out unless
``--include-secrets``); ``import FILE`` validates all of it before writing any of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from synctv.cli.common import add_config_option, admin_socket

if TYPE_CHECKING:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_grpc, settings_pb2

T = TypeVar("T")

_TIMEOUT = 30.0


def add_commands(admin_subparsers: Any) -> None:
    """Register ``synctv admin settings ...`` under the ``admin`` command's sub-parsers."""
    settings = admin_subparsers.add_parser(
        "settings", help="runtime settings: read and change them on the running server"
    )
    verbs = settings.add_subparsers(title="settings commands", metavar="COMMAND")
    settings.set_defaults(handler=lambda _args: _usage(settings))

    listing = verbs.add_parser("list", help="every setting, its value and its rule")
    listing.add_argument("--group", help="only this group (server, user, room, ratelimit ...)")
    _common(listing)
    listing.set_defaults(handler=_list)

    get = verbs.add_parser("get", help="one setting")
    get.add_argument("key", help="group.name, e.g. user.enableGuest")
    _common(get)
    get.set_defaults(handler=_get)

    change = verbs.add_parser("set", help="change a setting (prints old -> new)")
    change.add_argument("key")
    change.add_argument("value", nargs="*", help="JSON, or plain text for a string")
    change.add_argument("--value-file", help="read the value (JSON) from a file ('-' = stdin)")
    _common(change)
    change.set_defaults(handler=_set)

    reset = verbs.add_parser("reset", help="back to the default")
    reset.add_argument("key")
    _common(reset)
    reset.set_defaults(handler=_reset)

    export = verbs.add_parser("export", help="print the stored settings as a JSON document")
    export.add_argument(
        "--include-secrets", action="store_true", help="include secret fields (keep it safe)"
    )
    add_config_option(export)
    export.set_defaults(handler=_export)

    load = verbs.add_parser("import", help="apply a JSON document (all of it, or nothing)")
    load.add_argument("file", help="the document ('-' = stdin)")
    _common(load)
    load.set_defaults(handler=_import)


def _common(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _call(
    args: argparse.Namespace, method: Callable[[settings_grpc.SettingsAdminStub], Awaitable[T]]
) -> T:
    from grpclib.client import Channel

    from synctv.api.grpc._gen.synctv.admin.v1 import settings_grpc
    from synctv.cli import client as admin_client

    async def operation(channel: Channel) -> T:
        return await method(settings_grpc.SettingsAdminStub(channel))

    return admin_client.call(admin_socket(args), operation)


def _read(source: str) -> str:
    from synctv.cli.client import AdminUnavailable

    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise AdminUnavailable(f"cannot read {source}: {exc.strerror}") from None


def _as_dict(setting: settings_pb2.Setting) -> dict[str, Any]:
    return {
        "key": setting.key,
        "value": json.loads(setting.value_json),
        "default": json.loads(setting.default_json),
        "is_set": setting.is_set,
        "public": setting.public,
        "has_secrets": setting.has_secrets,
        "rule": setting.rule,
        "description": setting.description,
        "version": setting.version,
        "updated_by": setting.updated_by,
    }


def _print_settings(args: argparse.Namespace, settings: list[settings_pb2.Setting]) -> None:
    if args.json:
        print(json.dumps([_as_dict(s) for s in settings], indent=2))
        return
    for s in settings:
        marks = "".join(
            mark for flag, mark in ((s.public, " public"), (s.has_secrets, " secrets")) if flag
        )
        where = f"set by {s.updated_by}, v{s.version}" if s.is_set else "default"
        print(f"{s.key} = {s.value_json}  ({where}{marks})")
        print(f"    {s.description} Must be {s.rule}.")


def _list(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_pb2

    request = settings_pb2.ListSettingsRequest(group=args.group or "")
    reply = _call(args, lambda stub: stub.List(request, timeout=_TIMEOUT))
    _print_settings(args, list(reply.settings))
    return 0


def _get(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_pb2

    request = settings_pb2.GetSettingRequest(key=args.key)
    reply = _call(args, lambda stub: stub.Get(request, timeout=_TIMEOUT))
    if args.json:
        print(json.dumps(_as_dict(reply), indent=2))
    else:
        print(reply.value_json)
    return 0


def _print_change(args: argparse.Namespace, change: settings_pb2.SettingChange) -> None:
    if args.json:
        record = {"key": change.key, "old": json.loads(change.old_json)}
        print(json.dumps({**record, "new": json.loads(change.new_json)}))
    else:
        print(f"{change.key}: {change.old_json} -> {change.new_json}")


def _set(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_pb2
    from synctv.cli.client import AdminUnavailable

    if (args.value_file is None) == (not args.value):
        raise AdminUnavailable("give the value, or --value-file (not both)")
    if args.value_file is not None:
        request = settings_pb2.SetSettingRequest(key=args.key, value=_read(args.value_file))
    else:
        text = " ".join(args.value)
        request = settings_pb2.SetSettingRequest(key=args.key, value=text, plain_text=True)
    _print_change(args, _call(args, lambda stub: stub.Set(request, timeout=_TIMEOUT)))
    return 0


def _reset(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_pb2

    request = settings_pb2.ResetSettingRequest(key=args.key)
    _print_change(args, _call(args, lambda stub: stub.Reset(request, timeout=_TIMEOUT)))
    return 0


def _export(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_pb2

    request = settings_pb2.ExportSettingsRequest(include_secrets=args.include_secrets)
    reply = _call(args, lambda stub: stub.Export(request, timeout=_TIMEOUT))
    print(json.dumps(json.loads(reply.document_json), indent=2, ensure_ascii=False))
    return 0


def _import(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import settings_pb2

    request = settings_pb2.ImportSettingsRequest(document_json=_read(args.file))
    reply = _call(args, lambda stub: stub.Import(request, timeout=_TIMEOUT))
    for change in reply.changes:
        _print_change(args, change)
    if not args.json:
        print(f"Imported {len(reply.changes)} setting(s).")
    return 0
