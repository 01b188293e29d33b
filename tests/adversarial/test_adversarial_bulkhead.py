"""Adversarial tests of the bulkhead: storms, FIFO order, leaks after cancels."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    Policy,
    ResilienceConfig,
    ResilienceRegistry,
    ResilienceTimeoutError,
    TimeoutConfig,
)


class Gauge:
    """Counts calls running at once, from threads and tasks alike."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.done = 0

    def enter(self) -> None:
        """Mark one call as running."""
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        """Mark one call as finished."""
        with self.lock:
            self.running -= 1
            self.done += 1


def _bulkhead_policy(max_concurrent: int, max_wait: float, **extra: object) -> Policy:
    registry = ResilienceRegistry()
    config = ResilienceConfig(
        bulkhead=BulkheadConfig(max_concurrent=max_concurrent, max_wait=max_wait),
        **extra,  # type: ignore[arg-type]
    )
    registry.register("dep", config)
    return registry.policy("dep")


def _idle(policy: Policy) -> tuple[int, int]:
    snapshot = policy.status().bulkhead
    assert snapshot is not None
    return snapshot.in_flight, snapshot.waiting


async def test_mixed_thread_and_task_storm_never_exceeds_limit() -> None:
    """8 threads and 16 tasks on one name: never more than 3 calls in flight."""
    policy = _bulkhead_policy(3, 5.0)
    gauge = Gauge()

    def sync_work() -> None:
        gauge.enter()
        time.sleep(0.001)
        gauge.leave()

    async def async_work() -> None:
        gauge.enter()
        await asyncio.sleep(0.001)
        gauge.leave()

    def thread_main() -> None:
        for _ in range(10):
            policy.call(sync_work)

    async def task_main() -> None:
        for _ in range(10):
            await policy.acall(async_work)

    threads = [threading.Thread(target=thread_main) for _ in range(8)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(task_main() for _ in range(16)))
    for thread in threads:
        await asyncio.to_thread(thread.join, 10.0)
    assert gauge.done == 240
    assert gauge.peak == 3
    assert _idle(policy) == (0, 0)


async def test_waiters_from_threads_and_tasks_are_served_in_arrival_order() -> None:
    """A thread, a task, a thread and a task queued in turn get slots in turn."""
    policy = _bulkhead_policy(1, 5.0)
    order: list[str] = []

    def sync_work(tag: str) -> None:
        order.append(tag)

    async def async_work(tag: str) -> None:
        order.append(tag)

    async def wait_for_waiters(count: int) -> None:
        for _ in range(500):
            if _idle(policy)[1] == count:
                return
            await asyncio.sleep(0.002)
        raise AssertionError(f"never saw {count} waiters")

    threads: list[threading.Thread] = []
    tasks: list[asyncio.Task[None]] = []
    async with policy.aguard():
        for index, tag in enumerate(["t1", "a1", "t2", "a2"]):
            if tag.startswith("t"):
                thread = threading.Thread(target=policy.call, args=(sync_work, tag))
                thread.start()
                threads.append(thread)
            else:
                tasks.append(asyncio.create_task(policy.acall(async_work, tag)))
            await wait_for_waiters(index + 1)
    await asyncio.gather(*tasks)
    for thread in threads:
        await asyncio.to_thread(thread.join, 5.0)
    assert order == ["t1", "a1", "t2", "a2"]
    assert _idle(policy) == (0, 0)


async def test_random_cancellations_leak_no_slot() -> None:
    """After 120 tasks, a third cancelled at random moments, all slots are free."""
    policy = _bulkhead_policy(2, 5.0)
    gauge = Gauge()
    rng = random.Random(1234)

    async def work(pause: float) -> None:
        gauge.enter()
        try:
            await asyncio.sleep(pause)
        finally:
            gauge.leave()

    tasks = [
        asyncio.create_task(policy.acall(work, rng.uniform(0.0, 0.004)))
        for _ in range(120)
    ]
    victims = rng.sample(tasks, 40)
    for victim in victims:
        await asyncio.sleep(rng.uniform(0.0, 0.003))
        victim.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(
        result is None or isinstance(result, asyncio.CancelledError)
        for result in results
    )
    assert gauge.peak <= 2
    assert _idle(policy) == (0, 0)
    # The capacity is intact: exactly two more calls can run side by side.
    second = Gauge()

    async def hold() -> None:
        second.enter()
        await asyncio.sleep(0.01)
        second.leave()

    await asyncio.gather(*(policy.acall(hold) for _ in range(6)))
    assert second.peak == 2


def test_thread_waiters_timing_out_in_a_storm_leak_nothing() -> None:
    """Threads that give up waiting (BulkheadFullError) never keep a slot."""
    policy = _bulkhead_policy(2, 0.01)
    gauge = Gauge()
    rejected = 0
    lock = threading.Lock()

    def work() -> None:
        gauge.enter()
        time.sleep(0.005)
        gauge.leave()

    def thread_main() -> None:
        nonlocal rejected
        for _ in range(15):
            try:
                policy.call(work)
            except BulkheadFullError as error:
                assert error.policy == "dep"
                with lock:
                    rejected += 1

    threads = [threading.Thread(target=thread_main) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert gauge.done + rejected == 150
    assert rejected > 0
    assert gauge.peak == 2
    assert _idle(policy) == (0, 0)


async def test_async_attempt_timeout_gives_the_slot_back() -> None:
    """An async call cut by its per-attempt timeout frees its slot."""
    policy = _bulkhead_policy(1, 0.0, timeout=TimeoutConfig(seconds=0.02))

    async def hang() -> None:
        await asyncio.sleep(5)

    async def quick() -> str:
        return "ok"

    with pytest.raises(ResilienceTimeoutError):
        await policy.acall(hang)
    assert _idle(policy) == (0, 0)
    assert await policy.acall(quick) == "ok"


def test_tasks_on_several_event_loops_share_one_bulkhead() -> None:
    """Four threads, each with its own event loop, never exceed the shared limit."""
    policy = _bulkhead_policy(3, 5.0)
    gauge = Gauge()

    async def work() -> None:
        gauge.enter()
        await asyncio.sleep(0.002)
        gauge.leave()

    def loop_main() -> None:
        async def main() -> None:
            await asyncio.gather(*(policy.acall(work) for _ in range(40)))

        asyncio.run(main())

    threads = [threading.Thread(target=loop_main) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert gauge.done == 160
    assert gauge.peak == 3
    assert _idle(policy) == (0, 0)


def test_very_long_max_wait_is_refused_up_front_or_waits() -> None:
    """A huge max_wait either fails validation or waits for the freed slot."""
    try:
        config = BulkheadConfig(max_concurrent=1, max_wait=1e10)
    except ValueError:
        return
    registry = ResilienceRegistry()
    registry.register("dep", ResilienceConfig(bulkhead=config))
    policy = registry.policy("dep")
    holder = policy.guard()
    holder.__enter__()
    threading.Timer(0.05, holder.__exit__, args=(None, None, None)).start()
    assert policy.call(lambda: "ok") == "ok"
