"""The CLI as an operator meets it: one-line errors, exit statuses, help for every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synctv import __version__


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "synctv", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    result = run("version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"synctv {__version__}"


@pytest.mark.parametrize(
    "command",
    [
        (),
        ("serve",),
        ("migrate",),
        ("config", "check"),
        ("version",),
        ("admin",),
        ("admin", "status"),
    ],
)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage: synctv" in result.stdout


def test_config_check_prints_effective_config_with_secrets_redacted(tmp_path: Path) -> None:
    result = run(
        "config",
        "check",
        env={"SYNCTV_SERVER_PORT": "9009", "SYNCTV_SECURITY_JWT_SECRET": "x" * 40},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    effective = json.loads(result.stdout)
    assert effective["server"]["port"] == 9009
    assert effective["security"]["jwt_secret"] == "***"
    assert "x" * 40 not in result.stdout


def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("server:\n  port: 99999\n")
    for command in (("config", "check"), ("serve",), ("migrate",)):
        result = run(*command, "--config", str(config), cwd=tmp_path)
        assert result.returncode == 2, command
        assert result.stderr.count("\n") == 1, result.stderr
        assert "server.port" in result.stderr
        assert "Traceback" not in result.stderr


def test_admin_status_without_a_server_is_one_line_exit_1(tmp_path: Path) -> None:
    result = run("admin", "status", env={"SYNCTV_DATA_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "is `synctv serve` running" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run("--debug", "admin", "status", env={"SYNCTV_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    "words",
    [
        ("admin", "room", "show", "-Ab3"),
        ("admin", "room", "list", "--search", "-Ab3"),
    ],
)
def test_a_value_beginning_with_a_dash_gets_a_hint(tmp_path: Path, words: tuple[str, ...]) -> None:
    result = run(*words, env={"SYNCTV_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "given as --option=-value, and an id after '--'" in result.stderr


def test_an_id_beginning_with_a_dash_goes_after_a_double_dash(tmp_path: Path) -> None:
    """The hint's advice works: the id reaches the command (which then finds no server)."""
    for words in (
        ("admin", "room", "show", "--", "-Ab3"),
        ("admin", "room", "list", "--search=-A"),
    ):
        result = run(*words, env={"SYNCTV_DATA_DIR": str(tmp_path)})
        assert result.returncode == 1, result.stderr
        assert "is `synctv serve` running" in result.stderr


def test_a_missing_argument_without_a_dash_value_gets_no_hint(tmp_path: Path) -> None:
    result = run("admin", "room", "show", env={"SYNCTV_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "the following arguments are required: ROOM_ID" in result.stderr
    assert "--option=-value" not in result.stderr


def test_no_command_prints_help_and_exits_2() -> None:
    result = run()
    assert result.returncode == 2
    assert "commands" in result.stdout


def test_migrate_applies_then_reports_up_to_date(tmp_path: Path, fresh_dsn: str) -> None:
    env = {"SYNCTV_DATA_DIR": str(tmp_path), "SYNCTV_DATABASE_URL": fresh_dsn}
    first = run("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied migrations: [1, 2, 3")
    second = run("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is up to date"


def test_migrate_with_an_unreachable_database_is_one_line_exit_1(tmp_path: Path) -> None:
    env = {
        "SYNCTV_DATA_DIR": str(tmp_path),
        "SYNCTV_DATABASE_URL": f"postgresql://nobody@/db?host={tmp_path}&port=1",
        "SYNCTV_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
    }
    result = run("migrate", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("synctv: error: cannot connect to the database")
    assert result.stderr.count("\n") == 1


# One case per validation class, through the real CLI: exit 2, one line naming the key, and
# nothing touched (the data_dir is not even created).
INVALID = [
    ("unknown_key", {"SYNCTV_SERVER_PROT": "1"}, "SYNCTV_SERVER_PROT"),
    ("bad_type", {"SYNCTV_METRICS_PORT": "ninety"}, "metrics.port"),
    ("port_range", {"SYNCTV_LIVESTREAM_RTMP_PORT": "65536"}, "livestream.rtmp_port"),
    (
        "malformed_secret",
        {"SYNCTV_SECURITY_OPAQUE_SERVER_SETUP": "x"},
        "security.opaque_server_setup",
    ),
    (
        "missing_secret_file",
        {"SYNCTV_SECURITY_JWT_SECRET_FILE": "no/such/jwt"},
        "security.jwt_secret_file",
    ),
    ("bad_url", {"SYNCTV_DATABASE_URL": "postgresql://u:pw@[::1/db"}, "database.url"),
    ("bad_url_scheme", {"SYNCTV_REDIS_URL": "http://cache:6379"}, "redis.url"),
    ("empty_url", {"SYNCTV_DATABASE_URL": ""}, "database.url"),
    ("same_port_twice", {"SYNCTV_HEALTH_PORT": "8080"}, "health.port"),
]


@pytest.mark.parametrize(("env", "key"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_every_validation_class_exits_2_with_one_line(
    tmp_path: Path, env: dict[str, str], key: str
) -> None:
    data = tmp_path / "data"
    result = run("serve", env={**env, "SYNCTV_DATA_DIR": str(data)}, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"synctv: config error: {key}"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "pw" not in result.stderr  # a URL's password is never echoed
    assert not data.exists()


def test_duplicate_ports_name_both_keys(tmp_path: Path) -> None:
    result = run("config", "check", env={"SYNCTV_METRICS_PORT": "8081"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "synctv: config error: metrics.port: port 8081 is already taken by health.port; "
        "every listener needs its own port\n"
    )


def test_relative_secret_file_resolves_against_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "jwt").write_text("j" * 40 + "\n")
    env = {"SYNCTV_DATA_DIR": "/nonexistent/data", "SYNCTV_SECURITY_JWT_SECRET_FILE": "run/jwt"}
    result = run("config", "check", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["security"]["jwt_secret"] == "***"


def test_production_mode_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    env = {"SYNCTV_DATA_DIR": str(tmp_path / "data"), "SYNCTV_SERVER_MODE": "production"}
    result = run("serve", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(
        "synctv: config error: security.jwt_secret: is required in production mode"
    ), result.stderr
    assert "security.cluster_secret" in lines[-1]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "secrets").exists()  # nothing generated


def test_a_newer_database_is_refused_by_migrate_and_serve(tmp_path: Path, fresh_dsn: str) -> None:
    import asyncio

    import asyncpg

    from synctv.store.migrations import latest_version

    env = {"SYNCTV_DATA_DIR": str(tmp_path / "data"), "SYNCTV_DATABASE_URL": fresh_dsn}
    assert run("migrate", env=env).returncode == 0

    async def from_the_future() -> None:
        conn = await asyncpg.connect(fresh_dsn)
        try:
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
                latest_version() + 1,
            )
        finally:
            await conn.close()

    asyncio.run(from_the_future())
    ephemeral = {
        f"SYNCTV_{k}": "0" for k in ("SERVER_PORT", "HEALTH_PORT", "METRICS_PORT", "GRPC_PORT")
    }
    ephemeral |= {"SYNCTV_LIVESTREAM_RTMP_PORT": "0", "SYNCTV_WEBRTC_STUN_PORT": "0"}
    for command in ("migrate", "serve"):
        result = run(command, env={**env, **ephemeral})
        assert result.returncode == 1, (command, result.stderr)
        last = result.stderr.splitlines()[-1]
        assert last.startswith("synctv: error: the database schema is at version"), last
        assert "newer than this SyncTV knows" in last
        assert "Traceback" not in result.stderr


def test_a_port_in_use_names_the_key_and_the_address(tmp_path: Path, fresh_dsn: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            "SYNCTV_DATA_DIR": str(tmp_path / "data"),
            "SYNCTV_DATABASE_URL": fresh_dsn,
            "SYNCTV_SERVER_HOST": "127.0.0.1",
            "SYNCTV_SERVER_PORT": str(port),
            "SYNCTV_HEALTH_PORT": "0",
            "SYNCTV_METRICS_PORT": "0",
            "SYNCTV_LIVESTREAM_RTMP_PORT": "0",
            "SYNCTV_WEBRTC_STUN_PORT": "0",
        }
        result = run("serve", env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"synctv: error: cannot listen on server.port 127.0.0.1:{port}: address already in use"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "synctv.sock").exists()  # what had started was stopped


@pytest.mark.parametrize("group", ["config", "admin"])
def test_a_command_group_alone_prints_its_own_help(group: str) -> None:
    result = run(group)
    assert result.returncode == 2
    assert result.stdout.startswith(f"usage: synctv {group} ")
