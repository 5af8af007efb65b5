"""STUN error classes: the STUN codec raises only these.

``StunError`` means a datagram (or a framed TCP message) is not a STUN message we accept; its hint
is ``"drop"``: RFC 8489 §6.3 has a server silently discard what it cannot parse, and the driver
counts it. ``StunUsageError`` means our own caller built a message the codec cannot encode (a bug
on our side, never the peer's fault).
"""

from __future__ import annotations

from synctv.media.errors import LocalProtocolError, RemoteProtocolError


class StunError(RemoteProtocolError):
    """The peer's bytes are not a well-formed STUN message."""

    def __init__(self, message: str, *, hint: str = "drop") -> None:
        super().__init__(message, hint=hint)


class StunUsageError(LocalProtocolError):
    """A message or attribute was built with values the wire format cannot carry."""
