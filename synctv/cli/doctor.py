"""``synctv doctor``: is this server set up so that viewers, streamers and proxies can reach it?

Runs :mod:`synctv.cli.doctor_checks` against the server that ``--config`` describes (from the
server's machine) and prints one aligned line per check, with the fix under anything not OK, or
one JSON document with ``--json``. Exit status: 0 all OK, 1 a warning, 2 a failure (a config
that does not load is also 2, as for every command).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from synctv.cli.common import add_config_option

if TYPE_CHECKING:
    from synctv.cli.doctor_checks.result import CheckResult

_MARK = {0: "OK  ", 1: "WARN", 2: "FAIL"}


def add_commands(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check ports, public URLs, proxy, database, disk and secrets; say what to fix",
        description="Check that this server can be reached and is set up right; each problem "
        "comes with a one-line fix. Exit status: 0 OK, 1 warnings, 2 failures.",
    )
    add_config_option(doctor)
    doctor.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the address viewers open (through your reverse proxy), e.g. "
        "https://tv.example.org (default: server.public_url)",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    doctor.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    import trio
    import trio_asyncio

    from synctv.cli.doctor_checks import run_checks, worst
    from synctv.config import load_config

    config = load_config(args.config)

    async def main() -> list[CheckResult]:
        async with trio_asyncio.open_loop():
            return await run_checks(config, args.public_url)

    results = trio.run(main)
    status = int(worst(results))
    if args.json:
        print(render_json(results, status))
    else:
        columns = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(render_human(results, columns))
    return status


def render_json(results: Sequence[CheckResult], status: int) -> str:
    document = {
        "status": _MARK[status].strip().lower(),
        "checks": [result.as_json() for result in results],
    }
    return json.dumps(document, indent=2)


def render_human(results: Sequence[CheckResult], columns: int | None = None) -> str:
    """One line per check, names aligned; the fix and copyable values indented below.

    With ``columns`` (a terminal's width) messages and fixes wrap at it, continuing in their
    own column; values (URLs to copy) never wrap.
    """
    width = max((len(r.name) for r in results), default=0)
    indent = " " * (width + 8)
    lines = []

    def wrapped(first: str, text: str, more: str) -> list[str]:
        if columns is None or len(first) + len(text) <= columns:
            return [first + text]
        room = max(columns - len(more), 20)
        return textwrap.wrap(
            text,
            width=room + len(more),
            initial_indent=first,
            subsequent_indent=more,
            break_long_words=False,
            break_on_hyphens=False,
        )

    for result in results:
        head = f"{_MARK[int(result.status)]}  {result.name.ljust(width)}  "
        lines += wrapped(head, result.message, indent)
        if result.fix:
            lines += wrapped(indent + "fix: ", result.fix, indent + "     ")
        label_width = max((len(k) for k in result.details), default=0)
        for key, value in result.details.items():
            lines.append(f"{indent}{key.ljust(label_width)}  {value}")
    counts = {mark: sum(1 for r in results if int(r.status) == code) for code, mark in
              ((0, "ok"), (1, "warning"), (2, "failure"))}  # fmt: skip
    summary = ", ".join(
        f"{n} {mark}{'s' if n != 1 and mark != 'ok' else ''}" for mark, n in counts.items() if n
    )
    lines.append("")
    lines.append(summary or "no checks ran")
    return "\n".join(lines)
