"""``direct``: the media reference is an http(s) URL; optional fixed upstream headers.

Config: ``headers`` (plain: User-Agent, Referer, Origin, Accept-Language only), ``mode``
(default ``direct``), ``lan_hosts`` (what the LAN flag allows: a direct instance has no
``base_url``, so without this list it reaches no private address).
Credentials: ``headers`` (secret, e.g. Authorization, Cookie, X-Api-Key), merged over the plain
ones. An instance with credential headers plays in ``proxy`` mode (a client fetching the URL
itself would need, and so see, the secret); asking for ``direct`` mode with them is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from synctv.errors import DomainError
from synctv.providers.base import (
    BrowseEntry,
    Mode,
    PlaybackSource,
    ProviderConfigError,
    ProviderContext,
    ProviderKind,
    header_pairs,
    media_url,
    mode_of,
)


@dataclass(frozen=True, slots=True)
class DirectProvider:
    headers: tuple[tuple[str, str], ...]
    mode: Mode
    credential_headers: frozenset[str] = frozenset()

    async def resolve(self, media_ref: str) -> PlaybackSource:
        url = media_url(media_ref, "direct media reference")
        return PlaybackSource(
            url, self.headers, self.mode, credential_headers=self.credential_headers
        )

    async def browse(self, path: str) -> list[BrowseEntry]:
        raise DomainError("provider_not_supported", "direct providers cannot be browsed")


def _create(
    config: Mapping[str, Any], credentials: Mapping[str, Any], context: ProviderContext
) -> DirectProvider:
    plain = dict(header_pairs(config.get("headers"), "config headers", secret=False))
    secret = dict(header_pairs(credentials.get("headers"), "credential headers", secret=True))
    mode = mode_of(config, "direct")
    if secret:
        if config.get("mode") == "direct":
            raise ProviderConfigError(
                "mode 'direct' would hand the credential headers "
                f"{sorted(secret)} to every client: use mode 'proxy' (the default with them)"
            )
        mode = "proxy"
    return DirectProvider(tuple({**plain, **secret}.items()), mode, frozenset(secret))


PROVIDER_KIND = ProviderKind(
    name="direct",
    description="any http(s) URL, with optional fixed headers",
    config_keys=frozenset({"headers"}),
    secret_keys=frozenset({"headers"}),
    create=_create,
    default_mode="direct",
)
