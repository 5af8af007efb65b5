"""The HTTP listener: keep-alive idle close, connection caps, accept errors survived."""

from __future__ import annotations

import errno
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from synctv import metrics
from synctv.accept import AcceptFailures, accept_forever
from synctv.api.http.asgi import App, Request, Response, Route
from synctv.api.http.server import HttpListenerSettings, HttpServer
from tests.support.listeners import FlakyListener

GUARD = 10


async def hello(request: Request) -> Response:
    return Response(200, b"hello")


def settings(**overrides: object) -> HttpListenerSettings:
    values: dict[str, object] = {
        "name": "test",
        "host": "127.0.0.1",
        "port": 0,
        "max_connections": 100,
        "max_connections_per_address": 100,
        "keep_alive_timeout": 0.5,
    }
    values.update(overrides)
    return HttpListenerSettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def serving(server: HttpServer) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(server.serve)
        yield int(binds[0].rsplit(":", 1)[1])
        nursery.cancel_scope.cancel()


def app() -> App:
    return App([Route(("GET",), "/hello", hello, "hello")], clock=trio.current_time)


async def request_once(stream: trio.SocketStream) -> bytes:
    await stream.send_all(b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n")
    data = b""
    while b"hello" not in data and not data.startswith(b"HTTP/1.1 503"):
        chunk = await stream.receive_some(65536)
        if not chunk:
            break
        data += chunk
    return data


async def closed_by_server(stream: trio.SocketStream) -> bool:
    """True when the server closes its side (EOF or reset)."""
    try:
        return await stream.receive_some(65536) == b""
    except trio.BrokenResourceError:
        return True


async def test_idle_keep_alive_connection_is_closed_at_the_timeout() -> None:
    # Before the fix, the app's disconnect pump cancelled hypercorn's recycling of the
    # connection, its idle timer never started and the connection stayed open for ever.
    with trio.fail_after(GUARD):
        async with serving(HttpServer(app(), settings())) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await request_once(stream)).startswith(b"HTTP/1.1 200")
            # Still keep-alive: a second request on the same connection works.
            assert (await request_once(stream)).startswith(b"HTTP/1.1 200")
            started = trio.current_time()
            with trio.fail_after(3):
                assert await closed_by_server(stream)
            assert trio.current_time() - started >= 0.4
            await stream.aclose()


async def slow(request: Request) -> Response:
    await trio.sleep(1.0)  # twice the keep-alive timeout
    return Response(200, b"hello, slowly")


async def test_the_idle_timer_restarts_with_each_request_and_never_cuts_one() -> None:
    routes = [
        Route(("GET",), "/hello", hello, "hello"),
        Route(("GET",), "/slow", slow, "slow"),
    ]
    server = HttpServer(App(routes, clock=trio.current_time), settings())  # timeout 0.5 s
    with trio.fail_after(GUARD):
        async with serving(server) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            for _ in range(3):  # idle 0.3 s between requests: each pushes the deadline on
                assert (await request_once(stream)).startswith(b"HTTP/1.1 200")
                await trio.sleep(0.3)
            # A request that takes longer than the timeout is not cut: busy is not idle.
            await stream.send_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
            data = b""
            while b"slowly" not in data:
                chunk = await stream.receive_some(65536)
                assert chunk, "the connection was closed during a request"
                data += chunk
            started = trio.current_time()
            with trio.fail_after(3):
                assert await closed_by_server(stream)
            assert trio.current_time() - started >= 0.4  # idle again, from the response on
            await stream.aclose()


async def test_per_address_cap_refuses_with_503_and_counts() -> None:
    server = HttpServer(app(), settings(name="cap_addr", max_connections_per_address=2))
    refused = metrics.HTTP_CONNECTIONS_REFUSED.labels("cap_addr", "per_address")
    before = refused._value.get()
    with trio.fail_after(GUARD):
        async with serving(server) as port:
            held = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
            for stream in held:
                assert (await request_once(stream)).startswith(b"HTTP/1.1 200")
            extra = await trio.open_tcp_stream("127.0.0.1", port)
            answer = await request_once(extra)
            assert answer.startswith(b"HTTP/1.1 503")
            assert b"retry-after: 1" in answer
            assert b'"code":"too_many_connections"' in answer
            assert refused._value.get() == before + 1
            await extra.aclose()
            # Closing one of the held connections makes room again.
            await held[0].aclose()
            while server.limiter.statistics().open > 1:  # noqa: ASYNC110 (no event to wait on)
                await trio.sleep(0.01)
            again = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await request_once(again)).startswith(b"HTTP/1.1 200")
            for stream in (again, held[1]):
                await stream.aclose()


async def test_total_cap_refuses_with_503() -> None:
    server = HttpServer(app(), settings(name="cap_total", max_connections=3))
    with trio.fail_after(GUARD):
        async with serving(server) as port:
            held = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(3)]
            for stream in held:
                assert (await request_once(stream)).startswith(b"HTTP/1.1 200")
            extra = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await request_once(extra)).startswith(b"HTTP/1.1 503")
            assert server.limiter.statistics().refused_total == 1
            for stream in [*held, extra]:
                await stream.aclose()


@pytest.mark.parametrize("error", [errno.EMFILE, errno.ENFILE, errno.ECONNABORTED, errno.EPROTO])
async def test_accept_errors_never_end_the_loop_and_log_per_interval(
    error: int, caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    log = logging.getLogger("synctv.test.accept")
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    flaky = FlakyListener(listener, failures=50, error=error)
    accepted: list[trio.SocketStream] = []
    failures = AcceptFailures("test listener", log)
    started = trio.current_time()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept_forever, flaky, accepted.append, failures)  # type: ignore[arg-type]
            client = await trio.open_tcp_stream("127.0.0.1", port)
            while not accepted:  # noqa: ASYNC110 (a plain list filled by the loop)
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    await client.aclose()
    await accepted[0].aclose()
    elapsed = trio.current_time() - started
    assert failures.total == 50
    # Backoff: 10 ms doubling to 1 s, so 50 failures take about 45 s, not 50 × 100 ms.
    assert 40 < elapsed < 50
    lines = [r for r in caplog.records if r.name == "synctv.test.accept"]
    assert len(lines) <= 1 + elapsed // 10  # one line per 10 s interval, not one per attempt
    assert "still listening" in lines[0].getMessage()


@pytest.mark.parametrize(
    ("engine", "own_http1"),
    [("H1Connection", True), ("_Connection", False)],
    ids=["own_http1", "hypercorn"],
)
async def test_a_connection_that_crashes_the_protocol_ends_alone(
    monkeypatch: pytest.MonkeyPatch, engine: str, own_http1: bool
) -> None:
    # Each engine in turn: our HTTP/1.1 loop (the default) and hypercorn's protocol.
    import synctv.api.http.server as server_module

    real = getattr(server_module, engine)
    calls = 0

    def crashing_once(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected protocol bug")
        return real(*args, **kwargs)

    monkeypatch.setattr(server_module, engine, crashing_once)
    crashed = metrics.TASK_CRASHES.labels("http_connection")
    before = crashed._value.get()
    server = HttpServer(app(), settings(name="crash", own_http1=own_http1))
    with trio.fail_after(GUARD):
        async with serving(server) as port:
            first = await trio.open_tcp_stream("127.0.0.1", port)
            assert await closed_by_server(first)
            second = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await request_once(second)).startswith(b"HTTP/1.1 200")
            await second.aclose()
            await first.aclose()
    assert calls == 2  # the crash was injected into the engine that served
    assert crashed._value.get() == before + 1
    assert server.limiter.statistics().open == 0


async def test_shutdown_closes_the_listener_and_drains(nursery: trio.Nursery) -> None:
    stop = trio.Event()
    server = HttpServer(app(), settings(name="drain", graceful_timeout=1.0))
    done = trio.Event()

    async def run(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await server.serve(shutdown_trigger=stop.wait, task_status=task_status)
        done.set()

    binds = await nursery.start(run)
    port = int(binds[0].rsplit(":", 1)[1])
    idle = await trio.open_tcp_stream("127.0.0.1", port)
    assert (await request_once(idle)).startswith(b"HTTP/1.1 200")
    stop.set()
    with trio.fail_after(GUARD):
        await done.wait()  # the idle keep-alive connection closed without waiting for a timeout
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", port)
    await idle.aclose()


async def test_a_client_leaving_an_idle_connection_frees_its_slot_at_once() -> None:
    # hypercorn alone held the connection until its keep-alive timer ran out (30 s here).
    server = HttpServer(app(), settings(name="leave", keep_alive_timeout=30))
    with trio.fail_after(GUARD):
        async with serving(server) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            assert (await request_once(stream)).startswith(b"HTTP/1.1 200")
            await trio.sleep(0.5)  # idle: the keep-alive timer is running
            await stream.aclose()
            with trio.fail_after(2):
                while server.limiter.statistics().open:  # noqa: ASYNC110 (no event to wait on)
                    await trio.sleep(0.01)
