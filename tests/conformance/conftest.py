"""One server per server-side conformance module, started in a thread (see
tests/support/threaded_server.py), with three accounts: an owner, a member and a visitor. A
module may set ``SERVER_SECTIONS`` (config sections over the test defaults), e.g. shrunk
connection caps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import trio

from tests.support.channel import Account, Site
from tests.support.cli import synctv
from tests.support.identity import Server
from tests.support.postgres import RunningPostgres
from tests.support.rooms import sign_up
from tests.support.server import server_config
from tests.support.threaded_server import server_in_thread

MANY_ROOMS = ("server.maxRoomsPerUser", "10000")


@pytest.fixture(scope="module")
def site(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres: RunningPostgres,
) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("conformance") / "data"
    sections = getattr(request.module, "SERVER_SECTIONS", {})
    dsn = postgres.create_database()
    config = server_config(data_dir, dsn, **sections)
    with server_in_thread(config) as running:

        async def accounts() -> list[Account]:
            server = Server(running.controller, data_dir, running.base, [])
            # Every test makes its own rooms, more than the default 10 per owner.
            code, _, err = await synctv(data_dir, "admin", "settings", "set", *MANY_ROOMS)
            assert code == 0, err
            try:
                made = []
                for n, name in ((2, "owner"), (3, "member"), (4, "visitor")):
                    member = await sign_up(server, n, name)
                    made.append(Account(member.id, member.token, f"127.0.0.{n}"))
                return made
            finally:
                for client in server._clients:
                    await client.aclose()

        owner, member, visitor = trio.run(accounts)
        yield Site(running.base, owner, member, visitor, data_dir)
    postgres.drop_database(dsn)
