"""The username a first OpenID Connect login proposes for its new account.

Sans-IO. A provider's ``preferred_username`` (or the local part of the email) is a hint, not a
name the person chose under our rules: it may be too short, too long, mix scripts or carry
characters a username may not. :func:`username_candidates` turns the hint into valid names,
the hint itself first when it is valid, then a cleaned form, then the same with random suffixes
for when the name is taken; the caller tries them in order until one is free.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

from synctv.auth.oidc import OidcIdentity
from synctv.auth.usernames import MAX_LENGTH, MIN_LENGTH, InvalidUsername, Username, parse_username

FALLBACK = "user"
# A suffix is "-" and 6 hex digits: 16M names per base, so a few tries find a free one.
_SUFFIX_BYTES = 3
_NOT_NAME_CHARACTER = re.compile(r"[^0-9A-Za-z_.-]+")
_PUNCTUATION_RUN = re.compile(r"[_.-]{2,}")


def _hint(identity: OidcIdentity) -> str:
    if identity.preferred_username:
        return identity.preferred_username
    if identity.email and "@" in identity.email:
        return identity.email.rsplit("@", 1)[0]
    return FALLBACK


def _cleaned(hint: str, room: int) -> str:
    """ASCII letters, digits and single ``_ - .`` inside; at most ``room`` characters."""
    name = _NOT_NAME_CHARACTER.sub("_", hint)
    name = _PUNCTUATION_RUN.sub("_", name).strip("_.-")[:room].rstrip("_.-")
    return name if len(name) >= MIN_LENGTH else FALLBACK


def _valid(raw: str) -> Username | None:
    try:
        return parse_username(raw)
    except InvalidUsername:
        return None


def username_candidates(
    identity: OidcIdentity,
    attempts: int = 8,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Iterator[Username]:
    """Up to ``attempts`` valid, distinct usernames for ``identity``'s new account, best first."""
    hint = _hint(identity)
    seen: set[str] = set()
    first = [_valid(hint), parse_username(_cleaned(hint, MAX_LENGTH))]
    for name in first:
        if name is not None and name.key not in seen and len(seen) < attempts:
            seen.add(name.key)
            yield name
    base = _cleaned(hint, MAX_LENGTH - 1 - 2 * _SUFFIX_BYTES)
    while len(seen) < attempts:
        name = parse_username(f"{base}-{random_bytes(_SUFFIX_BYTES).hex()}")
        if name.key not in seen:
            seen.add(name.key)
            yield name
