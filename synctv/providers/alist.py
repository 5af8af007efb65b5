"""``alist``: files of an Alist v3 server (its public HTTP API).

Config: ``base_url``, ``username`` (empty: guest access), ``mode`` (default ``proxy``),
``lan_hosts`` (with the LAN flag: storage hosts besides the Alist server itself).
Credentials: ``password``, and optionally ``path_password`` (for password-protected folders).

API used: ``POST /api/auth/login {username, password}`` → ``data.token``;
``POST /api/fs/list {path, password, page, per_page, refresh}`` → ``data.content[]``;
``POST /api/fs/get {path, password}`` → ``data.raw_url``. Every answer is HTTP 200 with a JSON
``{code, message, data}``, where ``code`` carries the real status (401: the token expired, so we
log in again once and retry). The raw URL is fetched with ``Authorization: <token>`` when it is
on the Alist server itself (a storage's own URL gets no Alist credentials).

Expiry: Alist signs its own download links as ``?sign=<hmac>:<expiry>`` (Unix seconds, ``0``:
never); a link is taken to expire then, or after ``LINK_LIFETIME_SECONDS`` if that is sooner.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import trio

from synctv.errors import DomainError
from synctv.outbound.request import JsonCallError
from synctv.providers.base import (
    BrowseEntry,
    Mode,
    PlaybackSource,
    ProviderContext,
    ProviderKind,
    http_base_url,
    media_url,
    mode_of,
    optional_str,
    same_origin,
)

# Alist's raw links are signed for a while; re-resolve well before a typical expiry.
LINK_LIFETIME_SECONDS = 600.0
MAX_LISTED = 5000


class AlistProvider:
    def __init__(
        self,
        base_url: str,
        username: str | None,
        password: str | None,
        path_password: str,
        mode: Mode,
        context: ProviderContext,
    ) -> None:
        self._base = base_url
        self._username = username
        self._password = password
        self._path_password = path_password
        self._mode = mode
        self._context = context
        self._token: str | None = None
        self._login_lock = trio.Lock()

    async def resolve(self, media_ref: str) -> PlaybackSource:
        path = _normalise(media_ref)
        data = await self._call("/api/fs/get", {"path": path, "password": self._path_password})
        if not isinstance(data, Mapping) or data.get("is_dir"):
            raise DomainError("invalid_media_ref", f"{path} is not a file")
        raw_url = data.get("raw_url")
        if not isinstance(raw_url, str) or not raw_url.startswith(("http://", "https://")):
            raise DomainError("provider_unavailable", "alist returned no raw URL for the file")
        raw_url = media_url(raw_url, "raw URL alist returned")
        headers: tuple[tuple[str, str], ...] = ()
        if self._token and same_origin(raw_url, self._base):
            headers = (("authorization", self._token),)
        title = data.get("name") if isinstance(data.get("name"), str) else None
        expires = self._context.clock() + LINK_LIFETIME_SECONDS
        signed = sign_expiry(raw_url)
        if signed is not None:
            expires = min(expires, signed)
        return PlaybackSource(
            raw_url,
            headers,
            self._mode,
            expires,
            title=title,
            credential_headers=frozenset(name for name, _ in headers),
        )

    async def browse(self, path: str) -> list[BrowseEntry]:
        folder = _normalise(path or "/")
        body = {
            "path": folder,
            "password": self._path_password,
            "page": 1,
            "per_page": 0,
            "refresh": False,
        }
        data = await self._call("/api/fs/list", body)
        content = data.get("content") if isinstance(data, Mapping) else None
        entries = []
        for item in (content or [])[:MAX_LISTED]:
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
                continue
            size = item.get("size")
            entries.append(
                BrowseEntry(
                    item["name"],
                    posixpath.join(folder, item["name"]),
                    bool(item.get("is_dir")),
                    size if isinstance(size, int) else None,
                )
            )
        return entries

    async def _call(self, endpoint: str, body: Mapping[str, Any]) -> Any:
        token = await self._ensure_token()
        code, message, data = await self._post(endpoint, body, token)
        if code == 401 and self._username:
            token = await self._ensure_token(expired=token)
            code, message, data = await self._post(endpoint, body, token)
        if code == 200:
            return data
        if code in (401, 403):
            raise DomainError("provider_auth_failed", f"alist refused access: {message}")
        if "not found" in message.lower() or code == 404:
            raise DomainError("media_not_found", f"alist: {message}")
        raise DomainError("provider_unavailable", f"alist answered code {code}: {message}")

    async def _ensure_token(self, expired: str | None = None) -> str | None:
        if not self._username:
            return None
        async with self._login_lock:
            if self._token is not None and self._token != expired:
                return self._token
            body = {"username": self._username, "password": self._password or ""}
            code, message, data = await self._post("/api/auth/login", body, None)
            token = data.get("token") if isinstance(data, Mapping) else None
            if code != 200 or not isinstance(token, str) or not token:
                raise DomainError("provider_auth_failed", f"alist login failed: {message}")
            self._token = token
            return token

    async def _post(
        self, endpoint: str, body: Mapping[str, Any], token: str | None
    ) -> tuple[int, str, Any]:
        headers = [("authorization", token)] if token else []
        try:
            reply = await self._context.http.request_json(
                "POST",
                self._base + endpoint,
                headers=headers,
                json_body=dict(body),
                lan=self._context.lan,
            )
        except JsonCallError as exc:
            raise DomainError("provider_unavailable", f"alist unreachable: {exc}") from None
        if reply.status != 200 or not isinstance(reply.data, Mapping):
            raise DomainError("provider_unavailable", f"alist answered HTTP {reply.status}")
        code = reply.data.get("code")
        message = reply.data.get("message")
        return (
            code if isinstance(code, int) else 500,
            message if isinstance(message, str) else "",
            reply.data.get("data"),
        )


def sign_expiry(url: str) -> float | None:
    """The expiry of an Alist-signed link (``sign=<hmac>:<unix seconds>``), or ``None``."""
    for name, value in parse_qsl(urlsplit(url).query):
        if name == "sign":
            _, _, tail = value.rpartition(":")
            if tail.isdigit() and len(tail) <= 12 and int(tail) > 0:
                return float(tail)
    return None


def _normalise(path: str) -> str:
    if "\0" in path or len(path) > 4096:
        raise DomainError("invalid_media_ref", "bad alist path")
    return posixpath.normpath("/" + path.lstrip("/"))


def _create(
    config: Mapping[str, Any], credentials: Mapping[str, Any], context: ProviderContext
) -> AlistProvider:
    return AlistProvider(
        http_base_url(config),
        optional_str(config, "username"),
        optional_str(credentials, "password"),
        optional_str(credentials, "path_password") or "",
        mode_of(config, "proxy"),
        context,
    )


PROVIDER_KIND = ProviderKind(
    name="alist",
    description="files of an Alist v3 server (login, list, raw URL)",
    config_keys=frozenset({"base_url", "username"}),
    secret_keys=frozenset({"password", "path_password"}),
    create=_create,
)
