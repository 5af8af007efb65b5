"""BitReader/BitWriter and emulation-prevention removal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synctv.media.bits import BitReader, BitWriter, emulation_prevention_remove
from synctv.media.errors import MediaError

# (name, wire bits as bytes, ue values) shared by decode and encode: H.264 §9.1 Table 9-2.
UE_CASES = [
    ("zero", bytes([0b10000000]), [0]),
    ("one_two", bytes([0b01001100]), [1, 2]),
    ("three_to_six", bytes([0b00100001, 0b01001100, 0b01110000]), [3, 4, 5, 6]),
    ("seven", bytes([0b00010000]), [7]),
]
# se(v) mapping: code k -> (-1)^(k+1) * ceil(k/2).
SE_CASES = [
    ("zero", bytes([0b10000000]), [0]),
    ("plus_minus_one", bytes([0b01001100]), [1, -1]),
    ("two_minus_two", bytes([0b00100001, 0b01000000]), [2, -2]),
]


@pytest.mark.parametrize(
    ("wire", "values"), [c[1:] for c in UE_CASES], ids=[c[0] for c in UE_CASES]
)
def test_ue_decode(wire: bytes, values: list[int]) -> None:
    r = BitReader(wire)
    assert [r.read_ue() for _ in values] == values


@pytest.mark.parametrize(
    ("wire", "values"), [c[1:] for c in UE_CASES], ids=[c[0] for c in UE_CASES]
)
def test_ue_encode(wire: bytes, values: list[int]) -> None:
    w = BitWriter()
    for v in values:
        w.write_ue(v)
    assert w.getvalue() == wire


@pytest.mark.parametrize(
    ("wire", "values"), [c[1:] for c in SE_CASES], ids=[c[0] for c in SE_CASES]
)
def test_se_decode(wire: bytes, values: list[int]) -> None:
    r = BitReader(wire)
    assert [r.read_se() for _ in values] == values


@pytest.mark.parametrize(
    ("wire", "values"), [c[1:] for c in SE_CASES], ids=[c[0] for c in SE_CASES]
)
def test_se_encode(wire: bytes, values: list[int]) -> None:
    w = BitWriter()
    for v in values:
        w.write_se(v)
    assert w.getvalue() == wire


def test_read_bits_across_bytes() -> None:
    r = BitReader(b"\xab\xcd\xef")
    assert r.read_bits(4) == 0xA
    assert r.read_bits(0) == 0
    assert r.read_bits(12) == 0xBCD
    assert r.position == 16
    assert r.read_bit() == 1
    assert r.read_flag() is True
    r.skip_bits(2)
    assert r.bits_left == 4
    assert r.read_bits(4) == 0xF
    assert r.bits_left == 0


def test_underrun_raises_media_error() -> None:
    r = BitReader(b"\xff")
    with pytest.raises(MediaError, match="underrun"):
        r.read_bits(9)
    r.read_bits(8)
    with pytest.raises(MediaError):
        r.read_bit()
    with pytest.raises(MediaError):
        r.skip_bits(1)
    with pytest.raises(MediaError, match="negative"):
        r.read_bits(-1)


def test_ue_too_long_and_truncated() -> None:
    with pytest.raises(MediaError, match="longer than 32"):
        BitReader(bytes(8)).read_ue()
    with pytest.raises(MediaError):
        BitReader(b"\x00").read_ue()  # runs out while counting zeros
    with pytest.raises(MediaError):
        BitReader(b"\x01").read_ue()  # 7 zeros, then needs 7 more bits


def test_writer_rejects_bad_values() -> None:
    w = BitWriter()
    with pytest.raises(ValueError):
        w.write_bits(4, 2)
    with pytest.raises(ValueError):
        w.write_bits(-1, 3)
    with pytest.raises(ValueError):
        w.write_ue(-1)
    w.write_bit(True)
    w.write_bit(0)
    assert w.bit_length == 2
    assert w.getvalue() == b"\x80"


@given(st.lists(st.tuples(st.integers(0, 2**40), st.integers(-(2**20), 2**20)), max_size=20))
def test_exp_golomb_round_trip(values: list[tuple[int, int]]) -> None:
    w = BitWriter()
    for u, s in values:
        w.write_ue(u % (2**32 - 1))
        w.write_se(s)
    r = BitReader(w.getvalue())
    for u, s in values:
        assert r.read_ue() == u % (2**32 - 1)
        assert r.read_se() == s
    assert r.bits_left < 8


@given(st.binary(max_size=32), st.lists(st.integers(0, 40), max_size=30))
def test_arbitrary_reads_raise_only_media_error(data: bytes, widths: list[int]) -> None:
    r = BitReader(data)
    try:
        for n in widths:
            r.read_bits(n)
            r.read_se()
    except MediaError:
        pass


# (name, NAL payload with escapes, RBSP)
EPB_CASES = [
    ("none", b"\x67\x42\x00\x1e", b"\x67\x42\x00\x1e"),
    ("one", b"\x00\x00\x03\x01", b"\x00\x00\x01"),
    ("back_to_back", b"\x00\x00\x03\x00\x00\x03\x00", b"\x00\x00\x00\x00\x00"),
    ("trailing", b"\x11\x00\x00\x03", b"\x11\x00\x00"),
    ("not_after_two_zeros", b"\x00\x03\x00\x00\x03\x03", b"\x00\x03\x00\x00\x03"),
]


@pytest.mark.parametrize(("nal", "rbsp"), [c[1:] for c in EPB_CASES], ids=[c[0] for c in EPB_CASES])
def test_emulation_prevention_remove(nal: bytes, rbsp: bytes) -> None:
    assert emulation_prevention_remove(nal) == rbsp
    assert emulation_prevention_remove(memoryview(nal)) == rbsp
