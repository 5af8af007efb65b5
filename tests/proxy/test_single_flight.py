"""Concurrency: many readers of the same cold range cost one upstream fetch per slice."""

from __future__ import annotations

import collections
import zlib

import pytest
import trio

from tests.proxy.conftest import Harness, HarnessFactory, Reply
from tests.proxy.upstream_server import Obj

MIB = 1024 * 1024
SLICE = 2 * MIB


@pytest.mark.slow
async def test_fifty_clients_one_fetch_per_slice(make_harness: HarnessFactory) -> None:
    harness: Harness = await make_harness(slice_size=SLICE, max_bytes=64 * MIB)
    data = bytes(range(256)) * (20 * MIB // 256) + b"tail!"
    harness.origin.objects["/big"] = Obj(data, body_delay=0.01)
    path = harness.path("/big")
    wanted = data[: 20 * MIB]
    replies: list[Reply] = []

    async def client() -> None:
        replies.append(
            await harness.get(path, {"range": f"bytes=0-{20 * MIB - 1}"}, keep_body=False)
        )

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for _ in range(50):
                nursery.start_soon(client)

    assert len(replies) == 50
    expected_crc = zlib.crc32(wanted)
    for reply in replies:
        assert (reply.status, reply.complete, reply.length) == (206, True, 20 * MIB)
        assert reply.crc == expected_crc
    fetched = collections.Counter(harness.origin.ranges_seen("/big"))
    assert fetched == {f"bytes={i * SLICE}-{(i + 1) * SLICE - 1}": 1 for i in range(10)}
    stats = harness.cache.statistics() if harness.cache else None
    assert stats is not None
    assert stats.upstream_bytes == 20 * MIB
    assert stats.single_flight_joins + stats.hits == 50 * 10 - 10
    assert harness.proxy.statistics().client_bytes == 50 * 20 * MIB
