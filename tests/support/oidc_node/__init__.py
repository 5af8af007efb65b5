"""oidc-provider (npm) under Node: a real OpenID Provider for the sign-in tests, and a browser
stand-in that walks its login and consent forms with httpx."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin

import httpx

HERE = Path(__file__).resolve().parent
CLIENT_ID = "synctv"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"


@dataclass(frozen=True)
class RunningProvider:
    issuer: str


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def oidc_provider(
    redirect_uris: list[str], clock_skew_seconds: int = 0
) -> Iterator[RunningProvider]:
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("needs Node and `npm ci` in tests/support/oidc_node (scripts/dev.sh)")
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIRECT_URIS": json.dumps(redirect_uris),
        "CLIENT_SECRET": CLIENT_SECRET,
        "CLOCK_SKEW_SECONDS": str(clock_skew_seconds),
    }
    process = subprocess.Popen(
        [node, str(HERE / "provider.mjs")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=HERE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(
                f"oidc-provider did not start: {line}{process.stderr.read() if process.stderr else ''}"
            )
        yield RunningProvider(line.split()[1])
    finally:
        process.terminate()
        process.communicate(timeout=10)  # reaps it and closes its pipes


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_INPUT = re.compile(r"<input\b([^>]*)>")
_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')


def walk_to_callback(authorization_url: str, account: str) -> str:
    """Be the browser at the provider: sign in as ``account`` (dev login form), consent, and
    return the callback URL the provider redirects to (not followed)."""
    with httpx.Client(follow_redirects=False, timeout=20) as browser:
        url = authorization_url
        for _ in range(12):
            response = browser.get(url)
            if response.status_code in (302, 303):
                location = urljoin(url, response.headers["location"])
                if "/callback" in location:
                    return location
                url = location
                continue
            form = _FORM.search(response.text)
            if form is None:
                raise RuntimeError(f"no form at {url}: {response.status_code}")
            action, body = urljoin(url, unescape(form.group(1))), form.group(2)
            fields = {}
            for attributes in _INPUT.findall(body):
                found = dict(_ATTRIBUTE.findall(attributes))
                if "name" in found:
                    fields[found["name"]] = unescape(found.get("value", ""))
            if "login" in fields:
                fields["login"], fields["password"] = account, "any"
            posted = browser.post(action, data=fields)
            if posted.status_code not in (302, 303):
                raise RuntimeError(f"the provider refused the form: {posted.status_code}")
            url = urljoin(action, posted.headers["location"])
            if "/callback" in url:
                return url
        raise RuntimeError("too many steps at the provider")
