"""The admin pages in Chromium (the driver is ``tests/support/web_ops_browser.py``; why a child
process: ``tests/e2e/test_web_client_browser.py``).

Root is made with the CLI and signed in over HTTP; a person signs up. In the page root bans that
person (whose calls then fail), changes a runtime setting with the keyboard (GET then shows the
new value) and sees a refusal of the server under a JSON field, and filters the audit log to its
own two actions; it creates a live stream in a room (the key shown once) and deletes it; it adds
an Alist provider instance (the fake Alist of tests/providers/fakes.py) on the Providers page and
tests and edits it with the keyboard; a member of the room browses that instance in the room and
adds a file, which shows in the playlist, and sees itself in the Watching card (two tabs as one
row; nothing but a sentence once view_members is taken away). The pages are looked at at desktop and phone size (no
sideways scroll).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from synctv.auth import opaque
from tests.providers.fakes import FakeAlist
from tests.proxy.upstream_server import UpstreamServer
from tests.support.cli import synctv
from tests.support.identity import PASSWORD, identity_server
from tests.support.postgres import RunningPostgres
from tests.support.web_media import REPO, require_tools

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SETTING = "ratelimit.wsTicketsPerUserPerMinute"
ALIST_PASSWORD = "alist-secret-pw"


async def test_root_bans_changes_a_setting_and_reads_the_audit_log(
    tmp_path: Path, postgres: RunningPostgres, nursery: trio.Nursery
) -> None:
    require_tools()
    origin = UpstreamServer()
    await nursery.start(origin.serve)
    FakeAlist(origin, password=ALIST_PASSWORD).install()
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
            viewer = server.person(4)
            joined = (await viewer.register("viewer")).json()
            member_session = {k: joined[k] for k in ("accessToken", "refreshToken", "user")}
            room_id = made.json()["room"]["id"]
            added = await viewer.http.post(
                f"/api/rooms/{room_id}/members", json={"userId": joined["user"]["id"]},
                headers=root_auth,
            )  # fmt: skip
            assert added.status_code < 300, added.text

            driven = await trio.run_process(
                [sys.executable, "-m", "tests.support.web_ops_browser",
                 server.base, json.dumps(session), signed["user"]["id"], origin.base,
                 json.dumps(member_session), room_id],
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
            # The instance is stored with its credentials; the member's item names it.
            listed = await victim.http.get("/api/admin/providers", headers=root_auth)
            (instance,) = listed.json()["instances"]
            assert (instance["name"], instance["lanService"], instance["hasCredentials"]) == (
                "nas",
                True,
                True,
            )
            playlist = await victim.http.get(f"/api/rooms/{room_id}/media", headers=root_auth)
            (item,) = playlist.json()["media"]
            assert item["source"] == {
                "kind": "provider",
                "instance": instance["id"],
                "path": "/movies/film.mp4",
            }
            assert item["addedBy"] == joined["user"]["id"]

    # The failed requests the page logs are the two refusals (a CSP violation would be an error).
    # (Chromium adds the status line's reason phrase in brackets: "(Forbidden)".)
    failed = re.compile(r"Failed to load resource: the server responded with a status of (\d+)\b")
    statuses = [(found := failed.match(line)) and found[1] for line in seen["console_errors"]]
    assert statuses == ["403", "400"], seen["console_errors"]  # the role change, the setting
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
    assert seen["provider_tags"] == ["alist", "credentials set", "LAN"], seen["provider_tags"]
    assert (seen["edit_password"], seen["edit_base_url"]) == ("", origin.base)
    assert ALIST_PASSWORD not in seen["page_text"]
    assert seen["browsed"][0] == "extras/", seen["browsed"]
    assert seen["browsed"][1].startswith("film.mp4"), seen["browsed"]
    assert seen["path_after_up"] == "nas:/", seen["path_after_up"]
    # The member's Watching card: its first look, once the channel is open, lists the member's own
    # page (root's pages are closed by then); two tabs read as one row; without view_members the
    # card says so.
    assert [p["userId"] for p in seen["first_presence"]] == [joined["user"]["id"]]
    assert [w.split("\n") for w in seen["watching"]] == [["viewer (you)", "member", "–"]]
    assert [w.split("\n") for w in seen["watching_two_tabs"]] == [
        ["viewer (you)", "member · 2 tabs", "–"]
    ]
    failed_names = "Failed to load resource: the server responded with a status of 503"
    assert seen["second_tab_errors"], "the second tab's member list was not refused"
    assert all(e.startswith(failed_names) for e in seen["second_tab_errors"]), seen
    denied = " ".join(seen["watching_denied"].split())
    assert denied == "Watching You cannot see who is watching.", denied
