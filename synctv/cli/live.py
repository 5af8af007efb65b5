"""``synctv admin live create|list|rotate-key|kick|delete``: clients of the ``LiveAdmin`` service.

The server computes every URL; these commands only print what it returns. Failures (server not
running, unknown stream id...) raise :class:`AdminUnavailable`, which ``synctv`` prints as one line
with exit status 1.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from synctv.cli.common import add_config_option, admin_socket

if TYPE_CHECKING:
    from synctv.api.grpc._gen.synctv.admin.v1 import live_grpc, live_pb2

T = TypeVar("T")

# Every `synctv` command builds this parser, so grpclib and the generated code are imported only
# when a live command runs (keeps `synctv serve --help`, `synctv version`... fast).


def add_commands(admin_subparsers: Any) -> None:
    """Register ``synctv admin live ...`` under the ``admin`` command's sub-parsers."""
    live = admin_subparsers.add_parser("live", help="live streams: create, list, keys, kick")
    verbs = live.add_subparsers(title="live commands", metavar="COMMAND")
    live.set_defaults(handler=lambda _args: _usage(live))

    create = verbs.add_parser(
        "create", help="create a stream; prints the OBS server URL, stream key and playback URLs"
    )
    create.add_argument("--room", default=None, help="room id (default: a stream with no room)")
    create.add_argument("--title", default="", help="title shown to viewers")
    _common(create, json_option=True)
    create.set_defaults(handler=_create)

    listing = verbs.add_parser("list", help="every stream with its live status on this node")
    _common(listing, json_option=True)
    listing.set_defaults(handler=_list)

    rotate = verbs.add_parser(
        "rotate-key", help="issue a new stream key; the old key stops working"
    )
    rotate.add_argument("stream_id")
    _common(rotate, json_option=True)
    rotate.set_defaults(handler=_rotate_key)

    kick = verbs.add_parser("kick", help="disconnect the stream's publisher")
    kick.add_argument("stream_id")
    _common(kick)
    kick.set_defaults(handler=_kick)

    delete = verbs.add_parser("delete", help="delete a stream (disconnects its publisher)")
    delete.add_argument("stream_id")
    _common(delete)
    delete.set_defaults(handler=_delete)


def _common(parser: argparse.ArgumentParser, *, json_option: bool = False) -> None:
    add_config_option(parser)
    if json_option:
        parser.add_argument("--json", action="store_true", help="print JSON")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _call(args: argparse.Namespace, method: Callable[[live_grpc.LiveAdminStub], Awaitable[T]]) -> T:
    from grpclib.client import Channel

    from synctv.api.grpc._gen.synctv.admin.v1 import live_grpc
    from synctv.cli import client as admin_client

    socket_path = admin_socket(args)

    async def operation(channel: Channel) -> T:
        return await method(live_grpc.LiveAdminStub(channel))

    return admin_client.call(socket_path, operation)


# Mirrors admin_client.DEFAULT_TIMEOUT_SECONDS without importing it at parser-build time.
_TIMEOUT = 10.0


def _create(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import live_pb2

    request = live_pb2.CreateLiveStreamRequest(room_id=args.room or "", title=args.title)
    reply = _call(args, lambda stub: stub.Create(request, timeout=_TIMEOUT))
    if args.json:
        document = {
            "stream": _stream_dict(reply.stream),
            "stream_key": reply.stream_key,
            "urls": _urls_dict(reply.urls),
        }
        print(json.dumps(document, indent=2))
        return 0
    stream = reply.stream
    print(
        f"Created live stream {stream.stream_id}" + (f" ({stream.title})" if stream.title else "")
    )
    print()
    print("Publish (OBS: Settings > Stream > Service: Custom):")
    print(f"  Server:      {reply.urls.publish_server}")
    print(f"  Stream Key:  {reply.stream_key}")
    print("  The key is shown only once; `synctv admin live rotate-key` issues a new one.")
    print()
    print("Watch:")
    _print_playback(reply.urls)
    return 0


def _list(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import live_pb2

    reply = _call(args, lambda stub: stub.List(live_pb2.ListLiveStreamsRequest(), timeout=_TIMEOUT))
    if args.json:
        document = [
            {
                **_stream_dict(item.stream),
                "live": item.status.live,
                "bitrate_bps": item.status.bitrate_bps,
                "viewers": item.status.viewers,
                "urls": _urls_dict(item.urls),
            }
            for item in reply.streams
        ]
        print(json.dumps(document, indent=2))
        return 0
    if not reply.streams:
        print("No live streams. Create one with `synctv admin live create`.")
        return 0
    rows = [("ID", "APP", "TITLE", "STATUS", "BITRATE", "VIEWERS")]
    for item in reply.streams:
        live = item.status.live
        rows.append(
            (
                item.stream.stream_id,
                item.stream.app,
                item.stream.title or "-",
                "live" if live else "idle",
                _bitrate(item.status.bitrate_bps) if live else "-",
                str(item.status.viewers) if live else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import live_pb2

    request = live_pb2.RotateLiveStreamKeyRequest(stream_id=args.stream_id)
    reply = _call(args, lambda stub: stub.RotateKey(request, timeout=_TIMEOUT))
    if args.json:
        document = {
            "stream_id": args.stream_id,
            "stream_key": reply.stream_key,
            "urls": _urls_dict(reply.urls),
        }
        print(json.dumps(document, indent=2))
        return 0
    print(f"New stream key for {args.stream_id} (shown only once):")
    print(f"  Server:      {reply.urls.publish_server}")
    print(f"  Stream Key:  {reply.stream_key}")
    print("The old key no longer works for new publishes. A publisher connected now stays")
    print(f"connected; disconnect it with `synctv admin live kick {args.stream_id}`.")
    return 0


def _kick(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import live_pb2

    request = live_pb2.KickLiveStreamRequest(stream_id=args.stream_id)
    reply = _call(args, lambda stub: stub.Kick(request, timeout=_TIMEOUT))
    if reply.kicked:
        print(f"Disconnected the publisher of {args.stream_id}.")
    else:
        print(f"Stream {args.stream_id} is not live on this node: nobody to kick.")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from synctv.api.grpc._gen.synctv.admin.v1 import live_pb2

    request = live_pb2.DeleteLiveStreamRequest(stream_id=args.stream_id)
    reply = _call(args, lambda stub: stub.Delete(request, timeout=_TIMEOUT))
    suffix = " and disconnected its publisher" if reply.kicked else ""
    print(f"Deleted live stream {args.stream_id}{suffix}.")
    return 0


def _print_playback(urls: live_pb2.LiveStreamUrls) -> None:
    print(f"  HTTP-FLV:    {urls.http_flv}")
    print(f"  HLS:         {urls.hls}")
    print(f"  RTMP:        {urls.rtmp_play}")


def _stream_dict(stream: live_pb2.LiveStream) -> dict[str, object]:
    return {
        "stream_id": stream.stream_id,
        "app": stream.app,
        "room_id": stream.room_id or None,
        "title": stream.title,
        "created_at_ms": stream.created_at_ms,
    }


def _urls_dict(urls: live_pb2.LiveStreamUrls) -> dict[str, str]:
    return {
        "publish_server": urls.publish_server,
        "http_flv": urls.http_flv,
        "hls": urls.hls,
        "rtmp_play": urls.rtmp_play,
    }


def _bitrate(bps: int) -> str:
    if bps >= 1_000_000:
        return f"{bps / 1_000_000:.1f} Mb/s"
    if bps >= 1_000:
        return f"{bps / 1_000:.0f} kb/s"
    return f"{bps} b/s"
