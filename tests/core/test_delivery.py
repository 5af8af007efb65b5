"""The delivery rules: proxy mode × what a source needs → routes, browser headers, refresh."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv import errors
from synctv.core.delivery import SourceNeeds, browser_headers, refresh_at, routes
from synctv.errors import DomainError

PLAIN = SourceNeeds(credentials=False, forbidden_headers=False, provider_proxies=False)
SECRET = SourceNeeds(credentials=True, forbidden_headers=False, provider_proxies=False)
REFERER = SourceNeeds(credentials=False, forbidden_headers=True, provider_proxies=False)
PROXIED = SourceNeeds(credentials=False, forbidden_headers=False, provider_proxies=True)

CASES = [
    ("auto", PLAIN, ("direct",)),
    ("auto", SECRET, ("proxy",)),
    ("auto", REFERER, ("proxy",)),
    ("auto", PROXIED, ("proxy",)),
    ("prefer", PLAIN, ("proxy", "direct")),
    ("prefer", REFERER, ("proxy", "direct")),
    ("prefer", SECRET, ("proxy",)),
    ("prefer", PROXIED, ("proxy",)),
    ("only", PLAIN, ("proxy",)),
    ("only", SECRET, ("proxy",)),
    ("direct_prefer", PLAIN, ("direct", "proxy")),
    ("direct_prefer", REFERER, ("direct", "proxy")),
    ("direct_prefer", SECRET, ("proxy",)),
    ("direct_prefer", PROXIED, ("proxy",)),
    ("direct_only", PLAIN, ("direct",)),
    ("direct_only", REFERER, ("direct",)),
]


@pytest.mark.parametrize(
    ("mode", "needs", "expected"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_routes(mode: str, needs: SourceNeeds, expected: tuple[str, ...]) -> None:
    assert routes(mode, needs) == expected


@pytest.mark.parametrize("needs", [SECRET, PROXIED])
def test_direct_only_refuses_what_may_not_be_direct(needs: SourceNeeds) -> None:
    with pytest.raises(DomainError) as refused:
        routes("direct_only", needs)
    assert refused.value.error is errors.DIRECT_PLAYBACK_REFUSED


@given(
    st.sampled_from(["auto", "prefer", "only", "direct_prefer", "direct_only"]),
    st.booleans(),
    st.booleans(),
)
def test_a_source_with_credentials_is_never_direct(mode: str, forbidden: bool, prov: bool) -> None:
    needs = SourceNeeds(credentials=True, forbidden_headers=forbidden, provider_proxies=prov)
    try:
        chosen = routes(mode, needs)
    except DomainError:
        return
    assert "direct" not in chosen


def test_browser_headers() -> None:
    kept, dropped = browser_headers(
        [("Referer", "https://a/"), ("User-Agent", "x"), ("Sec-Fetch-Mode", "y"),
         ("Proxy-Authorization", "z"), ("Accept-Language", "fr"), ("X-Thing", "1")]
    )  # fmt: skip
    assert kept == {"accept-language": "fr", "x-thing": "1"}
    assert dropped == ["referer", "user-agent", "sec-fetch-mode", "proxy-authorization"]


def test_refresh_at() -> None:
    assert refresh_at(None, 100.0) is None
    assert refresh_at(120.0, 100.0) == 115.0  # a quarter of 20 s before
    assert refresh_at(100.0 + 3600, 100.0) == 100.0 + 3540  # at most 60 s before
    assert refresh_at(102.0, 100.0) == 101.0  # at least 1 s before
    assert refresh_at(90.0, 100.0) == 100.0  # already expired: now


@given(st.floats(0, 1e9), st.floats(0, 1e6))
def test_refresh_is_before_expiry_and_not_in_the_past(now: float, life: float) -> None:
    at = refresh_at(now + life, now)
    assert at is not None
    assert now <= at <= now + life
