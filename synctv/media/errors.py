"""The error hierarchy shared by every sans-IO codec (media, rtmp, stun, proxy.ranges).

A parser raises only subclasses of :class:`ProtocolError`; drivers catch that one base and act on
its hint. Nothing else (IndexError, struct.error, UnicodeDecodeError) may escape a parser: the
hypothesis tests check this.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every codec error. ``hint`` tells the driver what to do (close, 416, 400 ...)."""

    def __init__(self, message: str, *, hint: str = "close") -> None:
        super().__init__(message)
        self.hint = hint


class RemoteProtocolError(ProtocolError):
    """The peer's bytes are wrong: malformed, oversize, or out of order."""


class LocalProtocolError(ProtocolError):
    """Our own caller misused the codec (a bug here, not the peer's fault)."""


class MediaError(RemoteProtocolError):
    """A media bitstream (FLV, AVC/HEVC config, AAC config, TS) is malformed."""
