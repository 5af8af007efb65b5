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
