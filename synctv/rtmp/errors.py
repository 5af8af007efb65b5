"""RTMP error classes: every RTMP parser and state machine raises only these.

``RtmpProtocolError`` means the peer's bytes were wrong (the driver closes the connection, after
sending whatever ``data_to_send()`` still holds); ``RtmpLocalProtocolError`` means our own caller
used a session or encoder in a way its state machine does not allow (a bug on our side).
"""

from __future__ import annotations

from synctv.media.errors import LocalProtocolError, RemoteProtocolError


class RtmpProtocolError(RemoteProtocolError):
    """The peer sent malformed, oversize or out-of-order RTMP data."""


class HandshakeError(RtmpProtocolError):
    """The C0/C1/C2 (or S0/S1/S2) bytes are not an RTMP handshake we accept."""


class RtmpLocalProtocolError(LocalProtocolError):
    """A session method was called in a state that does not allow it."""
