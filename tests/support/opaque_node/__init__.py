"""@serenity-kit/opaque (the browser library) under Node as a test peer: :class:`SerenityOpaque`.

``bridge.mjs`` answers one JSON request per line. The package is pinned in ``package.json`` and
``package-lock.json``; ``scripts/dev.sh install-test`` runs ``npm ci`` here, and the first use does
it too when ``node_modules`` is missing. Skipped without Node, unless ``CI=true`` (then it fails:
CI must have Node).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent


def b64(data: bytes) -> str:
    """The library's encoding: base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is required in CI")
        pytest.skip(f"{tool} not installed")
    return found


class PeerError(Exception):
    """The library threw; the message is its own."""


class SerenityOpaque:
    """One long-lived ``node bridge.mjs``; ``call("client.startLogin", {...})`` → its result."""

    def __init__(self) -> None:
        node = _require("node")
        if not (HERE / "node_modules" / "@serenity-kit" / "opaque").is_dir():
            npm = _require("npm")
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
                check=True,
                capture_output=True,
                timeout=300,
            )
        self._process = subprocess.Popen(
            [node, str(HERE / "bridge.mjs")],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, op: str, params: dict[str, Any] | None = None) -> Any:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        request = {"op": op} if params is None else {"op": op, "params": params}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Node peer exited (code {self._process.wait(5)})")
        answer = json.loads(line)
        if "error" in answer:
            raise PeerError(answer["error"])
        return answer["ok"]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
