"""What every ``synctv`` command that talks to a running server shares; light on imports.

Every CLI invocation builds the whole parser, so this module imports neither grpclib nor the
generated code (``synctv version`` stays fast); ``admin_client`` is imported when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from synctv.config import load_config

# The management socket's file name inside data_dir (the server binds it, the CLI connects).
ADMIN_SOCKET_NAME = "synctv.sock"


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
    return load_config(args.config).data_dir / ADMIN_SOCKET_NAME
