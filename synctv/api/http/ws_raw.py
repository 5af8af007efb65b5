"""Writing WebSocket frames below ASGI: the one place that knows how hypercorn writes a socket.

Why. Through ASGI every message to every connection is a ``websocket.send``: hypercorn's
WebSocket stream encodes it (wsproto), takes the connection's send lock and writes it with
``send_all``, two scheduling points and a socket write per message per connection (measured:
~130-180 µs of server CPU per frame per connection, docs/realtime.md "Delivery"). A room hub
sends the *same* message to a thousand connections, and server frames are unmasked (RFC 6455
§5.1), so the frame's bytes are the same for all of them: :func:`server_text_frame` makes them
once per message, and a :class:`ConnectionWriter` puts them on a connection's socket, several
messages in one write.

How it stays correct next to hypercorn. Every write hypercorn makes on an HTTP/1.1 connection
(``TCPServer.protocol_send`` with ``RawData``) holds ``TCPServer.send_lock`` and is one whole
frame (or a handshake response). :meth:`ConnectionWriter.write` goes through that same
``protocol_send``; :meth:`ConnectionWriter.try_write` writes at once, without waiting, only while
nobody holds the lock, and writes whole frames or reports how much it wrote (the caller owns
the rest and writes it next, through :meth:`~ConnectionWriter.write`). So frames never
interleave, whoever writes them. Frames written here are never compressed (RSV1 clear), which
``permessage-deflate`` allows for any message (RFC 7692 §6); hypercorn's wsproto keeps
compressing its own. One difference remains: hypercorn knows when it has sent a close frame
(answering a client's close), this module does not; a data frame written in that window reaches
a client that discards it (RFC 6455 §5.5.1: the client is closing), so nothing is lost that the
client would have read.

Shape checked by ``tests/api/http/test_ws_raw.py``: hypercorn's ``TCPServer`` has ``send_lock``
(a ``trio.Lock``), ``stream`` and ``protocol_send``, and wsproto encodes a server text frame
exactly as :func:`server_text_frame` does; if hypercorn changes shape, that test fails.
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Final

import trio
from hypercorn.events import RawData

if TYPE_CHECKING:
    from hypercorn.trio.tcp_server import TCPServer

# scope["state"] key of a connection's ConnectionWriter (set by synctv.api.http.server).
CONNECTION_WRITER: Final = "synctv.connection_writer"


def server_text_frame(payload: bytes) -> bytes:
    """One unmasked, final text frame (RFC 6455 §5.2) carrying ``payload`` (UTF-8)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class ConnectionWriter:
    """Raw writes on one plain (not TLS) HTTP/1.1 connection served by hypercorn's TCPServer."""

    __slots__ = ("_server",)

    def __init__(self, server: TCPServer) -> None:
        self._server = server

    @staticmethod
    def usable(server: TCPServer) -> bool:
        """Only a plain socket stream can be written around (TLS encrypts in ``send_all``)."""
        return type(server.stream) is trio.SocketStream  # type: ignore[comparison-overlap]

    def try_write(self, data: bytes | memoryview) -> int:
        """Write what the socket takes now, without waiting; how many bytes (0: busy, full or
        closed). Bytes not written are the caller's to write next, through :meth:`write`."""
        if self._server.send_lock.locked():
            return 0
        stream: trio.SocketStream = self._server.stream  # type: ignore[assignment]
        fd = stream.socket.fileno()  # asked each time: -1 once closed (never a reused number)
        if fd < 0:
            return 0
        try:
            return os.write(fd, data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            return 0  # reset or closed: the write through hypercorn ends the connection

    async def write(self, data: bytes | memoryview) -> None:
        """Write all of ``data`` as hypercorn writes its own frames (its send lock, shielded;
        a broken connection makes hypercorn tell the app ``websocket.disconnect``)."""
        await self._server.protocol_send(RawData(data=bytes(data)))
