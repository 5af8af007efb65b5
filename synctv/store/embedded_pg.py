"""A private PostgreSQL cluster under ``data_dir/postgres``: the zero-setup default database.

Theory of operation: on first start ``initdb`` creates the cluster (trust auth, Unix socket only,
no TCP port); every start runs ``postgres`` as a child process of the Trio tree, waits until its
``postmaster.pid`` says ``ready``, and hands back a DSN. On cancellation the server gets SIGINT
(PostgreSQL's "fast shutdown": roll back open transactions, checkpoint, exit) and, if it has not
gone within a grace period, SIGKILL.

Binaries: those of the PostgreSQL version that created the cluster when it exists; otherwise the
``pgserver`` wheel's (a dependency, so a fresh machine needs nothing else); otherwise the machine's
own installation. PostgreSQL refuses to run as root, so as root a dedicated system user owns and
runs the cluster, and the directories above it get the search (x) bit so that user can reach it.

The synchronous helpers (:func:`prepare_cluster`, :func:`server_command`, :func:`wait_ready`) are
shared with the test harness, which runs throwaway clusters the same way.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trio

log = logging.getLogger("synctv.store.embedded_pg")

SYSTEM_USER = "synctv-postgres"
SUPERUSER = "postgres"
DATABASE = "postgres"
# The port only names the socket file (.s.PGSQL.<port>); nothing listens on TCP.
SOCKET_PORT = 5432
# Unix socket paths are limited to 107 bytes (sun_path); longer data dirs use a temp socket dir.
_MAX_SOCKET_PATH = 100
_READY_TIMEOUT_SECONDS = 60.0
_STOP_GRACE_SECONDS = 15.0


class EmbeddedPostgresError(Exception):
    """The private cluster could not be created or started; the message says why."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where a prepared cluster lives and how to run it."""

    pgdata: Path
    bindir: Path
    socket_dir: Path
    run_as: str | None  # system user to run as (when we are root), else None

    @property
    def dsn(self) -> str:
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={self.socket_dir}&port={SOCKET_PORT}"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"


def find_bindir(pgdata: Path) -> Path:
    """Pick PostgreSQL binaries matching the cluster's version, else the wheel's, else the system's."""
    candidates = _candidate_bindirs()
    if not candidates:
        raise EmbeddedPostgresError(
            "no PostgreSQL binaries found: install the 'pgserver' wheel (a SyncTV dependency) "
            "or the distribution's postgresql package, or set database.url"
        )
    version_file = pgdata / "PG_VERSION"
    if version_file.exists():
        wanted = version_file.read_text().strip()
        for bindir in candidates:
            if _major_version(bindir) == wanted:
                return bindir
        raise EmbeddedPostgresError(
            f"{pgdata} was created by PostgreSQL {wanted}, and no PostgreSQL {wanted} binaries "
            "are installed"
        )
    return candidates[0]


def _candidate_bindirs() -> list[Path]:
    found: list[Path] = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (wheel / "postgres").exists():
            found.append(wheel)
    system = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found += [Path(p) for p in system if (Path(p) / "postgres").exists()]
    on_path = shutil.which("postgres")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    return list(dict.fromkeys(found))


def _major_version(bindir: Path) -> str:
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
    ).stdout
    # "postgres (PostgreSQL) 16.2" -> "16"
    return out.strip().rsplit(" ", 1)[-1].split(".")[0]


def prepare_cluster(pgdata: Path) -> Cluster:
    """Create the cluster on first use and make sure a leftover server is not still running."""
    pgdata = pgdata.resolve()
    bindir = find_bindir(pgdata)
    run_as = _ensure_system_user() if os.geteuid() == 0 else None
    pgdata.mkdir(parents=True, exist_ok=True)
    socket_dir = _socket_dir(pgdata)
    if run_as is not None:
        _grant_traversal(pgdata)
        _grant_traversal(bindir)
        for path in (pgdata, socket_dir):
            entry = pwd.getpwnam(run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(pgdata, 0o700)
    if not (pgdata / "PG_VERSION").exists():
        _initdb(bindir, pgdata, run_as)
    _stop_leftover_server(pgdata)
    return Cluster(pgdata=pgdata, bindir=bindir, socket_dir=socket_dir, run_as=run_as)


def server_command(cluster: Cluster) -> list[str]:
    return [
        str(cluster.bindir / "postgres"),
        "-D", str(cluster.pgdata),
        "-k", str(cluster.socket_dir),
        "-p", str(SOCKET_PORT),
        "-c", "listen_addresses=",
        "-c", "unix_socket_permissions=0700",
        "-c", "logging_collector=off",
        "-c", "fsync=on",
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunAs:
    """subprocess ``user``/``group``/``extra_groups``: drops root to the cluster's owner."""

    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None


def process_identity(cluster: Cluster) -> RunAs:
    if cluster.run_as is None:
        return RunAs()
    entry = pwd.getpwnam(cluster.run_as)
    return RunAs(entry.pw_uid, entry.pw_gid, [])


def wait_ready(cluster: Cluster, timeout: float = _READY_TIMEOUT_SECONDS) -> None:
    """Block until postmaster.pid reports ``ready`` (for the synchronous test harness)."""
    deadline = time.monotonic() + timeout
    while not is_ready(cluster):
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(f"PostgreSQL did not become ready; see {cluster.log_file}")
        time.sleep(0.05)


def is_ready(cluster: Cluster) -> bool:
    try:
        lines = (cluster.pgdata / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return False
    # postmaster.pid line 8 is the status: "starting", "ready" or "stopping".
    socket = cluster.socket_dir / f".s.PGSQL.{SOCKET_PORT}"
    return len(lines) >= 8 and lines[7].strip() == "ready" and socket.exists()


async def run_embedded_postgres(
    pgdata: Path, *, task_status: trio.TaskStatus[Cluster] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the private cluster until cancelled; ``started()`` hands over the :class:`Cluster`.

    Error handling: a failed initdb or start raises :class:`EmbeddedPostgresError` naming the log
    file; a server that dies while we run raises the same, which takes the process down rather
    than serving without a database.
    """
    cluster = await trio.to_thread.run_sync(prepare_cluster, pgdata)
    identity = process_identity(cluster)
    log_handle = cluster.log_file.open("ab")
    try:
        process = await trio.lowlevel.open_process(
            server_command(cluster),
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop it in order
            user=identity.user,
            group=identity.group,
            extra_groups=identity.extra_groups,
        )
    finally:
        log_handle.close()
    try:
        with trio.fail_after(_READY_TIMEOUT_SECONDS):
            while not is_ready(cluster):
                if process.returncode is not None or process.poll() is not None:
                    raise EmbeddedPostgresError(
                        f"PostgreSQL exited with status {process.returncode} while starting; "
                        f"see {cluster.log_file}"
                    )
                await trio.sleep(0.02)
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(cluster.pgdata)})
        task_status.started(cluster)
        status = await process.wait()
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL exited unexpectedly with status {status}; see {cluster.log_file}"
        )
    except trio.TooSlowError:
        raise EmbeddedPostgresError(
            f"PostgreSQL did not become ready in {_READY_TIMEOUT_SECONDS:.0f} s; "
            f"see {cluster.log_file}"
        ) from None
    finally:
        with trio.CancelScope(shield=True):
            await _stop(process)


async def _stop(process: trio.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)  # fast shutdown
    with trio.move_on_after(_STOP_GRACE_SECONDS):
        await process.wait()
        return
    log.warning("embedded PostgreSQL did not stop in time; killing it")
    process.kill()
    await process.wait()


def _initdb(bindir: Path, pgdata: Path, run_as: str | None) -> None:
    identity = process_identity(Cluster(pgdata, bindir, pgdata, run_as))
    result = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ],
        capture_output=True,
        text=True,
        check=False,
        user=identity.user,
        group=identity.group,
        extra_groups=identity.extra_groups,
    )
    if result.returncode != 0:
        raise EmbeddedPostgresError(
            f"initdb failed for {pgdata}: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
        )


def socket_dir_for(pgdata: Path) -> Path:
    """Where the cluster at ``pgdata`` puts its socket (nothing is created here)."""
    if len(str(pgdata)) + len(f"/.s.PGSQL.{SOCKET_PORT}") <= _MAX_SOCKET_PATH:
        return pgdata
    # Stable per data dir, so a restarted server and its clients agree on the place.
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"synctv-pg-{digest}"


def client_dsn(pgdata: Path) -> str:
    """The DSN a client on this machine uses to reach the running cluster at ``pgdata``
    (``synctv doctor``); it only answers while ``synctv serve`` runs the cluster."""
    socket_dir = socket_dir_for(pgdata.resolve())
    return f"postgresql://{SUPERUSER}@/{DATABASE}?host={socket_dir}&port={SOCKET_PORT}"


def _socket_dir(pgdata: Path) -> Path:
    path = socket_dir_for(pgdata)
    if path != pgdata:
        path.mkdir(mode=0o700, exist_ok=True)
    return path


def _stop_leftover_server(pgdata: Path) -> None:
    """A previous SyncTV killed with SIGKILL may have left its PostgreSQL running; stop it.

    Only safe because ``synctv serve``/``migrate`` hold the data_dir lock before they get here:
    a PostgreSQL running on this cluster then belongs to no live SyncTV.
    """
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return  # not running: PostgreSQL itself clears the stale pid file
    if not cmdline or not cmdline[0].endswith(b"postgres") or str(pgdata).encode() not in cmdline:
        return
    log.warning("stopping a leftover PostgreSQL (pid %d) still running on %s", pid, pgdata)
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def _ensure_system_user() -> str:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        result = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise EmbeddedPostgresError(
                f"running as root, and could not create the system user {SYSTEM_USER!r} that "
                f"PostgreSQL needs: {result.stderr.strip()}"
            ) from None
    return SYSTEM_USER


def _grant_traversal(path: Path) -> None:
    """Add the search (x) bit for others on every parent, so the cluster owner can reach it.

    This changes directories outside data_dir (``/root`` for a data_dir under it), so each
    change is logged as a warning: an operator must be able to see, and undo, what was done.
    Search without read lets others reach a known name below, not list the directory.
    """
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        wanted = mode | stat.S_IXOTH
        if wanted != mode:
            try:
                parent.chmod(wanted)
            except PermissionError:
                continue
            log.warning(
                "running as root: added the search (o+x) bit to %s so that the %s user can "
                "reach the embedded PostgreSQL cluster (mode %o -> %o)",
                parent,
                SYSTEM_USER,
                stat.S_IMODE(mode),
                stat.S_IMODE(wanted),
            )
