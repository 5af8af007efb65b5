"""AMF0 values: ``decode(data)``, ``decode_value(buf, offset)`` and ``encode(*values)``.

Action Message Format 0 (Adobe "AMF 0 File Format Specification", §2) carries RTMP commands and
FLV script data (``onMetaData``). Values map to Python as:

========================  ===========================================================
marker (§2.1)             Python value
========================  ===========================================================
0x00 number               ``float`` (``int`` is accepted by ``encode``)
0x01 boolean              ``bool``
0x02 string / 0x0C long   ``str`` (``encode`` picks long string past 65535 UTF-8 bytes)
0x03 object               ``dict[str, Amf0Value]`` (insertion order = wire order)
0x05 null                 ``None``
0x06 undefined            ``UNDEFINED`` (the only ``Undefined`` instance)
0x07 reference            the referenced object itself (decode only; ``encode`` inlines)
0x08 ECMA array           ``EcmaArray`` (a ``dict`` subclass)
0x0A strict array         ``list``
0x0B date                 ``Date(ms, tz)``
0x0F XML document         ``XmlDocument(text)``
0x10 typed object         ``TypedObject(class_name, fields)``
========================  ===========================================================

Movie clip (0x04), unsupported (0x0D), record set (0x0E) and the AMF3 switch (0x11) are refused
with ``Amf0Error``: no RTMP peer we serve sends them in AMF0 bodies.

Key order is preserved both ways, so ``encode(*decode(wire)) == wire`` for canonical input (no
references, exact ECMA array counts). References resolve to the same Python object; a reference to
an object that is still being decoded (a cycle) is refused, so decoded values are always trees of
finite depth. Truncated input is an error: AMF0 is decoded from complete message bodies, never
incrementally.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias, TypeVar

from synctv.media.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "UNDEFINED",
    "Amf0EncodeError",
    "Amf0Error",
    "Amf0Value",
    "Date",
    "EcmaArray",
    "TypedObject",
    "Undefined",
    "XmlDocument",
    "decode",
    "decode_value",
    "encode",
]

# Deep nesting is never legitimate in commands or metadata; 64 bounds recursion (and so the
# Python stack) far below the interpreter limit.
MAX_DEPTH: Final = 64
# Values per decode call (every number/string/key-value pair counts one). Live metadata has a few
# dozen; recorded-file metadata with keyframe indexes a few thousand. 100k bounds the memory a
# 16 MiB message can make us allocate (one-byte ``null`` values would otherwise be 16M objects).
DEFAULT_MAX_VALUES: Final = 100_000
# Longest UTF-8 string a short string (0x02) or object key can hold: its length is a u16.
MAX_SHORT_STRING: Final = 0xFFFF

# §2.1 type markers.
NUMBER: Final = 0x00
BOOLEAN: Final = 0x01
STRING: Final = 0x02
OBJECT: Final = 0x03
MOVIECLIP: Final = 0x04
NULL: Final = 0x05
UNDEFINED_MARKER: Final = 0x06
REFERENCE: Final = 0x07
ECMA_ARRAY: Final = 0x08
OBJECT_END: Final = 0x09
STRICT_ARRAY: Final = 0x0A
DATE: Final = 0x0B
LONG_STRING: Final = 0x0C
UNSUPPORTED: Final = 0x0D
RECORDSET: Final = 0x0E
XML_DOCUMENT: Final = 0x0F
TYPED_OBJECT: Final = 0x10
AVMPLUS_OBJECT: Final = 0x11

_REFUSED_MARKERS: Final = {
    MOVIECLIP: "movie clip (0x04) is reserved",
    UNSUPPORTED: "unsupported marker (0x0D)",
    RECORDSET: "record set (0x0E) is reserved",
    AVMPLUS_OBJECT: "AMF3 values (0x11) are not supported",
}

_DOUBLE = struct.Struct(">d")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_DATE = struct.Struct(">dh")  # §2.13: ms since epoch as double, time zone s16 (reserved, 0)
_OBJECT_END_BYTES: Final = b"\x00\x00\x09"  # §2.11: empty UTF-8 key + object-end marker


class Amf0Error(RemoteProtocolError):
    """AMF0 bytes are malformed, truncated, or exceed a decode limit."""


class Amf0EncodeError(LocalProtocolError):
    """A Python value cannot be written as AMF0 (wrong type, too deep, key too long)."""


class Undefined:
    """The AMF0 ``undefined`` value (§2.8); use the ``UNDEFINED`` singleton."""

    __slots__ = ()
    _instance: Undefined | None = None

    def __new__(cls) -> Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = Undefined()


@dataclass(frozen=True, slots=True)
class Date:
    """AMF0 date (§2.13): milliseconds since the Unix epoch (UTC) and a reserved time zone."""

    ms: float
    tz: int = 0


@dataclass(frozen=True, slots=True)
class XmlDocument:
    """AMF0 XML document (§2.17), kept as text."""

    text: str


class EcmaArray(dict[str, "Amf0Value"]):
    """AMF0 ECMA array (§2.10): an associative array, written with a count hint (``onMetaData``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"EcmaArray({dict.__repr__(self)})"


@dataclass(frozen=True, slots=True)
class TypedObject:
    """AMF0 typed object (§2.18): an object with a registered class name.

    Frozen, but ``fields`` is a dict, so instances are unhashable.
    """

    class_name: str
    fields: dict[str, Amf0Value] = field(default_factory=dict)


Amf0Value: TypeAlias = (
    "float | bool | str | Undefined | EcmaArray | dict[str, Amf0Value] | list[Amf0Value]"
    " | Date | XmlDocument | TypedObject | None"
)


_D = TypeVar("_D", bound="dict[str, Amf0Value]")


class _Pending:
    """Placeholder in the reference table for a complex value still being decoded."""

    __slots__ = ()


_PENDING: Final = _Pending()


class _Decoder:
    """One decode pass: the buffer, the reference table (§2.9) and the limits."""

    __slots__ = ("buf", "max_values", "refs", "values")

    def __init__(self, buf: memoryview, max_values: int) -> None:
        self.buf = buf
        self.refs: list[Amf0Value | _Pending] = []
        self.values = 0
        self.max_values = max_values

    def need(self, offset: int, size: int) -> None:
        if offset + size > len(self.buf):
            raise Amf0Error(
                f"truncated AMF0: need {size} bytes at offset {offset}, have {len(self.buf) - offset}"
            )

    def count(self) -> None:
        self.values += 1
        if self.values > self.max_values:
            raise Amf0Error(f"AMF0 body has more than {self.max_values} values")

    def utf8(self, offset: int, length: int) -> tuple[str, int]:
        self.need(offset, length)
        end = offset + length
        try:
            return str(self.buf[offset:end], "utf-8"), end
        except UnicodeDecodeError as exc:
            raise Amf0Error(f"invalid UTF-8 in AMF0 string at offset {offset}") from exc

    def short_string(self, offset: int) -> tuple[str, int]:
        self.need(offset, 2)
        (length,) = _U16.unpack_from(self.buf, offset)
        return self.utf8(offset + 2, length)

    def value(self, offset: int, depth: int) -> tuple[Amf0Value, int]:
        if depth > MAX_DEPTH:
            raise Amf0Error(f"AMF0 nesting deeper than {MAX_DEPTH}")
        self.need(offset, 1)
        self.count()
        marker = self.buf[offset]
        offset += 1
        if marker == NUMBER:
            self.need(offset, 8)
            return _DOUBLE.unpack_from(self.buf, offset)[0], offset + 8
        if marker == BOOLEAN:
            self.need(offset, 1)
            return self.buf[offset] != 0, offset + 1
        if marker == STRING:
            return self.short_string(offset)
        if marker == NULL:
            return None, offset
        if marker == UNDEFINED_MARKER:
            return UNDEFINED, offset
        if marker in (OBJECT, ECMA_ARRAY, TYPED_OBJECT, STRICT_ARRAY):
            return self.complex(marker, offset, depth)
        if marker == REFERENCE:
            return self.reference(offset)
        if marker == DATE:
            self.need(offset, _DATE.size)
            ms, tz = _DATE.unpack_from(self.buf, offset)
            return Date(ms, tz), offset + _DATE.size
        if marker in (LONG_STRING, XML_DOCUMENT):
            self.need(offset, 4)
            (length,) = _U32.unpack_from(self.buf, offset)
            text, offset = self.utf8(offset + 4, length)
            return (text if marker == LONG_STRING else XmlDocument(text)), offset
        if marker == OBJECT_END:
            raise Amf0Error(f"object-end marker outside an object at offset {offset - 1}")
        reason = _REFUSED_MARKERS.get(marker, f"unknown AMF0 marker 0x{marker:02x}")
        raise Amf0Error(f"{reason} at offset {offset - 1}")

    def complex(self, marker: int, offset: int, depth: int) -> tuple[Amf0Value, int]:
        index = len(self.refs)
        self.refs.append(_PENDING)
        result: Amf0Value
        if marker == OBJECT:
            result, offset = self.properties(offset, depth, {})
        elif marker == ECMA_ARRAY:
            self.need(
                offset, 4
            )  # u32 count: a hint only, encoders disagree; read to the end marker
            result, offset = self.properties(offset + 4, depth, EcmaArray())
        elif marker == TYPED_OBJECT:
            class_name, offset = self.short_string(offset)
            fields: dict[str, Amf0Value] = {}
            fields, offset = self.properties(offset, depth, fields)
            result = TypedObject(class_name, fields)
        else:
            result, offset = self.strict_array(offset, depth)
        self.refs[index] = result
        return result, offset

    def properties(self, offset: int, depth: int, into: _D) -> tuple[_D, int]:
        while True:
            key, offset = self.short_string(offset)
            self.need(offset, 1)
            if not key and self.buf[offset] == OBJECT_END:
                return into, offset + 1
            into[key], offset = self.value(offset, depth + 1)

    def strict_array(self, offset: int, depth: int) -> tuple[list[Amf0Value], int]:
        self.need(offset, 4)
        (count,) = _U32.unpack_from(self.buf, offset)
        offset += 4
        # Each element takes at least one byte: a count past the end is malformed, and checking
        # here keeps a forged count from driving a long loop.
        self.need(offset, count)
        items: list[Amf0Value] = []
        for _ in range(count):
            item, offset = self.value(offset, depth + 1)
            items.append(item)
        return items, offset

    def reference(self, offset: int) -> tuple[Amf0Value, int]:
        self.need(offset, 2)
        (index,) = _U16.unpack_from(self.buf, offset)
        if index >= len(self.refs):
            raise Amf0Error(f"AMF0 reference {index} to an object not yet seen")
        target = self.refs[index]
        if isinstance(target, _Pending):
            raise Amf0Error(f"AMF0 reference {index} to an enclosing object (a cycle)")
        return target, offset + 2


def decode(
    data: bytes | bytearray | memoryview, *, max_values: int = DEFAULT_MAX_VALUES
) -> list[Amf0Value]:
    """Decode every AMF0 value in ``data`` (one shared reference table, as in one message body).

    Raises ``Amf0Error`` if any value is malformed or truncated, or a limit is exceeded.
    """
    decoder = _Decoder(memoryview(data).cast("B"), max_values)
    values: list[Amf0Value] = []
    offset = 0
    while offset < len(decoder.buf):
        value, offset = decoder.value(offset, 0)
        values.append(value)
    return values


def decode_value(
    buf: bytes | bytearray | memoryview, offset: int = 0, *, max_values: int = DEFAULT_MAX_VALUES
) -> tuple[Amf0Value, int]:
    """Decode one AMF0 value at ``offset``; return it and the offset just past it.

    References may only point at objects inside this value (the table starts empty).
    """
    decoder = _Decoder(memoryview(buf).cast("B"), max_values)
    if not 0 <= offset <= len(decoder.buf):
        raise Amf0Error(f"offset {offset} outside a {len(decoder.buf)}-byte buffer")
    return decoder.value(offset, 0)


def encode(*values: Amf0Value) -> bytes:
    """Encode ``values`` back to back. Raises ``Amf0EncodeError`` for values AMF0 cannot hold."""
    out = bytearray()
    for value in values:
        _encode_value(out, value, 0)
    return bytes(out)


def _encode_utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Amf0EncodeError(f"{what} is not encodable as UTF-8") from exc


def _encode_key(out: bytearray, key: object) -> None:
    if not isinstance(key, str):
        raise Amf0EncodeError(f"AMF0 object keys must be str, not {type(key).__name__}")
    raw = _encode_utf8(key, "object key")
    if len(raw) > MAX_SHORT_STRING:
        raise Amf0EncodeError(f"object key of {len(raw)} bytes exceeds {MAX_SHORT_STRING}")
    out += _U16.pack(len(raw))
    out += raw


def _encode_properties(out: bytearray, props: Mapping[str, object], depth: int) -> None:
    for key, item in props.items():
        _encode_key(out, key)
        _encode_value(out, item, depth + 1)
    out += _OBJECT_END_BYTES


def _encode_value(out: bytearray, value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise Amf0EncodeError(f"AMF0 nesting deeper than {MAX_DEPTH} (or a cyclic value)")
    if value is None:
        out.append(NULL)
    elif isinstance(value, bool):
        out += bytes((BOOLEAN, int(value)))
    elif isinstance(value, int | float):
        _encode_number(out, value)
    elif isinstance(value, str):
        raw = _encode_utf8(value, "string")
        if len(raw) > MAX_SHORT_STRING:
            out.append(LONG_STRING)
            out += _U32.pack(len(raw))
        else:
            out.append(STRING)
            out += _U16.pack(len(raw))
        out += raw
    elif isinstance(value, Undefined):
        out.append(UNDEFINED_MARKER)
    elif isinstance(value, EcmaArray):
        out.append(ECMA_ARRAY)
        out += _U32.pack(len(value))
        _encode_properties(out, value, depth)
    elif isinstance(value, dict):
        out.append(OBJECT)
        _encode_properties(out, value, depth)
    elif isinstance(value, list):
        out.append(STRICT_ARRAY)
        out += _U32.pack(len(value))
        for item in value:
            _encode_value(out, item, depth + 1)
    elif isinstance(value, Date):
        out.append(DATE)
        _encode_date(out, value)
    elif isinstance(value, XmlDocument):
        raw = _encode_utf8(value.text, "XML document")
        out.append(XML_DOCUMENT)
        out += _U32.pack(len(raw))
        out += raw
    elif isinstance(value, TypedObject):
        out.append(TYPED_OBJECT)
        _encode_key(out, value.class_name)
        _encode_properties(out, value.fields, depth)
    else:
        raise Amf0EncodeError(f"cannot encode {type(value).__name__} as AMF0")


def _encode_number(out: bytearray, value: float) -> None:
    try:
        packed = _DOUBLE.pack(float(value))
    except OverflowError as exc:
        raise Amf0EncodeError("integer is too large for an AMF0 number") from exc
    out.append(NUMBER)
    out += packed


def _encode_date(out: bytearray, value: Date) -> None:
    try:
        out += _DATE.pack(value.ms, value.tz)
    except (struct.error, OverflowError) as exc:
        raise Amf0EncodeError(f"date {value!r} does not fit AMF0 (tz must be s16)") from exc
