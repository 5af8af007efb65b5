"""``GET /api/rooms/{id}`` builds its JSON directly: the bytes are those FastAPI would send for
the documented model (``RoomAccessOut``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from synctv.api.http.routes.rooms import _access_json, _access_out
from synctv.core.permissions import ALL, ROLE_DEFAULTS
from synctv.core.room_settings import default_settings
from synctv.core.rooms import Access
from synctv.store.rooms import RoomRow


@pytest.mark.parametrize(
    ("role", "permissions"),
    [("creator", ALL), ("member", ROLE_DEFAULTS["member"]), (None, frozenset())],
)
def test_same_bytes_as_the_model(role: str | None, permissions: frozenset[object]) -> None:
    settings = default_settings(50)
    room = RoomRow(
        id="r" * 22,
        name="Ciné « nuit » 🎬",
        description='quotes " and \\ and \n',
        is_public=True,
        owner_id="u" * 22,
        settings={**settings.to_json(), "extra": [1, 2.5, None, {"k": "é"}]},
        has_password=False,
        password_version=0,
        last_event_seq=7,
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        closed_at=None,
        member_count=3,
    )
    access = Access(room, settings, role, permissions)  # type: ignore[arg-type]
    response = _access_json(access)
    assert response.media_type == "application/json"
    assert response.body == _access_out(access).model_dump_json(by_alias=True).encode()
