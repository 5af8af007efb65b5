"""``synctv watch ROOM``: a terminal view of a room through its realtime channel, to see what a
room's members see (and debug a room): the playback state, moving in real time in this
machine's clock, and each event as it arrives. For a live stream of the server it shows where
the room's viewers are (the target position of the last ``live_clock``) and the room's target
latency.

A client of the room channel (:mod:`synctv.client.room`), like a browser: it needs a token of
someone who may be in the room (``--token`` or ``$SYNCTV_TOKEN``: an access token from sign-in,
or a guest token of a room that admits guests).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from synctv.cli.common import CommandError


def add_commands(commands: Any) -> None:
    watch = commands.add_parser(
        "watch", help="follow a room's playback and events in the terminal (realtime channel)"
    )
    watch.add_argument("room", metavar="ROOM", help="the room id")
    watch.add_argument(
        "--url", default=os.environ.get("SYNCTV_URL", "http://127.0.0.1:8080"),
        help="the server's base URL (default: $SYNCTV_URL, else http://127.0.0.1:8080)",
    )  # fmt: skip
    watch.add_argument(
        "--token", default=None, help="an access or guest token (default: $SYNCTV_TOKEN)"
    )
    watch.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)"
    )
    watch.set_defaults(handler=_watch)


def _clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def state_line(playback: dict[str, Any], position: float, drift_bound: float | None) -> str:
    """One line of the playback state, as the room is *now*."""
    if not playback.get("mediaId"):
        return "■ nothing selected"
    icon = "▶" if playback.get("playing") else "⏸"
    speed = float(playback.get("speed", 1.0))
    duration = float(playback.get("duration") or 0.0)
    length = f" / {_clock(duration)}" if duration else ""
    clock = f" (clock ±{drift_bound * 1000:.0f} ms)" if drift_bound is not None else ""
    return (
        f"{icon} {playback['mediaId']}  {_clock(position)}{length}  ×{speed:g}"
        f"  v{int(float(playback.get('version') or 0))}{clock}"
    )


def live_line(playback: dict[str, Any], position: float, target_latency: float) -> str:
    """One line of a live stream's state: the frame the room's viewers show now, and the room's
    target latency (docs/realtime.md, "Live in step")."""
    return (
        f"● {playback['mediaId']}  live {_clock(position)}  latency {target_latency:.2f} s"
        f"  v{int(float(playback.get('version') or 0))}"
    )


def _watch(args: argparse.Namespace) -> int:
    import trio

    token = args.token or os.environ.get("SYNCTV_TOKEN")
    if not token:
        raise CommandError("give a token: --token TOKEN or $SYNCTV_TOKEN (sign in first)")
    try:
        trio.run(_follow, args.url.rstrip("/"), args.room, token, args.seconds)
    except KeyboardInterrupt:
        return 0
    return 0


async def _follow(base: str, room: str, token: str, seconds: float | None) -> None:
    import trio
    from trio_websocket import ConnectionClosed, HandshakeError

    from synctv.client.room import RoomClient

    try:
        async with RoomClient.connect(base, room, token) as client:
            with trio.move_on_after(10):
                while not client.view.room:
                    await client.changed.wait()
            if not client.view.room:
                raise CommandError("the server sent no welcome (is the room id right?)")
            info = client.view.room
            members = int(info["room"]["memberCount"])  # JSON numbers from a protobuf Struct
            print(
                f"{info['room']['name']} ({room}) — you are {info['myRole'] or 'a visitor'};"
                f" {members} member{'' if members == 1 else 's'}"
            )
            await client.measure_clock(3)
            shown = len(client.view.events)
            deadline = trio.current_time() + seconds if seconds is not None else float("inf")
            while trio.current_time() < deadline:
                for event in client.view.events[shown:]:
                    stamp = time.strftime("%H:%M:%S", time.localtime(float(event["at"])))
                    print(f"{stamp}  #{event['seq']} {event['type']} by {event['actor']}")
                shown = len(client.view.events)
                mapping = client.live_mapping()
                if mapping is not None:
                    target = mapping.target_position(time.time(), client.clock.offset or 0.0)
                    line = live_line(client.view.playback, target, mapping.target_latency)
                else:
                    line = state_line(
                        client.view.playback, client.room_position(), client.clock.error_bound
                    )
                print(line, flush=True)
                with trio.move_on_after(min(1.0, max(0.0, deadline - trio.current_time()))):
                    await client.changed.wait()
    except (HandshakeError, ConnectionClosed, OSError) as exc:
        raise CommandError(f"the room channel closed: {exc}") from None
