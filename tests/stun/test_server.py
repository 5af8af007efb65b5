"""The STUN server: the pure ``handle`` step, then the Trio driver against real clients.

Real peers: aioice's STUN implementation (UDP over IPv4 and IPv6, TCP), coturn's
``turnutils_stunclient`` when installed, and hand-built RFC 3489 requests. Each server runs in the
test's nursery on an ephemeral port.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import socket
import struct
import typing
from functools import partial
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
import trio
import trio.testing
from aioice import stun as aioice_stun
from aioice import turn as aioice_turn

from synctv.config import WebRTCConfig
from synctv.state.limits import STUN_PER_SOURCE, LimitBook
from synctv.stun.errors import StunError
from synctv.stun.message import (
    ErrorCode,
    Fingerprint,
    MappedAddress,
    MessageClass,
    Method,
    RawAttribute,
    Software,
    StunMessage,
    UnknownAttributes,
    XorMappedAddress,
    decode,
    encode,
)
from synctv.stun.server import (
    DROP_KINDS,
    ERROR_KINDS,
    SOFTWARE,
    Reply,
    StunEndpoints,
    StunServer,
    StunStatistics,
    _ipv6_available,
    _split_frames,
)

TIMEOUT = 10


def binding(tid: bytes, *attributes: RawAttribute) -> bytes:
    return encode(StunMessage(Method.BINDING, MessageClass.REQUEST, tid, attributes))


def tid(n: int) -> bytes:
    return n.to_bytes(12, "big")


async def settled(server: StunServer) -> StunStatistics:
    """The counters once the server is idle again: a reply is counted just after it is sent."""
    await trio.testing.wait_all_tasks_blocked()
    return server.statistics()


SERVER_OPTIONS = ("max_tcp_connections", "max_tcp_connections_per_source", "tcp_idle_timeout")
needs_ipv6 = pytest.mark.skipif(not _ipv6_available(), reason="this host has no IPv6")


class RecordingServer(StunServer):
    """Remembers the source address of every message, as the socket reported it."""

    def __init__(self, config: WebRTCConfig, **options: typing.Any) -> None:
        super().__init__(config, **options)
        self.sources: list[tuple[str, int]] = []

    def respond(self, data: bytes, source: tuple[str, int], now: float) -> Reply | None:
        self.sources.append((source[0], source[1]))
        return super().respond(data, source, now)


async def start(nursery: trio.Nursery, **options: object) -> tuple[RecordingServer, StunEndpoints]:
    server_options = {k: options.pop(k) for k in SERVER_OPTIONS if k in options}
    config = WebRTCConfig.model_validate({"stun_port": 0, **options})
    server = RecordingServer(config, **server_options)
    endpoints: StunEndpoints = await nursery.start(server.serve)
    return server, endpoints


# --- handle(): bytes in, bytes out ------------------------------------------------------------


def test_handle_answers_and_counts() -> None:
    server = StunServer(WebRTCConfig(stun_port=0))
    reply = server.handle(binding(tid(1)), ("198.51.100.4", 4000), 0.0)
    assert reply is not None
    message = decode(reply)
    assert message.cls is MessageClass.SUCCESS
    assert message.find(XorMappedAddress) == XorMappedAddress(IPv4Address("198.51.100.4"), 4000)
    stats = server.statistics()
    assert (stats.requests, stats.responses) == (1, 1)
    assert set(stats.errors) == set(ERROR_KINDS)
    assert set(stats.drops) == set(DROP_KINDS)
    assert sum(stats.drops.values()) == sum(stats.errors.values()) == 0


@pytest.mark.parametrize(
    ("source", "mapped"),
    [
        ("::ffff:10.0.0.1", IPv4Address("10.0.0.1")),  # IPv4 client on a dual-stack socket
        ("fe80::1%lo", IPv6Address("fe80::1")),  # scope id dropped
        ("2001:db8::5", IPv6Address("2001:db8::5")),
    ],
)
def test_handle_normalises_the_source(source: str, mapped: IPv4Address | IPv6Address) -> None:
    server = StunServer(WebRTCConfig(stun_port=0))
    reply = server.handle(binding(tid(1)), (source, 7), 0.0)
    assert reply is not None
    assert decode(reply).find(XorMappedAddress) == XorMappedAddress(mapped, 7)


def test_handle_drops_and_counts_each_kind() -> None:
    server = StunServer(WebRTCConfig(stun_port=0))
    indication = encode(StunMessage(Method.BINDING, MessageClass.INDICATION, tid(2)))
    assert server.handle(b"\x16\x03\x01 not stun", ("192.0.2.1", 1), 0.0) is None
    assert server.handle(indication, ("192.0.2.1", 1), 0.0) is None
    allocate = encode(StunMessage(0x003, MessageClass.REQUEST, tid(3)))  # TURN: not ours
    assert server.handle(allocate, ("192.0.2.1", 1), 0.0) is None
    unknown = binding(tid(4), RawAttribute(0x0003, bytes(4)))
    error = server.handle(unknown, ("192.0.2.1", 1), 0.0)
    assert error is not None
    assert decode(error).find(ErrorCode) == ErrorCode(420, "Unknown Attribute")
    stats = server.statistics()
    assert stats.drops["malformed"] == 1
    assert stats.drops["not_request"] == 1
    assert stats.drops["unsupported_method"] == 1
    assert stats.errors["unknown_attribute"] == 1
    assert (stats.requests, stats.responses) == (1, 0)


def test_ipv6_sources_share_a_bucket_per_64() -> None:
    server = StunServer(WebRTCConfig(stun_port=0, stun_rate_limit_per_second=1.0))
    answered = [
        server.handle(binding(tid(n)), (f"2001:db8::{n}", 9), 0.0) is not None for n in range(1, 5)
    ]
    assert answered == [True, True, False, False]  # burst 2 for the whole /64
    assert server.handle(binding(tid(9)), ("2001:db8:0:1::1", 9), 0.0) is not None


def test_spoofed_source_flood_keeps_the_table_bounded() -> None:
    server = StunServer(WebRTCConfig(stun_port=0), max_rate_limit_sources=64)
    request = binding(tid(1))
    for n in range(2000):
        server.handle(request, (str(IPv4Address(0x0A000000 + n)), 1), n / 1000)
    assert server.statistics().rate_limit_sources == 64


def test_split_frames() -> None:
    first, second = binding(tid(1)), binding(tid(2), RawAttribute(0x8022 + 1, b"xyz"))
    buffer = bytearray(first + second[:25])
    assert _split_frames(buffer) == [first]
    assert buffer == second[:25]
    buffer += second[25:]
    assert _split_frames(buffer) == [second]
    assert buffer == b""
    with pytest.raises(StunError):
        _split_frames(bytearray(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))


# --- the driver, against real clients ---------------------------------------------------------


def _aioice_udp_binding(local_host: str, port: int) -> tuple[tuple[str, int], tuple[str, int]]:
    """One Binding transaction with aioice, in its own asyncio loop (run in a worker thread)."""

    class Client(asyncio.DatagramProtocol):
        transaction: aioice_stun.Transaction
        transport: asyncio.DatagramTransport

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = typing.cast("asyncio.DatagramTransport", transport)

        def send_stun(self, message: aioice_stun.Message, addr: tuple[str, int]) -> None:
            self.transport.sendto(bytes(message), addr)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transaction.response_received(aioice_stun.parse_message(data), addr)

    async def run() -> tuple[tuple[str, int], tuple[str, int]]:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_datagram_endpoint(Client, local_addr=(local_host, 0))
        try:
            request = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
            client.transaction = aioice_stun.Transaction(request, (local_host, port), client, 3)
            response, _ = await asyncio.wait_for(client.transaction.run(), TIMEOUT)
            local = transport.get_extra_info("sockname")
            return response.attributes["XOR-MAPPED-ADDRESS"], (local[0], local[1])
        finally:
            transport.close()

    return asyncio.run(run())


HOSTS = ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)]


@pytest.mark.parametrize("host", HOSTS)
async def test_aioice_binding_over_udp(nursery: trio.Nursery, host: str) -> None:
    server, endpoints = await start(nursery)  # default stun_host "::": dual-stack
    if _ipv6_available():
        assert endpoints.udp == (("::", endpoints.port),)
    with trio.fail_after(TIMEOUT):
        mapped, local = await trio.to_thread.run_sync(_aioice_udp_binding, host, endpoints.port)
    assert mapped == local
    assert (await settled(server)).responses == 1


def _aioice_tcp_binding(host: str, port: int) -> tuple[tuple[str, int], tuple[str, int]]:
    """One Binding transaction over TCP with aioice's own client and RFC 8489 framing."""

    async def run() -> tuple[tuple[str, int], tuple[str, int]]:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_connection(
            lambda: aioice_turn.TurnClientTcpProtocol(
                (host, port), username=None, password=None, lifetime=600, channel_refresh_time=300
            ),
            host=host,
            port=port,
        )
        try:
            request = aioice_stun.Message(aioice_stun.Method.BINDING, aioice_stun.Class.REQUEST)
            response, _ = await asyncio.wait_for(client.request(request), TIMEOUT)
            local = transport.get_extra_info("sockname")
            return response.attributes["XOR-MAPPED-ADDRESS"], (local[0], local[1])
        finally:
            transport.close()

    return asyncio.run(run())


@pytest.mark.parametrize("host", HOSTS)
async def test_aioice_binding_over_tcp(nursery: trio.Nursery, host: str) -> None:
    server, endpoints = await start(nursery)
    with trio.fail_after(TIMEOUT):
        mapped, local = await trio.to_thread.run_sync(_aioice_tcp_binding, host, endpoints.port)
    assert mapped == local
    assert (await settled(server)).responses == 1


async def _read_message(stream: trio.SocketStream) -> bytes:
    data = bytearray()
    while len(data) < 20 or len(data) < 20 + struct.unpack_from(">H", data, 2)[0]:
        chunk = await stream.receive_some()
        assert chunk, "server closed the connection"
        data += chunk
    return bytes(data)


@pytest.mark.parametrize("host", HOSTS)
async def test_coturn_stunclient(nursery: trio.Nursery, host: str) -> None:
    binary = shutil.which("turnutils_stunclient")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("turnutils_stunclient (coturn) is required in CI")
        pytest.skip("turnutils_stunclient not installed (apt-get install coturn)")
    server, endpoints = await start(nursery)
    with trio.fail_after(TIMEOUT):
        result = await trio.run_process(
            [binary, "-p", str(endpoints.port), host], capture_stdout=True, capture_stderr=True
        )
    # The client prints the address we told it; it must be the port its datagram came from.
    assert server.sources, "the server saw no datagram"
    source_port = server.sources[-1][1]
    assert f"UDP reflexive addr: {host}:{source_port}\n".encode() in result.stdout
    assert (await settled(server)).responses >= 1


async def _udp_socket(host: str) -> trio.socket.SocketType:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = trio.socket.socket(family, socket.SOCK_DGRAM)
    await sock.bind((host, 0))
    return sock


async def _exchange(sock: trio.socket.SocketType, port: int, data: bytes) -> StunMessage:
    host = sock.getsockname()[0]
    await sock.sendto(data, (host, port))
    with trio.fail_after(TIMEOUT):
        reply, _ = await sock.recvfrom(2048)
    return decode(reply)


async def test_rfc3489_client_gets_mapped_address(nursery: trio.Nursery) -> None:
    _, endpoints = await start(nursery, stun_host="127.0.0.1")
    assert endpoints.udp == endpoints.tcp == (("127.0.0.1", endpoints.port),)
    classic_id = bytes(range(0xA0, 0xB0))  # 128 bits, no magic cookie
    with await _udp_socket("127.0.0.1") as sock:
        reply = await _exchange(sock, endpoints.port, struct.pack(">HH", 1, 0) + classic_id)
        local = sock.getsockname()
    assert reply == StunMessage(
        Method.BINDING,
        MessageClass.SUCCESS,
        classic_id,
        (MappedAddress(ip_address(local[0]), local[1]),),
    )


async def test_unknown_required_attribute_gets_420(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery, stun_host="127.0.0.1")
    change_request = RawAttribute(0x0003, bytes(4))  # RFC 5780 CHANGE-REQUEST: not supported
    with await _udp_socket("127.0.0.1") as sock:
        reply = await _exchange(sock, endpoints.port, binding(tid(7), change_request))
    assert reply == StunMessage(
        Method.BINDING,
        MessageClass.ERROR,
        tid(7),
        (
            ErrorCode(420, "Unknown Attribute"),
            UnknownAttributes((0x0003,)),
            Software(SOFTWARE),
            Fingerprint(),
        ),
    )
    assert (await settled(server)).errors["unknown_attribute"] == 1


async def test_malformed_datagrams_get_no_reply_and_are_counted(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery)
    with await _udp_socket("127.0.0.1") as sock:
        for junk in (b"", b"\x00" * 19, b"\xff" * 40, binding(tid(1))[:-4] + b"\x00\x00"):
            await sock.sendto(junk, ("127.0.0.1", endpoints.port))
        reply = await _exchange(sock, endpoints.port, binding(tid(2)))
    assert reply.transaction_id == tid(2)  # the first reply is for the valid request
    stats = await settled(server)
    assert stats.drops["malformed"] == 4
    assert (stats.requests, stats.responses) == (1, 1)


async def test_flood_from_one_address_does_not_starve_another(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery, stun_host="0.0.0.0", stun_rate_limit_per_second=5.0)
    replies = {"127.0.0.1": 0, "127.0.0.2": 0}
    sent = {"127.0.0.1": 60, "127.0.0.2": 5}

    async def client(host: str) -> None:
        with await _udp_socket(host) as sock:
            for n in range(sent[host]):
                await sock.sendto(binding(tid(n)), ("127.0.0.1", endpoints.port))
            with trio.move_on_after(0.5):
                while True:
                    await sock.recvfrom(2048)
                    replies[host] += 1

    async with trio.open_nursery() as clients:
        clients.start_soon(client, "127.0.0.1")
        clients.start_soon(client, "127.0.0.2")
    # Burst 2x the rate = 10, plus at most a few tokens refilled while the flood was sent.
    assert 10 <= replies["127.0.0.1"] <= 14
    assert replies["127.0.0.2"] == 5
    assert (await settled(server)).drops["rate_limited"] == 60 - replies["127.0.0.1"]


# --- TCP framing and limits -------------------------------------------------------------------


async def test_tcp_messages_back_to_back_and_split(nursery: trio.Nursery) -> None:
    _, endpoints = await start(nursery)
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with stream:
            await stream.send_all(binding(tid(1)) + binding(tid(2)))
            third = binding(tid(3))
            for i in range(len(third)):  # one byte at a time
                await stream.send_all(third[i : i + 1])
                await trio.lowlevel.checkpoint()
            seen: list[bytes] = []
            buffer = bytearray()
            while len(seen) < 3:
                buffer += await stream.receive_some()
                seen += [decode(frame).transaction_id for frame in _split_frames(buffer)]
    assert seen == [tid(1), tid(2), tid(3)]


async def test_tcp_garbage_closes_the_connection(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery)
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
            assert await stream.receive_some() == b""
    assert (await settled(server)).drops["malformed"] == 1


async def test_tcp_idle_connection_is_closed(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery, tcp_idle_timeout=0.2)
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with stream:
            assert await stream.receive_some() == b""
    await trio.testing.wait_all_tasks_blocked()
    stats = server.statistics()
    assert stats.drops["idle_timeout"] == 1
    assert stats.tcp_connections == 0


async def test_tcp_connection_limit(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery, max_tcp_connections=1)
    with trio.fail_after(TIMEOUT):
        first = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with first:
            await first.send_all(binding(tid(1)))
            assert decode(await _read_message(first)).transaction_id == tid(1)
            assert server.statistics().tcp_connections == 1
            second = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
            async with second:
                assert await second.receive_some() == b""
    assert (await settled(server)).drops["connection_limit"] == 1


async def test_tcp_connections_per_source_are_capped(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery, stun_host="0.0.0.0", max_tcp_connections_per_source=2)
    with trio.fail_after(TIMEOUT):
        held = [await trio.open_tcp_stream("127.0.0.1", endpoints.port) for _ in range(2)]
        for n, stream in enumerate(held):  # both served
            await stream.send_all(binding(tid(n)))
            assert decode(await _read_message(stream)).transaction_id == tid(n)
        third = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        assert await third.receive_some() == b""  # closed at once
        await third.aclose()
        # Another source still gets in (the global cap is far away).
        other = await trio.open_tcp_stream("127.0.0.1", endpoints.port, local_address="127.0.0.2")
        async with other:
            await other.send_all(binding(tid(9)))
            assert decode(await _read_message(other)).transaction_id == tid(9)
        # A slot held by the source frees when its connection closes.
        await held.pop().aclose()
        await trio.testing.wait_all_tasks_blocked()
        again = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with again:
            await again.send_all(binding(tid(5)))
            assert decode(await _read_message(again)).transaction_id == tid(5)
        for stream in held:
            await stream.aclose()
    assert (await settled(server)).drops["connection_limit"] == 1


async def test_tcp_trickled_bytes_do_not_reset_the_idle_timeout(nursery: trio.Nursery) -> None:
    server, endpoints = await start(nursery, tcp_idle_timeout=0.5)
    partial = binding(tid(1))[:-1]
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with stream:
            started = trio.current_time()
            try:
                for i in range(len(partial)):  # one byte every 0.1 s: never a whole message
                    await stream.send_all(partial[i : i + 1])
                    await trio.sleep(0.1)
            except trio.BrokenResourceError:
                pass  # the server already closed it
            assert await stream.receive_some() == b""
            assert trio.current_time() - started < 0.5 + 1.0
    assert (await settled(server)).drops["idle_timeout"] == 1


async def test_tcp_complete_messages_keep_the_connection(nursery: trio.Nursery) -> None:
    _, endpoints = await start(nursery, tcp_idle_timeout=0.5)
    with trio.fail_after(TIMEOUT):
        stream = await trio.open_tcp_stream("127.0.0.1", endpoints.port)
        async with stream:
            for n in range(4):  # 4 × 0.3 s > the timeout, but each gap is shorter
                await trio.sleep(0.3)
                await stream.send_all(binding(tid(n)))
                assert decode(await _read_message(stream)).transaction_id == tid(n)


class _FlakySocket:
    """A UDP socket whose recvfrom fails with the given errors, then blocks forever."""

    def __init__(self, errors: list[OSError]) -> None:
        self.errors = errors

    async def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if self.errors:
            raise self.errors.pop(0)
        await trio.sleep_forever()
        raise AssertionError("unreachable")


async def test_udp_transient_receive_errors_are_counted_not_fatal() -> None:
    server = StunServer(WebRTCConfig(stun_port=0))
    flaky = _FlakySocket([ConnectionRefusedError(), OSError(errno.ENOBUFS, "no buffer space")])
    with trio.move_on_after(0.2):
        await server._serve_udp(flaky)  # type: ignore[arg-type]
    assert server.statistics().drops["receive_failed"] == 2


async def test_udp_unexpected_receive_error_propagates() -> None:
    server = StunServer(WebRTCConfig(stun_port=0))
    with pytest.raises(OSError, match="Bad file descriptor"):
        await server._serve_udp(_FlakySocket([OSError(errno.EBADF, "Bad file descriptor")]))  # type: ignore[arg-type]


async def test_disabled_server_binds_nothing(nursery: trio.Nursery) -> None:
    _, endpoints = await start(nursery, enable_builtin_stun=False)
    assert endpoints == StunEndpoints((), ())


async def test_ephemeral_ports_are_shared_by_udp_and_tcp(nursery: trio.Nursery) -> None:
    _, endpoints = await start(nursery, stun_host="localhost")
    ports = {port for _, port in endpoints.udp + endpoints.tcp}
    assert ports == {endpoints.port}
    assert endpoints.port != 0


@pytest.mark.skipif(not os.path.exists("/proc/net/udp"), reason="Linux /proc only")
async def test_sockets_are_closed_on_cancel() -> None:
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as inner:
            _, endpoints = await start(inner, stun_host="127.0.0.1")
            scope.cancel()
    # The port is free again: binding it succeeds.
    with trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        await sock.bind(("127.0.0.1", endpoints.port))


def test_the_rate_follows_the_limit_book_from_the_next_packet() -> None:
    book = LimitBook({"ratelimit.stunPerSourcePerSecond": 1.0})
    server = StunServer(WebRTCConfig(stun_port=0), rate_rule=partial(book.rule, STUN_PER_SOURCE))
    source = ("192.0.2.7", 9)
    answered = [server.handle(binding(tid(n)), source, 0.0) is not None for n in range(4)]
    assert answered == [True, True, False, False]  # burst 2x of 1/s
    book.apply_setting("ratelimit.stunPerSourcePerSecond", 5.0)  # a runtime setting change
    answered = [server.handle(binding(tid(n)), source, 0.0) is not None for n in range(12)]
    assert answered == [True] * 10 + [False] * 2  # a fresh bucket under the new rule
    assert server.statistics().drops["rate_limited"] == 4
