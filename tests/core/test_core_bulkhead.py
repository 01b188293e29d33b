"""Bulkhead: concurrency cap, FIFO waiters, slots always returned."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    ResilienceConfig,
    ResilienceTimeoutError,
    TimeoutConfig,
    resilient,
)
from pyresilience._bulkhead import LocalBulkheadState


def test_at_most_max_concurrent_threads_run() -> None:
    """Eight threads through a bulkhead of 3 never exceed 3 at once."""
    lock = threading.Lock()
    running = peak = 0
    release = threading.Event()

    @resilient(bulkhead=BulkheadConfig(max_concurrent=3, max_wait=5.0))
    def work() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    threading.Timer(0.1, release.set).start()
    for thread in threads:
        thread.join(5)
    assert peak == 3


def test_full_bulkhead_rejects_without_waiting() -> None:
    """With max_wait=0 a call finding no free slot is rejected at once."""
    state = LocalBulkheadState(BulkheadConfig(max_concurrent=1))
    assert state.acquire(0.0) is not None
    assert state.acquire(0.0) is None
    assert state.snapshot().in_flight == 1


def test_waiters_are_served_first_come_first_served() -> None:
    """Released slots go to waiters in the order they arrived."""
    state = LocalBulkheadState(BulkheadConfig(max_concurrent=1))
    slot = state.acquire(0.0)
    order: list[int] = []

    def wait(index: int) -> None:
        got = state.acquire(5.0)
        order.append(index)
        state.release(got)

    threads = []
    for index in range(4):
        thread = threading.Thread(target=wait, args=(index,))
        thread.start()
        threads.append(thread)
        while state.snapshot().waiting < index + 1:
            pass
    state.release(slot)
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3]
    assert state.snapshot().in_flight == 0


def test_waiter_times_out() -> None:
    """A waiter gives up after max_wait and leaves the queue."""
    state = LocalBulkheadState(BulkheadConfig(max_concurrent=1))
    state.acquire(0.0)
    assert state.acquire(0.02) is None
    assert state.snapshot().waiting == 0


def test_slot_released_on_error_and_held_by_a_timed_out_worker() -> None:
    """Errors free the slot; a timed-out call keeps it until it really ends."""
    release = threading.Event()
    config = ResilienceConfig(
        bulkhead=BulkheadConfig(max_concurrent=1), timeout=TimeoutConfig(seconds=0.02)
    )

    @resilient(config=config)
    def work(mode: str) -> str:
        if mode == "error":
            raise ValueError
        if mode == "hang":
            release.wait(5)
        return "ok"

    with pytest.raises(ValueError):
        work("error")
    with pytest.raises(ResilienceTimeoutError):
        work("hang")
    # Python cannot stop the abandoned thread: it still uses the dependency,
    # so its slot stays taken.
    with pytest.raises(BulkheadFullError):
        work("fine")
    release.set()
    for _ in range(500):
        try:
            assert work("fine") == "ok"
            break
        except BulkheadFullError:
            time.sleep(0.01)
    else:
        pytest.fail("the slot never came back after the worker finished")


async def test_cancelled_call_releases_its_slot() -> None:
    """Cancelling a running call frees its slot."""
    started = asyncio.Event()

    @resilient(bulkhead=BulkheadConfig(max_concurrent=1))
    async def work(hang: bool) -> str:
        if hang:
            started.set()
            await asyncio.sleep(3600)
        return "ok"

    task = asyncio.ensure_future(work(True))
    await started.wait()
    with pytest.raises(BulkheadFullError):
        await work(False)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await work(False) == "ok"


async def test_cancelled_waiter_leaves_queue_and_takes_no_slot() -> None:
    """A waiter cancelled in the queue neither holds nor leaks a slot."""
    state = LocalBulkheadState(BulkheadConfig(max_concurrent=1))
    slot = state.acquire(0.0)
    waiter = asyncio.ensure_future(state.aacquire(10.0))
    await asyncio.sleep(0.01)
    assert state.snapshot().waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    state.release(slot)
    assert state.snapshot().in_flight == 0
    assert state.snapshot().waiting == 0


async def test_async_waiter_gets_slot_released_by_a_thread() -> None:
    """A slot freed in a worker thread wakes an asyncio waiter."""
    state = LocalBulkheadState(BulkheadConfig(max_concurrent=1))
    slot = state.acquire(0.0)
    waiter = asyncio.ensure_future(state.aacquire(5.0))
    await asyncio.sleep(0.01)
    threading.Thread(target=state.release, args=(slot,)).start()
    assert await asyncio.wait_for(waiter, 5) is not None
    assert state.snapshot().in_flight == 1


def test_sync_and_async_share_slots_per_name(registry) -> None:
    """One name's bulkhead counts sync and async callers together."""
    registry.register("db", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1)))

    @registry.decorator("db")
    async def query() -> str:
        return "ok"

    with registry.policy("db").guard():
        with pytest.raises(BulkheadFullError):
            asyncio.run(query())
    assert asyncio.run(query()) == "ok"
