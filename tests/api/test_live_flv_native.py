"""The HTTP-FLV suite again, on the product's listener where live viewers' connections are
taken over (``synctv.api.http.routes.live_flv_native``), plus what only that path has:
HTTP/1.0 close-delimited bodies, the per-stream fan-out writer, a viewer on a connection that
served other requests before, and everything else left to ASGI."""

from __future__ import annotations

import h11
import httpx
import pytest
import trio

from synctv.media.flv import FlvReader, FlvTag
from synctv.metrics import FLV_VIEWER_ENDS
from tests.support import flv_server
from tests.support.flv_server import (
    OFFLINE,
    RECORD,
    FlvClient,
    Publisher,
    fixture_tags,
    media_of,
    serve,
)
from tests.support.waiting import eventually


@pytest.fixture(autouse=True)
def native_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flv_server, "FRONT", "native")


async def raw_exchange(port: int, request: bytes, *, until_close: bool = True) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(request)
        data = b""
        while chunk := await stream.receive_some(1 << 16):
            data += chunk
            if not until_close and b"\r\n\r\n" in data:
                break
        return data


def flv_of(body: bytes) -> list[FlvTag]:
    reader = FlvReader()
    tags = reader.receive_data(body)
    reader.receive_data(b"")
    return tags


async def test_live_viewers_go_through_the_fanout_writer() -> None:
    tags = fixture_tags("h264_aac.flv")
    with trio.fail_after(15):
        async with serve() as (server, _):
            assert server.front is not None
            publisher = Publisher(await server.hub.start_publish(RECORD), tags)
            await publisher.run()
            async with (
                FlvClient.get(server) as one,
                FlvClient.get(server) as two,
                FlvClient.get(server) as three,
            ):
                clients = (one, two, three)
                for client in clients:
                    assert client.status == 200
                    assert client.headers["transfer-encoding"] == "chunked"
                    assert client.headers["connection"] == "close"
                    await client.read_tags(4)
                await publisher.run(loops=2, speed=20)
                live = server.hub.get(RECORD.stream_id)
                assert live is not None
                fanout = server.front.fanout_of(live)
                assert fanout is not None
                assert server.hub.kick(RECORD.stream_id)
                received = [media_of(await client.read_to_end()) for client in clients]
            assert server.front.served == 3
            assert fanout.batches > 0
            assert fanout.writes > 0
            assert received[0] == received[1] == received[2]
            assert (
                received[0][-len(publisher.published) // 3 :]
                == publisher.published[-len(publisher.published) // 3 :]
            )


async def test_http_1_0_viewer_gets_a_body_that_ends_with_the_connection() -> None:
    tags = fixture_tags("h264_aac.flv")
    with trio.fail_after(15):
        async with serve() as (server, nursery):
            publisher = Publisher(await server.hub.start_publish(RECORD), tags)
            await publisher.run()
            request = f"GET /live/{RECORD.stream_id}.flv HTTP/1.0\r\n\r\n".encode()
            answer: list[bytes] = []

            async def view() -> None:
                answer.append(await raw_exchange(server.port, request))

            nursery.start_soon(view)
            await eventually(lambda: server.hub.statistics().viewers == {"flv": 1})
            await publisher.run(loops=1)
            assert server.hub.kick(RECORD.stream_id)
            await eventually(lambda: bool(answer))
            head, _, body = answer[0].partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            names = {line.split(b":", 1)[0] for line in head.lower().split(b"\r\n")[1:]}
            assert b"transfer-encoding" not in names
            assert b"content-length" not in names
            assert b"x-request-id" in names  # the dispatcher's headers, written natively
            assert (
                media_of(flv_of(body))[-len(publisher.published) // 2 :]
                == (publisher.published[-len(publisher.published) // 2 :])
            )


async def test_everything_but_a_live_get_stays_on_asgi() -> None:
    target = f"/live/{RECORD.stream_id}.flv"
    with trio.fail_after(15):
        async with serve() as (server, _), httpx.AsyncClient() as client:
            assert server.front is not None
            offline = await client.get(server.url(OFFLINE.stream_id))
            assert offline.status_code == 503
            assert offline.headers["retry-after"] == "5"
            missing = await client.get(server.url("nosuchstream"))
            assert missing.json()["code"] == "stream_not_found"
            await server.hub.start_publish(RECORD)
            head = await client.head(server.url())
            assert head.status_code == 200
            assert "content-length" not in head.headers
            bad = await raw_exchange(server.port, f"GET {target} HTTP/1.1\r\n\r\n".encode())
            assert bad.startswith(b"HTTP/1.1 400")  # no Host: hypercorn's answer
            assert server.front.served == 0


async def test_a_viewer_on_a_connection_that_served_other_requests_is_taken_over() -> None:
    """A browser's player reuses the keep-alive connection that loaded the page."""
    tags = fixture_tags("h264_aac.flv")
    target = f"/live/{RECORD.stream_id}.flv"
    with trio.fail_after(15):
        async with serve() as (server, _):
            assert server.front is not None
            publisher = Publisher(await server.hub.start_publish(RECORD), tags)
            await publisher.run()
            stream = await trio.open_tcp_stream("127.0.0.1", server.port)
            async with stream:
                client = h11.Connection(h11.CLIENT)
                first = client.send(
                    h11.Request(method="GET", target="/nothing", headers=[("host", "x")])
                )
                await stream.send_all((first or b"") + (client.send(h11.EndOfMessage()) or b""))
                statuses: list[int] = []
                while len(statuses) < 2:
                    event = client.next_event()
                    if event is h11.NEED_DATA:
                        client.receive_data(await stream.receive_some(1 << 16))
                    elif isinstance(event, h11.Response):
                        statuses.append(event.status_code)
                    elif isinstance(event, h11.EndOfMessage):
                        client.start_next_cycle()  # keep-alive: the live GET on the same one
                        again = h11.Request(method="GET", target=target, headers=[("host", "x")])
                        data = (client.send(again) or b"") + (
                            client.send(h11.EndOfMessage()) or b""
                        )
                        await stream.send_all(data)
                assert statuses == [404, 200]
            assert server.front.served == 1


async def test_a_viewer_that_leaves_is_counted_as_disconnected() -> None:
    before = FLV_VIEWER_ENDS.labels("disconnected")._value.get()
    with trio.fail_after(15):
        async with serve() as (server, _):
            await Publisher(
                await server.hub.start_publish(RECORD), fixture_tags("h264_aac.flv")
            ).run()
            async with FlvClient.get(server) as client:
                assert client.status == 200
                await eventually(lambda: server.hub.statistics().viewers == {"flv": 1})
            await eventually(lambda: server.hub.statistics().viewers == {})
            await eventually(
                lambda: FLV_VIEWER_ENDS.labels("disconnected")._value.get() == before + 1
            )
