"""Adversarial tests of the rate limiter: any-window bound, order, give-backs."""

from __future__ import annotations

import asyncio
import random
import threading

import pytest

from pyresilience import (
    AsyncRateLimiter,
    BulkheadConfig,
    BulkheadFullError,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceRegistry,
)
from pyresilience.testing import FakeClock


def _max_in_any_window(starts: list[float], period: float) -> int:
    """Most starts found in any half-open window [t, t + period)."""
    ordered = sorted(starts)
    best = 0
    for index, first in enumerate(ordered):
        inside = sum(1 for s in ordered[index:] if s < first + period)
        best = max(best, inside)
    return best


class FlakySleepClock(FakeClock):
    """A virtual clock whose sleeps are interrupted on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.interrupt: set[int] = set()
        self.count = 0

    def sleep(self, seconds: float) -> None:
        """Sleep, or raise KeyboardInterrupt if this sleep was picked."""
        self.count += 1
        if self.count in self.interrupt:
            raise KeyboardInterrupt
        super().sleep(seconds)


def test_random_waits_and_interrupted_waiters_never_burst() -> None:
    """Random arrivals, waits and interrupted waits: no window exceeds max_calls."""
    rng = random.Random(99)
    clock = FlakySleepClock()
    clock.interrupt = set(rng.sample(range(1, 400), 60))
    registry = ResilienceRegistry(clock=clock)
    registry.register(
        "dep",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=4, period=2.0, max_wait=0.5)
        ),
    )
    policy = registry.policy("dep")
    starts: list[float] = []
    outcomes = {"ran": 0, "rejected": 0, "interrupted": 0}

    def record() -> None:
        starts.append(clock.monotonic())

    for _ in range(600):
        clock.advance(rng.choice([0.0, 0.0, 0.0, 0.25, 0.5, 1.0]))
        try:
            policy.call(record)
            outcomes["ran"] += 1
        except RateLimitExceededError as error:
            assert error.retry_after is not None and error.retry_after > 0
            outcomes["rejected"] += 1
        except KeyboardInterrupt:
            outcomes["interrupted"] += 1
    assert min(outcomes.values()) > 0
    assert _max_in_any_window(starts, 2.0) <= 4


class StalledClock(FakeClock):
    """A virtual clock whose async sleeps are recorded, then block until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def asleep(self, seconds: float) -> None:
        """Record the sleep and wait for the test to release every sleeper."""
        self.sleeps.append(seconds)
        await self.release.wait()


async def test_cancelled_last_waiter_lets_the_next_caller_take_its_start() -> None:
    """Cancelling the newest waiter frees its start for the next arrival."""
    clock = StalledClock()
    limiter = AsyncRateLimiter(max_calls=1, period=10.0, max_wait=30.0, clock=clock)
    await limiter.acquire()  # start at 0, no wait
    first = asyncio.create_task(limiter.acquire())  # reserves start 10
    second = asyncio.create_task(limiter.acquire())  # reserves start 20
    await asyncio.sleep(0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    third = asyncio.create_task(limiter.acquire())  # gets start 20 again
    await asyncio.sleep(0)
    assert clock.sleeps == [10.0, 20.0, 20.0]
    clock.release.set()
    await asyncio.gather(first, third)


def test_thread_hammer_admits_exactly_max_calls_per_window(clock: FakeClock) -> None:
    """Eight threads racing at one instant get exactly max_calls permits."""
    registry = ResilienceRegistry(clock=clock)
    registry.register(
        "dep",
        ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=7, period=1.0)),
    )
    policy = registry.policy("dep")
    lock = threading.Lock()
    counts = {"ran": 0, "rejected": 0}

    def run_round() -> None:
        start = threading.Barrier(8)

        def worker() -> None:
            start.wait()
            for _ in range(50):
                try:
                    policy.call(lambda: None)
                    key = "ran"
                except RateLimitExceededError:
                    key = "rejected"
                with lock:
                    counts[key] += 1

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5.0)

    run_round()
    assert counts == {"ran": 7, "rejected": 393}
    clock.advance(1.0)
    run_round()
    assert counts == {"ran": 14, "rejected": 786}
    status = policy.status().rate_limiter
    assert status is not None and status.used == 7


def test_window_edge_allows_no_double_burst_through_the_pipeline(
    clock: FakeClock,
) -> None:
    """Five calls just before t=1 and a burst at t=1 admit none of the second."""
    registry = ResilienceRegistry(clock=clock)
    registry.register(
        "dep",
        ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=5, period=1.0)),
    )
    policy = registry.policy("dep")
    clock.advance(0.75)
    for _ in range(5):
        policy.call(lambda: None)
    clock.advance(0.25)  # a fixed window would have reset here
    with pytest.raises(RateLimitExceededError) as caught:
        policy.call(lambda: None)
    assert caught.value.retry_after == pytest.approx(0.75)
    clock.advance(0.75)
    for _ in range(5):
        policy.call(lambda: None)


def _limited_bulkhead(clock: FakeClock) -> ResilienceRegistry:
    registry = ResilienceRegistry(clock=clock)
    registry.register(
        "dep",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=3, period=60.0),
            bulkhead=BulkheadConfig(max_concurrent=1),
        ),
    )
    return registry


def test_bulkhead_rejection_spends_no_rate_limit_permit(clock: FakeClock) -> None:
    """Two calls turned away by a full bulkhead leave two permits for later."""
    policy = _limited_bulkhead(clock).policy("dep")
    with policy.guard():  # one permit, the only slot
        for _ in range(2):
            with pytest.raises(BulkheadFullError):
                policy.call(lambda: None)
    status = policy.status().rate_limiter
    assert status is not None and status.used == 1
    try:
        policy.call(lambda: None)
    except RateLimitExceededError:
        raise AssertionError("a permit was lost to the bulkhead rejections") from None


async def test_async_bulkhead_rejection_spends_no_rate_limit_permit(
    clock: FakeClock,
) -> None:
    """Async twin: bulkhead rejections do not count against the rate limit."""
    policy = _limited_bulkhead(clock).policy("dep")

    async def quick() -> None:
        return None

    async with policy.aguard():
        for _ in range(2):
            with pytest.raises(BulkheadFullError):
                await policy.acall(quick)
    status = policy.status().rate_limiter
    assert status is not None and status.used == 1


def test_guard_bulkhead_rejection_gives_the_permit_back(clock: FakeClock) -> None:
    """guard() already returns the permit when its bulkhead turns a block away."""
    policy = _limited_bulkhead(clock).policy("dep")
    with policy.guard():
        for _ in range(2):
            with pytest.raises(BulkheadFullError):
                with policy.guard():
                    pass
    status = policy.status().rate_limiter
    assert status is not None and status.used == 1
