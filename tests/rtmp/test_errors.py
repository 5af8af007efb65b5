"""RTMP errors sit under the shared ProtocolError base, remote and local apart."""

from __future__ import annotations

from synctv.media.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from synctv.rtmp.errors import HandshakeError, RtmpLocalProtocolError, RtmpProtocolError


def test_hierarchy() -> None:
    assert issubclass(RtmpProtocolError, RemoteProtocolError)
    assert issubclass(HandshakeError, RtmpProtocolError)
    assert issubclass(RtmpLocalProtocolError, LocalProtocolError)
    assert not issubclass(RtmpLocalProtocolError, RemoteProtocolError)


def test_default_hint_is_close() -> None:
    error = RtmpProtocolError("bad chunk")
    assert isinstance(error, ProtocolError)
    assert error.hint == "close"
    assert str(error) == "bad chunk"
