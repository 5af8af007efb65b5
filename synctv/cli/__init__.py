"""The ``synctv`` command: argument parsing, then one call into app/admin; errors are one line.

One module per command group: :mod:`~synctv.cli.server` (serve, migrate, version),
:mod:`~synctv.cli.configuration` (config check), :mod:`~synctv.cli.admin` (admin status, and the
``admin live`` / ``admin provider`` groups of :mod:`~synctv.cli.live` and
:mod:`~synctv.cli.providers`), :mod:`~synctv.cli.doctor` (doctor). Each exposes
``add_commands(subparsers)``.

Exit status: 0 success, 1 runtime failure (database unreachable, server not running...),
2 bad configuration or usage. ``--debug`` (or ``SYNCTV_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import NoReturn

from synctv.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    CommandError,
)

# Imports below synctv.config (pydantic) happen inside main(), once SIGTERM is handled: a signal
# that arrives while Python is still importing stops the command cleanly instead of killing it.

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "CommandError",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _sigterm_as_sigint)
    try:
        parser = _build_parser()
    except KeyboardInterrupt:
        return _report(KeyboardInterrupt())
    _Parser.words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    debug = bool(args.debug or os.environ.get("SYNCTV_DEBUG"))
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return handler(args)
    except (Exception, KeyboardInterrupt, BaseExceptionGroup) as exc:
        # The one place errors become one line for the operator. Nurseries wrap what their
        # tasks raise in (nested) exception groups: the first leaf is what went wrong.
        if debug:
            raise
        return _report(_first_leaf(exc))


def _sigterm_as_sigint(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the command as Ctrl-C does, wherever the server's signal watcher (which
    takes both signals over while it runs) is not up: during the imports, before and after.

    It goes through SIGINT's current handler: Python's outside Trio, Trio's (which delivers
    KeyboardInterrupt only at a safe point) inside ``trio.run``.
    """
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):  # SIGINT ignored (a background job of a script)
        raise KeyboardInterrupt
    handler(signal.SIGINT, frame)


def _report(exc: BaseException) -> int:
    from synctv.config import ConfigError

    if isinstance(exc, KeyboardInterrupt):  # before the signal watcher is up, or after it
        print("synctv: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(exc, ConfigError):
        print(f"synctv: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not isinstance(exc, Exception):
        raise exc  # SystemExit, GeneratorExit: not ours to report
    print(f"synctv: error: {_one_line(exc)}", file=sys.stderr)
    return EXIT_FAILURE


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        interrupt = exc.subgroup(KeyboardInterrupt)  # Ctrl-C wins over what it interrupted
        exc = (interrupt or exc).exceptions[0]
    return exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint when a value that begins with ``-`` was read as an option.

    Ids made before ids stopped beginning with ``-`` (``synctv.ids``) still can."""

    words: Sequence[str] = ()  # the command line being parsed, set by main()

    def error(self, message: str) -> NoReturn:
        dash_value = any(w.startswith("-") and not w.startswith("--") for w in self.words)
        if dash_value and any(sign in message for sign in _DASH_VALUE_SIGNS):
            message += _DASH_VALUE_HINT
        super().error(message)


_DASH_VALUE_SIGNS = (
    "expected one argument",
    "the following arguments are required",
    "unrecognized arguments: -",
)
_DASH_VALUE_HINT = (
    "\n  (a value that begins with '-' is given as --option=-value, and an id after '--',"
    " e.g. synctv admin room show -- -Ab3)"
)


def _build_parser() -> argparse.ArgumentParser:
    from synctv.cli import admin, configuration, doctor, server, watch

    parser = _Parser(
        prog="synctv",
        description="SyncTV: self-hosted watch-together server with a built-in media server.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    server.add_commands(commands)
    configuration.add_commands(commands)
    server.add_version_command(commands)
    admin.add_commands(commands)
    doctor.add_commands(commands)
    watch.add_commands(commands)
    return parser
