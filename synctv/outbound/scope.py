"""Where a provider's upstream requests may go, and which of its headers they may carry there.

Pure (stdlib only): the proxy's upstream adapter and the provider service both apply these rules,
so redirect hops, manifest sub-resources and provider API calls are judged the same way.

**Headers are scoped to an origin.** A provider chooses its headers (``Authorization``,
``Cookie``, ``X-Emby-Token``, an API key ...) for the URL it resolved; they are meant for that
origin (scheme, host, port) only. A request to any other origin (a redirect hop, a segment of a
manifest on a CDN) carries only :data:`CROSS_ORIGIN_HEADERS`: identity, referrer, content
negotiation and the range/conditional headers we set ourselves. Once a redirect chain leaves the
origin it never gets the credentials back, even if a later hop returns to it: the foreign server
chose that hop, and must not steer our credentials onto a path of its choosing.

**The LAN exception is scoped to hosts.** An instance the admin marked as a LAN service may
reach private addresses, but only on its own service host(s): the host of its ``base_url`` and
the entries of its ``lan_hosts`` option (host names, matched by name; IP addresses and CIDR
blocks, matched against IP literals in URLs). Everything else it touches (a redirect to another
private host, a manifest listing ``http://127.0.0.3/admin``) is judged by the strict policy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Origin = tuple[str, str, int]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What a request to another origin than the provider's may carry (all lower case).
CROSS_ORIGIN_HEADERS = frozenset(
    {
        "user-agent",
        "referer",
        "accept",
        "accept-language",
        "accept-encoding",
        "content-type",
        "range",
        "if-range",
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# An admin lists a few service hosts; more than this is a configuration mistake.
MAX_LAN_HOSTS = 32
_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\Z")


def normalise_host(host: str) -> str:
    """A host as compared: brackets and one trailing dot removed, lower case."""
    return host.strip("[]").rstrip(".").lower()


def origin_of(url: str) -> Origin | None:
    """(scheme, host, port) of an http(s) URL, default ports filled in; ``None`` otherwise."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, normalise_host(host), port if port is not None else _DEFAULT_PORTS[scheme]


def scoped_headers(
    url: str, headers: Iterable[tuple[str, str]], credential_origin: Origin | None
) -> list[tuple[str, str]]:
    """``headers`` as they may be sent to ``url``: all of them on ``credential_origin``, only
    :data:`CROSS_ORIGIN_HEADERS` anywhere else (``None``: no origin gets credentials)."""
    if credential_origin is not None and origin_of(url) == credential_origin:
        return list(headers)
    return [(k, v) for k, v in headers if k.lower() in CROSS_ORIGIN_HEADERS]


class LanScopeError(ValueError):
    """A ``lan_hosts`` entry is neither a host name nor an IP address or CIDR block."""


@dataclass(frozen=True, slots=True)
class LanScope:
    """The hosts a LAN-service instance may reach on private addresses (see the module doc)."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> LanScope:
        """A scope from host names, IP addresses and CIDR blocks; raises :class:`LanScopeError`."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            text = normalise_host(entry.strip())
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:
                if len(text) > 253 or not _HOST_NAME.match(text):
                    raise LanScopeError(
                        f"{entry!r} is not a host name, IP address or CIDR block"
                    ) from None
                names.add(text)
                continue
            if network not in networks:
                networks.append(network)
        if len(names) + len(networks) > MAX_LAN_HOSTS:
            raise LanScopeError(f"at most {MAX_LAN_HOSTS} LAN hosts")
        return cls(frozenset(names), tuple(networks))

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)

    def covers(self, host: str) -> bool:
        """Whether ``host`` (from a URL) is one of the instance's own service hosts."""
        name = normalise_host(host)
        if name in self.names:
            return True
        try:
            address = ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address.version == n.version and address in n for n in self.networks)

    def entries(self) -> list[str]:
        """The scope as printable entries (for admin output)."""
        return sorted(self.names) + [str(n) for n in self.networks]
