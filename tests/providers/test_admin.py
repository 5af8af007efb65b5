"""``ProviderAdmin`` over a real management socket (grpclib on a Unix socket, real PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trio_asyncio
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.exceptions import GRPCError

from synctv.api.grpc._gen.synctv.admin.v1 import providers_grpc, providers_pb2
from synctv.api.grpc.admin import serve_admin
from synctv.api.grpc.admin_providers import ProviderAdmin
from synctv.outbound.client import HttpUpstream
from synctv.providers.crypto import CredentialCipher
from synctv.providers.service import ProviderService, UnpersistedKey
from synctv.store.db import Database
from synctv.store.providers import ProviderInstanceStore
from tests.providers.fakes import FakeEmby
from tests.proxy.upstream_server import UpstreamServer
from tests.support.audit import audit_rows, everything_as_text

T = TypeVar("T")
KEY = bytes(range(32))


@pytest.fixture
async def stub_call(
    database: Database, http: HttpUpstream, nursery: trio.Nursery, tmp_path: Path
) -> Callable[[Callable[[providers_grpc.ProviderAdminStub], Awaitable[Any]]], Awaitable[Any]]:
    service = ProviderService(
        ProviderInstanceStore(database), CredentialCipher(KEY), http, key_custody=UnpersistedKey()
    )
    admin = ProviderAdmin(
        service, lambda instance, ref, selector: f"http://synctv.test/proxy/<{instance}:{selector}>"
    )
    socket_path = tmp_path / "synctv.sock"
    await nursery.start(serve_admin, socket_path, [admin])

    async def call(method: Callable[[providers_grpc.ProviderAdminStub], Awaitable[T]]) -> T:
        async def run() -> T:
            channel = Channel(path=str(socket_path))
            try:
                return await method(providers_grpc.ProviderAdminStub(channel))
            finally:
                channel.close()

        result: T = await trio_asyncio.aio_as_trio(run)()
        return result

    return call


async def test_add_list_resolve_update_remove(
    stub_call: Callable[..., Awaitable[Any]], origin: UpstreamServer, database: Database
) -> None:
    fake = FakeEmby(origin)
    fake.install()
    added = await stub_call(
        lambda s: s.Add(
            providers_pb2.AddProviderRequest(
                kind="emby",
                name="emby",
                config_json=json.dumps({"base_url": origin.base}),
                credentials_json=json.dumps({"api_key": fake.api_key}),
                lan_service=True,
            )
        )
    )
    assert added.has_credentials
    assert fake.api_key not in str(added)
    listing = await stub_call(lambda s: s.List(providers_pb2.ListProvidersRequest()))
    assert [i.name for i in listing.instances] == ["emby"]
    assert {"alist", "direct", "emby"} <= set(listing.kinds)

    resolved = await stub_call(
        lambda s: s.Resolve(
            providers_pb2.ResolveProviderMediaRequest(instance="emby", media_ref="42")
        )
    )
    document = json.loads(resolved.source_json)
    assert fake.api_key not in resolved.source_json
    assert document["mode"] == "proxy"
    assert document["proxy_url"] == f"http://synctv.test/proxy/<{added.id}:None>"
    assert document["subtitles"][0]["proxy_url"] == (
        f"http://synctv.test/proxy/<{added.id}:subtitle:2>"
    )

    updated = await stub_call(
        lambda s: s.Update(
            providers_pb2.UpdateProviderRequest(instance="emby", name="emby2", lan_service=False)
        )
    )
    assert (updated.name, updated.lan_service) == ("emby2", False)

    with pytest.raises(GRPCError) as taken:
        await stub_call(
            lambda s: s.Add(providers_pb2.AddProviderRequest(kind="direct", name="emby2"))
        )
    assert taken.value.status is Status.ALREADY_EXISTS

    rotated = await stub_call(
        lambda s: s.RotateKey(
            providers_pb2.RotateProviderKeyRequest(old_key_hex=KEY.hex(), new_key_hex="ab" * 32)
        )
    )
    assert (rotated.rotated, rotated.already_current) == (1, 0)

    await stub_call(lambda s: s.Remove(providers_pb2.RemoveProviderRequest(instance="emby2")))
    with pytest.raises(GRPCError) as gone:
        await stub_call(lambda s: s.Remove(providers_pb2.RemoveProviderRequest(instance="emby2")))
    assert gone.value.status is Status.NOT_FOUND
    with pytest.raises(GRPCError) as bad:
        await stub_call(
            lambda s: s.Add(
                providers_pb2.AddProviderRequest(kind="nope", name="x", config_json="[]")
            )
        )
    assert bad.value.status is Status.INVALID_ARGUMENT

    # Every change over the socket is on the record as `cli`; no row holds the API key.
    rows = await audit_rows(database)
    assert {r["actor"] for r in rows} == {"cli"}
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("provider.added", "success"),
        ("provider.updated", "success"),
        ("provider.added", "failed"),
        ("credentials.key_rotated", "success"),
        ("provider.removed", "success"),
        ("provider.removed", "failed"),
    ]
    assert fake.api_key not in await everything_as_text(database)


def test_cli_parser_builds() -> None:
    import argparse

    from synctv.cli.providers import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["provider", "resolve", "nas", "/movies/film.mp4", "--json"])
    assert (args.instance, args.media_ref, args.json) == ("nas", "/movies/film.mp4", True)
    args = parser.parse_args(["provider", "update", "nas", "--no-lan-service"])
    assert args.lan is False
    args = parser.parse_args(["provider", "rotate-key", "--generate-new-key"])
    assert (args.generate_new_key, args.new_key_file, args.old_key_file) == (True, None, None)
