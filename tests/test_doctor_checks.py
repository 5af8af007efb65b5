"""The doctor's checks as plain functions (no server, no terminal): disk thresholds, secret
file modes, the URLs the world is shown, the forwarded-address verdict, the rendering; and the
``/ws/diagnostics`` report through the real dispatcher (what it reveals, and what it does not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import trio

from synctv.api.http.routes.diagnostics import DIAGNOSTICS_PATH, diagnostics_routes
from synctv.api.http.web import build_web_app
from synctv.cli.doctor import render_human, render_json
from synctv.cli.doctor_checks.database import clock_result
from synctv.cli.doctor_checks.reach import (
    NGINX_UPGRADE_LINES,
    check_public_urls,
    forwarding_result,
)
from synctv.cli.doctor_checks.result import CheckResult, Status, fail, ok, warn, worst
from synctv.cli.doctor_checks.storage import (
    DATA_DIR_FAIL_FREE_BYTES,
    DATA_DIR_WARN_FREE_BYTES,
    HLS_WARN_FREE_BYTES,
    SLICE_CACHE_HEADROOM_BYTES,
    check_disk,
    check_embedded_data_dir,
    check_secrets,
)
from synctv.config import Config
from tests.livestream.hls_support import asgi_call

GiB = 1024**3


def config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    return Config.model_validate({"data_dir": tmp_path / "data", **sections})


def test_disk_thresholds_name_the_mark(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        livestream={"hls_storage": {"backend": "file"}},
        proxy_slice_cache={"file_backend_enabled": True, "max_size_mb": 1024},
    )
    plenty = check_disk(cfg, free=lambda _path: 100 * GiB)
    assert [r.name for r in plenty] == ["disk: data_dir", "disk: HLS", "disk: slice cache"]
    assert all(r.status is Status.OK for r in plenty)
    assert "warns below 2.0 GiB" in plenty[0].message

    low = check_disk(cfg, free=lambda _path: DATA_DIR_WARN_FREE_BYTES - 1)
    # The slice cache warns below its size plus 1 GiB of headroom: 2 GiB here too.
    assert [r.status for r in low] == [Status.WARN, Status.WARN, Status.WARN]
    assert "below the 2.0 GiB warning mark" in low[0].message

    # The slice cache fails when the disk cannot hold its configured size.
    cache_short = check_disk(cfg, free=lambda _path: 1024**3 - 1)
    assert cache_short[2].status is Status.FAIL
    assert "needs at least 1.0 GiB" in cache_short[2].message
    assert "max_size_mb" in cache_short[2].fix

    full = check_disk(cfg, free=lambda _path: DATA_DIR_FAIL_FREE_BYTES - 1)
    assert full[0].status is Status.FAIL
    assert full[1].status is Status.WARN  # HLS fails only below 256 MiB
    assert HLS_WARN_FREE_BYTES > DATA_DIR_FAIL_FREE_BYTES
    assert GiB == SLICE_CACHE_HEADROOM_BYTES


def test_disk_checks_only_what_is_written_to_disk(tmp_path: Path) -> None:
    # HLS in memory and no file cache (the defaults): only data_dir is checked.
    assert [r.name for r in check_disk(config(tmp_path), free=lambda _p: 100 * GiB)] == [
        "disk: data_dir"
    ]


def test_disk_real_free_space(tmp_path: Path) -> None:
    (result,) = check_disk(config(tmp_path))
    assert str(tmp_path / "data") in result.message


def test_secret_files_must_be_private(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    (generated,) = check_secrets(cfg)
    assert generated.status is Status.OK
    assert generated.message == "4 generated at first start"

    directory = tmp_path / "data" / "secrets"
    directory.mkdir(parents=True, mode=0o700)
    for name in ("jwt_secret", "opaque_server_setup", "credential_encryption_key"):
        (directory / name).write_text("x\n")
        (directory / name).chmod(0o600)
    (directory / "cluster_secret").write_text("x\n")
    (directory / "cluster_secret").chmod(0o644)
    (leaky,) = check_secrets(cfg)
    assert leaky.status is Status.FAIL
    assert "mode 0644" in leaky.message
    assert leaky.fix == f"chmod 600 {directory / 'cluster_secret'}"

    (directory / "cluster_secret").chmod(0o600)
    (fine,) = check_secrets(cfg)
    assert fine.status is Status.OK
    assert "4 in" in fine.message


def test_production_mode_needs_configured_secrets(tmp_path: Path) -> None:
    results = check_secrets(config(tmp_path, server={"mode": "production"}))
    assert [r.status for r in results] == [Status.FAIL] * 4
    assert "security.jwt_secret_file" in results[0].fix


def test_public_urls_never_point_at_loopback_when_listening_publicly(tmp_path: Path) -> None:
    unset = check_public_urls(config(tmp_path))  # server.host 0.0.0.0 by default
    assert unset.status is Status.WARN
    assert "server.public_url" in unset.fix

    local = check_public_urls(config(tmp_path, server={"public_url": "http://127.0.0.1:8080"}))
    assert local.status is Status.WARN
    assert "points at this machine only" in local.message

    public = config(tmp_path, server={"public_url": "https://tv.example.org"})
    good = check_public_urls(public)
    assert good.status is Status.OK
    assert good.details["OBS server"] == "rtmp://tv.example.org:1935/live"
    assert good.details["HLS"] == "https://tv.example.org/live/<stream-id>/index.m3u8"
    assert good.details["HTTP-FLV"] == "https://tv.example.org/live/<stream-id>.flv"

    # RTMP cannot go through an HTTP proxy: a loopback RTMP host is its own warning.
    rtmp_local = check_public_urls(
        config(
            tmp_path,
            server={"public_url": "https://tv.example.org"},
            livestream={"rtmp_public_host": "127.0.0.1"},
        )
    )
    assert rtmp_local.status is Status.WARN
    assert "livestream.rtmp_public_host" in rtmp_local.fix

    loopback_only = check_public_urls(config(tmp_path, server={"host": "127.0.0.1"}))
    assert loopback_only.status is Status.OK


def test_public_urls_against_the_tested_address(tmp_path: Path) -> None:
    # Behind a proxy on the same machine the server listens on loopback, but viewers need the
    # proxy's address in every link.
    behind = config(tmp_path, server={"host": "127.0.0.1"})
    unset = check_public_urls(behind, "https://tv.example.org/")
    assert unset.status is Status.WARN
    assert unset.message == "server.public_url is not set: links show http://127.0.0.1:8080"
    assert unset.fix == "set server.public_url: https://tv.example.org"
    other = config(tmp_path, server={"host": "127.0.0.1", "public_url": "https://old.example.org"})
    stale = check_public_urls(other, "https://tv.example.org")
    assert stale.status is Status.WARN
    assert (
        stale.message
        == "links show https://old.example.org, but viewers open https://tv.example.org"
    )
    same = config(tmp_path, server={"host": "127.0.0.1", "public_url": "https://tv.example.org/"})
    assert check_public_urls(same, "https://tv.example.org").status is Status.OK


def test_forwarded_verdict() -> None:
    report = {"client": "10.0.0.5", "peer": "10.0.0.5", "forwarding_headers": []}
    assert forwarding_result(report).status is Status.OK
    untrusted = {
        "client": "172.17.0.1",
        "peer": "172.17.0.1",
        "forwarding_headers": ["x-forwarded-for", "x-real-ip"],
        "peer_trusted": False,
    }
    verdict = forwarding_result(untrusted)
    assert verdict.status is Status.WARN
    assert "X-Forwarded-For, X-Real-Ip" in verdict.message
    assert verdict.fix.startswith('set server.trusted_proxies: ["172.17.0.1"]')
    trusted = {**untrusted, "client": "203.0.113.9", "peer_trusted": True}
    assert forwarding_result(trusted).status is Status.OK


def test_embedded_data_dir(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    before = check_embedded_data_dir(cfg)
    assert before is not None
    assert before.status is Status.OK
    assert "will be created" in before.message
    external = config(tmp_path, database={"url": "postgresql://u@db/x"})
    assert check_embedded_data_dir(external) is None


def test_worst_and_rendering() -> None:
    results = [
        ok("http", "SyncTV answers on 127.0.0.1:8080"),
        warn("public urls", "server.public_url is not set", "set server.public_url", web="x"),
        fail("websocket", "the proxy drops Upgrade", NGINX_UPGRADE_LINES),
    ]
    assert worst(results) is Status.FAIL
    assert worst(results[:2]) is Status.WARN
    assert worst([]) is Status.OK
    text = render_human(results).splitlines()
    assert text[0] == "OK    http         SyncTV answers on 127.0.0.1:8080"
    assert text[1] == "WARN  public urls  server.public_url is not set"
    assert text[2] == "                   fix: set server.public_url"
    assert text[3] == "                   web  x"
    assert text[4].startswith("FAIL  websocket    the proxy drops Upgrade")
    assert text[-1] == "1 ok, 1 warning, 1 failure"
    document = json.loads(render_json(results, 2))
    assert document["status"] == "fail"
    assert document["checks"][0] == {
        "name": "http",
        "status": "ok",
        "message": "SyncTV answers on 127.0.0.1:8080",
        "fix": None,
    }
    assert document["checks"][1]["details"] == {"web": "x"}
    assert CheckResult("a", Status.OK, "m").as_json()["fix"] is None


async def test_diagnostics_report_through_the_dispatcher() -> None:
    def app(trusted: tuple[str, ...]) -> Any:
        config = Config.model_validate({"server": {"trusted_proxies": list(trusted)}})
        routes, websockets = diagnostics_routes(config.server.trusted_proxies)
        return build_web_app(
            config.server, routes=routes, websocket_routes=websockets, clock=trio.current_time
        )

    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "doctor-1"}
    reply = await asgi_call(app(()), DIAGNOSTICS_PATH, forwarded)
    assert reply.status == 200
    untrusted = json.loads(reply.body)
    assert untrusted == {
        "server": "synctv",
        "websocket": False,
        "client": "127.0.0.1",
        "peer": "127.0.0.1",
        "forwarding_headers": ["x-forwarded-for"],
        "peer_trusted": False,
        "request_id": "doctor-1",
    }
    # Header values a client sent are never echoed unless believed.
    assert "203.0.113.9" not in reply.body.decode()

    trusted = json.loads(
        (await asgi_call(app(("127.0.0.1/32",)), DIAGNOSTICS_PATH, forwarded)).body
    )
    assert trusted["client"] == "203.0.113.9"
    assert trusted["peer"] == "127.0.0.1"
    assert trusted["peer_trusted"] is True


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory\n")
    cfg = config(tmp_path)
    embedded = check_embedded_data_dir(cfg)
    assert embedded is not None
    assert embedded.status is Status.FAIL
    assert "is not a directory" in embedded.message
    (secrets_result,) = check_secrets(cfg)  # one line, not one per secret
    assert secrets_result.status is Status.FAIL
    assert "data_dir" in secrets_result.fix


def test_clock_skew_at_the_midpoint_of_the_round_trip() -> None:
    # A 0.4 s query whose database answer is the midpoint: no skew.
    assert clock_result(1000.2, 1000.0, 1000.4).message == (
        "database clock matches this machine's (limit 1 s)"
    )
    ahead = clock_result(1001.5, 1000.0, 1000.2)
    assert ahead.status is Status.FAIL
    assert ahead.message == "database clock is 1.400 s ahead (limit 1 s)"
    assert "chrony" in ahead.fix
    behind = clock_result(999.2, 1000.0, 1000.0)
    assert behind.status is Status.OK
    assert behind.message == "database clock is 0.800 s behind (limit 1 s)"


def test_rendering_wraps_at_the_terminal_width() -> None:
    results = [
        ok("http", "SyncTV answers on 127.0.0.1:8080"),
        fail(
            "websocket",
            "WebSocket upgrade at ws://127.0.0.1:8880/ws/diagnostics fails: the proxy drops the "
            "Upgrade and Connection headers (the server got a plain request)",
            f"in the proxy's location block add: {NGINX_UPGRADE_LINES}",
            web="http://a-very-long-host-name.example.org:8080/and/a/long/path/prefix/",
        ),
    ]
    lines = render_human(results, columns=80).splitlines()
    column = len("FAIL  websocket  ")
    assert lines[0] == "OK    http       SyncTV answers on 127.0.0.1:8080"
    body = lines[1 : lines.index("")]
    url_line = next(line for line in body if "a-very-long-host-name" in line)
    assert len(url_line) > 80  # values to copy never wrap
    for line in body:
        assert line is url_line or len(line) <= 80, line
        if not line.startswith("FAIL"):
            assert line[:column].strip() == ""  # continuations stay in the message column
    text = " ".join(line.strip() for line in body)
    assert "the proxy drops the Upgrade and Connection headers" in text
    assert 'proxy_set_header Connection "upgrade";' in text
    # Piped (no terminal width): one line per message, as scripts and the tests above read it.
    assert len(render_human(results).splitlines()) == 6
