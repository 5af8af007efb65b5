"""``synctv serve``, ``synctv migrate``, ``synctv version``: run the process tree of :mod:`synctv.app`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING, Any

from synctv import __version__
from synctv.cli.common import EXIT_INTERRUPTED, EXIT_OK, add_config_option, print_line

if TYPE_CHECKING:
    from synctv.config import Config


def add_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the server (HTTP, RTMP, STUN, gRPC ...)")
    add_config_option(serve)
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    add_config_option(migrate)
    migrate.set_defaults(handler=_migrate)


def add_version_command(commands: Any) -> None:
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(handler=lambda _args: print_line(f"synctv {__version__}"))


def load(args: argparse.Namespace) -> Config:
    from synctv.config import load_config

    return load_config(args.config)


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load(args)
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

    config = load(args)
    applied = trio.run(migrate_only, config)
    if applied is None:
        print("synctv: interrupted: stopped before the migrations finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    return print_line(f"applied migrations: {applied}" if applied else "database is up to date")
