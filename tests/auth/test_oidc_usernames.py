"""Usernames proposed for a first OpenID Connect login: always valid, the hint kept when it can be."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from synctv.auth.oidc import OidcIdentity
from synctv.auth.oidc_usernames import username_candidates
from synctv.auth.usernames import parse_username


def identity(preferred: str | None = None, email: str | None = None) -> OidcIdentity:
    return OidcIdentity(
        provider="example",
        issuer="https://id.example",
        subject="sub",
        email=email,
        email_verified=True,
        name=None,
        preferred_username=preferred,
    )


def counter() -> Callable[[int], bytes]:
    state = {"n": 0}

    def random_bytes(n: int) -> bytes:
        state["n"] += 1
        return state["n"].to_bytes(n, "big")

    return random_bytes


def test_a_valid_hint_is_proposed_as_it_is_first() -> None:
    names = [n.display for n in username_candidates(identity("Zoë.Smith"), attempts=3)]
    assert names[0] == "Zoë.Smith"
    assert names[1] == "Zo_Smith"  # the ASCII form, in case the first is taken
    assert len(names) == 3


def test_the_email_local_part_is_the_hint_without_a_preferred_username() -> None:
    names = [n.display for n in username_candidates(identity(email="ann.lee@example.com"))]
    assert names[0] == "ann.lee"


def test_unusable_hints_fall_back_to_a_generic_name_with_suffixes() -> None:
    for hint in (None, "x", "__", "!!!", "😀😀😀"):
        names = list(username_candidates(identity(hint), attempts=3, random_bytes=counter()))
        assert names[0].display == "user"
        assert [n.display for n in names[1:]] == ["user-000001", "user-000002"]


def test_a_mixed_script_hint_is_cleaned_not_refused() -> None:
    # A Cyrillic "а" posing as Latin: refused as a name, so only its ASCII remainder is used.
    names = [n.display for n in username_candidates(identity("аdmin"), attempts=1)]
    assert names == ["dmin"]


def test_a_long_hint_is_cut_to_fit_with_its_suffix() -> None:
    names = list(username_candidates(identity("a" * 60), attempts=3, random_bytes=counter()))
    assert [len(n.display) for n in names] == [32, 32, 32]
    assert [n.display[-7:] for n in names[1:]] == ["-000001", "-000002"]


@given(
    preferred=st.none() | st.text(max_size=80),
    email=st.none() | st.emails() | st.text(max_size=80),
    attempts=st.integers(min_value=1, max_value=10),
)
def test_every_candidate_is_a_valid_distinct_name(
    preferred: str | None, email: str | None, attempts: int
) -> None:
    names = list(username_candidates(identity(preferred or None, email), attempts=attempts))
    assert len(names) == attempts
    assert len({n.key for n in names}) == attempts
    for name in names:
        assert parse_username(name.display) == name
