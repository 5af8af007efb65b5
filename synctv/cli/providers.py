"""``synctv admin provider add|list|update|remove|resolve|rotate-key``: ``ProviderAdmin`` clients.

Secrets never go on the command line (shell history, ``ps``): credentials are read as a JSON
object from ``--credentials-file PATH`` (``-`` for standard input), and rotation keys from
``--new-key-file`` (or ``--generate-new-key``, or an interactive prompt) and the optional
``--old-key-file`` (a confirmation: without it the server uses the key it holds).
"""

from __future__ import annotations

import argparse
import getpass
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from synctv.cli.common import add_config_option, admin_socket

if TYPE_CHECKING:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_grpc, providers_pb2

T = TypeVar("T")

_TIMEOUT = 30.0  # resolve talks to the provider's server


def add_commands(admin_subparsers: Any) -> None:
    """Register ``synctv admin provider ...`` under the ``admin`` command's sub-parsers."""
    provider = admin_subparsers.add_parser(
        "provider", help="media providers: direct URLs, Alist, Emby (instances and credentials)"
    )
    verbs = provider.add_subparsers(title="provider commands", metavar="COMMAND")
    provider.set_defaults(handler=lambda _args: _usage(provider))

    add = verbs.add_parser("add", help="add a provider instance")
    add.add_argument("kind", help="direct, alist, emby ...")
    add.add_argument("name")
    add.add_argument(
        "--options",
        default="{}",
        help='the kind\'s settings as JSON, e.g. \'{"base_url": "http://nas:5244"}\'',
    )
    add.add_argument("--credentials-file", help="JSON object of secrets ('-' = stdin)")
    add.add_argument(
        "--lan-service",
        action="store_true",
        help="allow private/loopback addresses on the instance's own hosts (the base_url host "
        'and the "lan_hosts" option)',
    )
    _common(add)
    add.set_defaults(handler=_add)

    listing = verbs.add_parser("list", help="every instance (credentials are never shown)")
    _common(listing)
    listing.set_defaults(handler=_list)

    update = verbs.add_parser("update", help="change an instance")
    update.add_argument("instance", help="name or id")
    update.add_argument("--name", dest="new_name")
    update.add_argument("--options", help="replace the settings (JSON object)")
    update.add_argument("--credentials-file", help="replace the secrets (JSON object, '-' = stdin)")
    update.add_argument("--clear-credentials", action="store_true")
    lan = update.add_mutually_exclusive_group()
    lan.add_argument("--lan-service", dest="lan", action="store_true", default=None)
    lan.add_argument("--no-lan-service", dest="lan", action="store_false")
    _common(update)
    update.set_defaults(handler=_update)

    remove = verbs.add_parser("remove", help="delete an instance")
    remove.add_argument("instance", help="name or id")
    _common(remove)
    remove.set_defaults(handler=_remove)

    resolve = verbs.add_parser(
        "resolve", help="print the playback source a room would get (secrets masked)"
    )
    resolve.add_argument("instance", help="name or id")
    resolve.add_argument("media_ref", help="URL (direct), path (alist), item id (emby)")
    _common(resolve)
    resolve.set_defaults(handler=_resolve)

    rotate = verbs.add_parser(
        "rotate-key",
        help="re-encrypt all credentials under a new key (a generated key file is replaced; a "
        "configured key must be changed in the config first)",
    )
    rotate.add_argument(
        "--old-key-file", type=Path, help="file holding the current key (hex; optional check)"
    )
    new_key = rotate.add_mutually_exclusive_group()
    new_key.add_argument("--new-key-file", type=Path, help="file holding the new key (hex)")
    new_key.add_argument(
        "--generate-new-key", action="store_true", help="a new random key (generated key files)"
    )
    _common(rotate)
    rotate.set_defaults(handler=_rotate_key)


def _common(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _call(
    args: argparse.Namespace, method: Callable[[providers_grpc.ProviderAdminStub], Awaitable[T]]
) -> T:
    from grpclib.client import Channel

    from synctv.api.grpc._gen.synctv.admin.v1 import providers_grpc
    from synctv.cli import client as admin_client

    socket_path = admin_socket(args)

    async def operation(channel: Channel) -> T:
        return await method(providers_grpc.ProviderAdminStub(channel))

    return admin_client.call(socket_path, operation)


def _read_json_object(source: str | None, what: str) -> str:
    from synctv.cli.client import AdminUnavailable

    if source is None:
        return ""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        value = json.loads(text)
    except (OSError, ValueError) as exc:
        raise AdminUnavailable(f"cannot read {what}: {exc}") from None
    if not isinstance(value, dict):
        raise AdminUnavailable(f"{what} must be a JSON object")
    return json.dumps(value)


def _options(text: str | None) -> str | None:
    from synctv.cli.client import AdminUnavailable

    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise AdminUnavailable(f"--options is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AdminUnavailable("--options must be a JSON object")
    return json.dumps(value)


def _add(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_pb2

    request = providers_pb2.AddProviderRequest(
        kind=args.kind,
        name=args.name,
        config_json=_options(args.options) or "{}",
        credentials_json=_read_json_object(args.credentials_file, "credentials"),
        lan_service=args.lan_service,
    )
    reply = _call(args, lambda stub: stub.Add(request, timeout=_TIMEOUT))
    _print_instances(args, [reply])
    return 0


def _list(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_pb2

    reply = _call(
        args, lambda stub: stub.List(providers_pb2.ListProvidersRequest(), timeout=_TIMEOUT)
    )
    if not reply.instances and not args.json:
        print(f"No provider instances. Kinds: {', '.join(reply.kinds)}.")
        return 0
    _print_instances(args, list(reply.instances))
    return 0


def _update(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_pb2

    request = providers_pb2.UpdateProviderRequest(
        instance=args.instance, clear_credentials=args.clear_credentials
    )
    if args.new_name is not None:
        request.name = args.new_name
    options = _options(args.options)
    if options is not None:
        request.config_json = options
    if args.credentials_file is not None:
        request.credentials_json = _read_json_object(args.credentials_file, "credentials")
    if args.lan is not None:
        request.lan_service = args.lan
    reply = _call(args, lambda stub: stub.Update(request, timeout=_TIMEOUT))
    _print_instances(args, [reply])
    return 0


def _remove(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_pb2

    request = providers_pb2.RemoveProviderRequest(instance=args.instance)
    _call(args, lambda stub: stub.Remove(request, timeout=_TIMEOUT))
    print(f"Removed provider instance {args.instance}.")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_pb2

    request = providers_pb2.ResolveProviderMediaRequest(
        instance=args.instance, media_ref=args.media_ref
    )
    reply = _call(args, lambda stub: stub.Resolve(request, timeout=_TIMEOUT))
    document = json.loads(reply.source_json)
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(f"URL:        {document['url']}")
    print(f"Mode:       {document['mode']}")
    print(f"Expires at: {document['expires_at'] or 'never'}")
    for name, value in document["headers"].items():
        print(f"Header:     {name}: {value}")
    if document.get("lan_hosts"):
        print(f"LAN hosts:  {', '.join(document['lan_hosts'])}")
    for kind, items in (("Subtitle", document["subtitles"]), ("Quality", document["qualities"])):
        for item in items:
            print(f"{kind + ':':<12}{item['id']} {item['name']}: {item['url']}")
            if item.get("proxy_url"):
                print(f"  proxy URL: {item['proxy_url']}")
    if document.get("proxy_url"):
        print(f"Proxy URL:  {document['proxy_url']}")
    return 0


def _read_key(path: Path | None, prompt: str) -> str:
    from synctv.cli.client import AdminUnavailable

    if path is None:
        return getpass.getpass(prompt).strip()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AdminUnavailable(f"cannot read {path}: {exc.strerror}") from None


def _rotate_key(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import providers_pb2

    if args.generate_new_key:
        new_key_hex = secrets.token_hex(32)
    else:
        new_key_hex = _read_key(args.new_key_file, "new key (64 hex): ")
    request = providers_pb2.RotateProviderKeyRequest(
        old_key_hex=_read_key(args.old_key_file, "") if args.old_key_file else "",
        new_key_hex=new_key_hex,
    )
    reply = _call(args, lambda stub: stub.RotateKey(request, timeout=_TIMEOUT))
    if args.json:
        print(
            json.dumps(
                {
                    "rotated": reply.rotated,
                    "already_current": reply.already_current,
                    "new_key_id": reply.new_key_id,
                }
            )
        )
        return 0
    print(
        f"Re-encrypted {reply.rotated} instance(s) under key {reply.new_key_id} "
        f"({reply.already_current} already were)."
    )
    print("The server keeps using this key after a restart (saved, or already configured).")
    return 0


def _print_instances(
    args: argparse.Namespace, instances: list[providers_pb2.ProviderInstance]
) -> None:
    documents = [
        {
            "id": i.id,
            "kind": i.kind,
            "name": i.name,
            "config": json.loads(i.config_json or "{}"),
            "lan_service": i.lan_service,
            "has_credentials": i.has_credentials,
            "credentials_key_id": i.credentials_key_id or None,
        }
        for i in instances
    ]
    if args.json:
        print(json.dumps(documents if len(documents) != 1 else documents[0], indent=2))
        return
    rows = [("NAME", "KIND", "LAN", "CREDENTIALS", "ID")]
    for d in documents:
        creds = f"yes (key {d['credentials_key_id']})" if d["has_credentials"] else "no"
        rows.append(
            (
                str(d["name"]),
                str(d["kind"]),
                "yes" if d["lan_service"] else "no",
                creds,
                str(d["id"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
