"""The sign-in routes build their JSON directly: the bytes are those FastAPI would send for the
documented models (``LoginStartOut``, ``LoginFinishOut``)."""

from __future__ import annotations

from datetime import UTC, datetime

from synctv.api.http.routes.auth import (
    LoginFinishOut,
    LoginStartOut,
    json_answer,
    user_json,
    user_out,
)
from synctv.store.users import UserRow


def test_same_bytes_as_the_models() -> None:
    user = UserRow(
        id="u" * 22,
        username='Zoë «the» \\ "quoted"',
        username_key="zoë",
        display_name="Zoë 🎬",
        role="admin",
        status="active",
        opaque_record=b"r",
        password_version=2,
        must_reset_password=False,
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        updated_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        banned=False,
    )
    finish = json_answer({"accessToken": "a.b.c", "refreshToken": "d.e.f", "user": user_json(user)})
    model = LoginFinishOut(access_token="a.b.c", refresh_token="d.e.f", user=user_out(user))
    assert finish.body == model.model_dump_json(by_alias=True).encode()
    assert finish.media_type == "application/json"
    assert finish.status_code == 200

    start = json_answer({"sessionId": "s-1", "credentialResponse": "QUJD+/=="})
    model_start = LoginStartOut(session_id="s-1", credential_response="QUJD+/==")
    assert start.body == model_start.model_dump_json(by_alias=True).encode()
