"""`synctv admin audit list` end to end (the real CLI in a child process, against the whole
server and against the servicer on a test database) and `GET /api/admin/audit` on the server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trio

from synctv.api.grpc.admin import serve_admin
from synctv.api.grpc.admin_audit import AuditAdmin
from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME
from synctv.store.audit import MAX_PAGE_SIZE, AuditLog
from synctv.store.db import Database
from tests.support.cli import field, one_line_error, synctv
from tests.support.postgres import RunningPostgres
from tests.support.server import running_server, server_config, url

pytestmark = pytest.mark.slow


def table(out: str) -> list[list[str]]:
    """The table's rows split on runs of two or more spaces (cells hold single spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


async def test_audit_list_against_the_whole_server(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    data_dir = tmp_path / "data"
    config = server_config(data_dir, await trio.to_thread.run_sync(postgres.create_database))
    async with running_server(config) as server:
        code, out, err = await synctv(data_dir, "admin", "audit", "list")
        assert (code, out.strip()) == (0, "The audit log is empty."), err

        code, out, err = await synctv(data_dir, "admin", "live", "create", "--title", "Fri")
        assert code == 0, err
        key = field(out, "Stream Key")
        created = await synctv(data_dir, "admin", "live", "list", "--json")
        sid = json.loads(created[1])[0]["stream_id"]
        for verb in ("rotate-key", "kick", "delete"):
            code, out, err = await synctv(data_dir, "admin", "live", verb, sid)
            assert code == 0, err
            if verb == "rotate-key":
                new_key = field(out, "Stream Key")
        code, out, err = await synctv(data_dir, "admin", "live", "delete", sid)
        assert code == 1  # already gone: refused, and recorded as failed

        code, out, err = await synctv(data_dir, "admin", "audit", "list")
        assert code == 0, err
        rows = table(out)
        assert rows[0] == ["TIME (UTC)", "ACTOR", "ACTION", "TARGET", "OUTCOME", "DETAILS"]
        assert [row[1:5] for row in rows[1:]] == [
            ["cli", "live.deleted", f"live_stream:{sid}", "FAILED"],
            ["cli", "live.deleted", f"live_stream:{sid}", "success"],
            ["cli", "live.kicked", f"live_stream:{sid}", "FAILED"],
            ["cli", "live.key_rotated", f"live_stream:{sid}", "success"],
            ["cli", "live.created", f"live_stream:{sid}", "success"],
        ]
        assert rows[1][5] == "reason=stream_not_found"
        assert rows[3][5] == "reason=not_live"
        assert rows[5][5] == "app=live room_id=null title=Fri"
        when = datetime.strptime(rows[1][0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert abs(datetime.now(UTC) - when) < timedelta(minutes=5)

        code, out, err = await synctv(data_dir, "admin", "audit", "list", "--json")
        assert code == 0, err
        events = [json.loads(line) for line in out.splitlines()]
        assert [e["action"] for e in events] == [
            "live.deleted",
            "live.deleted",
            "live.kicked",
            "live.key_rotated",
            "live.created",
        ]
        assert events[-1]["details"] == {"app": "live", "room_id": None, "title": "Fri"}
        assert events[-1]["actor_address"] is None
        assert events[0]["id"] > events[-1]["id"]
        assert key not in out
        assert new_key not in out

        async def count(*filters: str) -> int:
            code, out, err = await synctv(data_dir, "admin", "audit", "list", "--json", *filters)
            assert code == 0, err
            return len(out.splitlines())

        assert await count("--action", "live.deleted") == 2
        assert await count("--action", "live") == 5
        assert await count("--action", "provider") == 0
        assert await count("--actor", "cli", "--target", f"live_stream:{sid}") == 5
        assert await count("--target", "someone-else") == 0
        assert await count("--since", "1h") == 5
        assert await count("--since", "2100-01-01") == 0

        code, out, err = await synctv(data_dir, "admin", "audit", "list", "--limit", "2")
        assert code == 0, err
        assert len(table(out)) == 1 + 2 + 1  # header, two events, the note
        assert "Showing the newest 2 events; older ones exist" in out

        code, out, err = await synctv(
            data_dir, "admin", "audit", "list", "--action", "provider.added"
        )
        assert (code, out.strip()) == (0, "No audit events match these filters.")
        code, out, err = await synctv(data_dir, "admin", "audit", "list", "--since", "yesterday")
        assert code == 2
        assert "neither a duration" in err
        code, out, err = await synctv(data_dir, "admin", "audit", "list", "--limit", "0")
        assert code == 2

        # REST: admins only, and no authenticator is installed until identity brings one.
        async with httpx.AsyncClient() as client:
            reply = await client.get(url(server.addresses.http, "/api/admin/audit"))
            assert reply.status_code == 401
            assert reply.json()["code"] == "authentication_required"
            document = (await client.get(url(server.addresses.http, "/api/openapi.json"))).json()
        operation = document["paths"]["/api/admin/audit"]["get"]
        assert {p["name"] for p in operation["parameters"]} == {
            "cursor",
            "limit",
            "since",
            "actor",
            "action",
            "target",
        }
        assert {"200", "400", "401", "403"} <= set(operation["responses"])
        assert "AuditPageModel" in document["components"]["schemas"]

    code, out, err = await synctv(data_dir, "admin", "audit", "list")
    one_line_error(code, out, err, "no server socket")


async def test_the_cli_follows_pages_past_the_server_page_size(
    database: Database, tmp_path: Path
) -> None:
    total = MAX_PAGE_SIZE + 30
    await database.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, outcome, target_type, target_id)"
        " SELECT now() - make_interval(secs => i), 'cli', 'live.created', 'success',"
        " 'live_stream', 's' || i FROM generate_series(1, $1) AS i",
        total,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(
            serve_admin, tmp_path / ADMIN_SOCKET_NAME, [AuditAdmin(AuditLog(database))]
        )
        code, out, err = await synctv(
            tmp_path, "admin", "audit", "list", "--json", "--limit", "520"
        )
        assert code == 0, err
        ids = [json.loads(line)["target_id"] for line in out.splitlines()]
        assert ids == [f"s{i}" for i in range(1, 521)]  # newest first, across two pages

        code, out, err = await synctv(
            tmp_path, "admin", "audit", "list", "--json", "--limit", "999"
        )
        assert len(out.splitlines()) == total

        code, out, err = await synctv(tmp_path, "admin", "audit", "list", "--limit", "3")
        assert code == 0, err
        print(out)  # what an operator sees (pytest -s)
        assert "older ones exist" in out
        nursery.cancel_scope.cancel()
