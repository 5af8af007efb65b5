"""``direct``: the media reference is an http(s) URL; optional fixed upstream headers.

Config: ``headers`` (plain, e.g. User-Agent, Referer), ``mode`` (default ``direct``).
Credentials: ``headers`` (secret, e.g. Authorization, Cookie), merged over the plain ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from synctv.providers.base import (
    BrowseEntry,
    Mode,
    PlaybackSource,
    ProviderContext,
    ProviderError,
    ProviderKind,
    header_pairs,
    mode_of,
)

# URLs longer than this are not media references, they are abuse.
MAX_URL_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class DirectProvider:
    headers: tuple[tuple[str, str], ...]
    mode: Mode

    async def resolve(self, media_ref: str) -> PlaybackSource:
        try:
            parts = urlsplit(media_ref)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or len(media_ref) > MAX_URL_LENGTH
        ):
            raise ProviderError("invalid_media_ref", "a direct media reference is an http(s) URL")
        return PlaybackSource(media_ref, self.headers, self.mode)

    async def browse(self, path: str) -> list[BrowseEntry]:
        raise ProviderError("not_supported", "direct providers cannot be browsed")


def _create(
    config: Mapping[str, Any], credentials: Mapping[str, Any], context: ProviderContext
) -> DirectProvider:
    plain = dict(header_pairs(config.get("headers"), "config headers"))
    secret = dict(header_pairs(credentials.get("headers"), "credential headers"))
    return DirectProvider(tuple({**plain, **secret}.items()), mode_of(config, "direct"))


PROVIDER_KIND = ProviderKind(
    name="direct",
    description="any http(s) URL, with optional fixed headers",
    config_keys=frozenset({"headers"}),
    secret_keys=frozenset({"headers"}),
    create=_create,
    default_mode="direct",
)
