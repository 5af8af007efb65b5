"""Who the client is behind trusted reverse proxies (``server.trusted_proxies``), pure.

Headers naming a client address are believed only from a peer inside one of the trusted CIDRs:
anyone else could write ``X-Forwarded-For: 127.0.0.1`` and be taken for us. From a trusted peer,
the address list (``Forwarded`` ``for=`` first, else ``X-Forwarded-For``, else ``X-Real-IP``) is
read from the right, the hops nearest to us: each trusted hop is skipped, and the first address
that is not trusted is the client. An entry that is not an IP address (``unknown``, an
obfuscated name, garbage) ends the walk at the last address known, so a forged or malformed
entry can never push the answer further left than the proxies we trust.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A request with more hops than this is not walked further (a bound on the work per request).
MAX_HOPS = 32


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The trusted networks; ``ValueError`` naming the entry that is not an address or CIDR."""
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR: {cidr!r}") from None
    return tuple(networks)


def parse_address(raw: str) -> IPAddress | None:
    """An address from a forwarding header entry: ``1.2.3.4``, ``1.2.3.4:5``, ``[v6]``,
    ``[v6]:5``, a bare IPv6, optionally quoted; None for anything else."""
    value = raw.strip().strip('"').strip()
    if value.startswith("["):
        value, bracket, _ = value[1:].partition("]")
        if not bracket:
            return None
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def forwarded_for(values: Sequence[str]) -> list[str]:
    """The ``for=`` values of RFC 7239 ``Forwarded`` headers, in order (raw, unparsed)."""
    found: list[str] = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, equals, raw = pair.partition("=")
                if equals and name.strip().lower() == "for":
                    found.append(raw.strip())
    return found


class ClientAddressResolver:
    """Resolves the client address of a request from its TCP peer and forwarding headers."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self.networks = parse_networks(trusted)

    @property
    def enabled(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def resolve(self, peer: str, headers: Iterable[tuple[bytes, bytes]]) -> str:
        """The client address: ``peer`` unless ``peer`` is a trusted proxy naming another."""
        if not self.networks:
            return peer
        peer_address = parse_address(peer)
        if peer_address is None or not self.trusts(peer_address):
            return peer
        forwarded: list[str] = []
        x_forwarded_for: list[str] = []
        x_real_ip: list[str] = []
        for name, value in headers:
            if name == b"forwarded":
                forwarded.append(value.decode("latin-1"))
            elif name == b"x-forwarded-for":
                x_forwarded_for.extend(value.decode("latin-1").split(","))
            elif name == b"x-real-ip":
                x_real_ip.append(value.decode("latin-1"))
        hops = forwarded_for(forwarded) or x_forwarded_for or x_real_ip[-1:]
        client: IPAddress = peer_address
        for raw in reversed(hops[-MAX_HOPS:]):
            address = parse_address(raw)
            if address is None:
                break
            client = address
            if not self.trusts(address):
                break
        return str(client)
