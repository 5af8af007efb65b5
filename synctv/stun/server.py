"""The built-in STUN server: a thin Trio driver around :mod:`synctv.stun.message`.

UDP: ``recvfrom`` → :meth:`StunServer.handle` (pure: rate limit, decode, answer, encode) →
``sendto``. TCP (RFC 8489 §6.2.2): messages arrive back to back on the stream; each complete one
goes through the same :meth:`StunServer.handle` and the replies are written in order.

Start it from the one nursery tree::

    stun = StunServer(config.webrtc)
    endpoints = await nursery.start(stun.serve)   # bound: endpoints.port is the real port
    ...
    stun.statistics()                             # StunStatistics, for the metrics exporter

Resource handling: every socket is owned by :meth:`StunServer.serve` and closed when it exits;
TCP connections are tasks in its nursery, at most ``max_tcp_connections`` at once and
``max_tcp_connections_per_source`` from one source (IPv4 address or IPv6 /64), each with a
buffer of at most two messages and an idle timeout that only a complete message resets (a
peer trickling bytes cannot hold a slot). The rate limiter's table is bounded.

Error handling: bytes that are not STUN, and methods other than Binding, are dropped and counted
(never answered, never logged per packet); a send that fails (unreachable destination, port 0)
or a transient receive error (a late ICMP error, ENOBUFS) is counted; a TCP peer that sends
garbage, stalls or goes idle is disconnected. Anything else is a bug and propagates.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import trio

from synctv.accept import AcceptFailures, ConnectionLimiter
from synctv.state.limits import rule_from_setting
from synctv.state.ratelimit import GcraTable, RateLimitRule
from synctv.stun.errors import StunError
from synctv.stun.message import (
    HEADER_SIZE,
    MAX_MESSAGE_SIZE,
    ErrorCode,
    IPAddress,
    MessageClass,
    StunMessage,
    answer,
    decode,
    encode,
    message_size,
)
from synctv.supervision import boundary, contained

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from synctv.config import WebRTCConfig

log = logging.getLogger(__name__)

SOFTWARE = "SyncTV"
# Sources remembered by the rate limiter; ~150 bytes each, so the table stays under ~3 MB however
# many spoofed addresses a flood uses (the least recently seen source is forgotten first).
RATE_LIMIT_MAX_SOURCES = 16_384
# One byte more than we accept, so an oversize datagram is seen as oversize, not truncated.
UDP_RECEIVE_SIZE = MAX_MESSAGE_SIZE + 1
TCP_MAX_CONNECTIONS = 256
# One host (or IPv6 /64) may hold a few connections (several ICE agents behind one NAT), not all.
TCP_MAX_CONNECTIONS_PER_SOURCE = 8
# RFC 8489 §6.2.2 has clients keep a connection up for a while; 30 s idle is generous.
TCP_IDLE_TIMEOUT_SECONDS = 30.0
TCP_LISTEN_BACKLOG = 128
# Port 0 picks a UDP port first, then needs the same TCP port; retry if someone holds it.
_EPHEMERAL_BIND_ATTEMPTS = 5

ERROR_KINDS = ("unknown_attribute",)
_ERROR_KIND_BY_CODE = {420: "unknown_attribute"}
DROP_KINDS = (
    "malformed",  # not a STUN message (decode failed), or garbage on a TCP stream
    "rate_limited",  # the source was over its rate (synctv.state.ratelimit, in memory)
    "not_request",  # a well-formed indication or response: nothing to answer
    "unsupported_method",  # a request for a method other than Binding (RFC 8489 §6.3: discard)
    "send_failed",  # sendto raised (unreachable destination, port 0)
    "receive_failed",  # an ICMP error or a transient error (ENOBUFS) on the UDP socket
    "connection_limit",  # a TCP connection over a connection cap (total or per source)
    "idle_timeout",  # a TCP connection closed for idleness or a stalled write
)
# recvfrom errors that concern one datagram or a passing shortage, not the socket: keep serving.
_TRANSIENT_RECEIVE_ERRNOS = frozenset({errno.ENOBUFS, errno.ENOMEM, errno.EINTR})


@dataclass(frozen=True, slots=True)
class StunStatistics:
    """Counters since start; ``errors`` and ``drops`` hold every kind, zero included."""

    requests: int  # well-formed Binding requests received, UDP and TCP
    responses: int  # success responses sent (a failed send counts in drops["send_failed"])
    errors: Mapping[str, int]  # error responses sent, by kind (ERROR_KINDS)
    drops: Mapping[str, int]  # inputs not answered, by kind (DROP_KINDS)
    rate_limit_sources: int  # sources the rate limiter currently tracks
    tcp_connections: int  # TCP connections open now


@dataclass(frozen=True, slots=True)
class Reply:
    """An encoded reply and what it counts as once sent (None: a success response)."""

    data: bytes
    error_kind: str | None


@dataclass(frozen=True, slots=True)
class StunEndpoints:
    """What :meth:`StunServer.serve` bound: ``(host, port)`` per socket."""

    udp: tuple[tuple[str, int], ...]
    tcp: tuple[tuple[str, int], ...]

    @property
    def port(self) -> int:
        """The port every socket shares (the real one when the config asked for 0)."""
        return self.udp[0][1]


class StunServer:
    """The STUN Binding server on ``webrtc.stun_host``:``webrtc.stun_port``, UDP and TCP."""

    def __init__(
        self,
        config: WebRTCConfig,
        *,
        software: str | None = SOFTWARE,
        max_tcp_connections: int = TCP_MAX_CONNECTIONS,
        max_tcp_connections_per_source: int = TCP_MAX_CONNECTIONS_PER_SOURCE,
        tcp_idle_timeout: float = TCP_IDLE_TIMEOUT_SECONDS,
        max_rate_limit_sources: int = RATE_LIMIT_MAX_SOURCES,
        rate_rule: Callable[[], RateLimitRule | None] | None = None,
    ) -> None:
        self.config = config
        self.software = software
        self.max_tcp_connections = max_tcp_connections
        self.max_tcp_connections_per_source = max_tcp_connections_per_source
        self.tcp_idle_timeout = tcp_idle_timeout
        if rate_rule is None:
            fixed = rule_from_setting(
                "ratelimit.stunPerSourcePerSecond", config.stun_rate_limit_per_second
            )

            def rate_rule() -> RateLimitRule | None:
                return fixed

        # Called per datagram, so a runtime setting change applies to the next one. Always
        # this process's memory, never Redis: a packet path cannot wait for a round trip.
        self._rate_rule = rate_rule
        self._limiter = GcraTable(max_keys=max_rate_limit_sources)
        self._requests = 0
        self._responses = 0
        self._errors = dict.fromkeys(ERROR_KINDS, 0)
        self._drops = dict.fromkeys(DROP_KINDS, 0)
        self._tcp_limiter = ConnectionLimiter(max_tcp_connections, max_tcp_connections_per_source)

    def statistics(self) -> StunStatistics:
        """A snapshot of the counters (trio's ``statistics()`` convention)."""
        return StunStatistics(
            requests=self._requests,
            responses=self._responses,
            errors=MappingProxyType(dict(self._errors)),
            drops=MappingProxyType(dict(self._drops)),
            rate_limit_sources=len(self._limiter),
            tcp_connections=self._tcp_limiter.statistics().open,
        )

    # --- the pure part: bytes in, bytes out -----------------------------------------------------

    def handle(self, data: bytes, source: tuple[str, int], now: float) -> bytes | None:
        """The reply to one message from ``source`` at ``now`` (trio time), or None to stay silent.

        ``source`` is a socket address as ``recvfrom`` returns it (IPv4-mapped IPv6 and scope ids
        are normalised). No I/O, and the reply counts as sent: the drivers use :meth:`respond`
        and :meth:`record_sent` around their send instead.
        """
        reply = self.respond(data, source, now)
        if reply is None:
            return None
        self.record_sent(reply)
        return reply.data

    def respond(self, data: bytes, source: tuple[str, int], now: float) -> Reply | None:
        """Rate limit, decode and answer one message; counts everything but the send itself."""
        address, port = _normalise(source)
        rule = self._rate_rule()  # None: the limit is off (its setting is 0)
        if rule is not None and not self._limiter.allow(rule, _rate_key(address), now):
            self._drops["rate_limited"] += 1
            return None
        try:
            request = decode(data)
        except StunError:
            self._drops["malformed"] += 1
            return None
        if request.cls is not MessageClass.REQUEST:
            self._drops["not_request"] += 1
            return None
        reply = answer(request, address, port, software=self.software)
        if reply is None:
            self._drops["unsupported_method"] += 1
            return None
        self._requests += 1
        kind = (
            None if reply.cls is MessageClass.SUCCESS else _ERROR_KIND_BY_CODE[_error_code(reply)]
        )
        return Reply(encode(reply), kind)

    def record_sent(self, reply: Reply) -> None:
        """Count a reply that left: a success response, or an error response by kind."""
        if reply.error_kind is None:
            self._responses += 1
        else:
            self._errors[reply.error_kind] += 1

    # --- the Trio driver ------------------------------------------------------------------------

    async def serve(
        self,
        *,
        shutdown_trigger: Callable[[], Awaitable[object]] | None = None,
        task_status: trio.TaskStatus[StunEndpoints] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Bind UDP and TCP, report the endpoints through ``task_status``, then serve.

        With ``enable_builtin_stun`` off it reports no endpoints and returns. When
        ``shutdown_trigger`` returns (the server's shutdown began), every socket closes at once:
        UDP stops answering and the TCP listener stops accepting; open TCP connections (single
        request/response exchanges) run on until they end or the caller's scope is cancelled at
        the end of the drain. Cancellation stops everything; sockets are closed on the way out.
        """
        if not self.config.enable_builtin_stun:
            task_status.started(StunEndpoints((), ()))
            return
        sockets = await self._bind()
        try:
            async with trio.open_nursery() as connections:
                async with trio.open_nursery() as listening:
                    for sock in sockets:
                        if sock.type == socket.SOCK_DGRAM:
                            listening.start_soon(self._serve_udp, sock)
                        else:
                            listener = trio.SocketListener(sock)
                            listening.start_soon(self._serve_tcp, listener, connections)
                    endpoints = StunEndpoints(
                        udp=tuple(_name(s) for s in sockets if s.type == socket.SOCK_DGRAM),
                        tcp=tuple(_name(s) for s in sockets if s.type == socket.SOCK_STREAM),
                    )
                    log.info("STUN listening on UDP %s and TCP %s", endpoints.udp, endpoints.tcp)
                    task_status.started(endpoints)
                    if shutdown_trigger is not None:
                        await shutdown_trigger()
                        listening.cancel_scope.cancel()
                for sock in sockets:
                    sock.close()
                log.info("STUN stopped listening")
        finally:
            for sock in sockets:
                sock.close()

    async def _serve_udp(self, sock: trio.socket.SocketType) -> None:
        while True:
            try:
                data, source = await sock.recvfrom(UDP_RECEIVE_SIZE)
            except OSError as exc:
                # A late ICMP error for an earlier sendto (ConnectionError), or a passing shortage.
                if (
                    not isinstance(exc, ConnectionError)
                    and exc.errno not in _TRANSIENT_RECEIVE_ERRNOS
                ):
                    raise
                self._drops["receive_failed"] += 1
                continue
            reply = None
            with boundary("stun_datagram"):  # one datagram's bug must not stop STUN
                reply = self.respond(data, source, trio.current_time())
            if reply is not None:
                try:
                    await sock.sendto(reply.data, source)
                except OSError:
                    self._drops["send_failed"] += 1
                else:
                    self.record_sent(reply)

    async def _serve_tcp(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        # The connection handlers run in serve()'s connection nursery, passed down here on
        # purpose: they outlive the listener (closed at shutdown) and are cancelled with serve().
        failures = AcceptFailures("STUN TCP listener", log)
        async with listener:
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:  # EMFILE and the like: back off; never leave the loop
                    await trio.sleep(failures.failed(exc))
                    continue
                failures.succeeded()
                try:
                    peer = stream.socket.getpeername()
                except OSError:  # reset between accept and here
                    await stream.aclose()
                    continue
                key = _rate_key(_normalise(peer)[0])
                if self._tcp_limiter.admit(key) is not None:
                    self._drops["connection_limit"] += 1
                    await stream.aclose()
                    continue
                nursery.start_soon(
                    contained, "stun_connection", self._serve_connection, stream, peer, key
                )

    async def _serve_connection(
        self, stream: trio.SocketStream, peer: tuple[str, int], key: str
    ) -> None:
        try:
            async with stream:
                buffer = bytearray()  # < 2 × MAX_MESSAGE_SIZE: one partial message + one read
                # Only a complete message moves the deadline: trickled bytes cannot keep a slot.
                deadline = trio.current_time() + self.tcp_idle_timeout
                while True:
                    with trio.move_on_at(deadline):
                        chunk = await stream.receive_some(MAX_MESSAGE_SIZE)
                        if not chunk:
                            return
                        buffer += chunk
                        frames = _split_frames(buffer)
                        if not frames:
                            continue
                        now = trio.current_time()
                        deadline = now + self.tcp_idle_timeout
                        replies = [r for f in frames if (r := self.respond(f, peer, now))]
                        if replies:
                            await stream.send_all(b"".join(r.data for r in replies))
                            for reply in replies:
                                self.record_sent(reply)
                        continue
                    self._drops["idle_timeout"] += 1
                    return
        except StunError:
            self._drops["malformed"] += 1
        except (trio.BrokenResourceError, OSError):
            pass  # the peer reset or left: nothing left to answer
        finally:
            self._tcp_limiter.release(key)

    async def _bind(self) -> list[trio.socket.SocketType]:
        addresses = await _resolve(self.config.stun_host, self.config.stun_port)
        attempts = _EPHEMERAL_BIND_ATTEMPTS if self.config.stun_port == 0 else 1
        for attempt in range(attempts):
            sockets: list[trio.socket.SocketType] = []
            port = self.config.stun_port
            try:
                for family, host, dual_stack in addresses:
                    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                        sockets.append(await _open(family, kind, host, port, dual_stack))
                        port = _name(sockets[-1])[1]
            except OSError as exc:
                for sock in sockets:
                    sock.close()
                if exc.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
                continue
            return sockets
        raise AssertionError("unreachable")  # pragma: no cover


def _split_frames(buffer: bytearray) -> list[bytes]:
    """Remove and return the complete messages at the front of ``buffer`` (RFC 8489 §6.2.2)."""
    frames = []
    while len(buffer) >= HEADER_SIZE:
        size = message_size(buffer)  # garbage here cannot be resynchronised: StunError closes
        if len(buffer) < size:
            break
        frames.append(bytes(buffer[:size]))
        del buffer[:size]
    return frames


def _normalise(source: tuple[str, int]) -> tuple[IPAddress, int]:
    address = ipaddress.ip_address(source[0].partition("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # an IPv4 client on a dual-stack socket
    return address, source[1]


def _rate_key(address: IPAddress) -> str:
    """Rate limit IPv4 per address and IPv6 per /64: one host usually owns a whole /64."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _error_code(reply: StunMessage) -> int:
    error = reply.find(ErrorCode)
    assert error is not None, "answer() puts ERROR-CODE in every error response"
    return error.code


def _name(sock: trio.socket.SocketType) -> tuple[str, int]:
    sockname = sock.getsockname()
    return str(sockname[0]), int(sockname[1])


async def _resolve(host: str, port: int) -> list[tuple[int, str, bool]]:
    """(family, host, dual_stack) per address to bind; "::" means dual-stack when possible."""
    if host == "::":
        if not _ipv6_available():
            return [(socket.AF_INET, "0.0.0.0", False)]
        if hasattr(socket, "IPV6_V6ONLY"):
            return [(socket.AF_INET6, "::", True)]
        return [(socket.AF_INET6, "::", False), (socket.AF_INET, "0.0.0.0", False)]
    infos = await trio.socket.getaddrinfo(
        host or None, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )
    seen: dict[tuple[int, str], None] = {}
    for family, _, _, _, sockaddr in infos:
        seen[(int(family), str(sockaddr[0]))] = None
    return [(family, address, False) for family, address in seen]


def _ipv6_available() -> bool:
    """Whether this host can open IPv6 sockets (containers often run with IPv6 disabled)."""
    if not socket.has_ipv6:
        return False
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
    except OSError:
        return False
    return True


async def _open(
    family: int, kind: int, host: str, port: int, dual_stack: bool
) -> trio.socket.SocketType:
    sock = trio.socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and hasattr(socket, "IPV6_V6ONLY"):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        await sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(TCP_LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock
