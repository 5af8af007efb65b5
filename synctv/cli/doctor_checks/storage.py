"""Where the server writes: free disk (thresholds named in each line), the embedded
PostgreSQL directory, the secret files' modes.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from synctv.cli.doctor_checks.result import (
    CheckResult,
    describe,
    fail,
    ok,
    warn,
)
from synctv.config import Config
from synctv.store import embedded_pg
from synctv.store.secrets import SECRET_NAMES

# Free space under data_dir (PostgreSQL, logs, secrets): PostgreSQL stops writing when the disk
# is full, so warn early and fail while there is still room to act.
DATA_DIR_WARN_FREE_BYTES = 2 * 1024**3
DATA_DIR_FAIL_FREE_BYTES = 512 * 1024**2
# HLS file storage: each live stream keeps hls_playlist_length segments of a few MB; below this
# a few streams at once can fill the disk.
HLS_WARN_FREE_BYTES = 2 * 1024**3
HLS_FAIL_FREE_BYTES = 256 * 1024**2
# Slice cache on disk: it fails when the disk cannot hold proxy_slice_cache.max_size_mb, and
# warns when less than this is left beside a full cache.
SLICE_CACHE_HEADROOM_BYTES = 1024**3


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _free(path: Path) -> int:
    return shutil.disk_usage(_existing_ancestor(path)).free


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def check_disk(config: Config, free: Callable[[Path], int] = _free) -> list[CheckResult]:
    """Free space where the server writes, against the thresholds above (named in the line)."""
    out: list[CheckResult] = []
    places: list[tuple[str, Path, int, int, str]] = [
        ("disk: data_dir", config.data_dir, DATA_DIR_FAIL_FREE_BYTES, DATA_DIR_WARN_FREE_BYTES,
         "free space on that disk or move data_dir"),
    ]  # fmt: skip
    storage = config.livestream.hls_storage
    if config.livestream.enabled and config.livestream.hls_enabled and storage.backend == "file":
        places.append(
            ("disk: HLS", config.path(storage.dir), HLS_FAIL_FREE_BYTES, HLS_WARN_FREE_BYTES,
             "free space there, move livestream.hls_storage.dir, or use backend: memory")
        )  # fmt: skip
    cache = config.proxy_slice_cache
    if cache.enabled and cache.file_backend_enabled:
        need = cache.max_size_mb * 1024**2
        places.append(
            ("disk: slice cache", config.path(cache.dir), need, need + SLICE_CACHE_HEADROOM_BYTES,
             "free space, or lower proxy_slice_cache.max_size_mb")
        )  # fmt: skip
    for name, path, fail_below, warn_below, fix in places:
        try:
            available = free(path)
        except OSError as exc:
            out.append(fail(name, f"cannot read free space of {path}: {describe(exc)}", fix))
            continue
        line = f"{_size(available)} free at {path}"
        if available < fail_below:
            out.append(fail(name, f"{line} (needs at least {_size(fail_below)})", fix))
        elif available < warn_below:
            out.append(warn(name, f"{line} (below the {_size(warn_below)} warning mark)", fix))
        else:
            out.append(ok(name, f"{line} (warns below {_size(warn_below)})"))
    return out


def check_embedded_data_dir(config: Config) -> CheckResult | None:
    """The embedded cluster's directory exists (or can be made) and its owner may write it."""
    if config.database.url is not None:
        return None
    name = "embedded postgres dir"
    pgdata = config.data_dir / "postgres"
    if not pgdata.exists():
        parent = _existing_ancestor(pgdata)
        if not parent.is_dir():
            return fail(name, f"cannot create {pgdata}: {parent} is not a directory",
                        "point data_dir at a directory (it is created when missing)")  # fmt: skip
        if os.access(parent, os.W_OK):
            return ok(name, f"{pgdata} will be created at first start")
        return fail(name, f"cannot create {pgdata}: {parent} is not writable",
                    f"make {parent} writable for the user that runs synctv")  # fmt: skip
    info = pgdata.stat()
    if os.geteuid() == 0:
        # As root the cluster belongs to a system user (embedded_pg.SYSTEM_USER).
        try:
            owner = pwd.getpwnam(embedded_pg.SYSTEM_USER).pw_uid
        except KeyError:
            owner = None
        if owner is not None and info.st_uid != owner:
            return fail(name, f"{pgdata} is not owned by {embedded_pg.SYSTEM_USER}",
                        f"chown -R {embedded_pg.SYSTEM_USER} {pgdata}")  # fmt: skip
        writable = bool(info.st_mode & stat.S_IWUSR)
    else:
        writable = os.access(pgdata, os.W_OK)
    if not writable:
        return fail(name, f"{pgdata} is not writable", f"chmod u+w {pgdata}")
    return ok(name, f"{pgdata} is writable")


def check_secrets(config: Config) -> list[CheckResult]:
    """Each secret configured, or kept in ``data_dir/secrets`` readable by its owner only."""
    directory = config.data_dir / "secrets"
    problems: list[CheckResult] = []
    configured, stored, pending = [], [], []
    for secret in SECRET_NAMES:
        if getattr(config.security, secret) is not None:
            configured.append(secret)
            continue
        if config.server.mode == "production":
            problems.append(fail("secrets", f"security.{secret} is not set (production mode "
                                 "generates nothing)", f"set security.{secret}_file to a file "
                                 "holding it (mode 0600)"))  # fmt: skip
            continue
        path = directory / secret
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            pending.append(secret)
            continue
        except OSError as exc:  # data_dir or secrets/ is not a directory, or is unreadable
            return [fail("secrets", f"cannot read {path}: {describe(exc)}",
                         "check data_dir: it must be a directory synctv may write")]  # fmt: skip
        if mode & 0o077:
            problems.append(fail("secrets", f"{path} is readable by others "
                                 f"(mode {stat.S_IMODE(mode):04o})", f"chmod 600 {path}"))  # fmt: skip
            continue
        stored.append(secret)
    if directory.exists() and stat.S_IMODE(directory.stat().st_mode) & 0o077:
        problems.append(warn("secrets", f"{directory} is open to others",
                             f"chmod 700 {directory}"))  # fmt: skip
    if problems:
        return problems
    parts = []
    if configured:
        parts.append(f"{len(configured)} configured")
    if stored:
        parts.append(f"{len(stored)} in {directory} (mode 0600)")
    if pending:
        parts.append(f"{len(pending)} generated at first start")
    return [ok("secrets", "; ".join(parts))]
