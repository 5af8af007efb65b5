"""The shared command line of the generated documents (docs/errors.md, metrics.md, settings.md):
write the file, or with ``--check`` fail (exit 1) when it is not what the code declares."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(
    render: Callable[[], str], default: Path, script: str, description: str, argv: list[str] | None
) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="fail if the file is not current")
    parser.add_argument("--output", type=Path, default=default)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.exists() and args.output.read_text(encoding="utf-8") == text
        if not current:
            print(f"{args.output} is not current: run scripts/{script}", file=sys.stderr)
        return 0 if current else 1
    args.output.write_text(text, encoding="utf-8")
    return 0
