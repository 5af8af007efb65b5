"""The README's two commands and CI agree with the scripts that implement them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## Two commands", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_the_readme_names_the_two_commands() -> None:
    assert readme_commands() == ["scripts/dev.sh serve", "scripts/dev.sh check"]
    dev = (ROOT / "scripts" / "dev.sh").read_text()
    assert re.search(r"^  serve\)$", dev, re.MULTILINE)
    assert re.search(r"^  check\)$", dev, re.MULTILINE)


def test_ci_runs_exactly_the_readme_test_command_with_ci_set() -> None:
    lines = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    # CI=true turns "peer not installed" from a skip into a failure (tests/support).
    assert "export CI=${CI:-true}" in lines
    assert lines[-1] == f"exec {readme_commands()[1]}"
    assert lines.index("export CI=${CI:-true}") < len(lines) - 1


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in tests/support (and fixtures in conftest.py files): a test module
    imported by another runs its tests' module-level code twice and hides what is shared."""
    import ast

    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []
