"""The address policy on its own: IPv6 forms that carry or hide a private or metadata address."""

from __future__ import annotations

import ipaddress

import pytest

from synctv.outbound.address_policy import AddressPolicy, AddressRefused


@pytest.mark.parametrize(
    "address",
    [
        "::127.0.0.1",  # IPv4-compatible (::/96), deprecated: never a public upstream
        "::8.8.8.8",
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1
        "2002:7f00:0001::1",  # 6to4 of 127.0.0.1
        "2002:0a00:0001:1234::5",  # 6to4 of 10.0.0.1
        "64:ff9b:1::a00:1",  # RFC 8215 local-use NAT64
        "64:ff9b:1::808:808",
        "fec0::1",  # deprecated site-local
        "fec0:1234::abcd",
    ],
)
def test_strict_policy_refuses_embedded_and_deprecated_ipv6(address: str) -> None:
    ip = ipaddress.ip_address(address)
    with pytest.raises(AddressRefused):
        AddressPolicy(allow_private=False).check_address(ip)
    AddressPolicy(allow_private=True).check_address(ip)  # a LAN host may be any of these


@pytest.mark.parametrize(
    "address", ["::169.254.169.254", "2002:a9fe:a9fe::1", "64:ff9b::a9fe:a9fe", "::ffff:a9fe:a9fe"]
)
def test_metadata_embedded_in_ipv6_is_refused_even_when_private_is_allowed(address: str) -> None:
    with pytest.raises(AddressRefused, match="metadata"):
        AddressPolicy(allow_private=True).check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["2002:0808:0808::1", "2606:4700::1111", "8.8.8.8"])
def test_public_addresses_stay_allowed(address: str) -> None:
    AddressPolicy(allow_private=False).check_address(ipaddress.ip_address(address))
