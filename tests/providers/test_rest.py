"""Provider instances over REST and the room's library, on the whole server and a real
PostgreSQL, with the fake Alist of tests/providers/fakes.py as the provider's server.

An admin adds, lists, browses (the connection test), renames, re-keys and removes an instance;
its credentials are write-only (never in an answer, an error body, the audit log or the server's
log); a plain user gets none of it. A room member lists the room's instances and browses one
(``browse_library``), over REST and over the gRPC twins, and adds a browsed file to the playlist
with the playlist's own add; a visitor may not browse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio

from synctv.api.grpc._gen.synctv.v1 import room_pb2
from tests.providers.fakes import FakeAlist
from tests.proxy.upstream_server import UpstreamServer
from tests.support.cli import synctv
from tests.support.grpc_client import Refused, call, grpc_address
from tests.support.identity import identity_server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import Member, sign_up

pytestmark = pytest.mark.slow

SECRET = "alist-secret-pw"
OTHER_SECRET = "zz-other-secret-zz"


async def admin(server: Any, n: int, name: str) -> Member:
    """A person made admin with the CLI, signed in again (a role change ends sessions)."""
    person = await sign_up(server, n, name)
    code, _out, err = await synctv(server.data_dir, "admin", "user", "set-role", name, "admin")
    assert code == 0, err
    signed = await person.person.login(name)
    assert signed.status_code == 200, signed.text
    return Member(person.person, person.id, signed.json()["accessToken"])


def assert_no_secret(text: str) -> None:
    assert SECRET not in text, text
    assert OTHER_SECRET not in text, text


async def test_admin_manages_instances_and_members_browse_them(
    tmp_path: Path,
    postgres: RunningPostgres,
    origin: UpstreamServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    alist = FakeAlist(origin, password=SECRET)
    alist.install()
    with trio.fail_after(60):
        async with identity_server(tmp_path, postgres) as server:
            boss = await admin(server, 2, "boss")
            alice = await sign_up(server, 3, "alice")
            visitor = await sign_up(server, 4, "visitor")

            # Admins only.
            assert await alice.refused("GET", "/api/admin/providers") == (403, "permission_denied")
            new = {
                "kind": "alist",
                "name": "nas",
                "config": {"base_url": origin.base, "username": "admin"},
                "credentials": {"password": SECRET},
                "lanService": True,
            }
            assert await alice.refused("POST", "/api/admin/providers", new) == (
                403,
                "permission_denied",
            )

            made = await boss.call("POST", "/api/admin/providers", new)
            assert made.status_code == 201, made.text
            assert_no_secret(made.text)
            instance = made.json()
            assert (instance["kind"], instance["name"], instance["hasCredentials"]) == (
                "alist",
                "nas",
                True,
            )
            assert "credentials" not in instance
            assert instance["config"] == {"base_url": origin.base, "username": "admin"}

            # Refusals name what is wrong, never the secret given.
            bad_key = {
                **new,
                "name": "nas-b",
                "credentials": {"password": SECRET, "pin": OTHER_SECRET},
            }
            refused = await boss.call("POST", "/api/admin/providers", bad_key)
            assert (refused.status_code, refused.json()["code"]) == (400, "invalid_provider_config")
            assert "pin" in refused.text
            assert_no_secret(refused.text)
            not_an_object = {**new, "name": "nas-c", "credentials": OTHER_SECRET}
            refused = await boss.call("POST", "/api/admin/providers", not_an_object)
            assert refused.status_code == 422, refused.text
            assert_no_secret(refused.text)
            refused = await boss.call("POST", "/api/admin/providers", {**new, "kind": "ftp"})
            assert (refused.status_code, refused.json()["code"]) == (400, "unknown_provider_kind")
            assert await boss.refused("POST", "/api/admin/providers", new) == (
                409,
                "provider_name_taken",
            )

            listed = await boss.call("GET", "/api/admin/providers")
            assert listed.status_code == 200, listed.text
            assert_no_secret(listed.text)
            assert [i["name"] for i in listed.json()["instances"]] == ["nas"]
            kinds = {k["name"]: k for k in listed.json()["kinds"]}
            assert kinds["alist"]["credentialKeys"] == ["password", "path_password"]
            assert "base_url" in kinds["alist"]["configKeys"]
            assert {"alist", "emby", "direct"} <= kinds.keys()

            # The connection test: the admin lists a folder.
            browsed = await boss.ok("GET", "/api/admin/providers/nas/browse?path=/movies")
            assert {(e["name"], e["isDir"]) for e in browsed["entries"]} == {
                ("film.mp4", False),
                ("extras", True),
            }

            # Rename; new credentials (wrong) make the provider refuse; the right ones again.
            renamed = await boss.ok(
                "PATCH", f"/api/admin/providers/{instance['id']}", {"name": "films"}
            )
            assert (renamed["name"], renamed["hasCredentials"]) == ("films", True)
            wrong = await boss.call(
                "PATCH", "/api/admin/providers/films", {"credentials": {"password": OTHER_SECRET}}
            )
            assert wrong.status_code == 200, wrong.text
            assert_no_secret(wrong.text)
            failed = await boss.call("GET", "/api/admin/providers/films/browse?path=/movies")
            assert failed.status_code == 502, failed.text
            assert_no_secret(failed.text)
            await boss.ok(
                "PATCH", "/api/admin/providers/films", {"credentials": {"password": SECRET}}
            )
            assert await boss.refused("PATCH", "/api/admin/providers/nope", {"name": "x"}) == (
                404,
                "provider_not_found",
            )

            # A room's library: members with browse_library.
            room = (await alice.ok("POST", "/api/rooms", {"name": "Films", "isPublic": True}))[
                "room"
            ]["id"]
            library = await alice.ok("GET", f"/api/rooms/{room}/providers")
            assert library == {
                "instances": [
                    {"id": instance["id"], "name": "films", "kind": "alist", "browsable": True}
                ]
            }
            folder = await alice.ok(
                "GET", f"/api/rooms/{room}/providers/{instance['id']}/browse?path=/movies"
            )
            assert folder["path"] == "/movies"
            assert [(e["name"], e["isDir"]) for e in folder["entries"]] == [
                ("extras", True),
                ("film.mp4", False),
            ]
            film = folder["entries"][1]
            source = {"kind": "provider", "instance": instance["id"], "path": film["path"]}
            added = await alice.ok(
                "POST", f"/api/rooms/{room}/media", {"items": [{"name": "film", "source": source}]}
            )
            assert added["media"][0]["source"] == source
            assert await visitor.refused("GET", f"/api/rooms/{room}/providers") == (
                403,
                "permission_denied",
            )
            assert await alice.refused(
                "GET", f"/api/rooms/{room}/providers/none/browse?path=/"
            ) == (404, "provider_not_found")
            # A direct instance is listed as not browsable, and browsing it is refused.
            direct = {"kind": "direct", "name": "cdn", "config": {"headers": {"Referer": "x"}}}
            await boss.ok("POST", "/api/admin/providers", direct)
            listed_kinds = await alice.ok("GET", f"/api/rooms/{room}/providers")
            assert [(i["name"], i["browsable"]) for i in listed_kinds["instances"]] == [
                ("cdn", False),
                ("films", True),
            ]
            assert await alice.refused("GET", f"/api/rooms/{room}/providers/cdn/browse") == (
                400,
                "provider_not_supported",
            )
            await boss.ok("DELETE", "/api/admin/providers/cdn")

            # The gRPC twins answer what REST answers.
            address = grpc_address(server.controller)
            listed_rpc = await call(
                address,
                "/synctv.v1.RoomService/ListRoomProviders",
                room_pb2.RoomRef(room_id=room),
                room_pb2.RoomProviders,
                alice.token,
            )
            assert [(i.id, i.name, i.browsable) for i in listed_rpc.instances] == [
                (instance["id"], "films", True)
            ]
            folder_rpc = await call(
                address,
                "/synctv.v1.RoomService/BrowseRoomProvider",
                room_pb2.BrowseRoomProviderRequest(room_id=room, instance="films", path="/movies"),
                room_pb2.RoomProviderListing,
                alice.token,
            )
            assert [(e.name, e.path, e.is_dir) for e in folder_rpc.entries] == [
                (e["name"], e["path"], e["isDir"]) for e in folder["entries"]
            ]
            assert folder_rpc.instance.kind == "alist"
            with pytest.raises(Refused) as denied:
                await call(
                    address,
                    "/synctv.v1.RoomService/ListRoomProviders",
                    room_pb2.RoomRef(room_id=room),
                    room_pb2.RoomProviders,
                    visitor.token,
                )
            assert denied.value.status == grpc.StatusCode.PERMISSION_DENIED

            # Removed: gone for admins and rooms alike.
            removed = await boss.call("DELETE", "/api/admin/providers/films")
            assert removed.status_code == 204, removed.text
            assert await boss.refused("GET", "/api/admin/providers/films") == (
                404,
                "provider_not_found",
            )
            assert (await alice.ok("GET", f"/api/rooms/{room}/providers"))["instances"] == []

            # Audited as the admin who acted; no secret in the log.
            audit = await boss.call("GET", "/api/admin/audit?action=provider&limit=50")
            assert audit.status_code == 200, audit.text
            assert_no_secret(audit.text)
            events = [(e["action"], e["outcome"], e["actor"]) for e in audit.json()["events"]]
            assert events[0] == ("provider.removed", "success", boss.id)
            assert ("provider.added", "success", boss.id) in events
            assert ("provider.added", "failed", boss.id) in events  # the name taken
            assert events.count(("provider.updated", "success", boss.id)) == 3

    for record in caplog.records:
        assert_no_secret(record.getMessage())
