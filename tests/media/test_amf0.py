"""AMF0: case tables shared by decode and encode, limits, truncation, round trips, fuzzing."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media import amf0
from synctv.media.amf0 import (
    UNDEFINED,
    Amf0EncodeError,
    Amf0Error,
    Amf0Value,
    Date,
    EcmaArray,
    TypedObject,
    Undefined,
    XmlDocument,
)
from synctv.media.errors import LocalProtocolError, RemoteProtocolError

OBJECT_END = b"\x00\x00\x09"


def s16(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def num(x: float) -> bytes:
    return b"\x00" + struct.pack(">d", x)


# (name, canonical wire bytes, value): decode(wire) == [value] and encode(value) == wire.
CASES: list[tuple[str, bytes, Amf0Value]] = [
    ("number-zero", num(0.0), 0.0),
    ("number-one", b"\x00\x3f\xf0\x00\x00\x00\x00\x00\x00", 1.0),
    ("number-negative", num(-2.5), -2.5),
    ("number-inf", num(math.inf), math.inf),
    ("true", b"\x01\x01", True),
    ("false", b"\x01\x00", False),
    ("string-empty", b"\x02\x00\x00", ""),
    ("string", b"\x02\x00\x07connect", "connect"),
    ("string-utf8", b"\x02" + s16("直播"), "直播"),
    ("string-max-short", b"\x02\xff\xff" + b"a" * 0xFFFF, "a" * 0xFFFF),
    ("long-string", b"\x0c\x00\x01\x00\x00" + b"b" * 0x10000, "b" * 0x10000),
    ("null", b"\x05", None),
    ("undefined", b"\x06", UNDEFINED),
    ("object-empty", b"\x03" + OBJECT_END, {}),
    (
        "object",
        b"\x03" + s16("app") + b"\x02" + s16("live") + s16("n") + num(1.0) + OBJECT_END,
        {"app": "live", "n": 1.0},
    ),
    ("object-empty-key", b"\x03" + s16("") + b"\x05" + OBJECT_END, {"": None}),
    (
        "object-nested",
        b"\x03" + s16("a") + b"\x03" + s16("b") + b"\x0a\x00\x00\x00\x00" + OBJECT_END + OBJECT_END,
        {"a": {"b": []}},
    ),
    ("ecma-array-empty", b"\x08\x00\x00\x00\x00" + OBJECT_END, EcmaArray()),
    (
        "ecma-array",
        b"\x08\x00\x00\x00\x02"
        + s16("width")
        + num(640.0)
        + s16("stereo")
        + b"\x01\x01"
        + OBJECT_END,
        EcmaArray(width=640.0, stereo=True),
    ),
    ("strict-array-empty", b"\x0a\x00\x00\x00\x00", []),
    (
        "strict-array",
        b"\x0a\x00\x00\x00\x03" + num(1.0) + b"\x05\x02" + s16("x"),
        [1.0, None, "x"],
    ),
    ("date", b"\x0b" + struct.pack(">dh", 1.7e12, 0), Date(1.7e12, 0)),
    ("date-tz", b"\x0b" + struct.pack(">dh", -1.0, -60), Date(-1.0, -60)),
    ("xml", b"\x0f\x00\x00\x00\x04<a/>", XmlDocument("<a/>")),
    (
        "typed-object",
        b"\x10" + s16("flex.Msg") + s16("id") + num(7.0) + OBJECT_END,
        TypedObject("flex.Msg", {"id": 7.0}),
    ),
]

# (name, accepted non-canonical wire, value, canonical wire)
NON_CANONICAL: list[tuple[str, bytes, Amf0Value, bytes]] = [
    (
        "ecma-count-zero",  # FFmpeg and others write 0 or a wrong count; we read to the end marker
        b"\x08\x00\x00\x00\x00" + s16("a") + b"\x05" + OBJECT_END,
        EcmaArray(a=None),
        b"\x08\x00\x00\x00\x01" + s16("a") + b"\x05" + OBJECT_END,
    ),
    ("boolean-nonzero", b"\x01\x07", True, b"\x01\x01"),
    ("short-long-string", b"\x0c\x00\x00\x00\x02hi", "hi", b"\x02\x00\x02hi"),
]


@pytest.mark.parametrize(("name", "wire", "value"), CASES, ids=[c[0] for c in CASES])
def test_decode(name: str, wire: bytes, value: Amf0Value) -> None:
    assert amf0.decode(wire) == [value]
    assert amf0.decode_value(wire) == (value, len(wire))
    assert type(amf0.decode(wire)[0]) is type(value)


@pytest.mark.parametrize(("name", "wire", "value"), CASES, ids=[c[0] for c in CASES])
def test_encode(name: str, wire: bytes, value: Amf0Value) -> None:
    assert amf0.encode(value) == wire


@pytest.mark.parametrize(
    ("name", "wire", "value", "canonical"), NON_CANONICAL, ids=[c[0] for c in NON_CANONICAL]
)
def test_non_canonical(name: str, wire: bytes, value: Amf0Value, canonical: bytes) -> None:
    assert amf0.decode(wire) == [value]
    assert amf0.encode(value) == canonical


def test_int_encodes_as_number() -> None:
    assert amf0.encode(3) == num(3.0)


def test_nan_round_trips_bytes() -> None:
    wire = num(math.nan)
    (value,) = amf0.decode(wire)
    assert isinstance(value, float)
    assert math.isnan(value)
    assert amf0.encode(value) == wire


def test_key_order_preserved_byte_exact() -> None:
    wire = amf0.encode({"z": 1.0, "a": 2.0, "m": {"y": None, "b": True}})
    decoded = amf0.decode(wire)
    assert isinstance(decoded[0], dict)
    assert list(decoded[0]) == ["z", "a", "m"]
    assert amf0.encode(*decoded) == wire


def test_connect_command_round_trip() -> None:
    wire = amf0.encode("connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}, None)
    assert amf0.decode(wire) == ["connect", 1.0, {"app": "live", "tcUrl": "rtmp://h/live"}, None]


def test_decode_value_offset_and_trailing_bytes_untouched() -> None:
    wire = b"junk" + amf0.encode("a", 2.0) + b"\xff"
    value, offset = amf0.decode_value(wire, 4)
    assert (value, offset) == ("a", 8)
    assert amf0.decode_value(wire, offset) == (2.0, 17)
    with pytest.raises(Amf0Error, match="offset 99"):
        amf0.decode_value(wire, 99)


def test_decode_accepts_memoryview_and_bytearray() -> None:
    wire = amf0.encode({"a": [1.0]})
    assert amf0.decode(memoryview(wire)) == amf0.decode(bytearray(wire)) == [{"a": [1.0]}]


# -- references (§2.9) ---------------------------------------------------------------------


def test_reference_resolves_to_same_object() -> None:
    inner = b"\x03" + s16("k") + num(1.0) + OBJECT_END
    wire = b"\x0a\x00\x00\x00\x02" + inner + b"\x07\x00\x01"  # index 0 = the array, 1 = object
    (value,) = amf0.decode(wire)
    assert isinstance(value, list)
    assert value == [{"k": 1.0}, {"k": 1.0}]
    assert value[0] is value[1]
    # encode inlines references
    assert amf0.encode(value) == b"\x0a\x00\x00\x00\x02" + inner + inner


def test_reference_across_top_level_values_in_one_body() -> None:
    wire = b"\x03" + OBJECT_END + b"\x07\x00\x00"
    first, second = amf0.decode(wire)
    assert first is second


def test_reference_counts_every_complex_kind() -> None:
    wire = (
        b"\x08\x00\x00\x00\x00" + OBJECT_END  # 0
        + b"\x0a\x00\x00\x00\x00"  # 1
        + b"\x10" + s16("C") + OBJECT_END  # 2
        + b"\x03" + OBJECT_END  # 3
        + b"\x07\x00\x02"
    )  # fmt: skip
    values = amf0.decode(wire)
    assert values[4] is values[2]


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x07\x00\x00", "not yet seen"),
        (b"\x03" + s16("self") + b"\x07\x00\x00" + OBJECT_END, "cycle"),
        (b"\x0a\x00\x00\x00\x01\x07\x00\x00", "cycle"),
    ],
)
def test_bad_references(wire: bytes, message: str) -> None:
    with pytest.raises(Amf0Error, match=message):
        amf0.decode(wire)


# -- errors and limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"\x04", "movie clip"),
        (b"\x0d", "unsupported"),
        (b"\x0e", "record set"),
        (b"\x11\x01", "AMF3"),
        (b"\x12", "unknown AMF0 marker 0x12"),
        (b"\xff", "unknown AMF0 marker 0xff"),
        (b"\x09", "object-end marker outside"),
        (b"\x03" + s16("a") + b"\x09", "object-end marker outside"),
        (b"\x02\x00\x02\xff\xfe", "invalid UTF-8"),
        (b"\x03\x00\x02\xc3\x28\x05" + OBJECT_END, "invalid UTF-8"),
        (b"\x0a\xff\xff\xff\xff\x05", "truncated"),
        (b"\x0c\xff\xff\xff\xff", "truncated"),
    ],
)
def test_decode_errors(wire: bytes, message: str) -> None:
    with pytest.raises(Amf0Error, match=message):
        amf0.decode(wire)


def test_errors_are_remote_protocol_errors() -> None:
    assert issubclass(Amf0Error, RemoteProtocolError)
    assert issubclass(Amf0EncodeError, LocalProtocolError)


def test_nesting_limit() -> None:
    ok = b"\x0a\x00\x00\x00\x01" * amf0.MAX_DEPTH + b"\x05"
    assert amf0.decode(ok)
    too_deep = b"\x0a\x00\x00\x00\x01" * (amf0.MAX_DEPTH + 1) + b"\x05"
    with pytest.raises(Amf0Error, match="nesting"):
        amf0.decode(too_deep)


def test_value_count_limit() -> None:
    wire = b"\x0a\x00\x00\x00\x0a" + b"\x05" * 10
    assert amf0.decode(wire, max_values=11) == [[None] * 10]
    with pytest.raises(Amf0Error, match="more than 10 values"):
        amf0.decode(wire, max_values=10)
    with pytest.raises(Amf0Error, match="more than 10 values"):
        amf0.decode_value(wire, max_values=10)


def test_default_value_limit_bounds_a_null_flood() -> None:
    count = amf0.DEFAULT_MAX_VALUES + 1
    wire = b"\x0a" + struct.pack(">I", count) + b"\x05" * count
    with pytest.raises(Amf0Error, match="values"):
        amf0.decode(wire)


def test_undefined_is_a_singleton() -> None:
    assert Undefined() is UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"
    assert repr(EcmaArray(a=1.0)) == "EcmaArray({'a': 1.0})"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot encode object"),
        (b"bytes", "cannot encode bytes"),
        ({1: 2.0}, "keys must be str"),
        ({"k" * 0x10000: None}, "exceeds 65535"),
        (TypedObject("c" * 0x10000), "exceeds 65535"),
        (10**400, "too large"),
        (Date(0.0, 40000), "tz must be s16"),
        ("\ud800", "UTF-8"),
        ({"\ud800": None}, "UTF-8"),
        (XmlDocument("\ud800"), "UTF-8"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v[:12],
)
def test_encode_errors(value: object, message: str) -> None:
    with pytest.raises(Amf0EncodeError, match=message):
        amf0.encode(value)  # type: ignore[arg-type]


def test_encode_cyclic_value_hits_depth_limit() -> None:
    cyclic: list[Amf0Value] = []
    cyclic.append(cyclic)
    with pytest.raises(Amf0EncodeError, match="nesting"):
        amf0.encode(cyclic)


def test_encode_depth_limit_matches_decode() -> None:
    value: Amf0Value = None
    for _ in range(amf0.MAX_DEPTH):
        value = [value]
    assert amf0.decode(amf0.encode(value)) == [value]
    with pytest.raises(Amf0EncodeError):
        amf0.encode([value])


# -- truncation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "wire", "value"), CASES[:20], ids=[c[0] for c in CASES[:20]])
def test_every_proper_prefix_is_truncated(name: str, wire: bytes, value: Amf0Value) -> None:
    if len(wire) > 100:
        wire = wire[:100]  # long strings: the length prefix covers it
    for end in range(1, len(wire)):
        with pytest.raises(Amf0Error):
            amf0.decode_value(wire[:end])


def test_empty_input() -> None:
    assert amf0.decode(b"") == []
    with pytest.raises(Amf0Error, match="truncated"):
        amf0.decode_value(b"")


# -- properties ------------------------------------------------------------------------------

KEYS = st.text(max_size=6)
SCALARS = st.one_of(
    st.floats(allow_nan=False),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.booleans(),
    st.text(max_size=12),
    st.none(),
    st.just(UNDEFINED),
    st.builds(Date, st.floats(allow_nan=False), st.integers(-32768, 32767)),
    st.builds(XmlDocument, st.text(max_size=8)),
)
VALUES: st.SearchStrategy[Amf0Value] = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4),
        st.dictionaries(KEYS, children, max_size=4).map(EcmaArray),
        st.builds(TypedObject, st.text(max_size=5), st.dictionaries(KEYS, children, max_size=3)),
    ),
    max_leaves=16,
)


@given(st.lists(VALUES, max_size=4))
def test_round_trip(values: list[Amf0Value]) -> None:
    wire = amf0.encode(*values)
    decoded = amf0.decode(wire)
    assert decoded == values
    assert amf0.encode(*decoded) == wire


@given(st.binary(max_size=256))
def test_arbitrary_bytes_raise_only_amf0_error(data: bytes) -> None:
    try:
        amf0.decode(data)
    except Amf0Error:
        pass


@given(VALUES, st.data())
def test_mutated_encodings_raise_only_amf0_error(value: Amf0Value, data: st.DataObject) -> None:
    wire = bytearray(amf0.encode(value))
    index = data.draw(st.integers(0, len(wire) - 1))
    wire[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    try:
        amf0.decode(bytes(wire[:cut]))
    except Amf0Error:
        pass
