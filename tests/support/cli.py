"""Shared test helpers (moved out of test modules: no test module imports another)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import trio


async def synctv(data_dir: Path, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCTV_")}
    env["SYNCTV_DATA_DIR"] = str(data_dir)
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, "-m", "synctv", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def field(stdout: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}:\s+(\S+)\s*$", stdout, re.MULTILINE)
    assert match is not None, f"no {label!r} in:\n{stdout}"
    return match.group(1)


def one_line_error(code: int, stdout: str, stderr: str, expected: str) -> None:
    assert code == 1
    assert stdout == ""
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert expected in stderr
