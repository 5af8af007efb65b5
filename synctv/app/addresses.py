"""The one holder of what actually listens, filled as each listener becomes ready.

Ports may be 0 (ephemeral) in the config, so the real ones are known only after binding, and
some readers are built before that (the media proxy must refuse to fetch from this process; the
admin service prints URLs with the bound ports). They hold this object and ask at use time:
until its listener is bound, an address is empty (``[]`` or ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import trio

from synctv.stun.server import StunEndpoints


@dataclass(slots=True)
class BoundAddresses:
    """Each field is written once, by the tree, when that listener has reported its binding."""

    http: list[str] = field(default_factory=list)  # "http://host:port"
    health: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    grpc: list[tuple[str, int]] = field(default_factory=list)  # public gRPC
    rtmp: list[tuple[str, int]] = field(default_factory=list)
    stun: StunEndpoints | None = None
    admin_socket: Path | None = None
    http_ready: trio.Event = field(default_factory=trio.Event)  # set once http is bound

    def http_binds(self) -> list[str]:
        return self.http

    def rtmp_port(self) -> int | None:
        return self.rtmp[0][1] if self.rtmp else None

    def stun_port(self) -> int | None:
        return self.stun.port if self.stun is not None else None

    def own_listeners(self) -> list[tuple[str, int]]:
        """Every (host, port) this process listens on: the proxy never fetches from itself."""
        found = [_host_port(bind) for bind in [*self.http, *self.health, *self.metrics]]
        found += self.rtmp
        found += self.grpc
        if self.stun is not None:
            found += [*self.stun.tcp, *self.stun.udp]
        return found

    # Setters for Listener.bound: what each listener's serve() reported through task_status.
    def http_bound(self, binds: list[str]) -> None:
        self.http[:] = binds
        self.http_ready.set()

    def health_bound(self, binds: list[str]) -> None:
        self.health[:] = binds

    def metrics_bound(self, binds: list[str]) -> None:
        self.metrics[:] = binds

    def grpc_bound(self, binds: list[tuple[str, int]]) -> None:
        self.grpc[:] = binds

    def rtmp_bound(self, binds: list[tuple[str, int]]) -> None:
        self.rtmp[:] = binds

    def stun_bound(self, endpoints: StunEndpoints) -> None:
        self.stun = endpoints


def _host_port(bind: str) -> tuple[str, int]:
    """``http://[::1]:8080`` → ``("::1", 8080)``."""
    host, _, port = bind.split("://", 1)[-1].rpartition(":")
    return host.strip("[]"), int(port)
