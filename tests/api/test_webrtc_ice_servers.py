"""build_ice_servers(): the RTCIceServer list behind GET /api/webrtc/ice-servers."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from synctv.api.http.routes.webrtc import build_ice_servers
from synctv.config import IceServerConfig, WebRTCConfig

TURN = IceServerConfig(
    urls=("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"),
    username="synctv",
    credential=SecretStr("s3cret"),
)
GOOGLE = IceServerConfig(urls=("stun:stun.l.google.com:19302",))

CASES = [
    ("public_host_wins", WebRTCConfig(public_host="stun.example.org"), "other.example", "stun:stun.example.org:3478"),
    ("request_host", WebRTCConfig(), "watch.example.org", "stun:watch.example.org:3478"),
    ("request_host_port_dropped", WebRTCConfig(), "watch.example.org:8080", "stun:watch.example.org:3478"),
    ("ipv4_literal", WebRTCConfig(stun_port=3479), "192.0.2.10:80", "stun:192.0.2.10:3479"),
    ("ipv6_literal_bracketed", WebRTCConfig(), "2001:db8::1", "stun:[2001:db8::1]:3478"),
    ("ipv6_host_header", WebRTCConfig(), "[2001:DB8:0::1]:8080", "stun:[2001:db8::1]:3478"),
    ("ipv6_public_host_in_brackets", WebRTCConfig(public_host="[::1]"), None, "stun:[::1]:3478"),
    ("trailing_dot", WebRTCConfig(), "example.org.", "stun:example.org.:3478"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "config", "request_host", "url"), CASES, ids=[c[0] for c in CASES]
)
def test_builtin_stun_url(
    name: str, config: WebRTCConfig, request_host: str | None, url: str
) -> None:
    assert build_ice_servers(config, request_host=request_host) == [{"urls": [url]}]


@pytest.mark.parametrize(
    "request_host",
    [
        None,
        "",
        "evil.example/x?y",
        "a b",
        "[::1",
        "[not-v6]:80",
        "fe80::1%eth0",
        "-bad.example",
        "x" * 300,
    ],
)
def test_no_usable_host_leaves_builtin_out(request_host: str | None) -> None:
    assert build_ice_servers(WebRTCConfig(), request_host=request_host) == []


def test_builtin_disabled_keeps_external_entries() -> None:
    config = WebRTCConfig(enable_builtin_stun=False, public_host="x.example", ice_servers=(GOOGLE,))
    assert build_ice_servers(config, request_host="x.example") == [
        {"urls": ["stun:stun.l.google.com:19302"]}
    ]


def test_external_turn_with_credentials_follows_builtin() -> None:
    config = WebRTCConfig(ice_servers=(TURN, GOOGLE))
    assert build_ice_servers(config, request_host="watch.example.org") == [
        {"urls": ["stun:watch.example.org:3478"]},
        {
            "urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
            "username": "synctv",
            "credential": "s3cret",
        },
        {"urls": ["stun:stun.l.google.com:19302"]},
    ]


def test_ephemeral_port_needs_the_bound_port() -> None:
    config = WebRTCConfig(stun_port=0, public_host="127.0.0.1")
    assert build_ice_servers(config, request_host=None) == []
    assert build_ice_servers(config, request_host=None, stun_port=40000) == [
        {"urls": ["stun:127.0.0.1:40000"]}
    ]


def test_result_is_a_fresh_list_each_call() -> None:
    config = WebRTCConfig(ice_servers=(GOOGLE,))
    first = build_ice_servers(config, request_host=None)
    first[0]["urls"] = []
    assert build_ice_servers(config, request_host=None) == [
        {"urls": ["stun:stun.l.google.com:19302"]}
    ]
