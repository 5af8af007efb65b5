"""Public ids never begin with ``-`` (they are typed as shell arguments) and stay 128-bit."""

from __future__ import annotations

import re
import secrets

import pytest

from synctv.auth.identity import new_public_id
from synctv.core.rooms import new_room_id
from synctv.ids import public_id
from synctv.store.playlists import new_id as new_media_id


def test_a_draw_beginning_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["-first", "--second", "third-"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(draws))
    assert public_id() == "third-"


@pytest.mark.parametrize("make", [public_id, new_public_id, new_room_id, new_media_id])
def test_ids_are_22_url_safe_characters_never_beginning_with_a_dash(make: object) -> None:
    assert callable(make)
    # One draw in 64 began with "-" before: 4,000 draws miss that with odds of about 1e-27.
    ids = [make() for _ in range(4000)]
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)
    assert len(set(ids)) == len(ids)
