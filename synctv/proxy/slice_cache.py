"""A bounded cache of aligned Range slices of upstream objects, with single-flight fetching.

Theory of operation: an upstream object (a provider instance's media reference) is cut into
aligned slices of ``slice_size`` bytes; slice ``i`` covers ``[i*S, (i+1)*S)``. Any client range
maps onto the same slices (``ranges.slice_pieces``), so a slice is fetched once with
``Range: bytes=i*S-((i+1)*S-1)`` and then served to every reader. Each slice remembers the
object's identity (size, ETag, Last-Modified) as the upstream reported it; readers pass the
identity they started with, and a slice of another identity is never handed to them.

Single flight: the first reader of a missing slice starts one fetch task in the cache's own
nursery (so the fetch survives the reader going away) and every concurrent reader of the same
slice waits for that one result. Freshness: a slice younger than ``ttl`` is a hit; up to
``ttl + stale_max_age`` old it is served stale and, with ``stale_while_revalidate``, refetched in
the background; older, it is a miss. Size: inserting past ``max_bytes`` evicts least recently
used slices down to ``target_ratio * max_bytes``; a periodic sweep drops expired slices and
trims the same way. Storage is memory, or files via :class:`SliceStore` (``slice_store.py``).
At most ``max_in_flight`` fetches run at once, across all objects (a burst of cold readers of
many films must not open hundreds of upstream connections); further fetches queue, within their
deadline, and the queue length is a metric.

Origins that ignore Range: a ``200`` with the whole body (identity-encoded, ``Content-Length``
known) is not thrown away. The flight that got it becomes a *sequential read*: it cuts the body
into slices from byte 0 as it arrives, caches each one, hands its own slice to its readers, and
goes on only while someone wants the slices ahead: a reader of a later slice of that object
joins the read instead of starting another request from byte 0, and a response that declared
its span (:meth:`SliceCache.reading`) keeps the read going up to ``SEQUENTIAL_READAHEAD``
slices ahead of the furthest slice asked for. When nobody wants more, it waits a moment
(``SEQUENTIAL_LINGER``; ``SEQUENTIAL_IDLE`` while a declared reader is merely slow) without
reading, then closes the upstream response: a small range at the start of a large file reads
about one slice, not the file. It holds a fetch slot only while reading.

Metrics: the :class:`Upstream` counts upstream body bytes and the failures it sees (transport
errors and error statuses) for every request, cached or not; the cache counts only the failures
it decides itself (a fetch past its deadline, a body that does not match the range asked for).

Resource handling: :meth:`SliceCache.run` must be running (``await nursery.start(cache.run)``)
before :meth:`get_slice` is called; it owns the fetch, revalidation and eviction tasks, and
cancelling it stops all of them. Error handling: upstream failures reach readers as
:class:`UpstreamError` (``synctv.outbound.request``; its ``kind`` the HTTP layer maps to
404/502/504);
:class:`RangeUnsupported` tells the caller to stream the object through uncached;
:class:`UpstreamUnsatisfiable` carries the upstream's size for a 416. Nothing a background task
meets escapes into :meth:`run`'s nursery (that would end the cache, and with it the server): an
unexpected exception in a fetch fails that flight (its readers get ``UpstreamError("internal")``)
and is recorded by ``synctv.supervision.record_crash`` (task ``slice_fetch``); a sweep that
crashes is recorded (``slice_sweep``) and the next one runs as usual.

Store failures: an :class:`OSError` from the store (a full disk, a read-only or vanished
directory) on save, load, delete or scan means "serve without caching this": the slice still
reaches its readers, a failed load is a miss, a failed scan starts with an empty index. Each is
counted by operation (``store_errors`` in the statistics,
``synctv_proxy_slice_cache_store_errors_total{operation}``) and logged at most once per
``STORE_ERROR_LOG_INTERVAL`` seconds per operation, with the number of failures in between.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from dataclasses import dataclass, field
from typing import Protocol

import trio

from synctv import metrics
from synctv.outbound.masking import mask_url
from synctv.outbound.request import UpstreamError, UpstreamTarget
from synctv.proxy.ranges import RangeError, parse_content_range, slice_span
from synctv.supervision import boundary, record_crash

log = logging.getLogger("synctv.proxy.slice_cache")

# Background revalidations allowed at once; more stale hits are served without refreshing.
MAX_CONCURRENT_REVALIDATIONS = 8
# Slice fetches running at once, over all objects: well under the upstream pool (100 by
# default), so pass-through, playlists and provider API calls still find connections.
MAX_IN_FLIGHT_FETCHES = 64
# A failing store (a full disk) fails on every slice: one log line per operation per this many
# seconds says so, with the count; the metric has every failure.
STORE_ERROR_LOG_INTERVAL = 60.0
# A sequential read (of an origin that ignores Range) reads at most this many slices ahead of
# the furthest slice a reader asked for (within the span a response declared).
SEQUENTIAL_READAHEAD = 2
# Seconds a sequential read waits, not reading, for someone to want more before it closes the
# upstream response: briefly when no response wants the rest (the gap between a response's
# first slice and its declared span), longer while a declared reader is only slow (a paused
# player); after that a later slice starts a new request.
SEQUENTIAL_LINGER = 1.0
SEQUENTIAL_IDLE = 30.0


class RangeUnsupported(Exception):
    """The upstream ignored or refused ``Range`` (or hides the size): stream it uncached."""


class UpstreamUnsatisfiable(Exception):
    """The upstream answered 416: the slice starts past the end of a ``size``-byte object."""

    def __init__(self, size: int | None) -> None:
        super().__init__(f"range not satisfiable (size {size})")
        self.size = size


class UpstreamResponse(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def url(self) -> str: ...

    def header(self, name: str) -> str | None: ...

    def iter_bytes(self) -> AsyncIterator[bytes]: ...


class Upstream(Protocol):
    """The fetch the cache depends on (``synctv.outbound.client.HttpUpstream`` implements it).

    It counts body bytes and failures (see the module docstring); a response it returns with
    an error status has been counted, and failures it raises carry ``counted=True``. A body the
    cache stops reading early (a sequential read nobody wants more of) is released when the
    ``open()`` context exits.
    """

    def open(
        self, target: UpstreamTarget, request_headers: Sequence[tuple[str, str]] = ()
    ) -> AbstractAsyncContextManager[UpstreamResponse]: ...


@dataclass(frozen=True, slots=True)
class ObjectIdentity:
    """What must not change between the slices of one response."""

    size: int
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Slice:
    data: bytes
    identity: ObjectIdentity
    content_type: str | None
    fetched_at: float


class SliceStore(Protocol):
    """Where slice bytes live when not in memory (the file backend)."""

    async def save(self, key: str, index: int, piece: Slice) -> None: ...

    async def load(
        self, key: str, index: int, expected_length: int, identity: ObjectIdentity
    ) -> bytes | None:
        """The slice's bytes, or ``None`` when missing, corrupt or of another identity."""
        ...

    async def delete(self, key: str, index: int) -> None: ...

    async def scan(self) -> list[StoredSlice]: ...


@dataclass(frozen=True, slots=True)
class StoredSlice:
    """A slice found in the store at start: its metadata, with the bytes left on disk."""

    key: str
    index: int
    length: int
    identity: ObjectIdentity
    content_type: str | None
    fetched_at: float


@dataclass(frozen=True, slots=True)
class SliceCacheStatistics:
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    stale_hits: int
    upstream_bytes: int
    single_flight_joins: int
    evictions: int
    corruptions: int
    in_flight: int
    upstream_errors: tuple[tuple[str, int], ...]
    queued_fetches: int = 0
    store_errors: tuple[tuple[str, int], ...] = ()
    sequential_reads: int = 0  # whole bodies (origins that ignore Range) being read now


@dataclass(slots=True)
class _Entry:
    slice: Slice  # with data=b"" when the bytes live in the store
    length: int


@dataclass(slots=True)
class _Flight:
    """``attached``: fulfilled by a sequential read of its object, not by a request of its own."""

    done: trio.Event = field(default_factory=trio.Event)
    result: Slice | None = None
    error: BaseException | None = None
    attached: bool = False


@dataclass(frozen=True, slots=True)
class _WholeBody:
    """A 200 with the whole object to a ranged request: to be read sequentially."""

    identity: ObjectIdentity
    content_type: str | None


@dataclass(slots=True)
class _Sequential:
    """A sequential read in progress: the next slice it will cut, and what readers asked for."""

    next_index: int
    last_index: int
    requested: int
    changed: trio.Event = field(default_factory=trio.Event)


class SliceCache:
    """See the module docstring. All sizes in bytes, all durations in seconds."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        slice_size: int = 2 * 1024 * 1024,
        max_bytes: int = 512 * 1024 * 1024,
        ttl: float = 300.0,
        stale_max_age: float = 60.0,
        stale_while_revalidate: bool = True,
        eviction_interval: float = 60.0,
        target_ratio: float = 0.875,
        fetch_timeout: float = 60.0,
        store: SliceStore | None = None,
        clock: Callable[[], float] = time.time,
        max_in_flight: int = MAX_IN_FLIGHT_FETCHES,
    ) -> None:
        if slice_size <= 0 or max_bytes < slice_size:
            raise ValueError("need 0 < slice_size <= max_bytes")
        if max_in_flight < 1:
            raise ValueError("need max_in_flight >= 1")
        self.slice_size = slice_size
        self.max_bytes = max_bytes
        self._upstream = upstream
        self._ttl = ttl
        self._stale_max_age = stale_max_age
        self._swr = stale_while_revalidate
        self._eviction_interval = eviction_interval
        self._target = int(max_bytes * target_ratio)
        self._fetch_timeout = fetch_timeout
        self._store = store
        self._clock = clock
        self._entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()
        self._bytes = 0
        self._flights: dict[tuple[str, int], _Flight] = {}
        self._nursery: trio.Nursery | None = None
        self._revalidations = 0
        self._counts: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._fetch_slots = trio.CapacityLimiter(max_in_flight)
        self._queued = 0
        self._store_errors: Counter[str] = Counter()
        self._store_errors_logged: dict[str, tuple[float, int]] = {}
        self._sequential: dict[str, _Sequential] = {}
        self._sequential_reads = 0
        self._demand: dict[str, Counter[int]] = {}

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Own the background tasks until cancelled; rebuilds the index from the store first."""
        for found in await self._store_scan():
            meta = Slice(b"", found.identity, found.content_type, found.fetched_at)
            self._insert_entry((found.key, found.index), meta, found.length)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            try:
                while True:
                    await trio.sleep(self._eviction_interval)
                    with boundary("slice_sweep"):
                        await self.sweep()
            finally:
                self._nursery = None

    async def sweep(self) -> None:
        """Drop expired slices, then trim to the target size (the periodic eviction)."""
        now = self._clock()
        horizon = self._ttl + self._stale_max_age
        expired = [k for k, e in self._entries.items() if now - e.slice.fetched_at >= horizon]
        for key in expired:
            await self._drop(key, "expired")
        if self._bytes > self._target:
            await self._trim(self._target)

    # -- reads ----------------------------------------------------------------------------

    def peek_identity(self, key: str) -> tuple[ObjectIdentity, str | None] | None:
        """The identity and content type of a cached fresh slice of ``key``, if any (no I/O)."""
        now = self._clock()
        for (entry_key, _), entry in reversed(self._entries.items()):
            if entry_key == key and now - entry.slice.fetched_at < self._ttl:
                return entry.slice.identity, entry.slice.content_type
        return None

    async def get_slice(
        self, target: UpstreamTarget, index: int, expected: ObjectIdentity | None = None
    ) -> Slice:
        """Slice ``index`` of the target: cached, joined to a fetch in flight, or fetched.

        A cached slice of another identity than ``expected`` is not returned (it is refetched);
        a fetched one is returned whatever its identity: the caller compares and cuts.
        """
        slot = (target.key, index)
        cached = await self._lookup(target, slot, expected)
        if cached is not None:
            return cached
        self._count("misses", "miss")
        return await self._join_or_fetch(target, slot)

    async def _lookup(
        self, target: UpstreamTarget, slot: tuple[str, int], expected: ObjectIdentity | None
    ) -> Slice | None:
        entry = self._entries.get(slot)
        if entry is None:
            return None
        if expected is not None and entry.slice.identity != expected:
            return None
        age = self._clock() - entry.slice.fetched_at
        if age >= self._ttl + self._stale_max_age or (age >= self._ttl and not self._swr):
            return None
        piece = await self._materialise(slot, entry)
        if piece is None:
            return None
        self._entries.move_to_end(slot)
        if age < self._ttl:
            self._count("hits", "hit")
        else:
            self._count("stale_hits", "stale")
            self._revalidate(target, slot)
        return piece

    async def _materialise(self, slot: tuple[str, int], entry: _Entry) -> Slice | None:
        if self._store is None:
            return entry.slice
        try:
            data = await self._store.load(slot[0], slot[1], entry.length, entry.slice.identity)
        except Exception as exc:  # a failing disk: a miss, and the entry is of no use
            self._store_failed("load", exc)
            await self._drop(slot, "store_error")
            return None
        if data is None:
            self._counts["corruptions"] += 1
            await self._drop(slot, "corrupt")
            return None
        s = entry.slice
        return Slice(data, s.identity, s.content_type, s.fetched_at)

    async def _join_or_fetch(self, target: UpstreamTarget, slot: tuple[str, int]) -> Slice:
        flight = self._flights.get(slot)
        if flight is None:
            flight = self._attach(slot) or self._start_flight(target, slot)
        else:
            self._counts["single_flight_joins"] += 1
            metrics.PROXY_SINGLE_FLIGHT_JOINS.inc()
        await flight.done.wait()
        if flight.error is not None:
            raise flight.error
        assert flight.result is not None
        return flight.result

    def _start_flight(self, target: UpstreamTarget, slot: tuple[str, int]) -> _Flight:
        if self._nursery is None:
            raise RuntimeError("SliceCache.run() is not running")
        flight = _Flight()
        self._flights[slot] = flight
        self._nursery.start_soon(self._fly, target, slot, flight)
        return flight

    def _revalidate(self, target: UpstreamTarget, slot: tuple[str, int]) -> None:
        if slot in self._flights or self._revalidations >= MAX_CONCURRENT_REVALIDATIONS:
            return
        self._revalidations += 1
        flight = self._start_flight(target, slot)

        async def release() -> None:
            try:
                with boundary("slice_revalidate"):
                    await flight.done.wait()
            finally:
                self._revalidations -= 1

        assert self._nursery is not None
        self._nursery.start_soon(release)

    def _attach(self, slot: tuple[str, int]) -> _Flight | None:
        """A flight fulfilled by the sequential read of ``slot``'s object, if one will reach it."""
        read = self._sequential.get(slot[0])
        if read is None or not read.next_index <= slot[1] <= read.last_index:
            return None
        flight = _Flight(attached=True)
        self._flights[slot] = flight
        read.requested = max(read.requested, slot[1])
        read.changed.set()
        return flight

    @contextmanager
    def reading(self, key: str, last_index: int) -> Iterator[None]:
        """Declare that a response reads ``key`` up to slice ``last_index`` while inside: a
        sequential read of that object keeps going for it (see the module docstring)."""
        wants = self._demand.setdefault(key, Counter())
        wants[last_index] += 1
        self._wake(key)
        try:
            yield
        finally:
            wants[last_index] -= 1
            if wants[last_index] <= 0:
                del wants[last_index]
            if not wants and self._demand.get(key) is wants:
                del self._demand[key]
            self._wake(key)

    def _wake(self, key: str) -> None:
        read = self._sequential.get(key)
        if read is not None:
            read.changed.set()

    async def _fly(self, target: UpstreamTarget, slot: tuple[str, int], flight: _Flight) -> None:
        try:
            async with AsyncExitStack() as stack:
                with trio.fail_after(self._fetch_timeout):  # the deadline covers the queue too
                    async with self._fetch_slot():
                        wanted = self._range_header(slot[1])
                        response = await stack.enter_async_context(
                            self._upstream.open(target, wanted)
                        )
                        got = await self._read_response(response, slot[1])
                if isinstance(got, _WholeBody):
                    await self._read_sequentially(target, response, slot, flight, got)
                    return
            await self._insert(slot, got)
            flight.result = got
        except trio.TooSlowError:
            failure = UpstreamError("timeout", "upstream slice fetch timed out")
            self._fail(flight, self._error(failure))
        except UpstreamError as exc:
            self._fail(flight, self._error(exc))
        except (RangeUnsupported, UpstreamUnsatisfiable) as exc:
            self._fail(flight, exc)
        except trio.Cancelled:
            self._fail(flight, UpstreamError("cancelled", "the proxy is shutting down"))
            raise
        except Exception as exc:  # a bug: this flight fails, the cache (and server) carry on
            record_crash("slice_fetch", exc, f"slice {slot[1]} of {mask_url(target.url)}")
            failure = UpstreamError("internal", "the slice fetch failed unexpectedly")
            self._fail(flight, self._error(failure))
        finally:
            self._finish(slot, flight)

    def _fail(self, flight: _Flight, error: BaseException) -> None:
        if not flight.done.is_set():  # a sequential read may have served it already
            flight.error = error

    def _finish(self, slot: tuple[str, int], flight: _Flight) -> None:
        if self._flights.get(slot) is flight:
            del self._flights[slot]
        flight.done.set()

    def _error(self, exc: UpstreamError) -> UpstreamError:
        self._errors[exc.kind] += 1
        if not exc.counted:
            metrics.OUTBOUND_ERRORS.labels(exc.kind).inc()
            exc.counted = True
        return exc

    @asynccontextmanager
    async def _fetch_slot(self) -> AsyncIterator[None]:
        """One of the ``max_in_flight`` fetch slots, queueing (and counted) while none is free."""
        try:
            self._fetch_slots.acquire_nowait()
        except trio.WouldBlock:  # only a fetch that really waits counts as queued
            self._queued += 1
            metrics.PROXY_FETCHES_QUEUED.inc()
            try:
                await self._fetch_slots.acquire()
            finally:
                self._queued -= 1
                metrics.PROXY_FETCHES_QUEUED.dec()
        metrics.PROXY_FETCHES_IN_FLIGHT.inc()
        try:
            yield
        finally:
            metrics.PROXY_FETCHES_IN_FLIGHT.dec()
            self._fetch_slots.release()

    async def probe_identity(self, target: UpstreamTarget) -> ObjectIdentity:
        """The object's identity from a one-byte ``Range: bytes=-1`` request (no slice fetched).

        For a cold suffix range (``bytes=-n``), whose slices are known only once the size is:
        learning the size this way costs one byte instead of the whole first slice. Raises as
        :meth:`get_slice` does; an empty object is ``UpstreamUnsatisfiable(0)``.
        """
        try:
            with trio.fail_after(self._fetch_timeout):
                async with (
                    self._fetch_slot(),
                    self._upstream.open(target, (("range", "bytes=-1"),)) as response,
                ):
                    return self._probed(response)
        except trio.TooSlowError:
            raise self._error(UpstreamError("timeout", "upstream size probe timed out")) from None
        except UpstreamError as exc:
            raise self._error(exc) from None

    def _probed(self, response: UpstreamResponse) -> ObjectIdentity:
        status = response.status
        if status == 416:
            raise UpstreamUnsatisfiable(_unsatisfied_size(response.header("content-range")))
        if status == 200:
            raise RangeUnsupported("upstream ignored Range")
        if status != 206:
            kind = "not_found" if status in (404, 410) else "status"
            raise UpstreamError(kind, f"upstream answered {status}", status=status, counted=True)
        try:
            size = parse_content_range(response.header("content-range") or "").size
        except RangeError as exc:
            raise UpstreamError("protocol", str(exc)) from None
        if size is None or response.header("content-encoding") not in (None, "identity"):
            raise RangeUnsupported("upstream does not tell the object size")
        return _identity(response, size)

    # -- one upstream fetch -----------------------------------------------------------------

    def _range_header(self, index: int) -> tuple[tuple[str, str], ...]:
        span = slice_span(index, self.slice_size, None)
        return (("range", f"bytes={span.start}-{span.stop - 1}"),)

    async def _read_response(self, response: UpstreamResponse, index: int) -> Slice | _WholeBody:
        """Slice ``index`` from the answer to its ranged request, or the whole body to read."""
        status = response.status
        if status == 206:
            return await self._read_partial(response, index * self.slice_size)
        if status == 200:
            return self._whole_body(response, index)
        if status == 416:
            size = _unsatisfied_size(response.header("content-range"))
            if index == 0 and size == 0:  # an empty object: cache that fact as an empty slice
                return Slice(b"", _identity(response, 0), None, self._now())
            raise UpstreamUnsatisfiable(size)
        kind = "not_found" if status in (404, 410) else "status"
        raise UpstreamError(kind, f"upstream answered {status}", status=status, counted=True)

    async def _read_partial(self, response: UpstreamResponse, start: int) -> Slice:
        if response.header("content-encoding") not in (None, "identity"):
            raise RangeUnsupported("upstream encodes ranges")
        try:
            content_range = parse_content_range(response.header("content-range") or "")
        except RangeError as exc:
            raise UpstreamError("protocol", str(exc)) from None
        size = content_range.size
        if size is None:
            raise RangeUnsupported("upstream does not tell the object size")
        expected = min(self.slice_size, size - start)
        if content_range.span.start != start or content_range.span.length != expected:
            raise UpstreamError("protocol", "upstream answered another range than asked")
        data = await self._read_body(response, expected)
        return Slice(data, _identity(response, size), response.header("content-type"), self._now())

    def _whole_body(self, response: UpstreamResponse, index: int) -> _WholeBody:
        """A 200 to a ranged request: readable slice by slice when its size is known and its
        bytes are the object's own (no content coding); streamed uncached otherwise."""
        length = _int_header(response.header("content-length"))
        if length is None or response.header("content-encoding") not in (None, "identity"):
            raise RangeUnsupported("upstream ignored Range")
        if index > 0 and index * self.slice_size >= length:
            raise UpstreamUnsatisfiable(length)
        return _WholeBody(_identity(response, length), response.header("content-type"))

    async def _read_sequentially(
        self,
        target: UpstreamTarget,
        response: UpstreamResponse,
        slot: tuple[str, int],
        flight: _Flight,
        whole: _WholeBody,
    ) -> None:
        """Cut ``response`` (the whole object, from byte 0) into slices, serving ``flight`` and
        the readers that join, for as long as someone wants more (see the module docstring)."""
        key, index = slot
        size = whole.identity.size
        last = max(0, size - 1) // self.slice_size
        read: _Sequential | None = None
        if key not in self._sequential:  # one read per object takes joiners; others just serve
            read = _Sequential(next_index=0, last_index=last, requested=index)
            self._sequential[key] = read
        buffer = bytearray()
        failure: BaseException | None = None
        self._sequential_reads += 1
        try:
            body = aiter(response.iter_bytes())
            for position in range(last + 1):
                if position > index and not await self._read_on(key, read, position):
                    break
                length = min(self.slice_size, size - position * self.slice_size)
                with trio.fail_after(self._fetch_timeout):
                    async with self._fetch_slot():
                        data = await self._take(body, buffer, length)
                piece = Slice(data, whole.identity, whole.content_type, self._now())
                if read is not None:
                    read.next_index = position + 1
                await self._insert((key, position), piece)
                self._deliver((key, position), piece, flight if position == index else None)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._sequential_reads -= 1
            self._end_sequential(target, key, read, failure)

    async def _read_on(self, key: str, read: _Sequential | None, position: int) -> bool:
        """Whether to read slice ``position`` (past the flight's own): wait while nobody asks
        for it yet but someone may; ``False`` once nobody wants it."""
        if read is None:
            return False
        while True:
            wants = self._demand.get(key)
            declared = max(wants) if wants else -1
            if position <= read.requested or position <= min(
                declared, read.requested + SEQUENTIAL_READAHEAD
            ):
                return True
            read.changed = trio.Event()
            with trio.move_on_after(SEQUENTIAL_IDLE if declared >= position else SEQUENTIAL_LINGER):
                await read.changed.wait()
                continue
            return False

    async def _take(self, body: AsyncIterator[bytes], buffer: bytearray, length: int) -> bytes:
        """The next ``length`` bytes of ``body`` (``buffer`` keeps what was read beyond them)."""
        while len(buffer) < length:
            try:
                chunk = await anext(body)
            except StopAsyncIteration:
                raise UpstreamError("protocol", "upstream body ended early") from None
            self._counts["upstream_bytes"] += len(chunk)  # (the Upstream counts the metric)
            buffer += chunk
        data = bytes(buffer[:length])
        del buffer[:length]
        return data

    def _deliver(self, slot: tuple[str, int], piece: Slice, own: _Flight | None) -> None:
        """Hand a slice just read to the flight that asked for it (the read's own, or a joiner)."""
        flight = own if own is not None else self._flights.get(slot)
        if flight is None or (own is None and not flight.attached):
            return
        flight.result = piece
        self._finish(slot, flight)

    def _end_sequential(
        self,
        target: UpstreamTarget,
        key: str,
        read: _Sequential | None,
        failure: BaseException | None,
    ) -> None:
        """Close the read's books: joiners it did not reach fail with it, or (when it stopped
        because nobody seemed to want more) fetch on their own."""
        if read is None:
            return
        if self._sequential.get(key) is read:
            del self._sequential[key]
        for slot, flight in list(self._flights.items()):
            if slot[0] != key or not flight.attached:
                continue
            if failure is None and self._nursery is not None:
                flight.attached = False
                self._nursery.start_soon(self._fly, target, slot, flight)
                continue
            error: BaseException
            if isinstance(failure, UpstreamError):
                error = failure
            elif isinstance(failure, trio.TooSlowError):
                error = UpstreamError("timeout", "upstream slice fetch timed out")
            elif isinstance(failure, trio.Cancelled):
                error = UpstreamError("cancelled", "the proxy is shutting down")
            else:
                error = UpstreamError("internal", "the sequential read failed unexpectedly")
            flight.error = error
            self._finish(slot, flight)

    async def _read_body(self, response: UpstreamResponse, expected: int) -> bytes:
        buffer = bytearray()
        async for chunk in response.iter_bytes():
            if len(buffer) + len(chunk) > expected:
                raise UpstreamError("protocol", "upstream sent more bytes than announced")
            buffer += chunk
        self._counts["upstream_bytes"] += len(buffer)  # (the Upstream counts the metric)
        if len(buffer) != expected:
            raise UpstreamError("protocol", "upstream body ended early")
        return bytes(buffer)

    def _now(self) -> float:
        return self._clock()

    # -- storage and eviction ---------------------------------------------------------------

    async def _insert(self, slot: tuple[str, int], piece: Slice) -> None:
        key = slot[0]
        stale = [s for s, e in self._entries.items() if s[0] == key]
        if any(self._entries[s].slice.identity != piece.identity for s in stale):
            for s in stale:  # the object changed upstream: older slices are useless
                await self._drop(s, "changed")
        if slot in self._entries:
            await self._drop(slot, "replaced")
        if self._bytes + len(piece.data) > self.max_bytes:
            await self._trim(max(0, self._target - len(piece.data)))
        kept = piece
        if self._store is not None:
            try:
                await self._store.save(key, slot[1], piece)
            except Exception as exc:  # a full disk: the readers get the slice, uncached
                self._store_failed("save", exc)
                return
            kept = Slice(b"", piece.identity, piece.content_type, piece.fetched_at)
        self._insert_entry(slot, kept, len(piece.data))

    def _insert_entry(self, slot: tuple[str, int], piece: Slice, length: int) -> None:
        self._entries[slot] = _Entry(piece, length)
        self._bytes += length
        metrics.PROXY_CACHE_BYTES.inc(length)
        metrics.PROXY_CACHE_ENTRIES.inc()

    async def _trim(self, goal: int) -> None:
        while self._bytes > goal and self._entries:
            slot = next(iter(self._entries))
            await self._drop(slot, "size")

    async def _drop(self, slot: tuple[str, int], reason: str) -> None:
        entry = self._entries.pop(slot, None)
        if entry is None:
            return
        self._bytes -= entry.length
        metrics.PROXY_CACHE_BYTES.dec(entry.length)
        metrics.PROXY_CACHE_ENTRIES.dec()
        if reason != "replaced":
            self._counts["evictions"] += 1
            metrics.PROXY_CACHE_EVICTIONS.labels(reason).inc()
        if self._store is not None:
            try:
                await self._store.delete(slot[0], slot[1])
            except Exception as exc:  # the index forgot it; a leftover file is rescanned later
                self._store_failed("delete", exc)

    async def _store_scan(self) -> list[StoredSlice]:
        if self._store is None:
            return []
        try:
            return await self._store.scan()
        except Exception as exc:  # start empty: the slices are fetched again as needed
            self._store_failed("scan", exc)
            return []

    def _store_failed(self, operation: str, exc: Exception) -> None:
        """Count a store failure; log it, at most once per interval per operation."""
        self._store_errors[operation] += 1
        metrics.PROXY_CACHE_STORE_ERRORS.labels(operation).inc()
        if not isinstance(exc, OSError):  # not the disk: a bug in the store
            record_crash("slice_store", exc, operation)
            return
        now = trio.current_time()
        last, count = self._store_errors_logged.get(operation, (None, 0))
        if last is not None and now - last < STORE_ERROR_LOG_INTERVAL:
            self._store_errors_logged[operation] = (last, count + 1)
            return
        self._store_errors_logged[operation] = (now, 0)
        more = f" ({count} more since the last report)" if count else ""
        log.warning(
            "slice cache store %s failed, serving without caching: %s%s",
            operation,
            exc.strerror or exc,
            more,
            extra={"operation": operation},
        )

    async def invalidate(self, key: str) -> None:
        """Forget every slice of ``key`` (its upstream object changed under a reader)."""
        for slot in [s for s in self._entries if s[0] == key]:
            await self._drop(slot, "changed")

    async def invalidate_prefix(self, prefix: str) -> None:
        """Forget every slice whose key starts with ``prefix`` (a provider instance changed)."""
        for slot in [s for s in self._entries if s[0].startswith(prefix)]:
            await self._drop(slot, "changed")

    # -- statistics -------------------------------------------------------------------------

    def _count(self, name: str, label: str) -> None:
        self._counts[name] += 1
        metrics.PROXY_CACHE_LOOKUPS.labels(label).inc()

    def statistics(self) -> SliceCacheStatistics:
        c = self._counts
        return SliceCacheStatistics(
            entries=len(self._entries),
            bytes=self._bytes,
            max_bytes=self.max_bytes,
            hits=c["hits"],
            misses=c["misses"],
            stale_hits=c["stale_hits"],
            upstream_bytes=c["upstream_bytes"],
            single_flight_joins=c["single_flight_joins"],
            evictions=c["evictions"],
            corruptions=c["corruptions"],
            in_flight=len(self._flights),
            upstream_errors=tuple(sorted(self._errors.items())),
            queued_fetches=self._queued,
            store_errors=tuple(sorted(self._store_errors.items())),
            sequential_reads=self._sequential_reads,
        )


def identity_of(response: UpstreamResponse, size: int) -> ObjectIdentity:
    """The identity an upstream response describes (used by pass-through and manifests too)."""
    return _identity(response, size)


def _identity(response: UpstreamResponse, size: int) -> ObjectIdentity:
    return ObjectIdentity(size, response.header("etag"), response.header("last-modified"))


def _int_header(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _unsatisfied_size(value: str | None) -> int | None:
    if value is None:
        return None
    unit, _, rest = value.strip().partition(" ")
    star, slash, total = rest.partition("/")
    if unit.lower() != "bytes" or star != "*" or not slash:
        return None
    return _int_header(total)
