"""Short-lived state: the in-process store's sweeper, or Redis in readiness; and the rate limits
following their runtime settings.

The limits book (``Services.limits.book``) takes every ``ratelimit.*`` setting at start and
again on each change (the settings listener delivers a change within about a second, on every
replica), so an operator tightens or loosens a limit without a restart. The one limit the config
file also sizes, STUN per source (``webrtc.stun_rate_limit_per_second``), keeps the file's value
until an operator stores the setting, and returns to it when the setting is reset.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from synctv.app.feature import Feature, Services, Task
from synctv.core.runtime_settings import RuntimeSettings
from synctv.core.settings import RATELIMIT_STUN_PER_SOURCE_PER_SECOND
from synctv.state import MemoryState, ShortLivedState, StateUnavailable
from synctv.state.limits import DEFAULTS, LimitBook

log = logging.getLogger("synctv.ratelimit")


async def build(services: Services) -> Feature:
    state = services.state
    follow_limit_settings(
        services.limits.book,
        services.settings,
        {
            RATELIMIT_STUN_PER_SOURCE_PER_SECOND.key: services.config.webrtc.stun_rate_limit_per_second
        },
    )
    tasks = [Task("short_lived_state", state.run)] if isinstance(state, MemoryState) else []
    checks = {"redis": lambda: _state_check(state)} if services.config.redis.url else {}
    return Feature("state", tasks=tasks, health_checks=checks)


def follow_limit_settings(
    book: LimitBook, settings: RuntimeSettings, configured: dict[str, Any]
) -> None:
    """Apply every ``ratelimit.*`` setting to ``book`` now and on each change.

    ``configured`` holds values from the config file, used while the setting is not stored.
    """

    def apply(key: str, value: Any, *, changed: bool = True) -> None:
        if key in configured and not settings.is_stored(key):
            value = configured[key]
        try:
            book.apply_setting(key, value)
        except (KeyError, ValueError) as exc:  # the registry validated it: a mismatch is a bug
            log.error("rate limit %s not changed: %s", key, exc)
            return
        if changed:
            log.info("rate limit %s = %r", key, value)

    for key in DEFAULTS:
        apply(key, settings.get(key), changed=False)
        settings.subscribe(key, partial(apply, key))


async def _state_check(state: ShortLivedState) -> tuple[bool, str]:
    try:
        await state.get("health-probe")
    except StateUnavailable as exc:
        return False, str(exc)
    return True, "ok"
