"""`synctv admin live ...` end to end: the real CLI (subprocess) against the management socket."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio

from synctv.api.grpc.admin import serve_admin
from synctv.api.grpc.admin_live import LiveAdminService, LiveStatusSnapshot, LiveUrls
from synctv.api.grpc.socket_path import ADMIN_SOCKET_NAME
from synctv.livestream.registry import LiveStreamRecord, LiveStreamRegistry
from synctv.store.db import Database
from tests.support.audit import audit_rows
from tests.support.cli import field, one_line_error, synctv
from tests.support.postgres import RunningPostgres
from tests.support.server import running_server, server_config

STREAM_ID = r"[a-z2-7]{24}"


@pytest.mark.slow
async def test_live_commands_against_the_whole_server(
    tmp_path: Path, postgres: RunningPostgres
) -> None:
    data_dir = tmp_path / "data"
    # A database of its own: the shared one may hold what other tests left behind.
    config = server_config(data_dir, await trio.to_thread.run_sync(postgres.create_database))
    async with running_server(config) as server:
        http = server.addresses.http[0]
        assert http.startswith("http://127.0.0.1:")

        code, out, err = await synctv(data_dir, "admin", "live", "create", "--title", "Friday")
        assert code == 0, err
        stream_id = re.search(rf"Created live stream ({STREAM_ID}) \(Friday\)", out)
        assert stream_id is not None, out
        sid = stream_id.group(1)
        assert re.fullmatch(r"rtmp://127\.0\.0\.1:\d+/live", field(out, "Server"))
        key = field(out, "Stream Key")
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", key)
        assert field(out, "HTTP-FLV") == f"{http}/live/{sid}.flv"
        assert field(out, "HLS") == f"{http}/live/{sid}/index.m3u8"
        assert re.fullmatch(rf"rtmp://127\.0\.0\.1:\d+/live/{sid}", field(out, "RTMP"))

        code, out, err = await synctv(
            data_dir, "admin", "live", "create", "--room", "room-9", "--json"
        )
        assert code == 0, err
        created = json.loads(out)
        room_sid = created["stream"]["stream_id"]
        assert created["stream"]["app"] == created["stream"]["room_id"] == "room-9"
        assert created["urls"]["publish_server"].endswith("/room-9")
        assert created["urls"]["rtmp_play"].endswith(f"/room-9/{room_sid}")
        assert created["urls"]["http_flv"] == f"{http}/live/{room_sid}.flv"
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", created["stream_key"])

        code, out, err = await synctv(data_dir, "admin", "live", "list")
        assert code == 0, err
        row = next(line for line in out.splitlines() if line.startswith(sid))
        assert row.split() == [sid, "live", "Friday", "idle", "-", "-"]
        assert any(line.startswith(room_sid) for line in out.splitlines())

        code, out, err = await synctv(data_dir, "admin", "live", "list", "--json")
        assert code == 0, err
        listed = {item["stream_id"]: item for item in json.loads(out)}
        assert listed[sid]["live"] is False
        assert listed[sid]["title"] == "Friday"
        assert listed[room_sid]["room_id"] == "room-9"

        code, out, err = await synctv(data_dir, "admin", "live", "rotate-key", sid)
        assert code == 0, err
        new_key = field(out, "Stream Key")
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", new_key)
        assert new_key != key
        assert "old key no longer works" in out

        code, out, err = await synctv(data_dir, "admin", "live", "kick", sid)
        assert code == 0, err
        assert "is not live" in out

        code, out, err = await synctv(data_dir, "admin", "live", "delete", sid)
        assert code == 0, err
        assert out.strip() == f"Deleted live stream {sid}."
        code, out, err = await synctv(data_dir, "admin", "live", "list", "--json")
        assert sid not in {item["stream_id"] for item in json.loads(out)}

        for verb in ("rotate-key", "kick", "delete"):
            code, out, err = await synctv(data_dir, "admin", "live", verb, sid)
            one_line_error(code, out, err, "synctv: error: stream_not_found: ")
        code, out, err = await synctv(data_dir, "admin", "live", "create", "--room", "a b")
        one_line_error(code, out, err, "synctv: error: invalid_parameter: ")

    # No server: one line, exit 1.
    code, out, err = await synctv(data_dir, "admin", "live", "list")
    one_line_error(code, out, err, "no server socket")


class FakeHub:
    def __init__(self) -> None:
        self.live: set[str] = set()
        self.kicked: list[str] = []

    def status(self, stream_id: str) -> LiveStatusSnapshot | None:
        return LiveStatusSnapshot(True, 2_500_000, 3) if stream_id in self.live else None

    def kick(self, stream_id: str) -> bool:
        self.kicked.append(stream_id)
        return stream_id in self.live


@pytest.mark.slow
async def test_live_status_kick_and_public_urls(database: Database, tmp_path: Path) -> None:
    config = server_config(
        tmp_path,
        None,
        server={"public_url": "https://watch.example.com/tv/"},
        livestream={"rtmp_public_host": "media.example.com", "rtmp_port": 1935},
    )
    hub = FakeHub()
    registry = LiveStreamRegistry(database)
    service = LiveAdminService(registry, LiveUrls(config), live_status=hub.status, kick=hub.kick)
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_admin, tmp_path / ADMIN_SOCKET_NAME, [service])

        code, out, err = await synctv(tmp_path, "admin", "live", "create", "--json")
        assert code == 0, err
        created = json.loads(out)
        sid = created["stream"]["stream_id"]
        assert created["urls"] == {
            "publish_server": "rtmp://media.example.com:1935/live",
            "http_flv": f"https://watch.example.com/tv/live/{sid}.flv",
            "hls": f"https://watch.example.com/tv/live/{sid}/index.m3u8",
            "rtmp_play": f"rtmp://media.example.com:1935/live/{sid}",
        }
        assert await registry.authorize_publish("live", created["stream_key"]) is not None
        hub.live.add(sid)

        code, out, err = await synctv(tmp_path, "admin", "live", "list")
        assert code == 0, err
        assert out.splitlines()[1].split() == [sid, "live", "-", "live", "2.5", "Mb/s", "3"]

        code, out, err = await synctv(tmp_path, "admin", "live", "kick", sid)
        assert (code, out.strip()) == (0, f"Disconnected the publisher of {sid}.")

        code, out, err = await synctv(tmp_path, "admin", "live", "delete", sid)
        assert code == 0, err
        assert out.strip() == f"Deleted live stream {sid} and disconnected its publisher."
        assert hub.kicked == [sid, sid]
        assert await registry.authorize_publish("live", created["stream_key"]) is None
        nursery.cancel_scope.cancel()
    # A kick that disconnected someone, and the delete's own kick, are on the record.
    rows = [(r["action"], r["outcome"], r["details"]) for r in await audit_rows(database)]
    assert rows == [
        ("live.created", "success", {"app": "live", "room_id": None, "title": ""}),
        ("live.kicked", "success", {}),
        ("live.deleted", "success", {"app": "live", "title": ""}),
        ("live.kicked", "success", {"reason": "deleted"}),
    ]


def urls_for(binds: Sequence[str] = (), **sections: dict[str, object]) -> tuple[str, str]:
    config = server_config(Path("/nonexistent"), None, **sections)  # type: ignore[arg-type]
    urls = LiveUrls(config, http_binds=lambda: binds).for_stream(
        LiveStreamRecord("abc", "live", None, "", 0)
    )
    return urls.http_flv, urls.publish_server


def test_urls_use_the_bind_address_and_bound_port() -> None:
    assert urls_for(["http://127.0.0.1:43210"]) == (
        "http://127.0.0.1:43210/live/abc.flv",
        "rtmp://127.0.0.1:0/live",
    )
    assert urls_for(
        server={"host": "::1", "port": 8080}, livestream={"rtmp_host": "::1", "rtmp_port": 1935}
    ) == ("http://[::1]:8080/live/abc.flv", "rtmp://[::1]:1935/live")


def test_wildcard_binds_advertise_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    wildcard = {"server": {"host": "0.0.0.0", "port": 8080}}
    live = {"livestream": {"rtmp_host": "::", "rtmp_port": 1935}}
    monkeypatch.setattr(socket, "gethostname", lambda: "studio")
    assert urls_for(**wildcard, **live) == (
        "http://studio:8080/live/abc.flv",
        "rtmp://studio:1935/live",
    )
    monkeypatch.setattr(socket, "gethostname", lambda: "localhost")
    assert urls_for(**wildcard, **live)[1] == "rtmp://127.0.0.1:1935/live"


def test_rtmp_host_follows_the_public_url() -> None:
    assert urls_for(
        server={"public_url": "http://tv.example.org:8000"}, livestream={"rtmp_port": 1935}
    ) == ("http://tv.example.org:8000/live/abc.flv", "rtmp://tv.example.org:1935/live")
