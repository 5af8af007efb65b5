"""Logging: the human and JSON formats, the optional file, and one-line database noise."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from synctv.log import configure_logging, redact_url


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def access_record() -> None:
    logging.getLogger("synctv.access").info(
        "%s %s %d %.1fms",
        "GET",
        "rooms",
        200,
        1.5,
        extra={"method": "GET", "route": "rooms", "status": 200, "duration_ms": 1.5},
    )


def test_human_format_on_stderr_and_json_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "human", tmp_path / "logs")
    access_record()
    logging.getLogger("synctv.app").debug("not at info level")
    line = capsys.readouterr().err
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO    synctv\.access: GET rooms 200 1\.5ms "
        r"method=GET route=rooms status=200 duration_ms=1\.5\n",
        line,
    ), line
    for handler in logging.getLogger().handlers:
        handler.flush()
    lines = (tmp_path / "logs" / "synctv.log").read_text().splitlines()
    (record,) = [json.loads(text) for text in lines]
    assert record["logger"] == "synctv.access"
    assert record["level"] == "info"
    assert record["msg"] == "GET rooms 200 1.5ms"
    assert (record["method"], record["route"], record["status"]) == ("GET", "rooms", 200)
    assert record["duration_ms"] == 1.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])


def test_json_format_on_stderr_and_no_file_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("info", "json")
    access_record()
    record = json.loads(capsys.readouterr().err)
    assert record["status"] == 200
    assert not any(isinstance(h, logging.FileHandler) for h in logging.getLogger().handlers)


def driver_warning() -> None:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning(
            "Failed to restore the pool connection floor; retrying", exc_info=True
        )


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_driver_tracebacks_are_dropped_at_info(
    capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    configure_logging("info", fmt)
    driver_warning()
    assert capsys.readouterr().err == ""


def test_driver_tracebacks_become_one_line_at_debug(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "human")
    driver_warning()
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(
        "asyncpg.pool: Failed to restore the pool connection floor; retrying: "
        "ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_redact_url() -> None:
    assert redact_url("postgres://u:secret@h/db") == "postgres://u:***@h/db"
