"""``emby``: items of an Emby (or Jellyfin-compatible) server.

Config: ``base_url``, ``username`` (with a password) or ``user_id`` (with an API key; without it
the first administrator is used), ``device_id``, ``lan_hosts`` (with the LAN flag: hosts
besides the server itself). Credentials: ``password`` or ``api_key``.

API used: ``POST /Users/AuthenticateByName {Username, Pw}`` with the ``X-Emby-Authorization``
header → ``AccessToken`` and ``User.Id``; ``GET /Users/{id}/Views`` (libraries) and
``GET /Users/{id}/Items?ParentId=…`` (browse); ``POST /Items/{id}/PlaybackInfo?UserId=…`` →
``MediaSources[]`` (resolve). The playback URL is
``/Videos/{id}/stream?static=true&MediaSourceId=…&api_key=<token>``: the token is in the URL,
which is why Emby instances are proxy-only (``mode: direct`` is refused: every client would get
the access token) and why admin output masks ``api_key``. Subtitles carry it too; they are
played through the proxy by their ``subtitle:<index>`` selector. A 401 drops the session token;
the next call logs in again (once per call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import trio

from synctv.errors import DomainError
from synctv.outbound.request import JsonCallError, JsonReply
from synctv.providers.base import (
    BrowseEntry,
    Mode,
    PlaybackSource,
    ProviderConfigError,
    ProviderContext,
    ProviderKind,
    Subtitle,
    http_base_url,
    mode_of,
    optional_str,
)

CLIENT_NAME = "SyncTV"
CLIENT_VERSION = "0.1.0"
MAX_LISTED = 5000


class EmbyProvider:
    def __init__(
        self,
        base_url: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        context: ProviderContext,
    ) -> None:
        self._base = base_url
        self._username = optional_str(config, "username")
        self._user_id = optional_str(config, "user_id")
        self._password = optional_str(credentials, "password")
        self._api_key = optional_str(credentials, "api_key")
        if not self._api_key and not (self._username and self._password is not None):
            raise ProviderConfigError("emby needs credentials api_key, or username + password")
        self._device_id = optional_str(config, "device_id") or f"synctv-{context.instance_id}"
        self._mode: Mode = mode_of(config, "proxy")
        if self._mode == "direct":
            raise ProviderConfigError(
                "emby stream and subtitle URLs carry the access token (api_key): mode 'direct' "
                "would hand it to every client; emby instances play in mode 'proxy'"
            )
        self._context = context
        self._token: str | None = self._api_key
        self._lock = trio.Lock()

    async def resolve(self, media_ref: str) -> PlaybackSource:
        item = _item_id(media_ref)
        token, user = await self._session()
        info = await self._request(
            "POST", f"/Items/{item}/PlaybackInfo?{urlencode({'UserId': user})}", {}
        )
        sources = info.get("MediaSources") if isinstance(info, Mapping) else None
        if not sources or not isinstance(sources[0], Mapping):
            raise DomainError("media_not_found", f"emby item {item} has no media source")
        source = sources[0]
        source_id = str(source.get("Id") or item)
        query = urlencode({"static": "true", "MediaSourceId": source_id, "api_key": token})
        url = f"{self._base}/Videos/{item}/stream?{query}"
        subtitles = tuple(self._subtitles(item, source_id, source, token))
        name = source.get("Name")
        return PlaybackSource(
            url,
            (),
            self._mode,
            None,
            subtitles,
            title=name if isinstance(name, str) else None,
            duration=_ticks_to_seconds(source.get("RunTimeTicks")),
        )

    def _subtitles(
        self, item: str, source_id: str, source: Mapping[str, Any], token: str
    ) -> list[Subtitle]:
        found = []
        for stream in source.get("MediaStreams") or []:
            if not isinstance(stream, Mapping) or stream.get("Type") != "Subtitle":
                continue
            if not (stream.get("IsExternal") or stream.get("IsTextSubtitleStream")):
                continue
            index = stream.get("Index")
            if not isinstance(index, int):
                continue
            fmt = "vtt"
            path = f"/Videos/{item}/{quote(source_id)}/Subtitles/{index}/Stream.{fmt}"
            title = stream.get("DisplayTitle") or stream.get("Title") or f"subtitle {index}"
            language = stream.get("Language")
            found.append(
                Subtitle(
                    str(title),
                    f"{self._base}{path}?{urlencode({'api_key': token})}",
                    language if isinstance(language, str) else None,
                    fmt,
                    id=str(index),
                )
            )
        return found

    async def browse(self, path: str) -> list[BrowseEntry]:
        _, user = await self._session()
        parent = path.strip("/")
        if parent:
            query = urlencode({"ParentId": _item_id(parent), "Limit": MAX_LISTED})
            answer = await self._request("GET", f"/Users/{user}/Items?{query}", None)
        else:
            answer = await self._request("GET", f"/Users/{user}/Views", None)
        items = answer.get("Items") if isinstance(answer, Mapping) else None
        return [
            BrowseEntry(
                str(item.get("Name") or item["Id"]),
                item["Id"],
                bool(item.get("IsFolder")),
                item.get("Size") if isinstance(item.get("Size"), int) else None,
            )
            for item in (items or [])[:MAX_LISTED]
            if isinstance(item, Mapping) and isinstance(item.get("Id"), str)
        ]

    # -- session ------------------------------------------------------------------------------

    async def _session(self) -> tuple[str, str]:
        async with self._lock:
            if self._token is None:
                await self._authenticate()
            if self._user_id is None:
                self._user_id = await self._first_admin()
            assert self._token is not None
            return self._token, self._user_id

    async def _authenticate(self) -> None:
        if self._api_key:
            self._token = self._api_key
            return
        reply = await self._raw(
            "POST",
            "/Users/AuthenticateByName",
            {"Username": self._username, "Pw": self._password},
            token=None,
        )
        data = reply.data if isinstance(reply.data, Mapping) else {}
        token, user = data.get("AccessToken"), data.get("User")
        if reply.status != 200 or not isinstance(token, str) or not isinstance(user, Mapping):
            raise DomainError("provider_auth_failed", f"emby login failed (HTTP {reply.status})")
        self._token = token
        self._user_id = self._user_id or str(user.get("Id"))

    async def _first_admin(self) -> str:
        users = await self._request("GET", "/Users", None, locked=True)
        if isinstance(users, list):
            candidates = [
                u for u in users if isinstance(u, Mapping) and isinstance(u.get("Id"), str)
            ]
            admins = [u for u in candidates if (u.get("Policy") or {}).get("IsAdministrator")]
            chosen = (admins or candidates)[:1]
            if chosen:
                return str(chosen[0]["Id"])
        raise ProviderConfigError("emby: no user found; set config user_id")

    async def _request(self, method: str, path: str, body: object, *, locked: bool = False) -> Any:
        token = self._token
        reply = await self._raw(method, path, body, token=token)
        if reply.status == 401 and not self._api_key and not locked:
            async with self._lock:
                if self._token == token:
                    self._token = None
                    await self._authenticate()
            reply = await self._raw(method, path, body, token=self._token)
        if reply.status == 200:
            return reply.data
        if reply.status in (401, 403):
            raise DomainError("provider_auth_failed", f"emby refused access (HTTP {reply.status})")
        if reply.status in (400, 404):
            raise DomainError("media_not_found", f"emby: not found (HTTP {reply.status})")
        raise DomainError("provider_unavailable", f"emby answered HTTP {reply.status}")

    async def _raw(self, method: str, path: str, body: object, *, token: str | None) -> JsonReply:
        auth = (
            f'MediaBrowser Client="{CLIENT_NAME}", Device="SyncTV-py", '
            f'DeviceId="{self._device_id}", Version="{CLIENT_VERSION}"'
        )
        headers = [("x-emby-authorization", auth + (f', Token="{token}"' if token else ""))]
        if token:
            headers.append(("x-emby-token", token))
        try:
            return await self._context.http.request_json(
                method,
                self._base + path,
                headers=headers,
                json_body=body,
                lan=self._context.lan,
            )
        except JsonCallError as exc:
            raise DomainError("provider_unavailable", f"emby unreachable: {exc}") from None


def _item_id(ref: str) -> str:
    ref = ref.strip().strip("/")
    if not ref or len(ref) > 128 or not ref.replace("-", "").isalnum():
        raise DomainError("invalid_media_ref", "an emby media reference is an item id")
    return ref


def _create(
    config: Mapping[str, Any], credentials: Mapping[str, Any], context: ProviderContext
) -> EmbyProvider:
    return EmbyProvider(http_base_url(config), config, credentials, context)


PROVIDER_KIND = ProviderKind(
    name="emby",
    description="items of an Emby server (API key or user name + password)",
    config_keys=frozenset({"base_url", "username", "user_id", "device_id"}),
    secret_keys=frozenset({"password", "api_key"}),
    create=_create,
)


def _ticks_to_seconds(ticks: object) -> float | None:
    """Emby's ``RunTimeTicks`` (100 ns units) in seconds; None when absent or not positive."""
    if isinstance(ticks, int) and not isinstance(ticks, bool) and 0 < ticks < 10**15:
        return ticks / 10_000_000
    return None
