"""Redis-backed short-lived state, for more than one node. The only module importing redis.

Bridge shape (docs/architecture "Decisions"): every operation is one asyncio coroutine, called
once through ``trio_asyncio.aio_as_trio`` inside ``trio.fail_after(timeout_seconds)``. A timeout
or an outer cancellation therefore cancels a *whole* redis-py command; redis-py disconnects a
connection whose command was interrupted instead of returning it to the pool, so the next call
gets a clean connection and never a stale reply. redis-py's own ``socket_timeout`` is the same
value, so a dead socket is noticed inside asyncio as well.

Pub/sub: each subscription is a Trio task (in a nursery the subscription context owns) running
ONE asyncio coroutine for its whole life: create a PubSub, SUBSCRIBE, wait for the confirmation,
then read messages and hand each to the subscriber's bounded Trio queue with a non-blocking
``send_nowait`` (trio_asyncio runs asyncio callbacks inside a Trio task, so Trio's synchronous
channel and Event methods are safe there). Reading never waits for the subscriber, so a slow
subscriber loses messages (counted) instead of growing redis-py's or Redis's buffers. Leaving the
context cancels that Trio task, which cancels the single coroutine; its ``finally`` closes the
PubSub connection, which unsubscribes. We did not iterate ``aio_as_trio(pubsub.listen())`` from
Trio: that would bridge once per message and cancel half-way through a read.

Error handling: redis errors, OS errors and timeouts become :class:`StateUnavailable` naming the
command and the server (never the URL, which may hold a password); callers fail closed. Redis
>= 7.0 is required (GETDEL, Lua ``PEXPIRE``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import trio
import trio_asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from synctv.state.base import (
    DEFAULT_SUBSCRIBER_QUEUE_MESSAGES,
    StateStatistics,
    StateUnavailable,
    Subscription,
    check_ttl,
    check_window,
)
from synctv.state.ratelimit import MICROSECONDS, RateDecision, RateLimitRule

_T = TypeVar("_T")

# Immediate retries of a command that failed on a connection error: one, so a pooled connection
# that went stale (server restart) does not fail the first call; the fail_after bounds it anyway.
# A retried GETDEL whose first reply was lost returns None: a ticket can be lost, never used twice.
CONNECTION_RETRIES = 1

# Fixed window in one round trip and atomically: a new counter (or one without TTL) gets the
# window as TTL. INCR on a non-counter fails before anything is written.
_INCR_WINDOW_LUA = """
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""

# GCRA (synctv.state.ratelimit.gcra_step, step for step) on the Redis server's clock, so every
# node sees one time. ARGV: interval and tolerance in microseconds. Returns {allowed, retry_after
# in microseconds, remaining}. The TAT is kept as an integer string, with a TTL of the time left
# until it is in the past (then the key means "fresh" and may as well be gone).
_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
    tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
    return {0, allow_at - now, 0}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0, math.floor((now - allow_at) / interval)}
"""


def _milliseconds(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _where(url: str) -> str:
    """The server's address for messages: host and port, or socket path; never credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix:{parts.path}"
    return f"{parts.hostname}:{parts.port or 6379}"


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception a subscription nursery wrapped, so callers see what their body raised.

    Cancelled siblings are ignored when something else failed: they only mean the pump was torn
    down with the body. Several real failures stay grouped (None).
    """
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        exc = pending.pop()
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        else:
            leaves.append(exc)
    real = [exc for exc in leaves if not isinstance(exc, trio.Cancelled)]
    if len(real) == 1:
        return real[0]
    if not real:
        return leaves[0]
    return None


class RedisState:
    """:class:`~synctv.state.base.ShortLivedState` on Redis; create with :func:`open_redis_state`.

    Keys and channels are prefixed with ``key_prefix`` so several deployments can share a server.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        incr_window_script: AsyncScript,
        gcra_script: AsyncScript,
        *,
        loop: Any,
        where: str,
        key_prefix: str,
        timeout_seconds: float,
        subscriber_queue_messages: int,
    ) -> None:
        self._client = client
        self._incr_window_script = incr_window_script
        self._gcra_script = gcra_script
        self._loop = loop
        self._where = where
        self._prefix = key_prefix
        self._timeout = timeout_seconds
        self._queue_messages = subscriber_queue_messages
        self._pumps: set[trio.CancelScope] = set()
        self._dropped = 0
        self._errors = 0
        self._closed = False

    # -- key/value --------------------------------------------------------------------------

    async def get(self, key: str) -> bytes | None:
        return await self._call("GET", self._aio_get, self._prefix + key)

    async def set(self, key: str, value: bytes, ttl_seconds: float | None) -> None:
        check_ttl(ttl_seconds)
        await self._call("SET", self._aio_set, self._prefix + key, value, ttl_seconds, False)

    async def delete(self, key: str) -> bool:
        return await self._call("DEL", self._aio_delete, self._prefix + key)

    async def set_if_absent(self, key: str, value: bytes, ttl_seconds: float | None) -> bool:
        check_ttl(ttl_seconds)
        return await self._call(
            "SET NX", self._aio_set, self._prefix + key, value, ttl_seconds, True
        )

    async def take(self, key: str) -> bytes | None:
        return await self._call("GETDEL", self._aio_take, self._prefix + key)

    async def incr_window(self, key: str, window_seconds: float) -> int:
        check_window(window_seconds)
        return await self._call(
            "INCR window", self._aio_incr_window, self._prefix + key, window_seconds
        )

    async def check_rate(self, rule: RateLimitRule, key: str) -> RateDecision:
        return await self._call(
            "GCRA", self._aio_check_rate, f"{self._prefix}ratelimit:{rule.bucket}:{key}", rule
        )

    async def _aio_get(self, key: str) -> bytes | None:
        return _bytes_or_none(await self._client.get(key))

    async def _aio_set(
        self, key: str, value: bytes, ttl_seconds: float | None, only_if_absent: bool
    ) -> bool:
        px = None if ttl_seconds is None else _milliseconds(ttl_seconds)
        return bool(await self._client.set(key, value, px=px, nx=only_if_absent))

    async def _aio_delete(self, key: str) -> bool:
        return bool(await self._client.delete(key))

    async def _aio_take(self, key: str) -> bytes | None:
        return _bytes_or_none(await self._client.getdel(key))

    async def _aio_incr_window(self, key: str, window_seconds: float) -> int:
        try:
            count = await self._incr_window_script(keys=[key], args=[_milliseconds(window_seconds)])
        except ResponseError as exc:
            if "not an integer" in str(exc):
                raise ValueError("key holds a value that is not a counter") from None
            raise
        return int(count)

    async def _aio_check_rate(self, key: str, rule: RateLimitRule) -> RateDecision:
        # redis-py's Script runs EVALSHA and, on NOSCRIPT (a restarted or flushed server),
        # loads the script and runs it again.
        allowed, retry_after_us, remaining = await self._gcra_script(
            keys=[key], args=[rule.interval_us, rule.tolerance_us]
        )
        return RateDecision(bool(allowed), int(retry_after_us) / MICROSECONDS, int(remaining))

    # -- pub/sub ----------------------------------------------------------------------------

    async def publish(self, channel: str, message: bytes) -> int:
        return await self._call("PUBLISH", self._aio_publish, self._prefix + channel, message)

    async def _aio_publish(self, channel: str, message: bytes) -> int:
        return int(await self._client.publish(channel, message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Subscribed once the server confirmed; see the module docstring for the bridge.

        The pump runs in a nursery this context owns, so the body's exceptions would come out
        wrapped in an ExceptionGroup; they are unwrapped so callers see exactly what they raised.
        """
        self._check_open()
        subscription = Subscription(channel, self._queue_messages)
        sole: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                settled = trio.Event()
                nursery.start_soon(self._run_pump, subscription, settled)
                await self._wait_subscribed(subscription, settled)
                self._pumps.add(nursery.cancel_scope)
                try:
                    yield subscription
                finally:
                    self._pumps.discard(nursery.cancel_scope)
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            sole = _sole_exception(group)
            if sole is None:
                raise
        if sole is not None:
            # Raised outside the handler so the caller's exception keeps its own __context__.
            raise sole

    async def _wait_subscribed(self, subscription: Subscription, settled: trio.Event) -> None:
        with trio.move_on_after(self._timeout):
            await settled.wait()
        if not settled.is_set():
            self._errors += 1
            subscription.fail(self._unavailable("SUBSCRIBE", f"timed out after {self._timeout} s"))
        if subscription.failure is not None:
            raise subscription.failure

    async def _run_pump(self, subscription: Subscription, settled: trio.Event) -> None:
        try:
            await trio_asyncio.aio_as_trio(self._aio_pump, loop=self._loop)(
                self._prefix + subscription.channel, subscription, settled
            )
        except (RedisError, OSError) as exc:
            self._errors += 1
            subscription.fail(self._unavailable("SUBSCRIBE", repr(exc)))
        finally:
            subscription.close()
            settled.set()

    async def _aio_pump(
        self, channel: str, subscription: Subscription, settled: trio.Event
    ) -> None:
        pubsub = self._client.pubsub()
        try:
            await pubsub.subscribe(channel)
            while True:
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    settled.set()
                elif message["type"] == "message" and not subscription.offer(message["data"]):
                    self._dropped += 1
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # unannotated before redis 8

    # -- lifecycle --------------------------------------------------------------------------

    def statistics(self) -> StateStatistics:
        return StateStatistics(
            backend="redis",
            keys=None,
            subscribers=len(self._pumps),
            dropped_messages=self._dropped,
            evicted_keys=0,
            unavailable_errors=self._errors,
        )

    async def aclose(self) -> None:
        """End subscriptions and close the pool; bounded by the timeout even when cancelled."""
        if self._closed:
            return
        self._closed = True
        for scope in self._pumps:
            scope.cancel()
        with trio.move_on_after(self._timeout) as scope:
            scope.shield = True
            try:
                await trio_asyncio.aio_as_trio(self._client.aclose, loop=self._loop)()
            except (RedisError, OSError):
                pass  # closing a broken connection has nothing left to release

    async def _call(self, command: str, operation: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Run one asyncio coroutine as one unit of work, bounded by the timeout."""
        self._check_open()
        try:
            with trio.fail_after(self._timeout):
                result: _T = await trio_asyncio.aio_as_trio(operation, loop=self._loop)(*args)
        except trio.TooSlowError:
            self._errors += 1
            raise self._unavailable(command, f"timed out after {self._timeout} s") from None
        except (RedisError, OSError) as exc:
            self._errors += 1
            raise self._unavailable(command, repr(exc)) from exc
        return result

    def _unavailable(self, command: str, problem: str) -> StateUnavailable:
        return StateUnavailable(f"redis {command} at {self._where}: {problem}")

    def _check_open(self) -> None:
        if self._closed:
            raise StateUnavailable("redis state is closed")


def _bytes_or_none(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


@asynccontextmanager
async def open_redis_state(
    url: str,
    *,
    key_prefix: str,
    timeout_seconds: float,
    subscriber_queue_messages: int = DEFAULT_SUBSCRIBER_QUEUE_MESSAGES,
) -> AsyncIterator[RedisState]:
    """Connect and PING (fail fast at start-up), yield the state, close it on exit.

    Must run inside ``trio_asyncio.open_loop()``. Raises StateUnavailable when the server does not
    answer within ``timeout_seconds``.
    """
    loop = trio_asyncio.current_loop.get()
    if loop is None:
        raise RuntimeError("open_redis_state needs a running trio_asyncio loop (open_loop())")
    where = _where(url)

    async def connect() -> tuple[aioredis.Redis, AsyncScript, AsyncScript]:
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), CONNECTION_RETRIES),
        )
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        return client, client.register_script(_INCR_WINDOW_LUA), client.register_script(_GCRA_LUA)

    try:
        with trio.fail_after(timeout_seconds):
            client, script, gcra = await trio_asyncio.aio_as_trio(connect, loop=loop)()
    except trio.TooSlowError:
        raise StateUnavailable(f"redis at {where}: no answer in {timeout_seconds} s") from None
    except (RedisError, OSError) as exc:
        raise StateUnavailable(f"redis at {where}: {exc!r}") from exc
    state = RedisState(
        client,
        script,
        gcra,
        loop=loop,
        where=where,
        key_prefix=key_prefix,
        timeout_seconds=timeout_seconds,
        subscriber_queue_messages=subscriber_queue_messages,
    )
    try:
        yield state
    finally:
        await state.aclose()
