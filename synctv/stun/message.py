"""STUN messages (RFC 8489, compatible with RFC 5389 and RFC 3489 clients): a sans-IO codec.

Theory of operation
-------------------
``decode(buf)`` turns one datagram (or one framed TCP message, see :func:`message_size`) into a
frozen :class:`StunMessage`; ``encode(msg)`` (or ``bytes(msg)``) does the reverse. A decoded
message re-encodes byte for byte: attribute padding that is not all zero is kept on the attribute
(RFC 5769's vectors pad with spaces, and MESSAGE-INTEGRITY covers the padding). Reserved bits are
ignored on input and written as zero.

A message without the magic cookie is an RFC 3489 ("classic") message: its transaction id is the
whole 128-bit field, so :attr:`StunMessage.transaction_id` is 16 bytes long instead of 12.

FINGERPRINT is checked while decoding (a message with a wrong CRC is not STUN, RFC 8489 §7) and
always recomputed while encoding, so :class:`Fingerprint` carries no value. MESSAGE-INTEGRITY needs
a key the codec does not know: decoding keeps the HMAC as it came (check it with
:func:`check_integrity`), and ``encode(msg, integrity_key=key)`` computes it.

:func:`answer` is the server's pure Binding logic: request in, response out.

Nothing here reads a clock, draws randomness or touches a socket: transaction ids are arguments.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, TypeAlias, TypeVar

from synctv.stun.errors import StunError, StunUsageError

# RFC 8489 §5 header: type u16 (top two bits zero), length u16 (bytes after the header, a
# multiple of 4), magic cookie u32, transaction id 96 bits. RFC 3489 had a 128-bit id and no cookie.
HEADER_SIZE = 20
MAGIC_COOKIE = 0x2112A442
TRANSACTION_ID_SIZE = 12
CLASSIC_TRANSACTION_ID_SIZE = 16
# RFC 8489 §14.5 / §14.7: the HMAC-SHA1 value is 20 bytes, the CRC-32 value 4 bytes.
INTEGRITY_SIZE = 20
FINGERPRINT_XOR = 0x5354554E
# RFC 8489 §6.1: without path MTU discovery a message must fit a 576-byte IPv4 datagram, i.e.
# 548 bytes of STUN after the IP and UDP headers; everything we send stays under it.
SAFE_UDP_MESSAGE_SIZE = 548
# Largest message we accept or build: the IPv6 minimum link MTU (RFC 8200 §5). Binding requests,
# even ICE checks with credentials, are around 100 bytes; this also bounds the TCP frame buffer.
MAX_MESSAGE_SIZE = 1280
# Binding requests carry a handful of attributes (an ICE check has six); 64 leaves room for
# extensions and keeps a 420 response's UNKNOWN-ATTRIBUTES list (2 bytes each) small.
MAX_ATTRIBUTES = 64
# RFC 8489 §14.3: USERNAME is fewer than 509 bytes; §14.8/§14.9/§14.10/§14.14: reason phrase,
# REALM, NONCE and SOFTWARE are at most 763 bytes.
MAX_USERNAME_BYTES = 508
MAX_TEXT_BYTES = 763


class MessageClass(IntEnum):
    """RFC 8489 §5: the two class bits C1 C0."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS = 0b10
    ERROR = 0b11


class Method(IntEnum):
    """RFC 8489 §18.2: the 12-bit method. Unknown methods decode as plain ``int``."""

    BINDING = 0x001


class AttributeType(IntEnum):
    """RFC 8489 §18.3 attribute types (0x0000-0x7FFF comprehension-required)."""

    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    SOFTWARE = 0x8022
    FINGERPRINT = 0x8028


# Comprehension-required types this implementation knows (RFC 8489 §18.3); any other type below
# 0x8000 in a request earns a 420 (§6.3.1). PASSWORD-ALGORITHM and USERHASH decode as raw bytes.
KNOWN_REQUIRED_TYPES = frozenset(t.value for t in AttributeType if t < 0x8000)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

_U16 = struct.Struct(">H")
_TLV = struct.Struct(">HH")
_FAMILY_IPV4 = 0x01
_FAMILY_IPV6 = 0x02
# RFC 8489 §14.1: value sizes by family (4-byte head + 32- or 128-bit address).
_ADDRESS_SIZES = {_FAMILY_IPV4: 8, _FAMILY_IPV6: 20}


def _padding_size(length: int) -> int:
    """RFC 8489 §14: each value is padded to a multiple of 4 bytes."""
    return -length % 4


def _check_padding(length: int, padding: bytes) -> None:
    if padding and len(padding) != _padding_size(length):
        raise StunUsageError(f"padding of {len(padding)} bytes for a {length}-byte value")


@dataclass(frozen=True, slots=True)
class MappedAddress:
    """MAPPED-ADDRESS (RFC 8489 §14.1): the reflexive address in clear, for RFC 3489 clients."""

    TYPE: ClassVar[int] = AttributeType.MAPPED_ADDRESS
    address: IPAddress
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise StunUsageError(f"port {self.port} out of range")


@dataclass(frozen=True, slots=True)
class XorMappedAddress:
    """XOR-MAPPED-ADDRESS (RFC 8489 §14.2): the reflexive address, obfuscated with the cookie+id."""

    TYPE: ClassVar[int] = AttributeType.XOR_MAPPED_ADDRESS
    address: IPAddress
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 0xFFFF:
            raise StunUsageError(f"port {self.port} out of range")


@dataclass(frozen=True, slots=True)
class _Text:
    """A UTF-8 text attribute; ``padding`` keeps non-zero padding bytes seen on the wire."""

    TYPE: ClassVar[int] = 0
    LIMIT: ClassVar[int] = MAX_TEXT_BYTES
    text: str
    padding: bytes = b""

    def __post_init__(self) -> None:
        size = len(self.text.encode("utf-8"))
        if size > self.LIMIT:
            raise StunUsageError(f"{_name(self.TYPE)} of {size} bytes exceeds {self.LIMIT}")
        _check_padding(size, self.padding)


@dataclass(frozen=True, slots=True)
class Username(_Text):
    """USERNAME (RFC 8489 §14.3)."""

    TYPE: ClassVar[int] = AttributeType.USERNAME
    LIMIT: ClassVar[int] = MAX_USERNAME_BYTES


@dataclass(frozen=True, slots=True)
class Realm(_Text):
    """REALM (RFC 8489 §14.9)."""

    TYPE: ClassVar[int] = AttributeType.REALM


@dataclass(frozen=True, slots=True)
class Nonce(_Text):
    """NONCE (RFC 8489 §14.10)."""

    TYPE: ClassVar[int] = AttributeType.NONCE


@dataclass(frozen=True, slots=True)
class Software(_Text):
    """SOFTWARE (RFC 8489 §14.14): the agent's name and version, for diagnostics."""

    TYPE: ClassVar[int] = AttributeType.SOFTWARE


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """ERROR-CODE (RFC 8489 §14.8): code 300-699 and a UTF-8 reason phrase."""

    TYPE: ClassVar[int] = AttributeType.ERROR_CODE
    code: int
    reason: str
    padding: bytes = b""

    def __post_init__(self) -> None:
        if not 300 <= self.code <= 699:
            raise StunUsageError(f"error code {self.code} outside 300-699")
        size = len(self.reason.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise StunUsageError(f"reason phrase of {size} bytes exceeds {MAX_TEXT_BYTES}")
        _check_padding(4 + size, self.padding)


@dataclass(frozen=True, slots=True)
class UnknownAttributes:
    """UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): the types a 420 response refers to."""

    TYPE: ClassVar[int] = AttributeType.UNKNOWN_ATTRIBUTES
    types: tuple[int, ...]
    padding: bytes = b""

    def __post_init__(self) -> None:
        if any(not 0 <= t <= 0xFFFF for t in self.types):
            raise StunUsageError("attribute type out of range")
        _check_padding(2 * len(self.types), self.padding)


@dataclass(frozen=True, slots=True)
class MessageIntegrity:
    """MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message up to this attribute.

    ``encode(msg, integrity_key=key)`` fills in the value; the default is a placeholder.
    """

    TYPE: ClassVar[int] = AttributeType.MESSAGE_INTEGRITY
    hmac: bytes = bytes(INTEGRITY_SIZE)

    def __post_init__(self) -> None:
        if len(self.hmac) != INTEGRITY_SIZE:
            raise StunUsageError(f"MESSAGE-INTEGRITY of {len(self.hmac)} bytes, not 20")


@dataclass(frozen=True, slots=True)
class MessageIntegritySha256:
    """MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6): HMAC-SHA256, possibly truncated to 16-32 bytes."""

    TYPE: ClassVar[int] = AttributeType.MESSAGE_INTEGRITY_SHA256
    hmac: bytes = bytes(32)

    def __post_init__(self) -> None:
        if not _sha256_size_ok(len(self.hmac)):
            raise StunUsageError(f"MESSAGE-INTEGRITY-SHA256 of {len(self.hmac)} bytes")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """FINGERPRINT (RFC 8489 §14.7): CRC-32 of the message XOR 0x5354554e; always last.

    The value is checked by :func:`decode` and computed by :func:`encode`, so none is stored.
    """

    TYPE: ClassVar[int] = AttributeType.FINGERPRINT


@dataclass(frozen=True, slots=True)
class RawAttribute:
    """Any attribute this codec has no type for, value uninterpreted."""

    type: int
    value: bytes
    padding: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFFFF:
            raise StunUsageError(f"attribute type {self.type} out of range")
        if self.type in _TYPED:
            raise StunUsageError(f"use the typed class for {_name(self.type)}")
        _check_padding(len(self.value), self.padding)


Attribute: TypeAlias = (
    MappedAddress
    | XorMappedAddress
    | Username
    | Realm
    | Nonce
    | Software
    | ErrorCode
    | UnknownAttributes
    | MessageIntegrity
    | MessageIntegritySha256
    | Fingerprint
    | RawAttribute
)

_TEXT_CLASSES: dict[int, type[Username | Realm | Nonce | Software]] = {
    c.TYPE: c for c in (Username, Realm, Nonce, Software)
}
_TYPED = frozenset(
    {
        *_TEXT_CLASSES,
        AttributeType.MAPPED_ADDRESS,
        AttributeType.XOR_MAPPED_ADDRESS,
        AttributeType.ERROR_CODE,
        AttributeType.UNKNOWN_ATTRIBUTES,
        AttributeType.MESSAGE_INTEGRITY,
        AttributeType.MESSAGE_INTEGRITY_SHA256,
        AttributeType.FINGERPRINT,
    }
)
_INTEGRITY = (MessageIntegrity, MessageIntegritySha256)
_A = TypeVar("_A", bound=Attribute)


def _name(attribute_type: int) -> str:
    try:
        return AttributeType(attribute_type).name.replace("_", "-")
    except ValueError:
        return f"attribute 0x{attribute_type:04x}"


def _sha256_size_ok(size: int) -> bool:
    return 16 <= size <= 32 and size % 4 == 0


@dataclass(frozen=True, slots=True)
class StunMessage:
    """One STUN message. ``transaction_id`` is 12 bytes, or 16 for an RFC 3489 message."""

    method: int
    cls: MessageClass
    transaction_id: bytes
    attributes: tuple[Attribute, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.method <= 0xFFF:
            raise StunUsageError(f"method 0x{self.method:x} does not fit 12 bits")
        size = len(self.transaction_id)
        if size == CLASSIC_TRANSACTION_ID_SIZE:
            if self.transaction_id[:4] == _COOKIE:
                raise StunUsageError("a 16-byte transaction id may not start with the cookie")
        elif size != TRANSACTION_ID_SIZE:
            raise StunUsageError(f"transaction id of {size} bytes, not 12 (or 16 for RFC 3489)")

    @property
    def is_classic(self) -> bool:
        """An RFC 3489 message: no magic cookie, 128-bit transaction id."""
        return len(self.transaction_id) == CLASSIC_TRANSACTION_ID_SIZE

    def find(self, attribute_class: type[_A]) -> _A | None:
        """The first attribute of the given class, or None."""
        for attribute in self.attributes:
            if isinstance(attribute, attribute_class):
                return attribute
        return None

    def __bytes__(self) -> bytes:
        return encode(self)


_COOKIE = MAGIC_COOKIE.to_bytes(4, "big")


def _pack_type(method: int, cls: int) -> int:
    # RFC 8489 §5 fig. 3: M11-M7 (5 bits) C1 M6-M4 (3 bits) C0 M3-M0 (4 bits).
    return (
        ((method & 0xF80) << 2)
        | ((method & 0x070) << 1)
        | (method & 0x00F)
        | ((cls & 0b10) << 7)
        | ((cls & 0b01) << 4)
    )


def _unpack_type(message_type: int) -> tuple[int, MessageClass]:
    method = ((message_type >> 2) & 0xF80) | ((message_type >> 1) & 0x070) | (message_type & 0xF)
    cls = ((message_type >> 7) & 0b10) | ((message_type >> 4) & 0b01)
    known = method == Method.BINDING
    return (Method(method) if known else method), MessageClass(cls)


# --- decoding ---------------------------------------------------------------------------------


def message_size(header: bytes | bytearray | memoryview) -> int:
    """Total size of the message starting with ``header`` (20 bytes or more).

    For stream transports (RFC 8489 §6.2.2: messages back to back on TCP/TLS). Raises
    :class:`StunError` when the header cannot start a STUN message we would accept.
    """
    if len(header) < HEADER_SIZE:
        raise StunError(f"message of {len(header)} bytes is shorter than the 20-byte header")
    message_type: int
    length: int
    message_type, length = _TLV.unpack_from(header, 0)
    if message_type & 0xC000:
        raise StunError("not STUN: the first two bits are not zero")
    if length % 4:
        raise StunError(f"length field {length} is not a multiple of 4")
    if HEADER_SIZE + length > MAX_MESSAGE_SIZE:
        raise StunError(f"length field {length} exceeds the {MAX_MESSAGE_SIZE}-byte message limit")
    return HEADER_SIZE + length


def decode(data: bytes | bytearray | memoryview) -> StunMessage:
    """Parse one whole STUN message. Raises only :class:`StunError`."""
    buf = bytes(data)
    size = message_size(buf)
    if len(buf) != size:
        raise StunError(f"length field gives a {size}-byte message, got {len(buf)} bytes")
    method, cls = _unpack_type(_U16.unpack_from(buf, 0)[0])
    xor_key = buf[4:HEADER_SIZE]
    classic = buf[4:8] != _COOKIE
    transaction_id = xor_key if classic else buf[8:HEADER_SIZE]
    attributes: list[Attribute] = []
    offset = HEADER_SIZE
    while offset < size:
        if len(attributes) == MAX_ATTRIBUTES:
            raise StunError(f"more than {MAX_ATTRIBUTES} attributes")
        attribute_type, length = _TLV.unpack_from(buf, offset)
        end = offset + 4 + length
        padded_end = end + _padding_size(length)
        if padded_end > size:
            raise StunError(
                f"{_name(attribute_type)} of {length} bytes at offset {offset} overruns the message"
            )
        value = buf[offset + 4 : end]
        if attribute_type == AttributeType.FINGERPRINT:
            _check_fingerprint(buf, offset, value, padded_end == size)
            attributes.append(Fingerprint())
        else:
            padding = buf[end:padded_end]
            padding = padding if padding.strip(b"\x00") else b""
            attributes.append(_decode_attribute(attribute_type, value, padding, xor_key))
        offset = padded_end
    return StunMessage(method, cls, transaction_id, tuple(attributes))


def _check_fingerprint(buf: bytes, offset: int, value: bytes, last: bool) -> None:
    if not last:
        raise StunError("FINGERPRINT is not the last attribute")
    if len(value) != 4:
        raise StunError(f"FINGERPRINT of {len(value)} bytes, not 4")
    if int.from_bytes(value, "big") != binascii.crc32(buf[:offset]) ^ FINGERPRINT_XOR:
        raise StunError("FINGERPRINT does not match the message")


def _decode_attribute(
    attribute_type: int, value: bytes, padding: bytes, xor_key: bytes
) -> Attribute:
    text_class = _TEXT_CLASSES.get(attribute_type)
    if text_class is not None:
        return text_class(_decode_text(attribute_type, value, text_class.LIMIT), padding)
    match attribute_type:
        case AttributeType.MAPPED_ADDRESS:
            return MappedAddress(*_decode_address(attribute_type, value, None))
        case AttributeType.XOR_MAPPED_ADDRESS:
            return XorMappedAddress(*_decode_address(attribute_type, value, xor_key))
        case AttributeType.ERROR_CODE:
            return _decode_error_code(value, padding)
        case AttributeType.UNKNOWN_ATTRIBUTES:
            if len(value) % 2:
                raise StunError(f"UNKNOWN-ATTRIBUTES of {len(value)} bytes, not a multiple of 2")
            types = tuple(t for (t,) in _U16.iter_unpack(value))
            return UnknownAttributes(types, padding)
        case AttributeType.MESSAGE_INTEGRITY:
            if len(value) != INTEGRITY_SIZE:
                raise StunError(f"MESSAGE-INTEGRITY of {len(value)} bytes, not 20")
            return MessageIntegrity(value)
        case AttributeType.MESSAGE_INTEGRITY_SHA256:
            if not _sha256_size_ok(len(value)):
                raise StunError(f"MESSAGE-INTEGRITY-SHA256 of {len(value)} bytes")
            return MessageIntegritySha256(value)
        case _:
            return RawAttribute(attribute_type, value, padding)


def _decode_text(attribute_type: int, value: bytes, limit: int) -> str:
    if len(value) > limit:
        raise StunError(f"{_name(attribute_type)} of {len(value)} bytes exceeds {limit}")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise StunError(f"{_name(attribute_type)} is not valid UTF-8") from None


def _decode_address(
    attribute_type: int, value: bytes, xor_key: bytes | None
) -> tuple[IPAddress, int]:
    # RFC 8489 §14.1/§14.2: reserved u8, family u8, port u16, address 32 or 128 bits.
    if len(value) < 4:
        raise StunError(f"{_name(attribute_type)} of {len(value)} bytes, shorter than 4")
    family = value[1]
    expected = _ADDRESS_SIZES.get(family)
    if expected is None:
        raise StunError(f"{_name(attribute_type)}: unknown address family {family}")
    if len(value) != expected:
        raise StunError(f"{_name(attribute_type)} of {len(value)} bytes, expected {expected}")
    port: int = _U16.unpack_from(value, 2)[0]
    packed = value[4:]
    if xor_key is not None:
        port, packed = _xor_address(port, packed, xor_key)
    address: IPAddress = (
        ipaddress.IPv4Address(packed) if family == _FAMILY_IPV4 else ipaddress.IPv6Address(packed)
    )
    return address, port


def _xor_address(port: int, packed: bytes, xor_key: bytes) -> tuple[int, bytes]:
    # RFC 8489 §14.2: port XOR the cookie's top 16 bits; address XOR cookie (IPv4) or cookie||id.
    port ^= int.from_bytes(xor_key[:2], "big")
    mixed = int.from_bytes(packed, "big") ^ int.from_bytes(xor_key[: len(packed)], "big")
    return port, mixed.to_bytes(len(packed), "big")


def _decode_error_code(value: bytes, padding: bytes) -> ErrorCode:
    # RFC 8489 §14.8: reserved 21 bits, class 3 bits (3-6), number u8 (0-99), reason phrase.
    if len(value) < 4:
        raise StunError(f"ERROR-CODE of {len(value)} bytes, shorter than 4")
    klass, number = value[2] & 0x07, value[3]
    if not 3 <= klass <= 6 or number > 99:
        raise StunError(f"ERROR-CODE class {klass} number {number} is not a code from 300 to 699")
    reason = _decode_text(AttributeType.ERROR_CODE, value[4:], MAX_TEXT_BYTES)
    return ErrorCode(klass * 100 + number, reason, padding)


# --- encoding ---------------------------------------------------------------------------------


def encode(message: StunMessage, *, integrity_key: bytes | None = None) -> bytes:
    """Serialise a message; with ``integrity_key``, compute its MESSAGE-INTEGRITY(-SHA256) values.

    FINGERPRINT is always computed. Raises :class:`StunUsageError` for a FINGERPRINT that is not
    last or a message over :data:`MAX_MESSAGE_SIZE`.
    """
    out = _header(message)
    last = len(message.attributes) - 1
    if last >= MAX_ATTRIBUTES:
        raise StunUsageError(f"{last + 1} attributes exceed the limit of {MAX_ATTRIBUTES}")
    for index, attribute in enumerate(message.attributes):
        match attribute:
            case Fingerprint():
                if index != last:
                    raise StunUsageError("FINGERPRINT must be the last attribute")
                _set_length(out, len(out) + 8)
                crc = binascii.crc32(out) ^ FINGERPRINT_XOR
                out += _TLV.pack(attribute.TYPE, 4) + crc.to_bytes(4, "big")
            case MessageIntegrity() | MessageIntegritySha256() if integrity_key is not None:
                size = len(attribute.hmac)
                _set_length(out, len(out) + 4 + size)
                digest = "sha1" if isinstance(attribute, MessageIntegrity) else "sha256"
                mac = hmac.digest(integrity_key, out, digest)[:size]
                out += _TLV.pack(attribute.TYPE, size) + mac
            case _:
                _append(out, attribute)
        if len(out) > MAX_MESSAGE_SIZE:
            raise StunUsageError(f"message exceeds {MAX_MESSAGE_SIZE} bytes")
    _set_length(out, len(out))
    return bytes(out)


def _header(message: StunMessage) -> bytearray:
    out = bytearray(_TLV.pack(_pack_type(message.method, message.cls), 0))
    if not message.is_classic:
        out += _COOKIE
    out += message.transaction_id
    return out


def _set_length(out: bytearray, total: int) -> None:
    _U16.pack_into(out, 2, total - HEADER_SIZE)


def _append(out: bytearray, attribute: Attribute) -> None:
    value, padding = _encode_value(attribute, bytes(out[4:HEADER_SIZE]))
    type_ = attribute.type if isinstance(attribute, RawAttribute) else attribute.TYPE
    out += _TLV.pack(type_, len(value))
    out += value
    out += padding or bytes(_padding_size(len(value)))


def _encode_value(attribute: Attribute, xor_key: bytes) -> tuple[bytes, bytes]:
    match attribute:
        case MappedAddress(address=address, port=port):
            return _encode_address(address, port, None), b""
        case XorMappedAddress(address=address, port=port):
            return _encode_address(address, port, xor_key), b""
        case _Text(text=text, padding=padding):
            return text.encode("utf-8"), padding
        case ErrorCode(code=code, reason=reason, padding=padding):
            head = bytes((0, 0, code // 100, code % 100))
            return head + reason.encode("utf-8"), padding
        case UnknownAttributes(types=types, padding=padding):
            return b"".join(_U16.pack(t) for t in types), padding
        case MessageIntegrity(hmac=mac) | MessageIntegritySha256(hmac=mac):
            return mac, b""
        case RawAttribute(value=value, padding=padding):
            return value, padding
        case _:  # pragma: no cover - Fingerprint is written by encode() itself
            raise StunUsageError(f"cannot encode {attribute!r} here")


def _encode_address(address: IPAddress, port: int, xor_key: bytes | None) -> bytes:
    family = _FAMILY_IPV4 if address.version == 4 else _FAMILY_IPV6
    packed = address.packed
    if xor_key is not None:
        port, packed = _xor_address(port, packed, xor_key)
    return bytes((0, family)) + _U16.pack(port) + packed


# --- integrity --------------------------------------------------------------------------------


def check_integrity(message: StunMessage, key: bytes) -> bool:
    """Whether the first MESSAGE-INTEGRITY(-SHA256) of a decoded message matches ``key``.

    RFC 8489 §14.5: the HMAC covers the message up to the attribute, with the header length
    counting up to the end of the attribute. False when the message carries no integrity.
    """
    for index, attribute in enumerate(message.attributes):
        if isinstance(attribute, _INTEGRITY):
            prefix = StunMessage(
                message.method, message.cls, message.transaction_id, message.attributes[:index]
            )
            out = bytearray(encode(prefix))
            _set_length(out, len(out) + 4 + len(attribute.hmac))
            digest = "sha1" if isinstance(attribute, MessageIntegrity) else "sha256"
            expected = hmac.digest(key, out, digest)[: len(attribute.hmac)]
            return hmac.compare_digest(expected, attribute.hmac)
    return False


def long_term_key(username: str, realm: str, password: str) -> bytes:
    """RFC 8489 §9.2.2 long-term credential key: MD5(username ":" realm ":" password).

    The strings must already be prepared (OpaqueString / SASLprep); this function does not.
    """
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


# --- the server's Binding logic ---------------------------------------------------------------


def unknown_required_types(message: StunMessage) -> tuple[int, ...]:
    """Comprehension-required attribute types (below 0x8000) this codec does not know.

    Attributes after MESSAGE-INTEGRITY(-SHA256) or FINGERPRINT are ignored (RFC 8489 §14.5).
    """
    unknown: dict[int, None] = {}
    for attribute in message.attributes:
        if isinstance(attribute, (*_INTEGRITY, Fingerprint)):
            break
        if (
            isinstance(attribute, RawAttribute)
            and attribute.type < 0x8000
            and attribute.type not in KNOWN_REQUIRED_TYPES
        ):
            unknown[attribute.type] = None
    return tuple(unknown)


def answer(
    request: StunMessage, address: IPAddress, port: int, *, software: str | None = None
) -> StunMessage | None:
    """The server's reply to ``request`` seen from ``address``:``port``; None when it gets none.

    RFC 8489 §6.3: a message whose method the agent does not support is silently discarded, as
    are indications and responses (nothing to answer). For a Binding request: unknown
    comprehension-required attributes → 420 with UNKNOWN-ATTRIBUTES (§6.3.1); otherwise success
    with XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS for an RFC 3489 client (§12).
    """
    if request.cls is not MessageClass.REQUEST or request.method != Method.BINDING:
        return None
    unknown = unknown_required_types(request)
    if unknown:
        body: tuple[Attribute, ...] = (
            ErrorCode(420, "Unknown Attribute"),
            UnknownAttributes(unknown),
        )
        return _reply(request, MessageClass.ERROR, body, software)
    if request.is_classic:
        return _reply(request, MessageClass.SUCCESS, (MappedAddress(address, port),), None)
    return _reply(request, MessageClass.SUCCESS, (XorMappedAddress(address, port),), software)


def _reply(
    request: StunMessage,
    cls: MessageClass,
    body: tuple[Attribute, ...],
    software: str | None,
) -> StunMessage:
    if request.is_classic:  # RFC 3489 knows neither SOFTWARE nor FINGERPRINT
        return StunMessage(request.method, cls, request.transaction_id, body)
    tail: tuple[Attribute, ...] = (Fingerprint(),)
    if software is not None:
        tail = (Software(software), *tail)
    return StunMessage(request.method, cls, request.transaction_id, (*body, *tail))
