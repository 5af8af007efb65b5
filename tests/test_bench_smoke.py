"""Every bench script at a tiny size (``make bench-smoke``; part of CI so benches cannot rot).

Each script runs as a user runs it (its own process, from the repository) and must print one
JSON line whose figures say the run worked; the figures themselves are not judged here
(performance is read from full-size runs, never from tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

pytestmark = pytest.mark.slow


def run_bench(script: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent)}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-2000:]
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict)
    return figures


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live benches' reference stream, encoded once for this module."""
    sys.path.insert(0, str(BENCH))
    try:
        from live_rig import make_source
    finally:
        sys.path.remove(str(BENCH))
    path = tmp_path_factory.mktemp("bench") / "source.flv"
    make_source(path)
    return path


def test_codec_micro() -> None:
    figures = run_bench("codec_micro.py", "--seconds", "2")
    assert figures["flv_to_ts_realtime_factor"] > 1
    assert figures["chunk_decode_realtime_factor"] > 1


def test_http_micro() -> None:
    figures = run_bench("http_micro.py", "--seconds", "1", "--connections", "4")
    assert figures["requests_per_s"] > 0


def test_api_bench(fresh_dsn: str) -> None:
    figures = run_bench(
        "api_bench.py", "--seconds", "1", "--connections", "4", "--batches", "3",
        "--database-url", fresh_dsn,
    )  # fmt: skip
    assert figures["public_settings_requests_per_s"] > 0
    assert figures["public_settings_errors"] == 0
    assert figures["limited_requests_per_s"] > 0
    assert figures["limited_errors"] == 0  # the limit is on but never reached
    assert "rate_limit_check_memory_cpu_us_per_request" in figures
    assert figures["redis_limited_requests_per_s"] > 0
    assert figures["redis_limited_errors"] == 0
    assert "rate_limit_check_redis_cpu_us_per_request" in figures
    assert figures["room_get_requests_per_s"] > 0
    assert figures["room_get_errors"] == 0  # authenticated, a member's view
    assert figures["batch_add_100_calls"] == 3
    assert figures["redis_room_get_errors"] == 0


def test_ratelimit_cost() -> None:
    figures = run_bench(
        "ratelimit_cost.py", "--checks", "200", "--seconds", "1", "--rounds", "1",
        "--connections", "4",
    )  # fmt: skip
    assert figures["memory_checks_per_s"] > 0
    assert figures["redis_checks_per_s"] > 0
    assert all(rps > 0 for rps in figures["http_requests_per_s"].values())


def test_stun() -> None:
    figures = run_bench("stun.py", "--seconds", "1")
    assert figures["answered"] > 0
    assert figures["lost"] == 0


def test_proxy_bench() -> None:
    figures = run_bench(
        "proxy_bench.py",
        *("--size-mb", "16", "--clients", "2", "--requests", "2", "--sequential-mb", "2"),
        *("--random-kb", "256", "--working-set-mb", "8", "--cache-mb", "16"),
    )
    assert figures["warm_mb_s"] > 0
    assert figures["nginx_direct_mb_s"] > 0


def test_flv_fanout(source: Path) -> None:
    figures = run_bench(
        "flv_fanout.py",
        *("--viewers", "3", "--warmup", "1", "--duration", "2", "--source", str(source)),
    )
    assert figures["connected"] == 3
    assert figures["all_kept_real_time"] is True


def test_idle_streams(source: Path) -> None:
    figures = run_bench(
        "idle_streams.py",
        *("--streams", "2", "--hls", "on-demand", "--warmup", "2", "--duration", "2"),
        *("--source", str(source)),
    )
    assert figures["all_live"] is True
    assert figures["first_playlist_ms"] is not None


def test_hls_probe() -> None:
    figures = run_bench(
        "hls_probe.py", *("--viewers", "2", "--baseline", "1", "--duration", "4"), timeout=180
    )
    assert figures["viewers_kept_up"] is True
    assert figures["segments_missed"] == 0


def test_proxy_norange() -> None:
    figures = run_bench("proxy_norange.py", "--size-mb", "8", "--range-mb", "1", "--runs", "1")
    assert figures["status"] == [206]
    assert figures["client_bytes"] == 1024 * 1024


def test_auth_bench(fresh_dsn: str) -> None:
    figures = run_bench(
        "auth_bench.py", "--seconds", "2", "--clients", "2", "--connections", "4",
        "--database-url", fresh_dsn,
    )  # fmt: skip
    assert figures["logins"] > 0
    assert figures["login_errors"] == 0
    assert figures["server_cpu_ms_per_login"] > 0
    assert figures["authenticated_errors"] == 0  # the token is accepted on every request
    assert figures["unauthenticated_errors"] == 0
    assert figures["authenticated_vs_unauthenticated_rps"] > 0


def test_voice_bench(fresh_dsn: str) -> None:
    figures = run_bench("voice_bench.py", "--runs", "1", "--database-url", fresh_dsn)
    for size in (2, 4):
        assert 0 < figures[f"join_to_ice_connected_{size}_peers_median_s"] < 30
        assert (
            figures[f"join_to_dtls_connected_{size}_peers_median_s"]
            >= figures[f"join_to_ice_connected_{size}_peers_median_s"]
        )


def test_sync_drift(fresh_dsn: str) -> None:
    figures = run_bench(
        "sync_drift.py", "--players", "3", "--rounds", "1", "--hold", "1", "--settle", "0.5",
        "--database-url", fresh_dsn,
    )  # fmt: skip
    assert figures["players"] == 3
    assert figures["changes"] == 3  # play, seek, start (the pause before play is not measured)
    assert figures["pairwise_drift_ms_p95"] is not None
    assert figures["vs_room_ms_p95"] is not None


def test_ws_fanout(fresh_dsn: str) -> None:
    figures = run_bench(
        "ws_fanout.py", "--connections", "10", "--changes", "3", "--gap", "0.05",
        "--chat-rate", "20", "--chat-seconds", "1", "--chat-senders", "2", "--chat-sample", "4",
        "--idle", "20", "--per-room", "10", "--idle-seconds", "0.5", "--database-url", fresh_dsn,
    )  # fmt: skip
    assert figures["fanout_connections"] == 10
    assert figures["fanout_missing"] == 0  # every change reached every connection
    assert figures["fanout_latency_ms_p99"] is not None
    # Chat: 20 messages reached all 10 connections, 4 of them timed each one.
    assert (figures["chat_messages"], figures["chat_errors"]) == (20, 0)
    assert figures["chat_missing"] == 0
    assert figures["chat_connections_closed"] == 0
    assert figures["chat_sampled_connections"] == 4
    assert figures["chat_latency_ms_p99"] is not None
    assert figures["server_cpu_percent_chat"] > 0
    assert figures["idle_connections"] == 20
    assert figures["idle_still_open"] == 20
