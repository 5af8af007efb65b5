"""docs/settings.md is generated from the registry and must be current."""

from __future__ import annotations

import subprocess
from pathlib import Path

from synctv.core.settings import REGISTRY
from tests.support import generated_docs

ROOT = Path(__file__).resolve().parent.parent.parent


def run_generator(*args: str) -> subprocess.CompletedProcess[str]:
    return generated_docs.run_generator("gen_settings_docs.py", *args)


def test_docs_are_current() -> None:
    result = run_generator("--check")
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "settings.md"
    stale.write_text((ROOT / "docs" / "settings.md").read_text().replace("`365`", "`366`", 1))
    result = run_generator("--check", "--output", str(stale))
    assert result.returncode == 1
    assert "not current" in result.stderr
    assert run_generator("--output", str(stale)).returncode == 0
    text = stale.read_text()
    for key in REGISTRY:
        assert f"| `{key}` |" in text
