"""Which upstream addresses the proxy may connect to (server-side request forgery defence).

Policy: an upstream whose name resolves to a loopback, link-local, private, shared, reserved,
unspecified or otherwise non-global address is refused unless the policy allows private
upstreams (``proxy.allow_private_upstreams``, or a provider instance marked as a LAN service).
Multicast and unspecified addresses are always refused (nothing HTTP lives there), and so are
cloud metadata endpoints, by name and by address, whatever the policy: a credential-bearing
metadata service must never be reachable through a media proxy.

DNS rebinding: the check must apply to the address actually connected to, not to an earlier
lookup. :func:`resolve_vetted` resolves the name once and returns only vetted addresses; the
upstream transport (``synctv.outbound.client``) connects to those, so there is no window between
check and use. An address embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002:AABB:CCDD::/48``, IPv4-compatible ``::a.b.c.d``) is judged as the
IPv4 address it carries; besides, the deprecated IPv4-compatible block ``::/96``, the local-use
NAT64 block ``64:ff9b:1::/48`` (RFC 8215: any IPv4 address may hide behind it) and the
deprecated site-local block ``fec0::/10`` count as private, although Python's ``is_global``
calls them global. If *any* resolved address is refused, the whole name is refused: a name that
points at both a public and a private address is either misconfigured or an attack.

Which hosts a LAN-service instance may reach privately is the caller's business
(``synctv.outbound.scope.LanScope``): the upstream adapter picks the lenient policy only for
those hosts, on every hop.

The server's own listeners are refused in every policy (:func:`check_not_own_listener`): a LAN
service lives on a private network, maybe on this very machine, and its redirect must not reach
our health or metrics port (or the proxy itself). A listener on a specific address matches that
address; one on a wildcard (``0.0.0.0``, ``::``) or a host name matches any address of this
machine: loopback, unspecified, or one the kernel lets us bind (an address of a local interface).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import trio

from synctv.outbound.scope import normalise_host

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Listeners = Iterable[tuple[str, int]]

# Cloud instance metadata services, refused in every configuration. Names are compared after
# lower-casing and removing a trailing dot.
METADATA_HOSTNAMES = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.platformequinix.com",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Blocks Python's ``is_global`` misjudges for our purpose: never a public upstream.
_NOT_GLOBAL = (
    _IPV4_COMPATIBLE,
    ipaddress.ip_network("64:ff9b:1::/48"),  # RFC 8215 local-use NAT64
    ipaddress.ip_network("fec0::/10"),  # RFC 3879 deprecated site-local
)
# A resolver answer is bounded: more addresses than this are not needed to connect.
MAX_ADDRESSES = 16


class AddressRefused(Exception):
    """The upstream's name or address is not allowed by the policy."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """``allow_private``: private/loopback/link-local upstreams are allowed (never metadata).

    ``allowed``: individual addresses allowed even when private (an operator's explicit
    exception for one known host; metadata addresses stay refused).
    """

    allow_private: bool = False
    allowed: frozenset[IPAddress] = frozenset()

    def check_name(self, host: str) -> None:
        """Refuse metadata host names before any lookup."""
        if normalise_host(host) in METADATA_HOSTNAMES:
            raise AddressRefused(f"{host} is a cloud metadata endpoint")

    def check_address(self, address: IPAddress) -> None:
        """Refuse an address the policy does not allow; returns quietly otherwise."""
        ip = _embedded_ipv4(address)
        if ip in METADATA_ADDRESSES or address in METADATA_ADDRESSES:
            raise AddressRefused(f"{address} is a cloud metadata endpoint")
        if ip.is_multicast or ip.is_unspecified:
            raise AddressRefused(f"{address} is not a unicast address")
        if self.allow_private or address in self.allowed:
            return
        if not ip.is_global or any(address in block for block in _NOT_GLOBAL):
            raise AddressRefused(f"{address} is a private or reserved address")


def check_not_own_listener(address: str, port: int, listeners: Listeners) -> None:
    """Refuse ``address:port`` when it is one of this server's own listeners (see module doc)."""
    try:
        ip = _unmapped(ipaddress.ip_address(address.split("%", 1)[0]))
    except ValueError:
        return
    for host, listening in listeners:
        if listening != port:
            continue
        bound = parse_ip(host)
        if bound is not None and not bound.is_unspecified:
            if _unmapped(bound) == ip:
                raise AddressRefused(f"{address} port {port} is this server's own listener")
            continue
        if isinstance(bound, ipaddress.IPv4Address) and ip.version != 4:
            continue  # 0.0.0.0 accepts IPv4 only; :: (dual stack) and names accept both
        if _is_local(ip):
            raise AddressRefused(f"{address} port {port} is this server's own listener")


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_local(ip: IPAddress) -> bool:
    """Whether ``ip`` is an address of this machine (binding to it succeeds only then)."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    family = socket.AF_INET if ip.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(ip), 0))
    except OSError:
        return False
    return True


def _embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, compatible), or itself."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:  # 2002:AABB:CCDD::/48 carries AA.BB.CC.DD in bits 16-47
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: nor ::1
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def parse_ip(host: str) -> IPAddress | None:
    """The address a host literal names, or ``None`` for a DNS name."""
    try:
        return ipaddress.ip_address(normalise_host(host).split("%", 1)[0])
    except ValueError:
        return None


async def resolve_vetted(host: str, port: int, policy: AddressPolicy, timeout: float) -> list[str]:
    """Resolve ``host`` and return its addresses, all vetted by ``policy``.

    Raises :class:`AddressRefused` (a refused name or any refused address) or :class:`OSError`
    (lookup failure, including a lookup slower than ``timeout``).
    """
    policy.check_name(host)
    literal = parse_ip(host)
    if literal is not None:
        policy.check_address(literal)
        return [str(literal)]
    with trio.move_on_after(timeout):
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
        addresses: list[str] = []
        for info in infos[:MAX_ADDRESSES]:
            text = str(info[4][0])
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            policy.check_address(ip)
            if text not in addresses:
                addresses.append(text)
        if not addresses:
            raise OSError(f"{host} has no addresses")
        return addresses
    raise OSError(f"looking up {host} took longer than {timeout} s")
