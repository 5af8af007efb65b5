"""The RTMP handshake, both roles: C0/C1/C2 ↔ S0/S1/S2, plain and digest ("complex").

Theory of operation
-------------------
RTMP 1.0 §5.2: the client sends C0 (u8 version, 3) and C1 (1536 bytes: time u32, zero u32,
1528 random bytes); the server answers S0, S1 (same shape) and S2 (an echo of C1); the client
answers C2 (an echo of S1). Afterwards both sides speak chunks (chunk.py). Bytes the peer sent
after its last handshake packet are handed back in ``unused_data``.

Flash-era encoders (FFmpeg, FMLE, Flash Player) put a non-zero version in C1 bytes 4..7 and an
HMAC-SHA256 digest inside C1. The digest sits in one of two 764-byte blocks: the block's first
u32 bytes, summed and taken modulo 728, give the digest's position inside the block. Scheme 0
puts the digest block second (bytes 772..1535), scheme 1 first (bytes 8..771). The digest covers
the 1504 other bytes, keyed with the first 30 bytes of the Flash Player key (C1) or the first 36
of the Media Server key (S1). A server that finds a valid client digest answers with a digested
S1 (same scheme) and an S2 whose last 32 bytes are HMAC(HMAC(full server key, C1 digest),
S2[:1504]); players that care (FFmpeg when playing, Flash) check both. Without a valid digest we
fall back to the plain echo. We never check the client's C2: encoders differ (FFmpeg echoes S1
when publishing) and nothing is protected by it.

The encrypted variants (C0 = 6, 8, 9: RTMPE) are refused.

States are ``HandshakeState``; every transition is in ``_TRANSITIONS``. An input with no entry is
a protocol error and leaves the machine in ``ERROR``.

Randomness is passed in (``random``: at least ``HANDSHAKE_RANDOM_SIZE`` bytes); what else a role
needs is expanded from it with SHAKE-256, so the same input gives the same bytes (tests rely on it).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from enum import Enum, IntEnum, auto
from typing import Final

from synctv.rtmp.errors import HandshakeError, RtmpLocalProtocolError

__all__ = [
    "FMS_KEY",
    "FP_KEY",
    "HANDSHAKE_RANDOM_SIZE",
    "HANDSHAKE_SIZE",
    "ClientHandshake",
    "DigestScheme",
    "HandshakeState",
    "ServerHandshake",
    "compute_digest",
    "digest_offset",
    "find_digest",
    "response_signature",
]

RTMP_VERSION: Final = 3  # §5.2.2 C0/S0: u8 version; 3 is the only plain-RTMP value
HANDSHAKE_SIZE: Final = 1536  # §5.2.3 C1/S1 and §5.2.4 C2/S2 are 1536 bytes
HANDSHAKE_RANDOM_SIZE: Final = 1528  # C1/S1 after time u32 + version u32
DIGEST_SIZE: Final = 32  # HMAC-SHA256
_DIGEST_BLOCK: Final = 764  # each of the two blocks after the 8-byte time/version prefix
_DIGEST_RANGE: Final = _DIGEST_BLOCK - 4 - DIGEST_SIZE  # 728 positions for the digest
_SIGNED_SIZE: Final = HANDSHAKE_SIZE - DIGEST_SIZE  # C2/S2: 1504 signed bytes, then the signature

# Protocol constants of the digest handshake: the well-known "Genuine Adobe" strings, each
# followed by the same 32 bytes. Interoperability values, not secrets.
_KEY_TAIL: Final = bytes.fromhex("f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae")
FP_KEY: Final = b"Genuine Adobe Flash Player 001" + _KEY_TAIL  # 62 bytes; C1 uses the first 30
FMS_KEY: Final = b"Genuine Adobe Flash Media Server 001" + _KEY_TAIL  # 68; S1 uses the first 36
_FP_KEY_SHORT: Final = FP_KEY[:30]
_FMS_KEY_SHORT: Final = FMS_KEY[:36]

# Version words we put in a digested S1 / C1. FFmpeg checks S1 digests only when byte 4 >= 3.
SERVER_VERSION: Final = bytes((4, 5, 0, 1))
CLIENT_VERSION: Final = bytes((9, 0, 124, 2))

_U32 = struct.Struct(">I")


class DigestScheme(IntEnum):
    """Where the digest block sits in C1/S1 (see the module comment)."""

    KEY_FIRST = 0  # digest block at bytes 772..1535
    DIGEST_FIRST = 1  # digest block at bytes 8..771


def digest_offset(packet: bytes | bytearray | memoryview, scheme: DigestScheme) -> int:
    """Byte offset of the 32-byte digest inside a 1536-byte C1/S1 for ``scheme``."""
    base = 8 + _DIGEST_BLOCK if scheme is DigestScheme.KEY_FIRST else 8
    return base + 4 + sum(packet[base : base + 4]) % _DIGEST_RANGE


def compute_digest(packet: bytes | bytearray | memoryview, offset: int, key: bytes) -> bytes:
    """HMAC-SHA256 of ``packet`` without the 32 bytes at ``offset``."""
    mac = hmac.new(key, packet[:offset], hashlib.sha256)
    mac.update(packet[offset + DIGEST_SIZE :])
    return mac.digest()


def find_digest(
    packet: bytes | bytearray | memoryview, key: bytes
) -> tuple[DigestScheme, bytes] | None:
    """Return (scheme, digest) if ``packet`` carries a valid digest for ``key``, else None."""
    for scheme in (DigestScheme.KEY_FIRST, DigestScheme.DIGEST_FIRST):
        offset = digest_offset(packet, scheme)
        digest = bytes(packet[offset : offset + DIGEST_SIZE])
        if hmac.compare_digest(digest, compute_digest(packet, offset, key)):
            return scheme, digest
    return None


def response_signature(
    key: bytes, peer_digest: bytes, packet: bytes | bytearray | memoryview
) -> bytes:
    """The last 32 bytes of a digested S2/C2: HMAC(HMAC(key, peer digest), packet[:1504])."""
    inner = hmac.new(key, peer_digest, hashlib.sha256).digest()
    return hmac.new(inner, packet[:_SIGNED_SIZE], hashlib.sha256).digest()


def _digested_packet(
    epoch_ms: int, version: bytes, random: bytes, key: bytes, scheme: DigestScheme
) -> tuple[bytes, bytes]:
    packet = bytearray(_U32.pack(epoch_ms & 0xFFFFFFFF) + version + random)
    offset = digest_offset(packet, scheme)
    digest = compute_digest(packet, offset, key)
    packet[offset : offset + DIGEST_SIZE] = digest
    return bytes(packet), digest


def _signed_packet(random: bytes, key: bytes, peer_digest: bytes) -> bytes:
    body = random[:_SIGNED_SIZE]
    return body + response_signature(key, peer_digest, body)


def _check_random(random: bytes) -> bytes:
    if len(random) < HANDSHAKE_RANDOM_SIZE:
        raise RtmpLocalProtocolError(
            f"handshake needs {HANDSHAKE_RANDOM_SIZE} random bytes, got {len(random)}"
        )
    return bytes(random[:HANDSHAKE_RANDOM_SIZE])


def _check_version(version: int, who: str) -> None:
    if version != RTMP_VERSION:
        kind = "encrypted RTMPE" if version in (6, 8, 9) else "unknown"
        raise HandshakeError(f"{who} version {version} ({kind}) is not supported; expected 3")


class HandshakeState(Enum):
    """Where a handshake is. Server: AWAIT_C0C1 → AWAIT_C2 → DONE. Client: AWAIT_S0S1S2 → DONE."""

    AWAIT_C0C1 = auto()
    AWAIT_C2 = auto()
    AWAIT_S0S1S2 = auto()
    DONE = auto()
    ERROR = auto()


class _Input(Enum):
    C0C1 = auto()
    C2 = auto()
    S0S1S2 = auto()


_TRANSITIONS: Final[dict[tuple[HandshakeState, _Input], HandshakeState]] = {
    # server role
    (HandshakeState.AWAIT_C0C1, _Input.C0C1): HandshakeState.AWAIT_C2,
    (HandshakeState.AWAIT_C2, _Input.C2): HandshakeState.DONE,
    # client role
    (HandshakeState.AWAIT_S0S1S2, _Input.S0S1S2): HandshakeState.DONE,
}

# Bytes each waiting state needs before it can act.
_NEEDED: Final = {
    HandshakeState.AWAIT_C0C1: 1 + HANDSHAKE_SIZE,
    HandshakeState.AWAIT_C2: HANDSHAKE_SIZE,
    HandshakeState.AWAIT_S0S1S2: 1 + 2 * HANDSHAKE_SIZE,
}


class _Handshake:
    """Shared buffering and the transition table; subclasses act on each complete packet."""

    def __init__(self, state: HandshakeState) -> None:
        self.state = state
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self.unused_data = b""
        self.digest = False  # True once both sides use the digest scheme

    @property
    def done(self) -> bool:
        return self.state is HandshakeState.DONE

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete handshake packet held (0 once done)."""
        return len(self._buffer)

    def data_to_send(self) -> bytes:
        """Bytes the handshake wants written to the peer (and forgets)."""
        out = bytes(self._outgoing)
        self._outgoing.clear()
        return out

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the peer. Raises ``HandshakeError`` (state → ERROR) on bad bytes."""
        if self.state is HandshakeState.ERROR:
            raise RtmpLocalProtocolError("handshake already failed")
        if self.state is HandshakeState.DONE:
            raise RtmpLocalProtocolError("handshake is done; feed the chunk decoder instead")
        self._buffer += data
        try:
            self._check_early()
            while self.state in _NEEDED and len(self._buffer) >= _NEEDED[self.state]:
                size = _NEEDED[self.state]
                packet = bytes(self._buffer[:size])
                del self._buffer[:size]
                self._step(self._on_packet(packet))
        except HandshakeError:
            self.state = HandshakeState.ERROR
            raise
        if self.done:
            self.unused_data = bytes(self._buffer)
            self._buffer.clear()

    def _step(self, event: _Input) -> None:
        try:
            self.state = _TRANSITIONS[(self.state, event)]
        except KeyError:  # pragma: no cover - _on_packet only returns inputs of the table
            raise HandshakeError(f"{event.name} is not expected in {self.state.name}") from None

    def _check_early(self) -> None:
        """Refuse a bad version byte as soon as it arrives, before buffering 1536 more bytes."""
        if self._buffer and self.state in (
            HandshakeState.AWAIT_C0C1,
            HandshakeState.AWAIT_S0S1S2,
        ):
            _check_version(
                self._buffer[0], "C0" if self.state is HandshakeState.AWAIT_C0C1 else "S0"
            )

    def _on_packet(self, packet: bytes) -> _Input:  # pragma: no cover - abstract
        raise NotImplementedError


class ServerHandshake(_Handshake):
    """Server role: answers C0+C1 with S0+S1+S2, then waits for C2.

    ``random`` must hold at least ``HANDSHAKE_RANDOM_SIZE`` bytes (``os.urandom`` in the driver).
    """

    def __init__(self, random: bytes, *, epoch_ms: int = 0) -> None:
        super().__init__(HandshakeState.AWAIT_C0C1)
        self._random = _check_random(random)
        self._epoch_ms = epoch_ms
        self.client_scheme: DigestScheme | None = None

    def _on_packet(self, packet: bytes) -> _Input:
        if self.state is HandshakeState.AWAIT_C2:
            return _Input.C2
        c1 = packet[1:]
        found = find_digest(c1, _FP_KEY_SHORT) if c1[4:8] != b"\0\0\0\0" else None
        self._outgoing.append(RTMP_VERSION)
        if found is None:
            self._outgoing += _U32.pack(self._epoch_ms & 0xFFFFFFFF) + b"\0\0\0\0"
            self._outgoing += self._random
            self._outgoing += c1  # §5.2.4 S2 echoes C1
        else:
            self.client_scheme, client_digest = found
            self.digest = True
            s1, _ = _digested_packet(
                self._epoch_ms, SERVER_VERSION, self._random, _FMS_KEY_SHORT, self.client_scheme
            )
            self._outgoing += s1
            s2_random = hashlib.shake_256(self._random).digest(_SIGNED_SIZE)
            self._outgoing += _signed_packet(s2_random, FMS_KEY, client_digest)
        return _Input.C0C1


class ClientHandshake(_Handshake):
    """Client role: sends C0+C1 at once (see ``data_to_send``), answers S0+S1+S2 with C2.

    With ``digest=True`` C1 carries a Flash Player digest (scheme 1, as FFmpeg sends it). If S1
    then carries a valid server digest, S2's signature is checked (``HandshakeError`` if wrong)
    and C2 is signed; otherwise C2 echoes S1, as plain RTMP does.
    """

    def __init__(self, random: bytes, *, digest: bool = False, epoch_ms: int = 0) -> None:
        super().__init__(HandshakeState.AWAIT_S0S1S2)
        self._random = _check_random(random)
        self._c1_digest = b""
        self._outgoing.append(RTMP_VERSION)
        if digest:
            c1, self._c1_digest = _digested_packet(
                epoch_ms, CLIENT_VERSION, self._random, _FP_KEY_SHORT, DigestScheme.DIGEST_FIRST
            )
        else:
            c1 = _U32.pack(epoch_ms & 0xFFFFFFFF) + b"\0\0\0\0" + self._random
        self.c1 = c1
        self._outgoing += c1

    def _on_packet(self, packet: bytes) -> _Input:
        s1 = packet[1 : 1 + HANDSHAKE_SIZE]
        s2 = packet[1 + HANDSHAKE_SIZE :]
        found = find_digest(s1, _FMS_KEY_SHORT) if self._c1_digest else None
        if found is None:
            self._outgoing += s1  # §5.2.4 C2 echoes S1
            return _Input.S0S1S2
        _, server_digest = found
        if not hmac.compare_digest(
            s2[_SIGNED_SIZE:], response_signature(FMS_KEY, self._c1_digest, s2)
        ):
            raise HandshakeError("S2 signature does not match our C1 digest")
        self.digest = True
        c2_random = hashlib.shake_256(self._random).digest(_SIGNED_SIZE)
        self._outgoing += _signed_packet(c2_random, FP_KEY, server_digest)
        return _Input.S0S1S2
