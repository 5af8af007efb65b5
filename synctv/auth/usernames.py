"""Usernames: what is allowed, and the key two names are compared by.

A name is NFKC-normalised (so the full-width ``ａｌｉｃｅ`` and ``alice`` are one name), must be 3
to 32 characters after that, and may not hold control, format (zero-width, bidi overrides),
private-use, surrogate or unassigned characters, nor start or end with white space. Uniqueness
and login compare :func:`username_key`: NFKC of the case fold of the NFKC form (Unicode's
"NFKC_Casefold" closure, so ``ALICE``, ``alice`` and ``ａｌｉｃｅ`` share one account). The key
is also the OPAQUE credential identifier, so a login is the same whatever case the person types.
Names made only of confusable look-alikes of another script are not detected here (yet).
"""

from __future__ import annotations

import unicodedata
from typing import Final

MIN_LENGTH: Final = 3
MAX_LENGTH: Final = 32
# Control (Cc), format (Cf), surrogate (Cs), private use (Co), unassigned (Cn); separators other
# than the plain space (Zl, Zp) are refused too.
_REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class InvalidUsername(ValueError):
    """The message says what is wrong, for the person who typed it."""


def normalise_username(text: str) -> str:
    """The name as stored and shown (NFKC); InvalidUsername when it is not allowed."""
    name = unicodedata.normalize("NFKC", text)
    if not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        raise InvalidUsername(f"a username is {MIN_LENGTH} to {MAX_LENGTH} characters long")
    if name != name.strip():
        raise InvalidUsername("a username may not start or end with white space")
    for char in name:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise InvalidUsername(
                "a username may not contain control, invisible or unassigned characters"
            )
        if char.isspace() and char != " ":
            raise InvalidUsername("the only white space a username may contain is a plain space")
    return name


def username_key(name: str) -> str:
    """What two names are compared by (see the module docstring)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
