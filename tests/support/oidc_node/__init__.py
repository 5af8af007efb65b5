"""A real OpenID provider (the npm ``oidc-provider``) under Node, and a person signing in at it.

``provider.mjs`` serves one confidential client on a loopback port. The package is pinned in
``package.json`` and ``package-lock.json``; ``scripts/dev.sh install-test`` runs ``npm ci`` here,
and the first use does it too when ``node_modules`` is missing. Skipped without Node, unless
``CI=true`` (then it fails: CI must have Node). :func:`sign_in_at` plays the person: it follows
the provider's login and consent forms with httpx (no browser) up to the redirect back.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from tests.support.opaque_node import _require
from tests.support.process import free_port

HERE = Path(__file__).parent
_FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@dataclass(frozen=True, slots=True)
class OpenIdProvider:
    issuer: str
    client_id: str
    client_secret: str


@contextmanager
def oidc_provider(
    redirect_uris: list[str], *, client_id: str = "synctv", id_token_ttl: int = 3600
) -> Iterator[OpenIdProvider]:
    """Run ``provider.mjs`` for the block; a fresh client secret each time."""
    node = _require("node")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(
            [_require("npm"), "ci", "--no-audit", "--no-fund", "--prefix", str(HERE)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    secret = "secret-" + free_port().to_bytes(4, "big").hex()
    options = {
        "port": free_port(),
        "clientId": client_id,
        "clientSecret": secret,
        "redirectUris": redirect_uris,
        "idTokenTtl": id_token_ttl,
    }
    process = subprocess.Popen(
        [node, str(HERE / "provider.mjs"), json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"oidc-provider did not start: {line!r}")
        yield OpenIdProvider(line.split()[1], client_id, secret)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def sign_in_at(authorization_url: str, login: str, redirect_uri: str) -> str:
    """Sign in as ``login`` and consent; the URL the provider redirects back to (code, state)."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        url = authorization_url
        for _ in range(12):
            if url.startswith(redirect_uri):
                return url
            response = client.get(url)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            response.raise_for_status()
            action = _FORM_ACTION.search(response.text)
            if action is None:
                raise RuntimeError(f"no form on the provider's page: {response.text[:200]!r}")
            if 'name="login"' in response.text:
                form = {"prompt": "login", "login": login, "password": "any"}
            else:
                form = {"prompt": "consent"}
            posted = client.post(urljoin(url, action.group(1)), data=form)
            if not posted.is_redirect:
                raise RuntimeError(f"the provider refused the form: {posted.status_code}")
            url = urljoin(url, posted.headers["location"])
        raise RuntimeError("too many steps at the provider")
