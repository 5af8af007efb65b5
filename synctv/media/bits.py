"""Bit-level reading and writing for codec headers (SPS, AudioSpecificConfig, ADTS).

`BitReader` reads MSB-first from a byte string, with Exp-Golomb codes (ITU-T H.264 §9.1,
H.265 §9.2) for parameter sets. Running off the end raises `MediaError`, never `IndexError`,
so a truncated SPS from a publisher is an ordinary protocol error.

`BitWriter` is the inverse, used to build ADTS headers and test vectors.

`emulation_prevention_remove` turns a NAL unit's payload (with 0x000003 escapes) back into the
RBSP that the bit reader must see (H.264 §7.4.1, H.265 §7.4.2).
"""

from __future__ import annotations

from synctv.media.errors import MediaError

__all__ = [
    "MAX_EXP_GOLOMB_LEADING_ZEROS",
    "BitReader",
    "BitWriter",
    "emulation_prevention_remove",
]

# An ue(v) value in any parameter set fits in 32 bits (H.264 §7.4.2: the largest is
# 2^32 - 2); more leading zeros than that is garbage, and an unbounded count would let a
# crafted SPS make us scan the whole buffer bit by bit.
MAX_EXP_GOLOMB_LEADING_ZEROS = 32


class BitReader:
    """MSB-first bit reader over an immutable copy of ``data``.

    Reads past the end raise `MediaError` (the input is the peer's, so a short read is their
    fault). ``bits_left`` tells how many bits remain.
    """

    __slots__ = ("_data", "_pos", "_total")

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = bytes(data)
        self._pos = 0
        self._total = len(self._data) * 8

    @property
    def bits_left(self) -> int:
        """Bits not yet consumed."""
        return self._total - self._pos

    @property
    def position(self) -> int:
        """Bits consumed so far."""
        return self._pos

    def _need(self, n: int) -> None:
        if n < 0:
            raise MediaError(f"negative bit count {n}")
        if n > self._total - self._pos:
            raise MediaError(f"bitstream underrun: need {n} bits, {self._total - self._pos} left")

    def read_bits(self, n: int) -> int:
        """Read ``n`` bits as an unsigned big-endian integer (``n`` may be 0)."""
        self._need(n)
        if n == 0:
            return 0
        pos = self._pos
        first = pos >> 3
        last = (pos + n - 1) >> 3
        chunk = int.from_bytes(self._data[first : last + 1], "big")
        shift = (last + 1) * 8 - (pos + n)
        self._pos = pos + n
        return (chunk >> shift) & ((1 << n) - 1)

    def read_bit(self) -> int:
        """Read one bit."""
        self._need(1)
        pos = self._pos
        self._pos = pos + 1
        return (self._data[pos >> 3] >> (7 - (pos & 7))) & 1

    def read_flag(self) -> bool:
        """Read one bit as a boolean."""
        return self.read_bit() == 1

    def skip_bits(self, n: int) -> None:
        """Skip ``n`` bits."""
        self._need(n)
        self._pos += n

    def read_ue(self) -> int:
        """Read an unsigned Exp-Golomb code, ue(v)."""
        zeros = 0
        while self.read_bit() == 0:
            zeros += 1
            if zeros > MAX_EXP_GOLOMB_LEADING_ZEROS:
                raise MediaError("Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.read_bits(zeros)

    def read_se(self) -> int:
        """Read a signed Exp-Golomb code, se(v): 1, -1, 2, -2, ... for codes 1, 2, 3, 4, ..."""
        k = self.read_ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


class BitWriter:
    """MSB-first bit writer; ``getvalue()`` pads the last byte with zero bits."""

    __slots__ = ("_acc", "_nbits")

    def __init__(self) -> None:
        self._acc = 0
        self._nbits = 0

    @property
    def bit_length(self) -> int:
        """Bits written so far."""
        return self._nbits

    def write_bits(self, value: int, n: int) -> None:
        """Append the low ``n`` bits of ``value``; it must fit in ``n`` bits."""
        if n < 0 or value < 0 or value >> n:
            raise ValueError(f"value {value} does not fit in {n} bits")
        self._acc = (self._acc << n) | value
        self._nbits += n

    def write_bit(self, bit: int | bool) -> None:
        """Append one bit."""
        self.write_bits(1 if bit else 0, 1)

    def write_ue(self, value: int) -> None:
        """Append an unsigned Exp-Golomb code."""
        if value < 0:
            raise ValueError(f"ue(v) cannot encode {value}")
        code = value + 1
        self.write_bits(code, 2 * code.bit_length() - 1)

    def write_se(self, value: int) -> None:
        """Append a signed Exp-Golomb code."""
        self.write_ue(2 * value - 1 if value > 0 else -2 * value)

    def getvalue(self) -> bytes:
        """The bits written so far, zero-padded to a whole byte."""
        pad = -self._nbits % 8
        return (self._acc << pad).to_bytes((self._nbits + pad) // 8, "big")


def emulation_prevention_remove(nal: bytes | bytearray | memoryview) -> bytes:
    """Strip emulation-prevention bytes: every 0x03 that follows two zero bytes.

    H.264 §7.4.1 / H.265 §7.4.2: the encoder inserts 0x03 after 00 00 whenever the next byte
    is 0x00–0x03; the RBSP is the NAL payload without them.
    """
    raw = bytes(nal)
    if b"\x00\x00\x03" not in raw:
        return raw
    out = bytearray()
    start = 0
    while True:
        i = raw.find(b"\x00\x00\x03", start)
        if i < 0:
            break
        out += raw[start : i + 2]
        start = i + 3
    out += raw[start:]
    return bytes(out)
