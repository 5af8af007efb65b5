"""The provider interface: a media reference in, a playback source out; and the kind registry.

A *provider kind* (``direct``, ``alist``, ``emby`` …) is one module in this package that exports
``PROVIDER_KIND: ProviderKind``; :func:`builtin_registry` discovers them, so adding Bilibili is
one new module. A *provider instance* is a configured kind (base URL, user name, encrypted
credentials, LAN flag) stored in the database; ``ProviderKind.create`` turns one into a live
:class:`Provider`, which talks to its service through the :class:`ProviderHttp` it is given
(implemented by ``synctv.outbound.client``: address policy, timeouts and pool limits included).

Error handling: providers raise :class:`synctv.errors.DomainError` with a code declared in the
catalogue's providers area (``media_not_found``, ``provider_auth_failed``,
``provider_unavailable``, ``invalid_media_ref``, ``invalid_provider_config``); nothing a provider
raises carries a credential.

Secrets stay secrets: plain config (stored unencrypted, printed by ``list``) may not hold
credential headers, which belong in the encrypted credentials (:func:`header_pairs`); a source
that needs credentials is never handed to clients in ``direct`` mode (:func:`client_safe`), and
admin output masks every header that may carry one (:func:`mask_headers`).
"""

from __future__ import annotations

import importlib
import ipaddress
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import idna

from synctv import errors
from synctv.errors import DomainError
from synctv.outbound.masking import MASK, mask_text
from synctv.outbound.request import JsonReply
from synctv.outbound.scope import LanScope, LanScopeError, normalise_host, origin_of

Mode = Literal["direct", "proxy"]
MODES: tuple[Mode, ...] = ("direct", "proxy")

# Headers a provider may set on upstream requests: identity, referrer and credentials, plus
# vendor X- headers. Never hop-by-hop or framing headers (Host, Range, Connection ...): those are
# ours to set.
ALLOWED_UPSTREAM_HEADERS = frozenset(
    {"user-agent", "referer", "origin", "authorization", "cookie", "accept-language"}
)
# Header names whose values are credentials: refused in plain config, masked in any output. Any
# vendor ``X-`` header counts too (X-Api-Key, X-Auth-Token, X-Emby-Token ...): there is no way to
# tell a vendor's secret header from a harmless one by its name.
SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-emby-token",
        "x-emby-authorization",
        "x-mediabrowser-token",
    }
)
# Query parameters that carry an account credential (not a per-file signature): a URL with one
# is never handed to a client in direct mode.
CREDENTIAL_QUERY = frozenset({"api_key", "apikey", "access_token", "x-emby-token"})
# Config keys every kind accepts besides its own.
COMMON_CONFIG_KEYS = frozenset({"mode", "lan_hosts"})
# URLs longer than this are not media references, they are abuse.
MAX_URL_LENGTH = 4096
# RFC 1035 §2.3.4: 63 octets per label, 253 characters per name (without the trailing dot).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
# A last label of digits or 0x-hex makes a host an IPv4 parse attempt (WHATWG URL "ends in a
# number"): resolvers read 127.1, 2130706433 and 0x7f.1 as 127.0.0.1. No TLD is numeric.
_NUMERIC_LABEL = re.compile(r"(?:[0-9]+|0x[0-9a-f]*)\Z")


class ProviderConfigError(DomainError):
    """``invalid_provider_config`` with a message saying which key is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(errors.INVALID_PROVIDER_CONFIG, message)


class ProviderHttp(Protocol):
    async def request_json(
        self,
        method: str,
        url: str,
        *,
        headers: Sequence[tuple[str, str]] = (),
        json_body: object = None,
        lan: LanScope | None = None,
    ) -> JsonReply: ...


@dataclass(frozen=True, slots=True)
class Subtitle:
    """``id`` names it in a proxy token (``subtitle:<id>``); without one, its position does."""

    name: str
    url: str
    language: str | None = None
    format: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Quality:
    """``id`` names it in a proxy token (``quality:<id>``); without one, its position does."""

    name: str
    url: str
    id: str | None = None


@dataclass(frozen=True, slots=True)
class PlaybackSource:
    """What a room gets for a media reference. ``expires_at`` is Unix seconds (None: no limit);
    ``duration`` is the provider's own figure (None: unknown, the room probes the bytes).

    ``credential_headers`` names the headers built from the instance's credentials (masked in
    admin output, and the reason the source is never played in ``direct`` mode).
    """

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    mode: Mode = "proxy"
    expires_at: float | None = None
    subtitles: tuple[Subtitle, ...] = ()
    qualities: tuple[Quality, ...] = ()
    title: str | None = None
    credential_headers: frozenset[str] = frozenset()
    duration: float | None = None  # seconds, when the provider's metadata tells it

    def sub_resource(self, selector: str | None) -> str | None:
        """The URL a selector names (``None``: the main URL), or ``None`` if it names nothing."""
        if selector is None:
            return self.url
        kind, _, wanted = selector.partition(":")
        items: tuple[Subtitle | Quality, ...] = ()
        if kind == "subtitle":
            items = self.subtitles
        elif kind == "quality":
            items = self.qualities
        for position, item in enumerate(items):
            if sub_resource_id(item, position) == wanted:
                return item.url
        return None


def sub_resource_id(item: Subtitle | Quality, position: int) -> str:
    return item.id if item.id else str(position)


@dataclass(frozen=True, slots=True)
class ResolvedSource:
    """A source plus what the proxy must know about its instance: the hosts it may reach on
    private addresses (``None``: not a LAN service)."""

    source: PlaybackSource
    lan: LanScope | None = None


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
    """What an instance gets besides its config: HTTP, its LAN scope, a wall clock, its id."""

    http: ProviderHttp
    instance_id: str
    lan: LanScope | None
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

    def validate(
        self, config: Mapping[str, Any], credentials: Mapping[str, Any], lan_service: bool = False
    ) -> None:
        """Refuse unknown keys (a typo must not silently drop a setting) and a LAN flag that
        would allow nothing (no ``base_url`` and no ``lan_hosts``)."""
        unknown = set(config) - self.config_keys - COMMON_CONFIG_KEYS
        if unknown:
            raise ProviderConfigError(f"unknown {self.name} config keys: {sorted(unknown)}")
        unknown = set(credentials) - self.secret_keys
        if unknown:
            raise ProviderConfigError(f"unknown {self.name} credential keys: {sorted(unknown)}")
        mode = config.get("mode", self.default_mode)
        if mode not in MODES:
            raise ProviderConfigError(f"mode must be one of {list(MODES)}")
        scope = self.lan_scope(config)
        if lan_service and not scope:
            raise ProviderConfigError(
                f"a LAN-service {self.name} instance needs config lan_hosts (the host names, "
                "addresses or CIDR blocks it may reach on the local network)"
            )

    def lan_scope(self, config: Mapping[str, Any]) -> LanScope:
        """The instance's own service hosts: its ``base_url`` host plus ``lan_hosts``."""
        entries = lan_hosts(config)
        base = config.get("base_url") if "base_url" in self.config_keys else None
        if isinstance(base, str):
            origin = origin_of(base)
            if origin is not None:
                entries.append(origin[1])
        try:
            return LanScope.parse(entries)
        except LanScopeError as exc:
            raise ProviderConfigError(f"lan_hosts: {exc}") from None


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
            raise DomainError(
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


_NOT_KINDS = frozenset({"base", "service", "crypto", "scope"})


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
    try:
        normal = media_url(url, "base_url")
    except MalformedUrl as exc:
        raise ProviderConfigError(exc.message) from None
    return normal.rstrip("/")


class MalformedUrl(DomainError):
    """A URL the upstream client could not (or must not) fetch; the code is invalid_media_ref."""

    def __init__(self, message: str) -> None:
        super().__init__(errors.INVALID_MEDIA_REF, message)


def media_url(url: str, what: str = "media URL") -> str:
    """``url`` checked and normalised, or :class:`MalformedUrl` saying what is wrong.

    Normal form: scheme and host lower case, an IDN host as its A-label, an IPv6 literal
    compressed, no fragment; path, query and user info as given. Refused: anything but
    absolute http(s) URLs with a host; control characters and spaces; hosts that are not a
    canonical dotted-quad IPv4, a bracketed IPv6 (no zone) or a DNS name of valid labels;
    ports outside 1-65535; more than ``MAX_URL_LENGTH`` characters. What passes is what the
    upstream client and the resolver accept (a test checks it against httpx), so a provider's
    bad URL is a clear refusal here instead of an error deep in a fetch.
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH:
        raise MalformedUrl(f"a {what} is an http(s) URL of at most {MAX_URL_LENGTH} characters")
    if any(c <= " " or c == "\x7f" for c in url):
        raise MalformedUrl(f"a {what} may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MalformedUrl(f"a {what} must be a well-formed http(s) URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise MalformedUrl(f"a {what} must be an http(s) URL with a host")
    if port == 0:
        raise MalformedUrl(f"a {what} must have a port between 1 and 65535")
    host = _url_host(parts.netloc.rpartition("@")[2], what)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if "@" in parts.netloc else "") + host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, ""))


def _url_host(hostport: str, what: str) -> str:
    """The host of a netloc (without user info) in normal form, brackets kept for IPv6."""
    if hostport.startswith("["):
        literal = hostport[1:].partition("]")[0]
        try:
            address = ipaddress.IPv6Address(literal)
        except ValueError:
            raise MalformedUrl(f"the host of a {what} is not a valid IPv6 address") from None
        if address.scope_id:
            raise MalformedUrl(f"the host of a {what} may not carry an IPv6 zone")
        return f"[{address.compressed}]"
    host = hostport.rpartition(":")[0] if ":" in hostport else hostport
    host = host.lower()
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise MalformedUrl(f"the host of a {what} is not a valid domain name") from None
    name = host[:-1] if host.endswith(".") else host
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            raise MalformedUrl(
                f"the host of a {what} is not a valid IPv4 address (a.b.c.d, no leading zeros)"
            ) from None
        return name
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise MalformedUrl(f"the host of a {what} is not a valid domain name")
    for label in labels:
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError):
                raise MalformedUrl(f"the host of a {what} is not a valid domain name") from None
    return host


def checked_source(source: PlaybackSource) -> PlaybackSource:
    """``source`` with its URL and every subtitle and quality URL through :func:`media_url`."""
    return replace(
        source,
        url=media_url(source.url),
        subtitles=tuple(replace(s, url=media_url(s.url, "subtitle URL")) for s in source.subtitles),
        qualities=tuple(replace(q, url=media_url(q.url, "quality URL")) for q in source.qualities),
    )


def lan_hosts(config: Mapping[str, Any]) -> list[str]:
    """The ``lan_hosts`` option: a list of host names, IP addresses or CIDR blocks."""
    value = config.get("lan_hosts")
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ProviderConfigError("lan_hosts must be a list of host names, addresses or CIDRs")
    return [normalise_host(v) for v in value]


def is_sensitive_header(name: str) -> bool:
    """Whether a header may carry a credential (by name: see SENSITIVE_HEADERS)."""
    lower = name.lower()
    return lower in SENSITIVE_HEADERS or lower.startswith("x-")


def header_pairs(value: object, what: str, *, secret: bool) -> tuple[tuple[str, str], ...]:
    """A ``{name: value}`` mapping of allowed upstream headers (see ALLOWED_UPSTREAM_HEADERS).

    With ``secret=False`` (plain config: stored unencrypted and printed by ``list``), headers
    that may carry credentials are refused, naming the header: they belong in the credentials.
    """
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
        if not secret and is_sensitive_header(lower):
            raise ProviderConfigError(
                f"header {name!r} may carry a credential: put it in the credentials "
                "(--credentials-file, stored encrypted), not in the plain options"
            )
        if any(c in text for c in "\r\n\0"):
            raise ProviderConfigError(f"header {name!r} has a control character")
        pairs.append((lower, text))
    return tuple(pairs)


def same_origin(a: str, b: str) -> bool:
    origin = origin_of(a)
    return origin is not None and origin == origin_of(b)


def carries_credentials(source: PlaybackSource, secrets: Iterable[str] = ()) -> bool:
    """Whether a client given ``source`` would learn a credential: credential or sensitive
    headers, an account-credential query parameter, or a secret value in a URL or header."""
    if source.credential_headers or any(is_sensitive_header(n) for n, _ in source.headers):
        return True
    known = [s for s in secrets if len(s) >= 4]
    urls = [source.url, *(s.url for s in source.subtitles), *(q.url for q in source.qualities)]
    for url in urls:
        try:
            query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        except ValueError:
            return True
        if any(k.lower() in CREDENTIAL_QUERY for k, _ in query):
            return True
    texts = [*urls, *(v for _, v in source.headers)]
    return any(secret in text for secret in known for text in texts)


def client_safe(source: PlaybackSource, secrets: Iterable[str] = ()) -> PlaybackSource:
    """``source``, switched to proxy mode if a client playing it directly would see a secret."""
    if source.mode == "direct" and carries_credentials(source, secrets):
        return replace(source, mode="proxy")
    return source


def mask_headers(
    headers: Iterable[tuple[str, str]],
    secrets: Iterable[str] = (),
    credential_headers: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Headers for output: sensitive names and credential-derived headers masked whole, any
    known secret masked inside the others."""
    known = list(secrets)
    derived = {n.lower() for n in credential_headers}
    return [
        (
            name,
            MASK
            if is_sensitive_header(name) or name.lower() in derived
            else mask_text(value, known),
        )
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
