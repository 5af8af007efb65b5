"""``synctv admin audit list``: read the audit log (a client of the ``AuditAdmin`` service).

Newest first. The server pages by at most 500 events; this command follows the pages until it
has ``--limit`` events (default 50) or the log ends. Times are UTC, in and out. ``--json``
prints one JSON object per line (JSON Lines), for ``jq`` and scripts.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from synctv.cli.common import add_config_option, admin_socket

if TYPE_CHECKING:
    from synctv.api.grpc._gen.synctv.admin.v1 import audit_pb2

_TIMEOUT = 10.0
DEFAULT_LIMIT = 50
MAX_LIMIT = 10_000  # beyond this, filter (or use --json and a pager)
_SERVER_PAGE = 500
_DURATION = re.compile(r"(\d+)\s*([smhdw])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def add_commands(admin_subparsers: Any) -> None:
    """Register ``synctv admin audit ...`` under the ``admin`` command's sub-parsers."""
    audit = admin_subparsers.add_parser("audit", help="the audit log: who changed what, and when")
    verbs = audit.add_subparsers(title="audit commands", metavar="COMMAND")
    audit.set_defaults(handler=lambda _args: _usage(audit))

    listing = verbs.add_parser(
        "list",
        help="recent events, newest first",
        description="Recent audit events, newest first. Filters combine (all must match).",
    )
    listing.add_argument(
        "--since",
        type=parse_since,
        default=None,
        metavar="WHEN",
        help="only events since WHEN: a duration back from now (90s, 30m, 24h, 7d, 2w) or a "
        "UTC date or time (2026-12-01, 2026-12-01T18:30)",
    )
    listing.add_argument("--actor", help="only this actor: a user id, 'cli' or 'system'")
    listing.add_argument(
        "--action", help="an action (live.created) or an area (live: every live.* action)"
    )
    listing.add_argument("--target", help="a target id, or TYPE:ID (live_stream:abc...)")
    listing.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N events (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    add_config_option(listing)
    listing.set_defaults(handler=_list)


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``24h`` → now minus a day; ``2026-12-01`` / ``2026-12-01T18:30`` → that UTC time."""
    text = text.strip()
    match = _DURATION.match(text.lower())
    if match is not None:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            raise argparse.ArgumentTypeError(f"{text!r} reaches back too far") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (90s, 30m, 24h, 7d, 2w) nor a date/time "
            "(2026-12-01, 2026-12-01T18:30)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_LIMIT}")
    return value


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _fetch(args: argparse.Namespace) -> tuple[list[audit_pb2.AuditEvent], bool]:
    """Up to ``--limit`` events, following pages; and whether older ones remain."""
    from grpclib.client import Channel

    from synctv.api.grpc._gen.synctv.admin.v1 import audit_grpc, audit_pb2
    from synctv.cli import client as admin_client

    since_ms = int(args.since.timestamp() * 1000) if args.since is not None else 0

    async def operation(channel: Channel) -> tuple[list[audit_pb2.AuditEvent], bool]:
        stub = audit_grpc.AuditAdminStub(channel)
        events: list[audit_pb2.AuditEvent] = []
        cursor = ""
        while True:
            request = audit_pb2.ListAuditEventsRequest(
                since_ms=since_ms,
                actor=args.actor or "",
                action=args.action or "",
                target=args.target or "",
                limit=min(args.limit - len(events), _SERVER_PAGE),
                cursor=cursor,
            )
            reply = await stub.List(request, timeout=_TIMEOUT)
            events.extend(reply.events)
            cursor = reply.next_cursor
            if not cursor or len(events) >= args.limit:
                return events, bool(cursor)

    return admin_client.call(admin_socket(args), operation)


def _list(args: argparse.Namespace) -> int:
    events, more = _fetch(args)
    if args.json:
        for event in events:
            print(json.dumps(event_dict(event), separators=(",", ":")))
        return 0
    filtered = any(getattr(args, name) for name in ("since", "actor", "action", "target"))
    if not events:
        print("No audit events match these filters." if filtered else "The audit log is empty.")
        return 0
    print(render_table(events, width=_width()))
    if more:
        print()
        print(
            f"Showing the newest {len(events)} events; older ones exist "
            "(raise --limit, or narrow with --since, --actor, --action, --target)."
        )
    return 0


def event_dict(event: audit_pb2.AuditEvent) -> dict[str, Any]:
    """The ``--json`` form of one event: details as an object, absent values as null."""
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "actor": event.actor,
        "actor_address": event.actor_address or None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "details": json.loads(event.details_json or "{}"),
        "request_id": event.request_id or None,
    }


def _width() -> int | None:
    """The terminal's width when printing to one (details are cut to fit); else no limit."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


_HEADER = ("TIME (UTC)", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAILS")


def render_table(events: list[audit_pb2.AuditEvent], *, width: int | None = None) -> str:
    """Aligned columns, one event a line; failures and refusals in capitals so they stand out."""
    rows = [_HEADER]
    for event in events:
        actor = event.actor + (f" ({event.actor_address})" if event.actor_address else "")
        target = f"{event.target_type}:{event.target_id}" if event.target_id else event.target_type
        outcome = event.outcome if event.outcome == "success" else event.outcome.upper()
        details = format_details(json.loads(event.details_json or "{}"))
        rows.append((_when(event.occurred_at), actor, event.action, target or "-", outcome,
                     details or "-"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER) - 1)]
    lines = []
    for row in rows:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
        line = f"{line}  {row[-1]}"
        if width is not None and len(line) > width:
            line = line[: max(width - 1, 0)] + "…"
        lines.append(line.rstrip())
    return "\n".join(lines)


def _when(occurred_at: str) -> str:
    try:
        moment = datetime.fromisoformat(occurred_at).astimezone(UTC)
    except ValueError:
        return occurred_at
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def format_details(details: dict[str, Any]) -> str:
    """``key=value`` pairs: plain words as they are, anything else as JSON."""
    parts = []
    for key, value in details.items():
        if isinstance(value, str) and value and re.fullmatch(r"[\w.:/@+-]+", value):
            text = value
        else:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)
