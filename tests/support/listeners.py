"""A real listener whose ``accept`` fails first: injecting EMFILE and friends into accept loops."""

from __future__ import annotations

import trio


class FlakyListener:
    """Wraps a real listener; its first ``failures`` accepts raise ``OSError(error)``."""

    def __init__(self, listener: trio.SocketListener, failures: int, error: int) -> None:
        self.listener = listener
        self.failures = failures
        self.error = error
        self.socket = listener.socket

    async def accept(self) -> trio.SocketStream:
        await trio.lowlevel.checkpoint()
        if self.failures:
            self.failures -= 1
            raise OSError(self.error, "injected")
        return await self.listener.accept()

    async def __aenter__(self) -> FlakyListener:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.listener.aclose()
