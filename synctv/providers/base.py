"""The provider interface: a media reference in, a playback source out; and the kind registry.

A *provider kind* (``direct``, ``alist``, ``emby`` …) is one module in this package that exports
``PROVIDER_KIND: ProviderKind``; :func:`builtin_registry` discovers them, so adding Bilibili is
one new module. A *provider instance* is a configured kind (base URL, user name, encrypted
credentials, LAN flag) stored in the database; ``ProviderKind.create`` turns one into a live
:class:`Provider`, which talks to its service through the :class:`ProviderHttp` it is given
(implemented by ``synctv.proxy.upstream``: address policy, timeouts and pool limits included).

Error handling: providers raise :class:`ProviderError` with a stable code (``media_not_found``,
``provider_auth_failed``, ``provider_unavailable``, ``invalid_media_ref``,
``invalid_provider_config``); nothing a provider raises carries a credential.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Mode = Literal["direct", "proxy"]
MODES: tuple[Mode, ...] = ("direct", "proxy")

# Headers a provider may set on upstream requests: identity, referrer and credentials, plus
# vendor X- headers. Never hop-by-hop or framing headers (Host, Range, Connection ...): those are
# ours to set.
ALLOWED_UPSTREAM_HEADERS = frozenset(
    {"user-agent", "referer", "origin", "authorization", "cookie", "accept-language"}
)
# Header names and URL query parameters whose values are credentials: masked in any output.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "cookie", "x-emby-token", "x-emby-authorization", "x-mediabrowser-token"}
)
SENSITIVE_QUERY = frozenset(
    {"api_key", "apikey", "token", "access_token", "sign", "x-emby-token", "auth_key", "key"}
)
MASK = "***"


class ProviderError(Exception):
    """A provider failure with a stable ``code`` (see the module docstring)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ProviderConfigError(ProviderError):
    def __init__(self, message: str) -> None:
        super().__init__("invalid_provider_config", message)


class ProviderHttpError(Exception):
    """A provider API call failed below HTTP (``kind`` as ``UpstreamError.kind``)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class JsonReply:
    status: int
    data: Any
    raw: bytes = b""


class ProviderHttp(Protocol):
    async def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        json_body: object = None,
        allow_private: bool = False,
    ) -> JsonReply: ...


@dataclass(frozen=True, slots=True)
class Subtitle:
    name: str
    url: str
    language: str | None = None
    format: str | None = None


@dataclass(frozen=True, slots=True)
class Quality:
    name: str
    url: str


@dataclass(frozen=True, slots=True)
class PlaybackSource:
    """What a room gets for a media reference. ``expires_at`` is Unix seconds (None: no limit)."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    mode: Mode = "proxy"
    expires_at: float | None = None
    subtitles: tuple[Subtitle, ...] = ()
    qualities: tuple[Quality, ...] = ()
    title: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """A source plus what the proxy must know about its instance (the LAN flag)."""

    source: PlaybackSource
    lan_service: bool


@dataclass(frozen=True, slots=True)
class BrowseEntry:
    name: str
    ref: str
    is_dir: bool
    size: int | None = None


class Provider(Protocol):
    async def resolve(self, media_ref: str) -> PlaybackSource: ...

    async def browse(self, path: str) -> list[BrowseEntry]: ...


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What an instance gets besides its config: HTTP, the LAN flag, a wall clock, its id."""

    http: ProviderHttp
    instance_id: str
    lan_service: bool
    clock: Callable[[], float]


ProviderFactory = Callable[[Mapping[str, Any], Mapping[str, Any], ProviderContext], Provider]


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """One kind of provider. ``create(config, credentials, context)`` validates and builds."""

    name: str
    description: str
    config_keys: frozenset[str]
    secret_keys: frozenset[str]
    create: ProviderFactory
    default_mode: Mode = "proxy"

    def validate(self, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        """Refuse unknown keys (a typo must not silently drop a setting)."""
        unknown = set(config) - self.config_keys - {"mode"}
        if unknown:
            raise ProviderConfigError(f"unknown {self.name} config keys: {sorted(unknown)}")
        unknown = set(credentials) - self.secret_keys
        if unknown:
            raise ProviderConfigError(f"unknown {self.name} credential keys: {sorted(unknown)}")
        mode = config.get("mode", self.default_mode)
        if mode not in MODES:
            raise ProviderConfigError(f"mode must be one of {list(MODES)}")


@dataclass(slots=True)
class ProviderRegistry:
    _kinds: dict[str, ProviderKind] = field(default_factory=dict)

    def register(self, kind: ProviderKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"provider kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def get(self, name: str) -> ProviderKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise ProviderError(
                "unknown_provider_kind", f"unknown provider kind {name!r}; known: {self.names()}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._kinds)


def builtin_registry() -> ProviderRegistry:
    """Every module of this package that exports ``PROVIDER_KIND``."""
    registry = ProviderRegistry()
    for info in pkgutil.iter_modules(_package_path()):
        if info.name in _NOT_KINDS:
            continue
        module = importlib.import_module(f"synctv.providers.{info.name}")
        kind = getattr(module, "PROVIDER_KIND", None)
        if isinstance(kind, ProviderKind):
            registry.register(kind)
    return registry


_NOT_KINDS = frozenset({"base", "service", "crypto"})


def _package_path() -> list[str]:
    package = importlib.import_module("synctv.providers")
    return list(package.__path__)


# -- helpers shared by kinds ------------------------------------------------------------------


def mode_of(config: Mapping[str, Any], default: Mode) -> Mode:
    mode = config.get("mode", default)
    return "direct" if mode == "direct" else "proxy"


def require_str(mapping: Mapping[str, Any], key: str, what: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise ProviderConfigError(f"{what} {key!r} is required (a non-empty string)")
    return value


def optional_str(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ProviderConfigError(f"{key!r} must be a string")
    return value


def http_base_url(config: Mapping[str, Any]) -> str:
    """``config["base_url"]`` checked to be http(s), without a trailing slash."""
    url = require_str(config, "base_url", "config")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProviderConfigError("base_url must be an http(s) URL")
    return url.rstrip("/")


def header_pairs(value: object, what: str) -> tuple[tuple[str, str], ...]:
    """A ``{name: value}`` mapping of allowed upstream headers (see ALLOWED_UPSTREAM_HEADERS)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ProviderConfigError(f"{what} must be a mapping of header names to values")
    pairs = []
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise ProviderConfigError(f"{what} names and values must be strings")
        lower = name.lower()
        if lower not in ALLOWED_UPSTREAM_HEADERS and not lower.startswith("x-"):
            raise ProviderConfigError(f"header {name!r} may not be set by a provider")
        if any(c in text for c in "\r\n\0"):
            raise ProviderConfigError(f"header {name!r} has a control character")
        pairs.append((lower, text))
    return tuple(pairs)


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def mask_url(url: str, secrets: Iterable[str] = ()) -> str:
    """``url`` with credential query parameters, user info and known secrets masked."""
    parts = urlsplit(url)
    query = [
        (k, MASK if k.lower() in SENSITIVE_QUERY else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    masked = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*/"), ""))
    return mask_text(masked, secrets)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def mask_headers(
    headers: Iterable[tuple[str, str]], secrets: Iterable[str] = ()
) -> list[tuple[str, str]]:
    known = list(secrets)
    return [
        (name, MASK if name.lower() in SENSITIVE_HEADERS else mask_text(value, known))
        for name, value in headers
    ]


def secret_values(credentials: Mapping[str, Any]) -> list[str]:
    """Every string inside a credentials mapping (for masking)."""
    found: list[str] = []
    for value in credentials.values():
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            found.extend(secret_values(value))
    return found
