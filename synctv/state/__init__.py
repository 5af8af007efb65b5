"""Short-lived shared state (tickets, login state, rate windows, realtime pub/sub).

:func:`open_state` picks the backend from the configuration: Redis when ``redis.url`` is set
(required for more than one node), otherwise in-process memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from synctv.config import RedisConfig
from synctv.state.base import (
    ShortLivedState,
    StateStatistics,
    StateUnavailable,
    Subscription,
)
from synctv.state.memory import MemoryState

__all__ = [
    "MemoryState",
    "ShortLivedState",
    "StateStatistics",
    "StateUnavailable",
    "Subscription",
    "open_state",
]


@asynccontextmanager
async def open_state(config: RedisConfig) -> AsyncIterator[ShortLivedState]:
    """Yield the configured backend and close it on exit.

    The Redis backend must run inside ``trio_asyncio.open_loop()`` (app.py opens it outermost).
    The memory backend's periodic purge is not started here: expired keys are already invisible
    to reads, and the app may start ``MemoryState.run`` in its nursery to reclaim their memory.
    """
    if config.url is None:
        memory = MemoryState()
        try:
            yield memory
        finally:
            await memory.aclose()
        return
    # Imported here so a memory-only deployment never imports redis-py.
    from synctv.state.redis import open_redis_state

    async with open_redis_state(
        config.url.get_secret_value(),
        key_prefix=config.key_prefix,
        timeout_seconds=config.timeout_seconds,
    ) as redis_state:
        yield redis_state
