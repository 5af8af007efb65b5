"""The import contracts catch what they promise to catch.

Each illegal import below is planted in a copy of the package; ``lint-imports`` (with this
project's own contracts) must then fail, naming the contract that forbids it. The clean copy
passes, so a failure is the planted line and nothing else. The first three cases are the
imports the reshaping issue found passing unnoticed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# (module file under synctv/, the line planted in it, the contract that must break)
CASES = [
    ("livestream/hub.py", "from synctv.rtmp import server", "Layers point down"),
    ("providers/direct.py", "from synctv.proxy import service", "Layers point down"),
    ("stun/server.py", "from synctv.rtmp import server", "Layers point down"),
    ("media/flv.py", "import os", "Codecs touch neither the OS nor a PRNG"),
    ("media/flv.py", "import random", "Codecs touch neither the OS nor a PRNG"),
    ("media/flv.py", "import trio", "Codecs are sans-IO"),
    ("core/audit.py", "from synctv.api import health", "Layers point down"),
    ("outbound/scope.py", "import httpx", "Outbound rules are pure"),
    ("proxy/service.py", "from synctv.providers import crypto", "The proxy sees providers only"),
    ("providers/direct.py", "from synctv.providers import emby", "Provider adapters do not"),
    ("app/live.py", "from synctv.app import stun", "Feature builders do not import each other"),
    ("app/feature.py", "from synctv.app import tree", "Composition root"),
    # A new top-level package nobody placed in the layers: the exhaustive contract refuses it.
    ("unplaced/__init__.py", "", "Layers point down"),
]


def package_copy(into: Path) -> Path:
    """synctv/ and a config holding only the import contracts, under ``into``."""
    shutil.copytree(ROOT / "synctv", into / "synctv", ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "pyproject.toml").read_text()
    (into / "pyproject.toml").write_text(text[text.index("[tool.importlinter]") :])
    return into


def broken_contracts(root: Path) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "300"}
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    names = [m.group(1) for m in re.finditer(r"^(.+?)\s+BROKEN", done.stdout, re.MULTILINE)]
    return done.returncode, names


def test_the_clean_copy_keeps_every_contract(tmp_path: Path) -> None:
    assert broken_contracts(package_copy(tmp_path)) == (0, [])


@pytest.mark.parametrize(("module", "line", "contract"), CASES)
def test_a_planted_illegal_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    root = package_copy(tmp_path)
    target = root / "synctv" / module
    target.parent.mkdir(parents=True, exist_ok=True)
    before = target.read_text() if target.exists() else ""
    target.write_text(f"{before}\n{line}\n")
    code, broken = broken_contracts(root)
    assert code == 1
    assert any(name.startswith(contract) for name in broken), broken
