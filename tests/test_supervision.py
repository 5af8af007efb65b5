"""Supervision boundaries: contain Exceptions, pass cancellation, restart services with backoff."""

from __future__ import annotations

import itertools
import logging

import pytest
import trio
import trio.testing

from synctv import metrics, supervision
from synctv.supervision import boundary, contained, restarting


def crashes(task: str) -> float:
    return metrics.TASK_CRASHES.labels(task)._value.get()


async def test_boundary_logs_counts_and_contains(caplog: pytest.LogCaptureFixture) -> None:
    before = crashes("unit_a")
    with boundary("unit_a", "peer 1.2.3.4"):
        raise KeyError("boom")
    assert crashes("unit_a") == before + 1
    [record] = [r for r in caplog.records if r.name == "synctv.supervision"]
    assert record.levelno == logging.ERROR
    assert "unit_a crashed (peer 1.2.3.4): KeyError" in record.getMessage()
    assert record.exc_info is not None


async def test_boundary_contains_a_group_of_plain_exceptions() -> None:
    before = crashes("unit_b")
    with boundary("unit_b"):
        async with trio.open_nursery() as nursery:

            async def fail() -> None:
                raise ValueError("in a child")

            nursery.start_soon(fail)
    assert crashes("unit_b") == before + 1


async def test_boundary_lets_cancellation_through() -> None:
    before = crashes("unit_c")
    with trio.CancelScope() as scope:
        scope.cancel()
        with boundary("unit_c"):
            await trio.sleep(1)
        pytest.fail("the cancellation was swallowed")  # pragma: no cover
    assert scope.cancelled_caught
    assert crashes("unit_c") == before


def test_boundary_lets_base_exceptions_through() -> None:
    with pytest.raises(KeyboardInterrupt), boundary("unit_d"):
        raise KeyboardInterrupt


def test_a_group_with_a_base_exception_is_not_containable() -> None:
    group = BaseExceptionGroup("mixed", [ValueError(), KeyboardInterrupt()])
    assert not supervision.containable(group)
    assert supervision.containable(ExceptionGroup("plain", [ValueError(), KeyError()]))


async def test_contained_is_start_soon_shaped() -> None:
    async def fail(value: int) -> None:
        raise RuntimeError(value)

    before = crashes("unit_e")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(contained, "unit_e", fail, 7)
    assert crashes("unit_e") == before + 1


async def test_restarting_restarts_after_a_crash_with_growing_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    starts: list[float] = []

    async def service(*, task_status: trio.TaskStatus[str]) -> None:
        starts.append(trio.current_time())
        task_status.started(f"run {len(starts)}")
        if len(starts) < 4:
            raise OSError("disk went away")
        await trio.sleep_forever()

    before = crashes("unit_service")
    async with trio.open_nursery() as nursery:
        first = await nursery.start(restarting, "unit_service", service)
        assert first == "run 1"  # later runs' started() values are not reported again
        await trio.sleep(10)
        nursery.cancel_scope.cancel()
    assert len(starts) == 4
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(starts)]
    assert gaps == [0.5, 1.0, 2.0]
    assert crashes("unit_service") == before + 3


async def test_restarting_does_not_contain_a_failure_to_start() -> None:
    async def broken(*, task_status: trio.TaskStatus[None]) -> None:
        raise OSError("address already in use")

    async with trio.open_nursery() as nursery:
        with pytest.raises(OSError, match="address already in use"):
            await nursery.start(restarting, "unit_broken", broken)


async def test_restarting_returns_when_the_service_returns() -> None:
    runs = 0

    async def once(*, task_status: trio.TaskStatus[None]) -> None:
        nonlocal runs
        runs += 1
        task_status.started()

    async with trio.open_nursery() as nursery:
        await nursery.start(restarting, "unit_once", once)
    assert runs == 1
