"""Username rules: NFKC storage, case-folded uniqueness, and look-alikes refused."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.auth.usernames import MAX_LENGTH, MIN_LENGTH, InvalidUsername, parse_username


@pytest.mark.parametrize(
    ("raw", "display", "key"),
    [
        ("Alice", "Alice", "alice"),
        ("ALICE", "ALICE", "alice"),
        ("ａｌｉｃｅ", "alice", "alice"),  # full-width forms fold to ASCII
        ("Straße", "Straße", "strasse"),
        ("bob.smith-2", "bob.smith-2", "bob.smith-2"),
        ("山田太郎", "山田太郎", "山田太郎"),
        ("やまだ", "やまだ", "やまだ"),
        ("Yamada山田たろう", "Yamada山田たろう", "yamada山田たろう"),
        ("김철수", "김철수", "김철수"),
        ("Иван", "Иван", "иван"),
        ("café", "café", "café"),
        ("cafe\u0301", "café", "café"),  # e + combining acute composes to é
        ("١٢٣علي", "١٢٣علي", "١٢٣علي"),
        ("नमस्ते", "नमस्ते", "नमस्ते"),  # vowel signs and virama: combining marks
        ("oʼneil", "oʼneil", "oʼneil"),  # a modifier letter goes with any script
    ],
)
def test_accepted_names_and_their_keys(raw: str, display: str, key: str) -> None:
    name = parse_username(raw)
    assert (name.display, name.key) == (display, key)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("ab", "3 to 32 characters"),
        ("a" * 33, "3 to 32 characters"),
        ("ali ce", "no spaces"),
        ("ali\u200bce", "invisible"),  # zero-width space
        ("ali\u202ece", "invisible"),  # right-to-left override
        ("ali\x00ce", "invisible"),
        ("ali@ce", "'@' is not allowed"),
        ("_alice", "starts with a letter or a digit"),
        ("alice.", "does not end with"),
        ("al__ice", "no two of"),
        ("\u0430dmin", "Cyrillic, Latin"),  # Cyrillic а posing as Latin a
        ("Ωmega", "Greek, Latin"),
        ("1٢3abc", "one numbering system"),
        ("½half", "'⁄' is not allowed"),  # NFKC makes it 1⁄2: the fraction slash is refused
    ],
)
def test_refused_names_say_why(raw: str, says: str) -> None:
    with pytest.raises(InvalidUsername) as refused:
        parse_username(raw)
    assert says in str(refused.value)


@given(st.text(max_size=40))
def test_any_text_is_a_name_or_a_clear_refusal(raw: str) -> None:
    try:
        name = parse_username(raw)
    except InvalidUsername as refused:
        message = str(refused)
    else:
        message = ""
    if message:
        assert message.startswith("a username")
        return
    assert MIN_LENGTH <= len(name.display) <= MAX_LENGTH
    assert unicodedata.normalize("NFKC", name.display) == name.display
    assert parse_username(name.display) == name  # stored names parse to themselves


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9]{1,30}[A-Za-z0-9]", fullmatch=True))
def test_every_ascii_alphanumeric_name_is_accepted_case_insensitively(raw: str) -> None:
    assert parse_username(raw).key == parse_username(raw.swapcase()).key == raw.lower()
