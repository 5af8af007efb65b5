"""The admin pages in Chromium (the driver is ``tests/support/web_ops_browser.py``; why a child
process: ``tests/e2e/test_web_client_browser.py``).

Root is made with the CLI and signed in over HTTP; a person signs up. In the page root bans that
person (whose calls then fail), changes a runtime setting with the keyboard (GET then shows the
new value) and sees a refusal of the server under a JSON field, and filters the audit log to its
own two actions; it creates a live stream in a room (the key shown once) and deletes it. The pages are looked at at desktop and phone size (no sideways scroll).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from synctv.auth import opaque
from tests.support.cli import synctv
from tests.support.identity import PASSWORD, identity_server
from tests.support.postgres import RunningPostgres
from tests.support.web_media import REPO, require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTING = "ratelimit.wsTicketsPerUserPerMinute"


async def test_root_bans_changes_a_setting_and_reads_the_audit_log(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    require_tools()
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    with trio.fail_after(90):
        async with identity_server(tmp_path, postgres) as server:
            code, _out, err = await synctv(
                server.data_dir, "admin", "user", "create", "root", "--role", "root",
                "--password-file", str(secret),
            )  # fmt: skip
            assert code == 0, err
            signed = (await server.person(2, ksf=opaque.argon2id_ksf).login("root")).json()
            session = {k: signed[k] for k in ("accessToken", "refreshToken", "user")}
            root_auth = {"authorization": f"Bearer {signed['accessToken']}"}
            room = {"name": "Movie night", "isPublic": False}
            made = await server.person(2).http.post("/api/rooms", json=room, headers=root_auth)
            assert made.status_code == 201, made.text
            victim = server.person(3)
            registered = (await victim.register("victim")).json()
            victim_auth = {"authorization": f"Bearer {registered['accessToken']}"}
            assert (await victim.http.get("/api/user", headers=victim_auth)).status_code == 200

            driven = await trio.run_process(
                [sys.executable, "-m", "tests.support.web_ops_browser",
                 server.base, json.dumps(session), signed["user"]["id"]],
                cwd=REPO, capture_stdout=True, check=False,
            )  # fmt: skip
            assert driven.returncode == 0, "the browser part failed (its traceback is above)"
            seen: dict[str, Any] = json.loads(driven.stdout.decode().strip().splitlines()[-1])
            print(json.dumps(seen, indent=1))

            # The ban ended the person's session and keeps them out.
            refused = await victim.http.get("/api/user", headers=victim_auth)
            assert refused.status_code == 401, refused.text
            again = await victim.login("victim")
            assert again.status_code in (401, 403), again.text
            # The setting is stored and applied.
            got = await victim.http.get(f"/api/admin/settings/{SETTING}", headers=root_auth)
            assert got.json()["value"] == 45, got.text

    # The failed requests the page logs are the two refusals (a CSP violation would be an error).
    failed = "Failed to load resource: the server responded with a status of {} ()"
    refused = [failed.format(403), failed.format(400)]  # the role change, the setting
    assert seen["console_errors"] == refused, seen["console_errors"]
    assert seen["reset_url"].startswith(f"{server.base}/reset-password?token="), seen
    assert seen["setting_range"] == ["0", "100000"]
    assert seen["setting_shown"] == "45"
    assert (seen["checkbox"], seen["select"]) == ("checkbox", "SELECT")
    assert seen["role_refusal"].endswith("(role_rule)"), seen["role_refusal"]
    assert seen["stream_key_shown"]
    assert "strictly increasing" in seen["refusal"], seen["refusal"]
    assert "invalid_setting_value" in seen["refusal"], seen["refusal"]
    assert seen["refused_kept"] == "[5, 1]"
    assert {"user.banned", "settings.changed"} <= set(seen["root_actions"]), seen["root_actions"]
    assert set(seen["settings_actions"]) == {"settings.changed"}, seen["settings_actions"]
    assert all(v <= 0 for v in seen["overflow"].values()), seen["overflow"]
