"""What every ``synctv`` command that talks to a running server shares; light on imports.

Every CLI invocation builds the whole parser, so this module imports neither grpclib nor the
generated code (``synctv version`` stays fast); ``admin_client`` is imported when a command runs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

# The management socket's file name inside data_dir (the server binds it, the CLI connects).
ADMIN_SOCKET_NAME = "synctv.sock"
# sun_path holds 108 bytes, the terminating NUL included; a longer path cannot be bound.
MAX_UNIX_SOCKET_PATH = 107


def short_socket_path(socket_path: Path) -> Path:
    """Where the server binds when ``socket_path`` is too long for AF_UNIX.

    A private directory in the temp dir, named after the long path (stable across restarts, one
    per data_dir); ``data_dir/synctv.sock`` is then a symlink to it, which clients follow
    (:func:`connectable_socket`). PostgreSQL's socket has the same fallback.
    """
    digest = hashlib.sha256(os.fsencode(socket_path)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"synctv-{digest}" / ADMIN_SOCKET_NAME


def is_too_long(socket_path: Path) -> bool:
    return len(os.fsencode(socket_path)) > MAX_UNIX_SOCKET_PATH


def connectable_socket(socket_path: Path) -> Path:
    """The path to connect to: the symlink's target when the server had to bind elsewhere."""
    if socket_path.is_symlink():
        return Path(os.readlink(socket_path))
    return socket_path


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
