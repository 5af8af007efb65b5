"""What every ``synctv`` command shares: exit codes, the one-line error, ``--config``.

Every CLI invocation builds the whole parser, so this module imports neither grpclib nor the
generated code (``synctv version`` stays fast); :mod:`synctv.cli.client` is imported when a
command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME, connectable_socket

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


class CommandError(Exception):
    """A failure to report as one line with exit status 1."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """The ``--config`` option shared by every command that reads the config."""
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        default=None,
        help="YAML config file (default: $SYNCTV_CONFIG; then environment SYNCTV_* only)",
    )


def admin_socket(args: argparse.Namespace) -> Path:
    """The management socket of the server that ``--config`` (and the environment) describe."""
    from synctv.config import load_config  # pydantic: only for commands that read the config

    return connectable_socket(load_config(args.config).data_dir / ADMIN_SOCKET_NAME)


def print_line(text: str) -> int:
    print(text)
    return EXIT_OK


def group_help(parser: argparse.ArgumentParser, _args: argparse.Namespace) -> int:
    """A command group given without its subcommand (``synctv config``): its own help."""
    parser.print_help()
    return EXIT_CONFIG
