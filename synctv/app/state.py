"""Short-lived state: the in-process store's sweeper, or Redis in readiness."""

from __future__ import annotations

from synctv.app.feature import Feature, Services, Task
from synctv.state import MemoryState, ShortLivedState, StateUnavailable


async def build(services: Services) -> Feature:
    state = services.state
    tasks = [Task("short_lived_state", state.run)] if isinstance(state, MemoryState) else []
    checks = {"redis": lambda: _state_check(state)} if services.config.redis.url else {}
    return Feature("state", tasks=tasks, health_checks=checks)


async def _state_check(state: ShortLivedState) -> tuple[bool, str]:
    try:
        await state.get("health-probe")
    except StateUnavailable as exc:
        return False, str(exc)
    return True, "ok"
