"""The pure parts of the web seam: the CORS policy and client address resolution (fuzzed)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.api.http.cors import CorsPolicy, canonical_origin
from synctv.api.http.forwarded import ClientAddressResolver, forwarded_for, parse_address

HEADER_NAMES = st.sampled_from([b"forwarded", b"x-forwarded-for", b"x-real-ip", b"host"])
HEADER_VALUES = st.binary(max_size=200)
HEADERS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8)
ADDRESSES = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


@pytest.mark.parametrize(
    ("configured", "canonical"),
    [
        ("https://A.Example", "https://a.example"),
        ("https://a.example:443", "https://a.example"),
        ("http://a.example:80/", "http://a.example"),
        ("http://a.example:8080", "http://a.example:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_canonical_origins(configured: str, canonical: str) -> None:
    assert canonical_origin(configured) == canonical


@pytest.mark.parametrize(
    "bad", ["a.example", "ftp://a.example", "https://a.example/path", "https://", "https://a:99999"]
)
def test_what_is_not_an_origin_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        CorsPolicy([bad])


def test_vary_origin_always_and_allow_only_for_listed_origins() -> None:
    policy = CorsPolicy(["https://a.example"])
    assert (b"vary", b"Origin") in policy.response_headers(None)
    assert (b"vary", b"Origin") in policy.response_headers("https://b.example")
    allowed = dict(policy.response_headers("https://a.example"))
    assert allowed[b"access-control-allow-origin"] == b"https://a.example"
    assert b"access-control-allow-origin" not in dict(policy.response_headers("https://b.example"))
    assert not policy.allows(None)
    assert dict(CorsPolicy(["*"]).response_headers(None))[b"access-control-allow-origin"] == b"*"


@given(origin=st.text(max_size=60))
def test_an_origin_is_allowed_only_if_listed(origin: str) -> None:
    policy = CorsPolicy(["https://a.example", "http://b.example:8080"])
    allowed = origin.lower() in {"https://a.example", "http://b.example:8080"}
    assert policy.allows(origin) is allowed
    headers = policy.response_headers(origin)
    assert any(name == b"access-control-allow-origin" for name, _ in headers) is allowed


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:4711", "203.0.113.7"),
        ('"[2001:db8::17]:4711"', "2001:db8::17"),
        ("2001:db8::17", "2001:db8::17"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("unknown", None),
        ("_hidden", None),
        ("[2001:db8::17", None),
        ("", None),
    ],
)
def test_parse_address(raw: str, address: str | None) -> None:
    parsed = parse_address(raw)
    assert (None if parsed is None else str(parsed)) == address


def test_forwarded_for_values_in_order() -> None:
    values = [
        'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"',
        "for=10.0.0.1",
    ]
    assert forwarded_for(values) == ["192.0.2.60", '"[2001:db8:cafe::17]:4711"', "10.0.0.1"]


def test_trusted_hops_are_skipped_from_the_right() -> None:
    resolver = ClientAddressResolver(["10.0.0.0/8", "127.0.0.1"])
    chain = [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.7, 10.1.1.1")]
    assert resolver.resolve("127.0.0.1", chain) == "203.0.113.7"
    # A garbage entry stops the walk at the last address we can vouch for.
    garbage = [(b"x-forwarded-for", b"198.51.100.1, nonsense, 10.1.1.1")]
    assert resolver.resolve("127.0.0.1", garbage) == "10.1.1.1"
    assert resolver.resolve("192.0.2.9", chain) == "192.0.2.9"  # untrusted peer: headers ignored


def test_bad_cidr_is_refused() -> None:
    with pytest.raises(ValueError, match="CIDR"):
        ClientAddressResolver(["10.0.0.0/33"])


@given(peer=ADDRESSES, headers=HEADERS)
def test_an_untrusted_peer_is_always_the_client(
    peer: str, headers: list[tuple[bytes, bytes]]
) -> None:
    resolver = ClientAddressResolver(["10.0.0.0/8"])
    if ipaddress.ip_address(peer) in ipaddress.ip_network("10.0.0.0/8"):
        return
    assert resolver.resolve(peer, headers) == peer


@given(headers=HEADERS)
def test_a_trusted_peer_resolves_to_an_address_without_raising(
    headers: list[tuple[bytes, bytes]],
) -> None:
    resolver = ClientAddressResolver(["127.0.0.0/8"])
    resolved = resolver.resolve("127.0.0.1", headers)
    ipaddress.ip_address(resolved)  # always an address, whatever the headers held


@given(client=st.ip_addresses(v=4).filter(lambda a: not a.is_loopback), hops=st.integers(0, 5))
def test_the_first_untrusted_address_from_the_right_is_the_client(
    client: ipaddress.IPv4Address, hops: int
) -> None:
    resolver = ClientAddressResolver(["127.0.0.0/8"])
    chain = ", ".join(["198.51.100.250", str(client), *[f"127.0.0.{i + 2}" for i in range(hops)]])
    assert resolver.resolve("127.0.0.1", [(b"x-forwarded-for", chain.encode())]) == str(client)
