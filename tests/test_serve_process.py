"""`synctv serve` as a real process on embedded defaults: ready, admin status, signals, restart,
one process per data_dir, and signals that arrive during start-up."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.process import admin_status, environment, start, stop, wait_ready

pytestmark = pytest.mark.slow


HUMAN_ACCESS_LINE = re.compile(
    r"^\d\d:\d\d:\d\d INFO    synctv\.access: GET health_ready 200 [\d.]+ms 127\.0\.0\.1 "
    r"method=GET route=health_ready status=200 duration_ms=[\d.]+ request_id=[0-9a-f]{16} "
    r"client=127\.0\.0\.1$",
    re.MULTILINE,
)


def assert_access_record(records: list[dict[str, object]]) -> None:
    """Every request logs method, route, status and duration as fields of its own."""
    access = [r for r in records if r.get("logger") == "synctv.access"]
    probe = next(r for r in access if r.get("route") == "health_ready" and r["status"] == 200)
    assert probe["method"] == "GET"
    assert probe["level"] == "info"
    assert probe["client"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{16}", str(probe["request_id"]))
    assert isinstance(probe["duration_ms"], float | int)
    assert 0 <= float(probe["duration_ms"]) < 10_000


def test_serve_on_embedded_defaults_survives_restart(scratch_dir: Path) -> None:
    data = scratch_dir / "data"
    env = environment(data)
    # First run: human format on stderr, and the JSON log file under data_dir/logs.
    first = start({**env, "SYNCTV_LOG_TO_FILE": "true"})
    first_ready = wait_ready(env, first, limit=60)
    status = admin_status(env)
    assert "ready:     yes" in status
    assert "embedded" in status
    node_line = next(line for line in status.splitlines() if line.startswith("node id"))
    code, took, output = stop(first, signal.SIGINT)
    assert code == 0, output
    assert took < 2 + 5
    assert "Traceback" not in output
    assert HUMAN_ACCESS_LINE.search(output), output
    assert not any(line.startswith("{") for line in output.splitlines())
    log_lines = (data / "logs" / "synctv.log").read_text().splitlines()
    file_records = [json.loads(line) for line in log_lines]
    assert any(str(r["msg"]).startswith("SyncTV") for r in file_records)
    assert_access_record(file_records)
    secrets_before = sorted(p.read_text() for p in (data / "secrets").iterdir())

    second = start({**env, "SYNCTV_LOG_FORMAT": "json"})
    assert wait_ready(env, second, limit=10) < 10
    assert node_line in admin_status(env)  # same node, same data
    code, _, output = stop(second, signal.SIGTERM)
    assert code == 0, output
    secrets_after = sorted(p.read_text() for p in (data / "secrets").iterdir())
    assert secrets_after == secrets_before
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(r["msg"].startswith("SyncTV") and r["level"] == "info" for r in records)
    assert_access_record(records)
    log_file = (data / "logs" / "synctv.log").read_text()
    for secret in secrets_before:  # no log line ever carries a secret
        assert secret.strip() not in output
        assert secret.strip() not in log_file
    assert not (data / "synctv.sock").exists()
    assert first_ready < 60


def postmaster_pid(data: Path) -> int | None:
    """The pid of the cluster's postmaster while it runs, else None."""
    try:
        pid = int((data / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def wait_gone(pid: int, limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_one_server_per_data_dir_and_recovery_after_kill_9(scratch_dir: Path) -> None:
    data = scratch_dir / "data"
    env = environment(data)
    first = start(env)
    wait_ready(env, first, limit=60)
    database_pid = postmaster_pid(data)
    assert database_pid is not None

    # A second server (other ports) and a migrate on the same data_dir refuse, touching nothing.
    other_ports = environment(data)
    for command in ("serve", "migrate"):
        refused = subprocess.run(
            [sys.executable, "-m", "synctv", command],
            env=other_ports, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert refused.returncode == 1, refused.stderr
        assert refused.stderr == (
            f"synctv: error: another synctv is running with data_dir {data} (pid {first.pid})\n"
        )
    assert postmaster_pid(data) == database_pid  # the running server's PostgreSQL is untouched
    assert "ready:     yes" in admin_status(env)

    # kill -9 leaves PostgreSQL running and a stale socket; the next start cleans both up.
    first.kill()
    first.communicate(timeout=30)
    assert postmaster_pid(data) == database_pid
    assert (data / "synctv.sock").exists()
    restarted = start(env)
    assert wait_ready(env, restarted, limit=20) < 20
    assert wait_gone(database_pid)  # the leftover was stopped, a new one runs
    assert postmaster_pid(data) not in (None, database_pid)
    assert "ready:     yes" in admin_status(env)
    code, _, output = stop(restarted, signal.SIGINT)
    assert code == 0, output
    assert "stopping a leftover PostgreSQL" in output
    assert postmaster_pid(data) is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_stops_cleanly(scratch_dir: Path, signum: int) -> None:
    """The embedded PostgreSQL is frozen (SIGSTOP) as soon as it appears, so the signal is sure
    to land mid start-up: waiting for the database, or in the migrations."""
    data = scratch_dir / "data"
    env = environment(data)
    process = start(env)
    deadline = time.monotonic() + 60
    while (database_pid := postmaster_pid(data)) is None:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "PostgreSQL never started"
        time.sleep(0.005)
    os.kill(database_pid, signal.SIGSTOP)
    try:
        time.sleep(0.3)
        assert process.poll() is None
        ready_url = f"http://127.0.0.1:{env['SYNCTV_HEALTH_PORT']}/health/ready"
        with pytest.raises(httpx.ConnectError):  # not serving: still starting
            httpx.get(ready_url, timeout=1)
        began = time.monotonic()
        process.send_signal(signum)
    finally:
        os.kill(database_pid, signal.SIGCONT)
    output, _ = process.communicate(timeout=30)
    took = time.monotonic() - began
    left_running = not wait_gone(database_pid, limit=5)
    if left_running:
        os.kill(database_pid, signal.SIGKILL)  # do not leak it into the next test
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "stopping: start-up cancelled" in output
    assert "ready node_id" not in output
    assert not left_running, "PostgreSQL was left running"
    assert took < 10


def hold_migration_lock(dsn: str) -> tuple[asyncio.AbstractEventLoop, Any]:
    """A connection holding the migrators' advisory lock: `synctv` then waits in start-up."""
    import asyncpg

    from synctv.store.migrations import _MIGRATION_LOCK_ID

    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(asyncpg.connect(dsn))
    loop.run_until_complete(conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID))
    return loop, conn


def wait_for_lock_waiter(loop: asyncio.AbstractEventLoop, conn: Any, process: Any) -> None:
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'SELECT pg_advisory_lock%' AND pid <> pg_backend_pid()"
    )
    deadline = time.monotonic() + 30
    while loop.run_until_complete(conn.fetchval(sql)) == 0:
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "synctv never waited for the migration lock"
        time.sleep(0.02)


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_a_signal_during_migrations_stops_cleanly(
    scratch_dir: Path, fresh_dsn: str, command: str
) -> None:
    env = {**environment(scratch_dir / "data"), "SYNCTV_DATABASE_URL": fresh_dsn}
    loop, conn = hold_migration_lock(fresh_dsn)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "synctv", command],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_for_lock_waiter(loop, conn, process)
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        code, took = process.returncode, time.monotonic() - began
    finally:
        loop.run_until_complete(conn.close())
        loop.close()
    assert "Traceback" not in stderr
    assert took < 10
    if command == "serve":
        assert code == 0, stderr
        assert "stopping: start-up cancelled" in stderr
    else:  # the job was not done: say so, and let `synctv migrate && ...` stop there
        assert code == 130, stderr
        assert stderr == "synctv: interrupted: stopped before the migrations finished\n"


def create_live_stream(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "synctv", "admin", "live", "create", "--json"],
        env=env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return str(json.loads(result.stdout)["stream"]["stream_id"])


def hold_open(url: str, results: list[str]) -> None:
    """A viewer waiting for a publisher: a long-lived response the drain must respect."""
    try:
        with httpx.stream("GET", url, timeout=60) as response:
            results.append(f"status {response.status_code}")
            for _ in response.iter_raw():
                pass
        results.append("closed")
    except httpx.HTTPError as exc:
        results.append(type(exc).__name__)


@pytest.mark.parametrize("signals", [1, 2], ids=["drain", "second-signal"])
def test_signals_drain_long_requests_and_a_second_signal_stops_at_once(
    scratch_dir: Path, signals: int
) -> None:
    env = environment(scratch_dir / "data")
    env["SYNCTV_LIVESTREAM_FLV_WAIT_FOR_PUBLISHER_SECONDS"] = "60"
    env["SYNCTV_SERVER_SHUTDOWN_DRAIN_TIMEOUT_SECONDS"] = "3" if signals == 1 else "60"
    process = start(env)
    wait_ready(env, process, limit=60)
    stream_id = create_live_stream(env)
    viewer: list[str] = []
    flv_url = f"http://127.0.0.1:{env['SYNCTV_SERVER_PORT']}/live/{stream_id}.flv"
    thread = threading.Thread(target=hold_open, args=(flv_url, viewer))
    thread.start()
    time.sleep(0.5)  # the request is in, waiting for a publisher
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert process.poll() is None  # draining: the open request is given time
    ready_url = f"http://127.0.0.1:{env['SYNCTV_HEALTH_PORT']}/health/ready"
    assert httpx.get(ready_url, timeout=5).status_code == 503
    if signals == 2:
        process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    took = time.monotonic() - began
    thread.join(timeout=10)
    assert process.returncode == 0, output
    if signals == 1:
        assert 2.5 <= took <= 3 + 5  # cut at the drain deadline
    else:
        assert took < 3  # nowhere near the 60 s drain
    assert viewer, "the viewer saw neither a response nor an error"
