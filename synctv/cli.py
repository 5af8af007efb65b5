"""The ``synctv`` command: argument parsing, then one call into app/admin; errors are one line.

Exit status: 0 success, 1 runtime failure (database unreachable, server not running...),
2 bad configuration or usage. ``--debug`` (or ``SYNCTV_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING

from synctv import __version__

if TYPE_CHECKING:
    from synctv.config import Config

# Imports below synctv.config (pydantic) happen inside main(), once SIGTERM is handled: a signal
# that arrives while Python is still importing stops the command cleanly instead of killing it.

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class CommandError(Exception):
    """A failure to report as one line with exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _sigterm_as_sigint)
    try:
        parser = _build_parser()
    except KeyboardInterrupt:
        return _report(KeyboardInterrupt())
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


def _build_parser() -> argparse.ArgumentParser:
    from synctv.api.grpc import cli_live, cli_providers
    from synctv.api.grpc.cli_common import add_config_option

    parser = argparse.ArgumentParser(
        prog="synctv",
        description="SyncTV: self-hosted watch-together server with a built-in media server.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server (HTTP, RTMP, STUN, gRPC ...)")
    add_config_option(serve)
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    add_config_option(migrate)
    migrate.set_defaults(handler=_migrate)

    config = commands.add_parser("config", help="configuration tools")
    config.set_defaults(handler=partial(_group_help, config))
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check", help="validate the config and print the effective values (secrets redacted)"
    )
    add_config_option(check)
    check.set_defaults(handler=_config_check)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=lambda _args: _print(f"synctv {__version__}"))

    admin = commands.add_parser("admin", help="administer a running server (management socket)")
    admin.set_defaults(handler=partial(_group_help, admin))
    admin_commands = admin.add_subparsers(title="admin commands", metavar="COMMAND")
    status = admin_commands.add_parser("status", help="node id, uptime, version, database status")
    add_config_option(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_admin_status)
    cli_live.add_commands(admin_commands)
    cli_providers.add_commands(admin_commands)
    return parser


def _print(text: str) -> int:
    print(text)
    return EXIT_OK


def _group_help(parser: argparse.ArgumentParser, _args: argparse.Namespace) -> int:
    """A command group given without its subcommand (``synctv config``): its own help."""
    parser.print_help()
    return EXIT_CONFIG


def _load(args: argparse.Namespace) -> Config:
    from synctv.config import load_config

    return load_config(args.config)


def _serve(args: argparse.Namespace) -> int:
    try:
        config = _load(args)
        from synctv.log import configure_logging

        configure_logging(
            config.log.level,
            config.log.format,
            config.path(config.log.dir) if config.log.to_file else None,
        )
        import trio

        from synctv.app import serve

        trio.run(serve, config)
    except* KeyboardInterrupt:
        # Only ever outside serve()'s signal watcher: before anything had started, or after
        # everything had stopped. Either way a stop, as asked.
        pass
    logging.getLogger("synctv").info("stopped")
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    import trio

    from synctv.app import migrate_only

    config = _load(args)
    applied = trio.run(migrate_only, config)
    if applied is None:
        print("synctv: interrupted: stopped before the migrations finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _print(f"applied migrations: {applied}" if applied else "database is up to date")


def _config_check(args: argparse.Namespace) -> int:
    config = _load(args)
    print(json.dumps(config.redacted(), indent=2, default=str))
    print("config ok", file=sys.stderr)
    return EXIT_OK


def _admin_status(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from synctv.api.grpc.admin_client import AdminUnavailable, status
    from synctv.api.grpc.cli_common import admin_socket

    try:
        reply = status(admin_socket(args))
    except AdminUnavailable as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        return _print(json.dumps(MessageToDict(reply, always_print_fields_with_no_presence=True)))
    lines = [
        f"node id:   {reply.node_id}",
        f"version:   {reply.version}",
        f"uptime:    {reply.uptime_seconds:.0f} s",
        f"ready:     {'yes' if reply.ready else 'no'}",
        f"database:  {reply.database_status} ({reply.database_kind}, schema "
        f"{reply.schema_version}/{reply.expected_schema_version})",
        f"state:     {reply.state_backend}",
    ]
    return _print("\n".join(lines))
