"""Ask a STUN server for our reflexive address over UDP: is it reachable at that address?

One probe for two askers: ``synctv doctor`` checks the built-in server at its configured port,
and ``GET /api/rooms/{room}/webrtc/ice-servers`` tells a client whether the built-in server
answers at the address it advertises (so a browser can warn before a call fails to connect).
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

import trio

from synctv.stun import message as stun
from synctv.stun.errors import StunError

# UDP loses packets: a probe asks this many times within its time.
PROBE_TRIES = 3


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """``mapped``: the address the server saw us at. None with ``error`` (the socket or the
    answer failed) or without (no answer in time)."""

    mapped: tuple[str, int] | None
    error: OSError | StunError | None = None

    @property
    def reachable(self) -> bool:
        return self.mapped is not None

    def problem(self, timeout: float) -> str | None:
        if self.mapped is not None:
            return None
        if self.error is not None:
            return (
                (self.error.strerror or str(self.error)).lower()
                if isinstance(self.error, OSError)
                else str(self.error)
            )
        return f"no STUN Binding answer within {timeout:g} s"


async def probe(host: str, port: int, timeout: float) -> ProbeResult:
    """A Binding request to ``host``:``port``, up to :data:`PROBE_TRIES` times within
    ``timeout`` seconds. Never raises for network trouble: the problem is in the result."""
    request = stun.StunMessage(
        stun.Method.BINDING, stun.MessageClass.REQUEST, secrets.token_bytes(12)
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    answer: stun.StunMessage | None = None
    with trio.socket.socket(family, socket.SOCK_DGRAM) as udp:
        try:
            await udp.connect((host, port))
            for _ in range(PROBE_TRIES):
                await udp.send(bytes(request))
                with trio.move_on_after(timeout / PROBE_TRIES):
                    answer = stun.decode(await udp.recv(2048))
                if answer is not None:
                    break
        except (OSError, StunError) as exc:
            return ProbeResult(None, exc)
    mapped = answer.find(stun.XorMappedAddress) if answer is not None else None
    if answer is None or answer.transaction_id != request.transaction_id or mapped is None:
        return ProbeResult(None)
    return ProbeResult((str(mapped.address), mapped.port))
