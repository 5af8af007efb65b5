"""Usernames: what a person may choose, and the key on which two names collide.

Sans-IO (stdlib only). A name is stored as its Unicode NFKC form (full-width ``ａｌｉｃｅ`` is
``alice``), 3 to 32 characters of letters, combining marks, decimal digits and ``_ - .``,
starting with a letter or digit, ending without punctuation, with no two punctuation marks in a
row. Two names collide when their case-folded forms are equal (``Straße`` and ``STRASSE``).

Look-alikes: a name may not mix letters of scripts that are not written together (the
"highly restrictive" profile of Unicode TS #39: one script, or Latin with Han and Japanese kana,
Han with Bopomofo, or Han with Hangul), nor digits of two numbering systems. That refuses
``аdmin`` with a Cyrillic ``а`` posing as ``admin``. A name written wholly in another script
that happens to look Latin (all-Cyrillic ``асе``) needs the TS #39 confusables table, which
is not here yet.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from itertools import pairwise

MIN_LENGTH = 3
MAX_LENGTH = 32
PUNCTUATION = frozenset("_-.")

# Scripts that may be mixed in one name (besides any single script on its own).
_MIXABLE = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# First words of letters' Unicode names that are not the script's own name. Modifier letters
# (a tone mark, an apostrophe-like letter) go with any script.
_SCRIPT_OF_FIRST_WORD = {"CJK": "HAN", "MODIFIER": "COMMON"}


class InvalidUsername(ValueError):
    """The name breaks a rule; the message says which, in words a person can act on."""


@dataclass(frozen=True, slots=True)
class Username:
    """``display`` is what is stored and shown; ``key`` is what uniqueness is checked on."""

    display: str
    key: str


def parse_username(raw: str) -> Username:
    """The stored form of ``raw``, or :class:`InvalidUsername`."""
    name = unicodedata.normalize("NFKC", raw)
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise InvalidUsername(
            f"a username has {MIN_LENGTH} to {MAX_LENGTH} characters, this one has {len(name)}"
        )
    for char in name:
        _check_character(char)
    if _kind(name[0]) not in ("letter", "digit"):
        raise InvalidUsername("a username starts with a letter or a digit")
    if name[-1] in PUNCTUATION:
        raise InvalidUsername("a username does not end with _ - or .")
    if any(a in PUNCTUATION and b in PUNCTUATION for a, b in pairwise(name)):
        raise InvalidUsername("a username has no two of _ - . in a row")
    _check_scripts(name)
    _check_digits(name)
    key = unicodedata.normalize("NFKC", name.casefold())
    return Username(name, key)


def _kind(char: str) -> str:
    category = unicodedata.category(char)
    if category.startswith("L"):
        return "letter"
    if category.startswith("M"):
        return "mark"
    if category == "Nd":
        return "digit"
    if char in PUNCTUATION:
        return "punctuation"
    if category in ("Zs", "Zl", "Zp"):
        return "space"
    if category in ("Cc", "Cf", "Co", "Cs", "Cn"):
        return "invisible"
    return "other"


def _check_character(char: str) -> None:
    kind = _kind(char)
    if kind == "space":
        raise InvalidUsername("a username has no spaces")
    if kind == "invisible":
        raise InvalidUsername(
            f"a username has no control or invisible characters (U+{ord(char):04X})"
        )
    if kind == "other":
        raise InvalidUsername(
            f"a username has only letters, digits and _ - . ({char!r} is not allowed)"
        )


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name (``LATIN SMALL LETTER A`` → LATIN)."""
    first = unicodedata.name(char).split()[0]
    return _SCRIPT_OF_FIRST_WORD.get(first, first)


def _check_scripts(name: str) -> None:
    scripts = {_script(char) for char in name if _kind(char) == "letter"} - {"COMMON"}
    if len(scripts) <= 1 or any(scripts <= allowed for allowed in _MIXABLE):
        return
    listed = ", ".join(sorted(script.title() for script in scripts))
    raise InvalidUsername(
        f"a username does not mix these scripts ({listed}): letters that look alike"
        " would let one name pass for another"
    )


def _check_digits(name: str) -> None:
    zeros = {ord(char) - unicodedata.decimal(char) for char in name if _kind(char) == "digit"}
    if len(zeros) > 1:
        raise InvalidUsername("a username uses the digits of one numbering system")
