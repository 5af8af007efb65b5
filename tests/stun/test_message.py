"""The STUN codec: RFC 5769 vectors, case tables, truncation, hypothesis, and the Binding answer."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from synctv.stun.errors import StunError, StunUsageError
from synctv.stun.message import (
    HEADER_SIZE,
    MAX_ATTRIBUTES,
    MAX_MESSAGE_SIZE,
    MAX_TEXT_BYTES,
    MAX_USERNAME_BYTES,
    SAFE_UDP_MESSAGE_SIZE,
    Attribute,
    AttributeType,
    ErrorCode,
    Fingerprint,
    MappedAddress,
    MessageClass,
    MessageIntegrity,
    MessageIntegritySha256,
    Method,
    Nonce,
    RawAttribute,
    Realm,
    Software,
    StunMessage,
    UnknownAttributes,
    Username,
    XorMappedAddress,
    answer,
    check_integrity,
    decode,
    encode,
    long_term_key,
    message_size,
    unknown_required_types,
)
from tests.conftest import fixture_bytes

# --- RFC 5769 test vectors (tests/fixtures/stun/, typed in from RFC 5769 §2.1-§2.4) -----------

RFC5769_TID = bytes.fromhex("b7e7a701bc34d686fa87dfae")
RFC5769_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
# RFC 5769 §2.4: the password "The<U+00AD>M<U+00AA>tr<U+2168>" after SASLprep is "TheMatrIX".
LONG_TERM_KEY = long_term_key("\u30de\u30c8\u30ea\u30c3\u30af\u30b9", "example.org", "TheMatrIX")

VECTORS = [
    (
        "request",
        "stun/rfc5769_request.bin",
        RFC5769_PASSWORD,
        StunMessage(
            Method.BINDING,
            MessageClass.REQUEST,
            RFC5769_TID,
            (
                Software("STUN test client"),
                RawAttribute(0x0024, bytes.fromhex("6e0001ff")),  # PRIORITY (RFC 8445)
                RawAttribute(0x8029, bytes.fromhex("932ff9b151263b36")),  # ICE-CONTROLLED
                Username("evtj:h6vY", padding=b"   "),
                MessageIntegrity(bytes.fromhex("9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2")),
                Fingerprint(),
            ),
        ),
    ),
    (
        "response_ipv4",
        "stun/rfc5769_response_ipv4.bin",
        RFC5769_PASSWORD,
        StunMessage(
            Method.BINDING,
            MessageClass.SUCCESS,
            RFC5769_TID,
            (
                Software("test vector", padding=b" "),
                XorMappedAddress(IPv4Address("192.0.2.1"), 32853),
                MessageIntegrity(bytes.fromhex("2b91f599fd9e90c38c7489f92af9ba53f06be7d7")),
                Fingerprint(),
            ),
        ),
    ),
    (
        "response_ipv6",
        "stun/rfc5769_response_ipv6.bin",
        RFC5769_PASSWORD,
        StunMessage(
            Method.BINDING,
            MessageClass.SUCCESS,
            RFC5769_TID,
            (
                Software("test vector", padding=b" "),
                XorMappedAddress(IPv6Address("2001:db8:1234:5678:11:2233:4455:6677"), 32853),
                MessageIntegrity(bytes.fromhex("a382954e4be67bf11784c97c8292c275bfe3ed41")),
                Fingerprint(),
            ),
        ),
    ),
    (
        "request_long_term",
        "stun/rfc5769_request_long_term.bin",
        LONG_TERM_KEY,
        StunMessage(
            Method.BINDING,
            MessageClass.REQUEST,
            bytes.fromhex("78ad3433c6ad72c029da412e"),
            (
                Username("\u30de\u30c8\u30ea\u30c3\u30af\u30b9"),
                Nonce("f//499k954d6OL34oL9FSTvy64sA"),
                Realm("example.org"),
                MessageIntegrity(bytes.fromhex("f67024656dd64a3e02b8e0712e85c9a28ca89666")),
            ),
        ),
    ),
]
VECTOR_IDS = [name for name, *_ in VECTORS]


@pytest.mark.parametrize(("name", "path", "key", "expected"), VECTORS, ids=VECTOR_IDS)
def test_rfc5769_vector_decodes_and_reencodes(
    name: str, path: str, key: bytes, expected: StunMessage
) -> None:
    data = fixture_bytes(path)
    message = decode(data)
    assert message == expected
    assert encode(message) == data
    assert bytes(message) == data
    assert not message.is_classic


@pytest.mark.parametrize(("name", "path", "key", "expected"), VECTORS, ids=VECTOR_IDS)
def test_rfc5769_vector_integrity(name: str, path: str, key: bytes, expected: StunMessage) -> None:
    data = fixture_bytes(path)
    assert check_integrity(decode(data), key)
    assert not check_integrity(decode(data), key + b"x")
    # Computing MESSAGE-INTEGRITY (and FINGERPRINT) from placeholders gives the RFC's bytes.
    blank = tuple(
        MessageIntegrity() if isinstance(a, MessageIntegrity) else a for a in expected.attributes
    )
    unsigned = StunMessage(expected.method, expected.cls, expected.transaction_id, blank)
    assert encode(unsigned, integrity_key=key) == data


@pytest.mark.parametrize(("name", "path", "key", "expected"), VECTORS, ids=VECTOR_IDS)
def test_every_proper_prefix_of_a_vector_is_rejected(
    name: str, path: str, key: bytes, expected: StunMessage
) -> None:
    data = fixture_bytes(path)
    for end in range(len(data)):
        with pytest.raises(StunError) as caught:
            decode(data[:end])
        if end < HEADER_SIZE:
            want = f"message of {end} bytes is shorter than the 20-byte header"
        else:
            want = f"length field gives a {len(data)}-byte message, got {end} bytes"
        assert str(caught.value) == want
        assert caught.value.hint == "drop"


def test_rfc5769_corrupted_fingerprint_is_rejected() -> None:
    data = bytearray(fixture_bytes("stun/rfc5769_response_ipv4.bin"))
    data[-1] ^= 1
    with pytest.raises(StunError, match=r"^FINGERPRINT does not match the message$"):
        decode(data)


def test_fingerprint_is_computed_on_encode() -> None:
    data = fixture_bytes("stun/rfc5769_request.bin")
    assert data[-4:] == bytes.fromhex("e57a3bcf")
    assert encode(decode(data)) == data


# --- small messages, three columns: accepted bytes, canonical bytes, value ---------------------

TID = bytes(range(1, 13))
COOKIE = bytes.fromhex("2112a442")


def wire(body: bytes, *, message_type: int = 0x0001, tid: bytes = COOKIE + TID) -> bytes:
    """A header (type u16, length u16, cookie+id or 128-bit id) followed by ``body``."""
    return struct.pack(">HH", message_type, len(body)) + tid + body


def tlv(attribute_type: int, value: bytes, padding: bytes | None = None) -> bytes:
    pad = bytes(-len(value) % 4) if padding is None else padding
    return struct.pack(">HH", attribute_type, len(value)) + value + pad


def msg(*attributes: Attribute, cls: MessageClass = MessageClass.REQUEST) -> StunMessage:
    return StunMessage(Method.BINDING, cls, TID, attributes)


CLASSIC_TID = bytes(range(100, 116))

CASES = [
    ("empty_binding_request", wire(b""), None, msg()),
    (
        "binding_indication",
        wire(b"", message_type=0x0011),
        None,
        msg(cls=MessageClass.INDICATION),
    ),
    (
        "error_response_420",
        wire(
            tlv(0x0009, b"\x00\x00\x04\x14" + b"Unknown Attribute")
            + tlv(0x000A, bytes.fromhex("7777"))
        ),
        None,
        StunMessage(
            Method.BINDING,
            MessageClass.REQUEST,
            TID,
            (ErrorCode(420, "Unknown Attribute"), UnknownAttributes((0x7777,))),
        ),
    ),
    (
        "largest_method_error_class",
        wire(b"", message_type=0x3FFF),
        None,
        StunMessage(0xFFF, MessageClass.ERROR, TID),
    ),
    (
        "mapped_address_ipv4",
        wire(tlv(0x0001, bytes.fromhex("00011f90c0000201"))),
        None,
        msg(MappedAddress(IPv4Address("192.0.2.1"), 8080)),
    ),
    (
        "mapped_address_reserved_byte_ignored",
        wire(tlv(0x0001, bytes.fromhex("ff011f90c0000201"))),
        wire(tlv(0x0001, bytes.fromhex("00011f90c0000201"))),
        msg(MappedAddress(IPv4Address("192.0.2.1"), 8080)),
    ),
    (
        "mapped_address_ipv6",
        wire(tlv(0x0001, bytes.fromhex("00020050") + IPv6Address("2001:db8::1").packed)),
        None,
        msg(MappedAddress(IPv6Address("2001:db8::1"), 80)),
    ),
    (
        "xor_mapped_address_ipv4",
        # 0x1f90 ^ 0x2112 = 0x3e82; c0000201 ^ 2112a442 = e112a643
        wire(tlv(0x0020, bytes.fromhex("00013e82e112a643"))),
        None,
        msg(XorMappedAddress(IPv4Address("192.0.2.1"), 8080)),
    ),
    (
        "classic_request_has_128_bit_id",
        wire(b"", tid=CLASSIC_TID),
        None,
        StunMessage(Method.BINDING, MessageClass.REQUEST, CLASSIC_TID),
    ),
    (
        "error_code_reserved_bits_ignored",
        wire(tlv(0x0009, b"\xff\xff\xfc\x00")),
        wire(tlv(0x0009, b"\x00\x00\x04\x00")),
        msg(ErrorCode(400, "")),
    ),
    (
        "unknown_attributes_odd_count_padded",
        wire(tlv(0x000A, bytes.fromhex("000300050007"), b"\x00\x07")),
        None,
        msg(UnknownAttributes((3, 5, 7), padding=b"\x00\x07")),
    ),
    (
        "message_integrity_sha256_truncated",
        wire(tlv(0x001C, bytes(range(16)))),
        None,
        msg(MessageIntegritySha256(bytes(range(16)))),
    ),
    (
        "comprehension_optional_unknown",
        wire(tlv(0xC001, b"abc")),
        None,
        msg(RawAttribute(0xC001, b"abc")),
    ),
    (
        "zero_padding_is_canonical",
        wire(tlv(0x0006, b"ab", b"\x00\x00")),
        None,
        msg(Username("ab")),
    ),
    (
        "attributes_after_integrity_kept",
        wire(tlv(0x0008, bytes(20)) + tlv(0x7001, b"")),
        None,
        msg(MessageIntegrity(), RawAttribute(0x7001, b"")),
    ),
]


@pytest.mark.parametrize(
    ("name", "accepted", "canonical", "value"), CASES, ids=[c[0] for c in CASES]
)
def test_decode_case(
    name: str, accepted: bytes, canonical: bytes | None, value: StunMessage
) -> None:
    assert decode(accepted) == value
    assert decode(bytearray(accepted)) == value
    assert decode(memoryview(accepted)) == value


@pytest.mark.parametrize(
    ("name", "accepted", "canonical", "value"), CASES, ids=[c[0] for c in CASES]
)
def test_encode_case(
    name: str, accepted: bytes, canonical: bytes | None, value: StunMessage
) -> None:
    assert encode(value) == (accepted if canonical is None else canonical)


def test_classic_flag_and_find() -> None:
    classic = decode(wire(b"", tid=CLASSIC_TID))
    assert classic.is_classic
    message = msg(Software("x"), Username("u"), Software("y"))
    assert message.find(Software) == Software("x")
    assert message.find(Realm) is None


# --- rejected input: exact messages --------------------------------------------------------

A = AttributeType
BAD = [
    ("top_bits_set", b"\x80" + wire(b"")[1:], "not STUN: the first two bits are not zero"),
    ("length_not_multiple_of_4", wire(b"")[:2] + b"\x00\x03" + wire(b"")[4:] + b"abc",
     "length field 3 is not a multiple of 4"),
    ("length_over_limit", wire(b"")[:2] + b"\x05\x00" + wire(b"")[4:],
     "length field 1280 exceeds the 1280-byte message limit"),
    ("trailing_bytes", wire(b"") + b"\x00" * 4,
     "length field gives a 20-byte message, got 24 bytes"),
    ("attribute_overruns", wire(b"\x00\x06\x00\x05abcd"),
     "USERNAME of 5 bytes at offset 20 overruns the message"),
    ("raw_attribute_overruns", wire(b"\x70\x00\x00\x08abcd"),
     "attribute 0x7000 of 8 bytes at offset 20 overruns the message"),
    ("fingerprint_not_last", wire(tlv(0x8028, bytes(4)) + tlv(0x8022, b"")),
     "FINGERPRINT is not the last attribute"),
    ("fingerprint_wrong_size", wire(tlv(0x8028, bytes(8))), "FINGERPRINT of 8 bytes, not 4"),
    ("fingerprint_wrong_value", wire(tlv(0x8028, bytes(4))),
     "FINGERPRINT does not match the message"),
    ("address_too_short", wire(tlv(0x0001, b"\x00\x01")),
     "MAPPED-ADDRESS of 2 bytes, shorter than 4"),
    ("address_family_unknown", wire(tlv(0x0020, bytes.fromhex("00030000") + bytes(4))),
     "XOR-MAPPED-ADDRESS: unknown address family 3"),
    ("address_ipv4_wrong_size", wire(tlv(0x0001, bytes.fromhex("00010000") + bytes(16))),
     "MAPPED-ADDRESS of 20 bytes, expected 8"),
    ("address_ipv6_wrong_size", wire(tlv(0x0001, bytes.fromhex("00020000") + bytes(4))),
     "MAPPED-ADDRESS of 8 bytes, expected 20"),
    ("text_not_utf8", wire(tlv(0x8022, b"\xff")), "SOFTWARE is not valid UTF-8"),
    ("username_too_long", wire(tlv(0x0006, b"u" * (MAX_USERNAME_BYTES + 1))),
     "USERNAME of 509 bytes exceeds 508"),
    ("realm_too_long", wire(tlv(0x0014, b"r" * (MAX_TEXT_BYTES + 1))),
     "REALM of 764 bytes exceeds 763"),
    ("error_code_short", wire(tlv(0x0009, b"\x00\x00\x04")),
     "ERROR-CODE of 3 bytes, shorter than 4"),
    ("error_code_class", wire(tlv(0x0009, b"\x00\x00\x07\x00")),
     "ERROR-CODE class 7 number 0 is not a code from 300 to 699"),
    ("error_code_number", wire(tlv(0x0009, b"\x00\x00\x04\x64")),
     "ERROR-CODE class 4 number 100 is not a code from 300 to 699"),
    ("error_reason_not_utf8", wire(tlv(0x0009, b"\x00\x00\x04\x00\xc3")),
     "ERROR-CODE is not valid UTF-8"),
    ("unknown_attributes_odd", wire(tlv(0x000A, b"\x00\x01\x00")),
     "UNKNOWN-ATTRIBUTES of 3 bytes, not a multiple of 2"),
    ("integrity_wrong_size", wire(tlv(0x0008, bytes(16))),
     "MESSAGE-INTEGRITY of 16 bytes, not 20"),
    ("integrity_sha256_wrong_size", wire(tlv(0x001C, bytes(12))),
     "MESSAGE-INTEGRITY-SHA256 of 12 bytes"),
    ("too_many_attributes", wire(tlv(0x8022, b"") * (MAX_ATTRIBUTES + 1)),
     "more than 64 attributes"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_decode_rejects(name: str, data: bytes, message: str) -> None:
    with pytest.raises(StunError) as caught:
        decode(data)
    assert str(caught.value) == message


def test_message_size_frames_streams() -> None:
    data = fixture_bytes("stun/rfc5769_request.bin")
    assert message_size(data[:HEADER_SIZE]) == len(data)
    assert message_size(data + b"next") == len(data)
    with pytest.raises(
        StunError, match=r"^message of 19 bytes is shorter than the 20-byte header$"
    ):
        message_size(data[:19])


# --- building messages: misuse raises StunUsageError -----------------------------------------

USAGE = [
    ("port", lambda: MappedAddress(IPv4Address("1.2.3.4"), 70000)),
    ("xor_port", lambda: XorMappedAddress(IPv4Address("1.2.3.4"), -1)),
    ("username_size", lambda: Username("u" * 509)),
    ("software_size", lambda: Software("s" * 764)),
    ("padding_size", lambda: Username("ab", padding=b"x")),
    ("error_code_range", lambda: ErrorCode(200, "OK")),
    ("reason_size", lambda: ErrorCode(400, "r" * 764)),
    ("error_padding", lambda: ErrorCode(400, "abc", padding=b"xx")),
    ("unknown_type_range", lambda: UnknownAttributes((0x10000,))),
    ("integrity_size", lambda: MessageIntegrity(b"short")),
    ("integrity_sha256_size", lambda: MessageIntegritySha256(bytes(33))),
    ("raw_type_range", lambda: RawAttribute(-1, b"")),
    ("raw_shadows_typed", lambda: RawAttribute(0x0020, bytes(8))),
    ("raw_padding", lambda: RawAttribute(0x7000, b"a", padding=b"\x01")),
    ("method_range", lambda: StunMessage(0x1000, MessageClass.REQUEST, TID)),
    ("tid_size", lambda: StunMessage(1, MessageClass.REQUEST, bytes(11))),
    ("classic_tid_cookie", lambda: StunMessage(1, MessageClass.REQUEST, COOKIE + TID)),
    ("fingerprint_not_last", lambda: encode(msg(Fingerprint(), Software("x")))),
    ("too_many", lambda: encode(msg(*[Software("")] * (MAX_ATTRIBUTES + 1)))),
    ("too_big", lambda: encode(msg(*[RawAttribute(0x7000, bytes(500))] * 3))),
]


@pytest.mark.parametrize(("name", "build"), USAGE, ids=[u[0] for u in USAGE])
def test_usage_errors(name: str, build: object) -> None:
    assert callable(build)
    with pytest.raises(StunUsageError):
        build()


def test_check_integrity_without_integrity_is_false() -> None:
    assert not check_integrity(msg(Software("x")), b"key")


def test_sha256_integrity_round_trip() -> None:
    signed = encode(msg(Username("u"), MessageIntegritySha256(), Fingerprint()), integrity_key=b"k")
    decoded = decode(signed)
    assert check_integrity(decoded, b"k")
    assert not check_integrity(decoded, b"other")


# --- the Binding answer ------------------------------------------------------------------------

V4 = IPv4Address("203.0.113.7")
V6 = IPv6Address("2001:db8::7")


def test_answer_binding_gives_xor_mapped_address() -> None:
    request = decode(wire(b""))
    reply = answer(request, V6, 5000, software="test")
    assert reply == StunMessage(
        Method.BINDING,
        MessageClass.SUCCESS,
        TID,
        (XorMappedAddress(V6, 5000), Software("test"), Fingerprint()),
    )
    assert decode(encode(reply)) == reply


def test_answer_classic_client_gets_mapped_address_only() -> None:
    request = decode(wire(b"", tid=CLASSIC_TID))
    reply = answer(request, V4, 5000, software="test")
    assert reply == StunMessage(
        Method.BINDING, MessageClass.SUCCESS, CLASSIC_TID, (MappedAddress(V4, 5000),)
    )
    assert encode(reply)[4:20] == CLASSIC_TID


def test_answer_unknown_required_attribute_is_420() -> None:
    request = decode(
        wire(tlv(0x0003, bytes(4)) + tlv(0xC000, b"") + tlv(0x0003, bytes(4)) + tlv(0x7FFF, b""))
    )
    assert unknown_required_types(request) == (0x0003, 0x7FFF)
    reply = answer(request, V4, 1, software=None)
    assert reply == StunMessage(
        Method.BINDING,
        MessageClass.ERROR,
        TID,
        (ErrorCode(420, "Unknown Attribute"), UnknownAttributes((0x0003, 0x7FFF)), Fingerprint()),
    )


def test_answer_ignores_attributes_after_integrity() -> None:
    request = msg(Username("u"), MessageIntegrity(), RawAttribute(0x0003, bytes(4)))
    assert unknown_required_types(request) == ()
    reply = answer(request, V4, 1)
    assert reply is not None
    assert reply.cls is MessageClass.SUCCESS


def test_answer_known_raw_types_are_not_unknown() -> None:
    request = msg(RawAttribute(AttributeType.USERHASH, bytes(32)))
    assert unknown_required_types(request) == ()


def test_answer_drops_other_methods() -> None:
    # RFC 8489 §6.3: an unsupported method is silently discarded, even with unknown attributes.
    assert answer(StunMessage(0x003, MessageClass.REQUEST, TID), V4, 1, software="s") is None
    allocate = StunMessage(0x003, MessageClass.REQUEST, TID, (RawAttribute(0x0003, bytes(4)),))
    assert answer(allocate, V4, 1) is None


@pytest.mark.parametrize("cls", [MessageClass.INDICATION, MessageClass.SUCCESS, MessageClass.ERROR])
def test_answer_ignores_non_requests(cls: MessageClass) -> None:
    assert answer(msg(cls=cls), V4, 1) is None


def test_worst_case_420_fits_a_safe_udp_datagram() -> None:
    request = msg(*(RawAttribute(t, b"") for t in range(0x4000, 0x4000 + MAX_ATTRIBUTES)))
    reply = answer(decode(encode(request)), V6, 1, software="s" * 40)
    assert reply is not None
    assert len(encode(reply)) <= SAFE_UDP_MESSAGE_SIZE


# --- hypothesis --------------------------------------------------------------------------------


def _decode_or_stun_error(data: bytes) -> None:
    try:
        message = decode(data)
    except StunError:
        return
    # Whatever decodes re-encodes, and the re-encoding decodes to the same value.
    assert decode(encode(message)) == message


@given(st.binary(max_size=200))
@example(b"")
@example(wire(tlv(0x0001, b"\x00")))
def test_arbitrary_bytes_raise_only_stun_error(data: bytes) -> None:
    _decode_or_stun_error(data)


@given(
    st.sampled_from([0x0001, 0x0101, 0x0111, 0x0011, 0x3FFF]),
    st.lists(
        st.tuples(
            st.sampled_from([*AttributeType, 0x0003, 0x7000, 0xC000]),
            st.binary(max_size=40),
        ),
        max_size=6,
    ),
)
def test_well_framed_garbage_raises_only_stun_error(
    message_type: int, attributes: list[tuple[int, bytes]]
) -> None:
    body = b"".join(tlv(t, v) for t, v in attributes)
    _decode_or_stun_error(wire(body, message_type=message_type))


@given(st.sampled_from([v[1] for v in VECTORS]), st.integers(0, 200), st.integers(0, 255))
def test_mutated_vectors_raise_only_stun_error(path: str, position: int, value: int) -> None:
    data = bytearray(fixture_bytes(path))
    data[position % len(data)] = value
    _decode_or_stun_error(bytes(data))


addresses = st.one_of(
    st.builds(IPv4Address, st.integers(0, 2**32 - 1)),
    st.builds(IPv6Address, st.integers(0, 2**128 - 1)),
)
ports = st.integers(0, 0xFFFF)
texts = st.text(max_size=20)


def _padded(build: type[Username | Realm | Nonce | Software]) -> st.SearchStrategy[Attribute]:
    def make(text: str, fill: int) -> Attribute:
        size = -len(text.encode()) % 4
        return build(text, padding=bytes([fill]) * size if fill else b"")

    return st.builds(make, texts, st.integers(0, 255))


attributes: st.SearchStrategy[Attribute] = st.one_of(
    st.builds(MappedAddress, addresses, ports),
    st.builds(XorMappedAddress, addresses, ports),
    *(_padded(c) for c in (Username, Realm, Nonce, Software)),
    st.builds(ErrorCode, st.integers(300, 699), texts),
    st.builds(UnknownAttributes, st.lists(st.integers(0, 0xFFFF), max_size=5).map(tuple)),
    st.builds(MessageIntegrity, st.binary(min_size=20, max_size=20)),
    st.builds(
        MessageIntegritySha256,
        st.sampled_from([16, 20, 24, 28, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    ),
    st.builds(
        RawAttribute,
        st.integers(0, 0xFFFF).filter(lambda t: t not in {a.value for a in AttributeType}),
        st.binary(max_size=24),
    ),
)
messages = st.builds(
    lambda method, cls, tid, attrs, fingerprint: StunMessage(
        method, cls, tid, (*attrs, *((Fingerprint(),) if fingerprint else ()))
    ),
    st.integers(0, 0xFFF),
    st.sampled_from(MessageClass),
    st.one_of(
        st.binary(min_size=12, max_size=12),
        st.binary(min_size=16, max_size=16).filter(lambda b: b[:4] != COOKIE),
    ),
    st.lists(attributes, max_size=8),
    st.booleans(),
)


@given(messages)
def test_encode_decode_round_trip(message: StunMessage) -> None:
    data = encode(message)
    assert len(data) <= MAX_MESSAGE_SIZE
    assert decode(data) == message
    assert encode(decode(data)) == data


@given(messages, st.binary(min_size=1, max_size=32))
def test_integrity_round_trip(message: StunMessage, key: bytes) -> None:
    signed = StunMessage(
        message.method,
        message.cls,
        message.transaction_id,
        (*(a for a in message.attributes if not isinstance(a, Fingerprint)), MessageIntegrity()),
    )
    assert check_integrity(decode(encode(signed, integrity_key=key)), key)
