"""Raw WebSocket frame writes (synctv.api.http.ws_raw): the shape of hypercorn they rely on.

If hypercorn or wsproto change what these tests read (the TCPServer's send lock, stream and
protocol_send; how a server text frame is encoded), these fail before the room channel breaks.
"""

from __future__ import annotations

import pytest
import trio
from hypercorn.config import Config
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import wrap_app
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import TextMessage

from synctv.api.http.server import _Connection
from synctv.api.http.ws_raw import CONNECTION_WRITER, ConnectionWriter, server_text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_the_frame_is_the_one_wsproto_makes(size: int) -> None:
    text = "é" * (size // 2) + "a" * (size % 2)
    expected = Connection(ConnectionType.SERVER).send(TextMessage(data=text))
    assert server_text_frame(text.encode()) == expected


async def _app(scope: object, receive: object, send: object) -> None:
    return None


async def test_the_writer_writes_under_hypercorns_send_lock() -> None:
    ours, theirs = trio.socket.socketpair()
    stream = trio.SocketStream(ours)
    connection = _Connection(wrap_app(_app, 0, "asgi"), Config(), WorkerContext(None), stream)
    # The shape ws_raw relies on.
    assert isinstance(connection, TCPServer)
    assert isinstance(connection.send_lock, trio.Lock)
    assert id(connection.stream) == id(stream)  # hypercorn annotates it as a TLS stream
    writer = connection.state[CONNECTION_WRITER]
    assert isinstance(writer, ConnectionWriter)

    assert writer.try_write(b"now") == 3
    async with connection.send_lock:  # hypercorn is writing: nothing is written around it
        assert writer.try_write(b"never") == 0
    await writer.write(b"later")  # through hypercorn's own protocol_send
    got = b""
    with trio.fail_after(5):
        while len(got) < 8:
            got += await theirs.recv(100)
    assert got == b"nowlater"

    # A full socket takes part of a write, then nothing, without waiting.
    big = b"x" * (16 << 20)
    written = writer.try_write(big)
    assert 0 < written < len(big)
    assert writer.try_write(big) == 0

    # Closed: nothing is written (the descriptor number may belong to another socket by now).
    await stream.aclose()
    assert writer.try_write(b"gone") == 0
    theirs.close()


async def test_no_writer_on_a_wrapped_stream() -> None:
    ours, _theirs = trio.testing.memory_stream_pair()
    connection = _Connection(wrap_app(_app, 0, "asgi"), Config(), WorkerContext(None), ours)
    assert CONNECTION_WRITER not in connection.state
