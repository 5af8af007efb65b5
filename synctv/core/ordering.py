"""Fractional positions for playlist items: a move or an insert writes one row, never renumbers.

A position is a short text key; items sort by it (``ORDER BY position COLLATE "C"``, byte order).
Between any two keys there is always another: :func:`key_between` finds one, so moving an item
before or after an anchor, or into another folder, updates that item only, and two people
reordering at once touch different rows. Keys are base-62 digits and never end in the lowest
digit (``0``), which is what guarantees the room below every key.

Repeated inserts at the same spot grow keys by about one character per six inserts; the rooms
service may rewrite a folder's keys evenly (:func:`spread`) when one grows past
:data:`MAX_KEY_LENGTH`.
"""

from __future__ import annotations

from typing import Final

DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE: Final = len(DIGITS)
_INDEX: Final = {d: i for i, d in enumerate(DIGITS)}
MAX_KEY_LENGTH: Final = 64


class InvalidKey(ValueError):
    """Not a position key (empty, other characters, ends in ``0``, or out of order)."""


def check_key(key: str) -> str:
    if not key or key[-1] == DIGITS[0] or any(c not in _INDEX for c in key):
        raise InvalidKey(f"{key!r} is not a position key")
    return key


def key_between(before: str | None, after: str | None) -> str:
    """A key strictly between ``before`` and ``after`` (None: the start or the end)."""
    low = check_key(before) if before is not None else ""
    if after is not None:
        check_key(after)
        if low >= after:
            raise InvalidKey(f"{before!r} does not sort before {after!r}")
    return _midpoint(low, after)


def _midpoint(low: str, high: str | None) -> str:
    # Invariant: low < high (low "" is the bottom, high None the top); neither ends in "0".
    if high is not None:
        shared = 0
        while shared < len(high) and (low[shared] if shared < len(low) else "0") == high[shared]:
            shared += 1
        if shared:
            return high[:shared] + _midpoint(low[shared:], high[shared:])
    digit_low = _INDEX[low[0]] if low else 0
    digit_high = _INDEX[high[0]] if high is not None else _BASE
    if digit_high - digit_low > 1:
        return DIGITS[(digit_low + digit_high) // 2]
    # Adjacent first digits: keep low's first digit and go deeper (after high's short form).
    if high is not None and len(high) > 1:
        return high[0]
    return DIGITS[digit_low] + _midpoint(low[1:], None)


def keys_between(before: str | None, after: str | None, count: int) -> list[str]:
    """``count`` increasing keys between two (a batch add of up to 100 items), spread so that
    later inserts between them stay short."""
    if count < 0:
        raise ValueError("count must not be negative")
    if count == 0:
        return []
    middle = key_between(before, after)
    left = keys_between(before, middle, (count - 1) // 2)
    right = keys_between(middle, after, count - 1 - len(left))
    return [*left, middle, *right]


def spread(count: int) -> list[str]:
    """Fresh evenly spaced keys for ``count`` items (rewriting a folder whose keys grew long)."""
    return keys_between(None, None, count)
