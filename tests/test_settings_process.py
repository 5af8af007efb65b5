"""Runtime settings across real processes: two `synctv serve` on one database; a change made with
`synctv admin settings` on one is served by the other within a second; every CLI verb end to
end, including refusals that write nothing and secrets that stay out of listings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.process import environment, start, wait_ready

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(scratch_dir: Path, fresh_dsn: str) -> Iterator[list[dict[str, str]]]:
    envs = []
    processes = []
    for name in ("a", "b"):
        env = environment(scratch_dir / name)
        env["SYNCTV_DATABASE_URL"] = fresh_dsn
        # Replicas of one database share the credential key (secret fields are sealed with it).
        env["SYNCTV_SECURITY_CREDENTIAL_ENCRYPTION_KEY"] = "5e" * 32
        envs.append(env)
    try:
        processes.append(start(envs[0]))
        wait_ready(envs[0], processes[0], 60)  # first: it runs the migrations
        processes.append(start(envs[1]))
        wait_ready(envs[1], processes[1], 60)
        yield envs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "synctv", "admin", "settings", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def public(env: dict[str, str]) -> dict[str, object]:
    reply = httpx.get(f"http://127.0.0.1:{env['SYNCTV_SERVER_PORT']}/api/public/settings")
    assert reply.status_code == 200
    body: dict[str, object] = reply.json()
    return body


def seen_within(env: dict[str, str], key: str, value: object, limit: float) -> float:
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if public(env)[key] == value:
            return time.monotonic() - began
        time.sleep(0.01)
    pytest.fail(f"{key} was not {value!r} on the other server within {limit} s")


def test_a_change_on_one_server_is_seen_by_the_other_within_a_second(
    two_servers: list[dict[str, str]], scratch_dir: Path
) -> None:
    a, b = two_servers
    assert public(b)["server.name"] == "SyncTV"
    done = cli(a, "set", "server.name", "Movie", "night")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'server.name: "SyncTV" -> "Movie night"'
    assert seen_within(b, "server.name", "Movie night", 1.0) < 1.0
    done = cli(a, "set", "user.enableGuest", "false")
    assert done.stdout.strip() == "user.enableGuest: true -> false"
    assert seen_within(b, "user.enableGuest", False, 1.0) < 1.0

    # Refused: the key and the rule in the message, exit 1, nothing written anywhere.
    refused = cli(a, "set", "webrtc.maxVoiceParticipantsPerRoom", "64")
    assert refused.returncode == 1
    assert "invalid_setting_value: webrtc.maxVoiceParticipantsPerRoom must be an integer from 2" \
        " to 32" in refused.stderr  # fmt: skip
    assert cli(a, "get", "webrtc.maxVoiceParticipantsPerRoom").stdout.strip() == "8"
    unknown = cli(b, "get", "server.nope")
    assert unknown.returncode == 1
    assert "setting_not_found" in unknown.stderr

    # list, get --json, a secret via --value-file, export / import, reset.
    listing = cli(b, "list", "--group", "user")
    assert "user.enableGuest = false  (set by cli, v1 public)" in listing.stdout
    got = json.loads(cli(b, "get", "user.enableGuest", "--json").stdout)
    assert (got["value"], got["default"], got["is_set"]) == (False, True, True)
    provider = [{"name": "corp", "issuer": "https://id.example", "clientId": "synctv",
                 "clientSecret": "hunter2-secret"}]  # fmt: skip
    done = cli(a, "set", "oauth2.providers", "--value-file", "-", stdin=json.dumps(provider))
    assert done.returncode == 0, done.stderr
    assert "hunter2" not in done.stdout
    assert '"clientSecret": "***"' in done.stdout
    assert "hunter2" not in cli(b, "list").stdout
    assert "hunter2" not in cli(b, "get", "oauth2.providers", "--json").stdout
    exported = cli(b, "export")
    assert "hunter2" not in exported.stdout
    with_secrets = json.loads(cli(b, "export", "--include-secrets").stdout)
    assert with_secrets["settings"]["oauth2.providers"][0]["clientSecret"] == "hunter2-secret"

    document = json.loads(exported.stdout)
    assert set(document["settings"]) == {"server.name", "user.enableGuest", "oauth2.providers"}
    assert cli(a, "reset", "server.name").stdout.strip() == (
        'server.name: "Movie night" -> "SyncTV"'
    )
    seen_within(b, "server.name", "SyncTV", 1.0)
    bad = dict(document, settings={**document["settings"], "room.passwordPolicy": "maybe"})
    (scratch_dir / "bad.json").write_text(json.dumps(bad))
    refused = cli(a, "import", str(scratch_dir / "bad.json"))
    assert refused.returncode == 1
    assert "room.passwordPolicy must be" in refused.stderr
    assert public(a)["server.name"] == "SyncTV"  # nothing of the document was written
    (scratch_dir / "settings.json").write_text(exported.stdout)
    imported = cli(a, "import", str(scratch_dir / "settings.json"))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 3 setting(s)." in imported.stdout
    seen_within(b, "server.name", "Movie night", 1.0)
    kept = json.loads(cli(a, "export", "--include-secrets").stdout)
    assert kept["settings"]["oauth2.providers"][0]["clientSecret"] == "hunter2-secret"
