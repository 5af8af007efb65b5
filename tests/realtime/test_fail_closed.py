"""Fail closed (issue 13): with the database gone, a playback change over the channel is refused
with an error carrying its opId and nothing reaches the room's other connections; once the
database is back, changes work again. The database is a PostgreSQL of this test's own, stopped
and started under the running server."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.channel import (
    Account,
    channel,
    hello,
    receive,
    receive_body,
    room_with_media,
    send,
    silent,
)
from tests.support.identity import identity_server
from tests.support.postgres import start_postgres
from tests.support.rooms import sign_up

pytestmark = pytest.mark.slow


async def test_a_change_without_the_database_is_refused_and_not_broadcast(
    tmp_path: Path, scratch_dir: Path
) -> None:
    postgres = await trio.to_thread.run_sync(start_postgres, scratch_dir / "pg")
    try:
        async with identity_server(tmp_path, postgres) as server:
            made = [await sign_up(server, n, name) for n, name in ((2, "owner"), (3, "member"))]
            owner, member = (Account(m.id, m.token, f"127.0.0.{n}") for n, m in enumerate(made, 2))
            room, _ = await room_with_media(server.base, owner, member)
            async with (
                channel(server.base, room, owner.token) as host,
                channel(server.base, room, member.token) as viewer,
            ):
                for ws in (host, viewer):
                    await hello(ws)
                    await receive_body(ws, "welcome")

                await trio.to_thread.run_sync(postgres.stop)
                await send(host, {"opId": "down", "playback": {"action": "pause"}})
                error = await receive_body(host, "error", timeout=30)
                assert error["opId"] == "down"
                assert error["code"] == "service_unavailable"
                await silent(viewer, 1.0)  # nothing was broadcast
                await silent(host, 0.1)

                await trio.to_thread.run_sync(postgres.start)
                with trio.fail_after(30):  # the pool reconnects on its own
                    for n in range(1, 1000):
                        await send(host, {"opId": f"up{n}", "playback": {"action": "pause"}})
                        first = await receive(host, timeout=30)
                        if "error" not in first:
                            break
                        assert first["error"]["code"] == "service_unavailable", first
                        await trio.sleep(0.2)
                # The change that worked reaches everyone, once.
                rest = [await receive(host)]
                state, own = (first, rest[0]) if "playbackState" in first else (rest[0], first)
                assert state["playbackState"]["playing"] is False
                assert own["event"]["type"] == "playback_changed"
                event = await receive_body(viewer, "event")
                assert event["seq"] == own["event"]["seq"]
                await silent(viewer, 0.3)
    finally:
        await trio.to_thread.run_sync(postgres.stop)
