"""RTMP handshake: plain and digest, both roles, incremental feeding, errors, state machine."""

from __future__ import annotations

import hashlib
import hmac
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.rtmp.errors import HandshakeError, RtmpLocalProtocolError, RtmpProtocolError
from synctv.rtmp.handshake import (
    FMS_KEY,
    FP_KEY,
    HANDSHAKE_RANDOM_SIZE,
    HANDSHAKE_SIZE,
    ClientHandshake,
    DigestScheme,
    HandshakeState,
    ServerHandshake,
    compute_digest,
    digest_offset,
    find_digest,
)

SERVER_RANDOM = bytes(range(256)) * 6
CLIENT_RANDOM = bytes(255 - (i % 256) for i in range(HANDSHAKE_RANDOM_SIZE))


def hmac256(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def flash_c1(scheme: int, offset_bytes: bytes = b"\x01\x02\x03\x04") -> tuple[bytes, bytes]:
    """Build a digest C1 the way Flash Player does, independently of the module under test."""
    c1 = bytearray(struct.pack(">I", 1234) + bytes((10, 0, 32, 18)) + CLIENT_RANDOM)
    base = 772 if scheme == 0 else 8
    c1[base : base + 4] = offset_bytes
    pos = base + 4 + sum(offset_bytes) % 728
    digest = hmac256(FP_KEY[:30], bytes(c1[:pos] + c1[pos + 32 :]))
    c1[pos : pos + 32] = digest
    return bytes(c1), digest


def plain_c1() -> bytes:
    return struct.pack(">I", 99) + b"\0\0\0\0" + CLIENT_RANDOM


def test_plain_server() -> None:
    server = ServerHandshake(SERVER_RANDOM, epoch_ms=7)
    c1 = plain_c1()
    server.receive_data(b"\x03" + c1)
    reply = server.data_to_send()
    assert len(reply) == 1 + 2 * HANDSHAKE_SIZE
    assert reply[0] == 3
    s1, s2 = reply[1:1537], reply[1537:]
    assert s1 == struct.pack(">I", 7) + b"\0\0\0\0" + SERVER_RANDOM[:HANDSHAKE_RANDOM_SIZE]
    assert s2 == c1  # §5.2.4 echo
    assert server.state is HandshakeState.AWAIT_C2
    assert not server.done
    assert server.data_to_send() == b""
    server.receive_data(s1 + b"chunks")
    assert server.done
    assert server.unused_data == b"chunks"
    assert not server.digest


@pytest.mark.parametrize("scheme", [0, 1])
@pytest.mark.parametrize("offset_bytes", [b"\0\0\0\0", b"\xff\xff\xff\xff", b"\x10\x20\x30\x40"])
def test_digest_server_answers_like_fms(scheme: int, offset_bytes: bytes) -> None:
    c1, c1_digest = flash_c1(scheme, offset_bytes)
    server = ServerHandshake(SERVER_RANDOM)
    server.receive_data(b"\x03" + c1)
    reply = server.data_to_send()
    s1, s2 = reply[1:1537], reply[1537:]
    assert server.digest
    assert server.client_scheme == DigestScheme(scheme)
    # Verify as a Flash client: S1 digest with the 36-byte FMS key, in the scheme we used.
    base = 772 if scheme == 0 else 8
    pos = base + 4 + sum(s1[base : base + 4]) % 728
    s1_digest = s1[pos : pos + 32]
    assert s1_digest == hmac256(FMS_KEY[:36], s1[:pos] + s1[pos + 32 :])
    assert s1[4] >= 3  # FFmpeg only checks digests when the version byte is >= 3
    # S2: signed with HMAC(full FMS key, C1 digest).
    key = hmac256(FMS_KEY, c1_digest)
    assert s2[1504:] == hmac256(key, s2[:1504])


def test_nonzero_version_without_digest_falls_back_to_echo() -> None:
    c1 = struct.pack(">I", 0) + b"\x09\x00\x7c\x02" + CLIENT_RANDOM
    server = ServerHandshake(SERVER_RANDOM)
    server.receive_data(b"\x03" + c1)
    reply = server.data_to_send()
    assert reply[1537:] == c1
    assert not server.digest


@pytest.mark.parametrize("digest", [False, True])
def test_client_and_server(digest: bool) -> None:
    client = ClientHandshake(CLIENT_RANDOM, digest=digest)
    server = ServerHandshake(SERVER_RANDOM)
    c0c1 = client.data_to_send()
    assert len(c0c1) == 1 + HANDSHAKE_SIZE
    assert client.data_to_send() == b""
    server.receive_data(c0c1)
    client.receive_data(server.data_to_send() + b"after")
    assert client.done
    assert client.unused_data == b"after"
    c2 = client.data_to_send()
    server.receive_data(c2)
    assert server.done
    assert client.digest is digest
    assert server.digest is digest
    if digest:
        found = find_digest(client.c1, FP_KEY[:30])
        assert found is not None
        assert found[0] is DigestScheme.DIGEST_FIRST  # FFmpeg's placement


def test_client_digest_rejects_bad_s2_signature() -> None:
    client = ClientHandshake(CLIENT_RANDOM, digest=True)
    server = ServerHandshake(SERVER_RANDOM)
    server.receive_data(client.data_to_send())
    reply = bytearray(server.data_to_send())
    reply[-1] ^= 1
    with pytest.raises(HandshakeError, match="S2 signature"):
        client.receive_data(bytes(reply))
    assert client.state is HandshakeState.ERROR


def test_client_digest_against_plain_server_echoes_s1() -> None:
    client = ClientHandshake(CLIENT_RANDOM, digest=True, epoch_ms=5)
    c1 = client.data_to_send()[1:]
    assert c1[:4] == struct.pack(">I", 5)
    s1 = b"\0" * 8 + SERVER_RANDOM[:HANDSHAKE_RANDOM_SIZE]
    client.receive_data(b"\x03" + s1 + c1)
    assert client.done
    assert not client.digest
    assert client.data_to_send() == s1


def test_client_signs_c2_with_server_digest() -> None:
    client = ClientHandshake(CLIENT_RANDOM, digest=True)
    server = ServerHandshake(SERVER_RANDOM)
    server.receive_data(client.data_to_send())
    reply = server.data_to_send()
    client.receive_data(reply)
    c2 = client.data_to_send()
    found = find_digest(reply[1:1537], FMS_KEY[:36])
    assert found is not None
    key = hmac256(FP_KEY, found[1])
    assert c2[1504:] == hmac256(key, c2[:1504])


def test_deterministic_for_same_random() -> None:
    def run() -> bytes:
        server = ServerHandshake(SERVER_RANDOM)
        server.receive_data(b"\x03" + flash_c1(1)[0])
        return server.data_to_send()

    assert run() == run()


def test_digest_helpers() -> None:
    packet = bytes(HANDSHAKE_SIZE)
    assert digest_offset(packet, DigestScheme.KEY_FIRST) == 776
    assert digest_offset(packet, DigestScheme.DIGEST_FIRST) == 12
    packet = bytes(8) + b"\xff" * 4 + bytes(HANDSHAKE_SIZE - 12)
    assert digest_offset(packet, DigestScheme.DIGEST_FIRST) == 12 + 1020 % 728
    assert len(compute_digest(packet, 12, b"k")) == 32
    assert find_digest(packet, FP_KEY[:30]) is None


@pytest.mark.parametrize("version", [0, 1, 2, 4, 6, 8, 9, 255])
def test_server_rejects_bad_version_on_first_byte(version: int) -> None:
    server = ServerHandshake(SERVER_RANDOM)
    with pytest.raises(HandshakeError, match=f"C0 version {version}"):
        server.receive_data(bytes((version,)))
    assert server.state is HandshakeState.ERROR
    assert isinstance(HandshakeError("x"), RtmpProtocolError)
    with pytest.raises(RtmpLocalProtocolError, match="already failed"):
        server.receive_data(b"\x03")


def test_encrypted_rtmpe_is_named() -> None:
    with pytest.raises(HandshakeError, match="RTMPE"):
        ServerHandshake(SERVER_RANDOM).receive_data(b"\x06")


def test_client_rejects_bad_s0() -> None:
    client = ClientHandshake(CLIENT_RANDOM)
    with pytest.raises(HandshakeError, match="S0 version 5"):
        client.receive_data(b"\x05")


def test_random_too_short() -> None:
    with pytest.raises(RtmpLocalProtocolError, match="1528 random bytes"):
        ServerHandshake(b"short")
    with pytest.raises(RtmpLocalProtocolError):
        ClientHandshake(b"")


def test_receive_after_done_is_misuse() -> None:
    server = ServerHandshake(SERVER_RANDOM)
    server.receive_data(b"\x03" + plain_c1() + bytes(HANDSHAKE_SIZE))
    assert server.done
    with pytest.raises(RtmpLocalProtocolError, match="chunk decoder"):
        server.receive_data(b"x")


def test_every_prefix_needs_more_data() -> None:
    wire = b"\x03" + flash_c1(0)[0]
    for end in range(len(wire)):
        server = ServerHandshake(SERVER_RANDOM)
        server.receive_data(wire[:end])
        assert server.state is HandshakeState.AWAIT_C0C1
        assert server.data_to_send() == b""


def feed_in_pieces(wire: bytes, cuts: list[int]) -> tuple[ServerHandshake, bytes]:
    """Feed ``wire`` cut at ``cuts``; once done, later pieces are what a session keeps."""
    server = ServerHandshake(SERVER_RANDOM)
    start, rest = 0, b""
    for cut in [*sorted(cuts), len(wire)]:
        if server.done:
            rest += wire[start:cut]
        else:
            server.receive_data(wire[start:cut])
        start = max(start, cut)
    return server, server.unused_data + rest


def full_client_stream(trailing: bytes = b"") -> bytes:
    return b"\x03" + flash_c1(1)[0] + bytes(HANDSHAKE_SIZE) + trailing


def test_byte_by_byte() -> None:
    wire = full_client_stream(b"rest")
    server, rest = feed_in_pieces(wire, list(range(len(wire))))
    assert server.done
    assert rest == b"rest"
    whole = ServerHandshake(SERVER_RANDOM)
    whole.receive_data(wire)
    assert server.data_to_send() == whole.data_to_send()


@given(st.lists(st.integers(0, 2 * HANDSHAKE_SIZE + 10), max_size=6))
def test_random_split_points(cuts: list[int]) -> None:
    wire = full_client_stream(b"\x02\x00")
    server, rest = feed_in_pieces(wire, cuts)
    assert server.done
    assert rest == b"\x02\x00"
    assert server.digest


@given(st.binary(min_size=1, max_size=2 * HANDSHAKE_SIZE + 2))
def test_arbitrary_bytes_raise_only_handshake_error(data: bytes) -> None:
    for handshake in (ServerHandshake(SERVER_RANDOM), ClientHandshake(CLIENT_RANDOM, digest=True)):
        try:
            handshake.receive_data(data)
        except HandshakeError:
            assert handshake.state is HandshakeState.ERROR


# Every state × input (input = "bytes arrive"): what each state does with a complete packet.
STATE_CASES = [
    ("server AWAIT_C0C1 + C0C1", "server", 0, HandshakeState.AWAIT_C2),
    ("server AWAIT_C2 + C2", "server", 1, HandshakeState.DONE),
    ("server DONE + bytes", "server", 2, RtmpLocalProtocolError),
    ("server ERROR + bytes", "server", -1, RtmpLocalProtocolError),
    ("client AWAIT_S0S1S2 + S0S1S2", "client", 0, HandshakeState.DONE),
    ("client DONE + bytes", "client", 1, RtmpLocalProtocolError),
    ("client ERROR + bytes", "client", -1, RtmpLocalProtocolError),
]


@pytest.mark.parametrize(
    ("name", "role", "step", "expected"), STATE_CASES, ids=[c[0] for c in STATE_CASES]
)
def test_state_table(name: str, role: str, step: int, expected: object) -> None:
    if role == "server":
        machine: ServerHandshake | ClientHandshake = ServerHandshake(SERVER_RANDOM)
        packets = [b"\x03" + plain_c1(), bytes(HANDSHAKE_SIZE), b"x"]
    else:
        machine = ClientHandshake(CLIENT_RANDOM)
        packets = [b"\x03" + bytes(2 * HANDSHAKE_SIZE), b"x"]
    if step < 0:
        with pytest.raises(HandshakeError):
            machine.receive_data(b"\x07")
        assert machine.state is HandshakeState.ERROR
        with pytest.raises(RtmpLocalProtocolError):
            machine.receive_data(packets[0])
        return
    for packet in packets[:step]:
        machine.receive_data(packet)
    if isinstance(expected, HandshakeState):
        machine.receive_data(packets[step])
        assert machine.state is expected
    else:
        with pytest.raises(RtmpLocalProtocolError):
            machine.receive_data(packets[step])
