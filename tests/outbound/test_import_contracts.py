"""The import-linter contracts that keep outbound HTTP in its own room do catch what they
forbid: each illegal import is planted in a temporary copy of the package and must break a
contract (a contract nothing can break would pass silently)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

PLANTS = [
    ("synctv/outbound/client.py", "import synctv.providers.base", "Layers point down"),
    ("synctv/outbound/address_policy.py", "import synctv.proxy.ranges", "Layers point down"),
    (
        "synctv/providers/service.py",
        "import synctv.proxy.slice_cache",
        "Providers never reach into the proxy",
    ),
    (
        "synctv/proxy/service.py",
        "import synctv.providers.service",
        "The proxy sees providers only through their interface",
    ),
    ("synctv/outbound/scope.py", "import trio", "Outbound rules are pure"),
]


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS)], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "synctv", tree / "synctv", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_tree_as_it_is_keeps_every_contract(pristine: Path) -> None:
    result = _lint(pristine)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("module", "line", "contract"), PLANTS, ids=[p[1] for p in PLANTS])
def test_a_planted_illegal_import_breaks_its_contract(
    pristine: Path, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    with (tree / module).open("a") as source:
        source.write(f"\n{line}  # planted\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [text for text in result.stdout.splitlines() if "BROKEN" in text]
    assert any(contract in text for text in broken), result.stdout
