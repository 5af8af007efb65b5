"""Where the management socket lives: the contract between its server and the ``synctv`` CLI.

Stdlib only: every CLI invocation imports it while building the parser (``synctv version`` stays
fast), and the server binds where it says.
"""

from __future__ import annotations

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
