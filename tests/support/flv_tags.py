"""Shared test helpers (moved out of test modules: no test module imports another)."""

from __future__ import annotations

AVC_SEQ = bytes((0x17, 0, 0, 0, 0)) + b"avcC-config"

AAC_SEQ = bytes((0xAF, 0)) + b"\x12\x10"


def key(n: int = 0, cts: int = 0) -> bytes:
    return bytes((0x17, 1)) + cts.to_bytes(3, "big") + b"KEY" + n.to_bytes(4, "big")


def inter(n: int = 0, cts: int = 0) -> bytes:
    return bytes((0x27, 1)) + cts.to_bytes(3, "big") + b"P" + n.to_bytes(4, "big")


def aac(n: int = 0) -> bytes:
    return bytes((0xAF, 1)) + n.to_bytes(4, "big")
