"""Output: gathered writes (a joining viewer's head and join snapshot in one ``writev``) keep
the connection's bytes in order whether the kernel takes all, part or none of them."""

from __future__ import annotations

import socket

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from synctv.livestream.delivery import Output, _unwritten


def _output(stream: trio.abc.Stream, cuts: list[str], sent: list[int]) -> Output:
    return Output(
        stream,
        timeout=5.0,
        cut=lambda reason, detail: cuts.append(reason or detail),
        on_sent=sent.append,
    )


def _socket_pair(sndbuf: int | None = None) -> tuple[trio.SocketStream, socket.socket]:
    ours, theirs = socket.socketpair()
    if sndbuf is not None:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    return trio.SocketStream(trio.socket.from_stdlib_socket(ours)), theirs


async def _read(peer: socket.socket, size: int) -> bytes:
    peer.setblocking(False)
    data = b""
    with trio.fail_after(5):
        while len(data) < size:
            await trio.lowlevel.wait_readable(peer)
            data += peer.recv(1 << 20)
    return data


@given(
    st.lists(st.binary(min_size=0, max_size=20), max_size=8),
    st.integers(min_value=0, max_value=200),
)
def test_unwritten_is_the_tail_of_the_joined_pieces(pieces: list[bytes], written: int) -> None:
    pieces = [piece for piece in pieces if piece]
    whole = b"".join(pieces)
    written = min(written, len(whole))
    rest = _unwritten(list(pieces), written)
    assert b"".join(bytes(piece) for piece in rest) == whole[written:]
    assert all(rest)  # no empty piece is queued


async def test_parts_leave_in_one_gathered_write_when_the_socket_takes_them() -> None:
    stream, peer = _socket_pair()
    cuts: list[str] = []
    sent: list[int] = []
    output = _output(stream, cuts, sent)
    parts = [b"HTTP/1.1 200 OK\r\n\r\nFLV", b"", b"snapshot" * 1000, b"tail"]
    assert output.write_parts_nowait(parts)
    assert sent == [sum(len(part) for part in parts)]  # one system call
    assert not output.queued
    assert await _read(peer, sent[0]) == b"".join(parts)
    stream.socket.close()
    peer.close()


async def test_what_the_socket_does_not_take_is_queued_in_order_and_drained() -> None:
    stream, peer = _socket_pair(sndbuf=4096)
    cuts: list[str] = []
    sent: list[int] = []
    output = _output(stream, cuts, sent)
    snapshot = bytes(range(256)) * 4096  # 1 MiB: more than the socket buffer
    parts = [b"head", snapshot, b"first-batch"]
    assert not output.write_parts_nowait(parts)
    assert output.queued
    assert not output.write_nowait(b"next")  # after the queued rest, never before it
    expected = b"".join(parts) + b"next"
    async with trio.open_nursery() as nursery:
        nursery.start_soon(output.run)
        received = await _read(peer, len(expected))
        await output.drain()
        nursery.cancel_scope.cancel()
    assert received == expected
    assert sum(sent) == len(expected)
    assert cuts == []
    stream.socket.close()
    peer.close()


async def test_parts_wait_behind_bytes_already_queued() -> None:
    stream, peer = _socket_pair(sndbuf=4096)
    cuts: list[str] = []
    output = _output(stream, cuts, [])
    first = b"x" * (1 << 20)
    assert not output.write_nowait(first)
    assert not output.write_parts_nowait([b"a", b"b"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(output.run)
        received = await _read(peer, len(first) + 2)
        nursery.cancel_scope.cancel()
    assert received == first + b"ab"
    stream.socket.close()
    peer.close()


async def test_many_parts_are_gathered_within_the_kernel_limit() -> None:
    stream, peer = _socket_pair()
    output = _output(stream, [], [])
    parts = [b"%d," % index for index in range(3000)]  # past IOV_MAX (1024)
    assert output.write_parts_nowait(parts)
    assert await _read(peer, len(b"".join(parts))) == b"".join(parts)
    stream.socket.close()
    peer.close()


async def test_a_stream_without_a_socket_gets_the_parts_from_the_writer_task() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    output = _output(ours, [], [])
    assert not output.can_write_nowait
    assert not output.write_parts_nowait([b"head", b"", b"snapshot"])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(output.run)
        await output.drain()
        nursery.cancel_scope.cancel()
    assert await theirs.receive_some() == b"headsnapshot"


async def test_a_peer_that_left_cuts_the_connection() -> None:
    stream, peer = _socket_pair()
    peer.close()
    cuts: list[str] = []
    output = _output(stream, cuts, [])
    assert not output.write_parts_nowait([b"head", b"snapshot"])
    assert cuts == ["the peer went away"]
    stream.socket.close()
