"""Accept loops that outlive their errors, and connection admission by address and in total.

A listener task that raises takes its port down (and, in a nursery tree, the process with it).
Two things make ``accept()`` fail in practice: running out of descriptors (EMFILE/ENFILE, or
ENOBUFS/ENOMEM under memory pressure), which clears when connections close, and odd one-off
errors from a connection reset between the kernel's queue and ``accept``. Neither is a reason to
stop listening. :func:`accept_forever` backs off (10 ms doubling to 1 s) while accept keeps
failing and logs one line per interval with a count, not one per attempt (trio's own
``serve_listeners`` logs every 100 ms retry, ~300 lines/s with a few listeners).

:class:`ConnectionLimiter` is the admission side: a cap per client address and a cap in total,
checked before a connection gets any work, so that one address cannot hold every descriptor.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

# Errors that mean "the process or the system is out of something": wait, then accept again.
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
BACKOFF_INITIAL_SECONDS = 0.01
BACKOFF_MAX_SECONDS = 1.0
# One log line per listener per interval while accept keeps failing, with the count.
LOG_INTERVAL_SECONDS = 10.0


@dataclass
class AcceptFailures:
    """Backoff and rate-limited reporting of accept errors for one listener."""

    name: str
    log: logging.Logger
    clock: Callable[[], float] = trio.current_time
    total: int = 0
    _unreported: int = 0
    _last_report: float | None = None
    _backoff: float = BACKOFF_INITIAL_SECONDS

    def failed(self, exc: OSError) -> float:
        """Note one failure; returns how long to wait before the next accept."""
        self.total += 1
        self._unreported += 1
        now = self.clock()
        if self._last_report is None or now - self._last_report >= LOG_INTERVAL_SECONDS:
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            self.log.error(
                "%s: accept failed %d time(s) (%s); still listening, retrying",
                self.name,
                self._unreported,
                reason,
            )
            self._unreported = 0
            self._last_report = now
        delay = self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECONDS)
        return delay

    def succeeded(self) -> None:
        self._backoff = BACKOFF_INITIAL_SECONDS


async def accept_forever(
    listener: trio.SocketListener,
    on_stream: Callable[[trio.SocketStream], None],
    failures: AcceptFailures,
) -> None:
    """Accept until cancelled; hand each stream to ``on_stream``. Closes the listener at the end.

    Every OSError from ``accept`` is survived: resource exhaustion waits with backoff (the
    descriptors come back when connections close), anything else is retried the same way.
    """
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                await trio.sleep(failures.failed(exc))
                continue
            failures.succeeded()
            on_stream(stream)  # hands the stream to a handler nursery; never blocks


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    open: int
    addresses: int
    refused_total: int
    refused_per_address: int


@dataclass
class ConnectionLimiter:
    """Open connections per client address and in total; ``admit`` refuses past either cap."""

    max_total: int
    max_per_address: int
    _open: int = 0
    _by_address: dict[str, int] = field(default_factory=dict)
    _refused: dict[str, int] = field(default_factory=lambda: {"total": 0, "per_address": 0})

    def admit(self, address: str) -> str | None:
        """Count the connection in and return None, or return the cap that refuses it."""
        if self._open >= self.max_total:
            self._refused["total"] += 1
            return "total"
        held = self._by_address.get(address, 0)
        if held >= self.max_per_address:
            self._refused["per_address"] += 1
            return "per_address"
        self._open += 1
        self._by_address[address] = held + 1
        return None

    def release(self, address: str) -> None:
        self._open -= 1
        held = self._by_address[address] - 1
        if held:
            self._by_address[address] = held
        else:
            del self._by_address[address]

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(
            self._open, len(self._by_address), self._refused["total"], self._refused["per_address"]
        )


class RepeatedEvents:
    """Log the first event of each (reason, source) per interval at once, the repeats as one line.

    A burst of 300 refused connections from one address was 281 WARNING lines in 0.1 s: anyone
    could flood the log without a stream key. Here the first of each kind in an interval is
    logged as it comes, and the repeats are summed into one line (``N more ...``) when the next
    interval begins (at the next event: no timer task); the counts for metrics are the caller's.
    Memory is bounded: at most ``max_keys`` kinds per interval, the rest only summed up.
    """

    def __init__(
        self,
        log: logging.Logger,
        *,
        interval: float = LOG_INTERVAL_SECONDS,
        max_keys: int = 1024,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._log = log
        self._interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._window_start: float | None = None
        self._repeats: dict[tuple[str, str], list[int]] = {}  # key -> [level, repeats]
        self._untracked = 0

    def event(self, level: int, reason: str, source: str, message: str, *args: object) -> None:
        now = self._clock()
        if self._window_start is None or now - self._window_start >= self._interval:
            self.flush()
            self._window_start = now
        key = (reason, source)
        seen = self._repeats.get(key)
        if seen is not None:
            seen[1] += 1
        elif len(self._repeats) >= self._max_keys:
            self._untracked += 1
        else:
            self._repeats[key] = [level, 0]
            self._log.log(level, message, *args)

    def flush(self) -> None:
        """Log the summed repeats of the interval that ends now, and forget it."""
        for (reason, source), (level, repeats) in self._repeats.items():
            if repeats:
                self._log.log(
                    level, "%d more like it from %s (%s) in %g s", repeats, source, reason,
                    self._interval,
                )  # fmt: skip
        if self._untracked:
            self._log.warning("%d more from other sources in %g s", self._untracked, self._interval)
        self._repeats.clear()
        self._untracked = 0
