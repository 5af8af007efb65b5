"""The ``synctv`` command: argument parsing, then one call into app/admin; errors are one line.

Exit status: 0 success, 1 runtime failure (database unreachable, server not running...),
2 bad configuration or usage. ``--debug`` (or ``SYNCTV_DEBUG=1``) shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence

from synctv import __version__
from synctv.api.grpc import cli_live, cli_providers
from synctv.api.grpc.cli_common import add_config_option, admin_socket
from synctv.config import Config, ConfigError, load_config

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


class CommandError(Exception):
    """A failure to report as one line with exit status 1."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    debug = bool(args.debug or os.environ.get("SYNCTV_DEBUG"))
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_CONFIG
    try:
        return handler(args)
    except ConfigError as exc:
        if debug:
            raise
        print(f"synctv: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one place errors become one line for the operator
        if debug:
            raise
        print(f"synctv: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return _one_line(exc.exceptions[0])
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _build_parser() -> argparse.ArgumentParser:
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
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check", help="validate the config and print the effective values (secrets redacted)"
    )
    add_config_option(check)
    check.set_defaults(handler=_config_check)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=lambda _args: _print(f"synctv {__version__}"))

    admin = commands.add_parser("admin", help="administer a running server (management socket)")
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


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


def _serve(args: argparse.Namespace) -> int:
    import trio

    from synctv.app import serve
    from synctv.log import configure_logging

    config = _load(args)
    configure_logging(
        config.log.level,
        config.log.format,
        config.path(config.log.dir) if config.log.to_file else None,
    )
    logging.getLogger("synctv").info("starting", extra={"data_dir": str(config.data_dir)})
    trio.run(serve, config)
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    import trio

    from synctv.app import migrate_only

    config = _load(args)
    applied = trio.run(migrate_only, config)
    return _print(f"applied migrations: {applied}" if applied else "database is up to date")


def _config_check(args: argparse.Namespace) -> int:
    config = _load(args)
    print(json.dumps(config.redacted(), indent=2, default=str))
    print("config ok", file=sys.stderr)
    return EXIT_OK


def _admin_status(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from synctv.api.grpc.admin_client import AdminUnavailable, status

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
