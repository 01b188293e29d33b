"""Interrupts and cancellation pass straight through and give everything back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    FallbackConfig,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    TimeoutConfig,
    timeout_worker_stats,
)
from pyresilience.testing import FakeClock

SIGNALS = [KeyboardInterrupt, SystemExit, GeneratorExit]


class Down(Exception):
    """The dependency failed."""


def _full_policy(
    registry: ResilienceRegistry, fallbacks: list[BaseException], **extra: object
) -> None:
    def handler(error: BaseException) -> str:
        fallbacks.append(error)
        return "fallback"

    registry.register(
        "dep",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=5, delay=0.0),
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=1
            ),
            rate_limiter=RateLimiterConfig(max_calls=3, period=10.0),
            bulkhead=BulkheadConfig(max_concurrent=1),
            fallback=FallbackConfig(handler=handler),
            **extra,  # type: ignore[arg-type]
        ),
    )


def _assert_clean(registry: ResilienceRegistry, *, used: int) -> None:
    status = registry.status()["dep"]
    assert status.bulkhead is not None and status.bulkhead.in_flight == 0
    assert status.bulkhead.waiting == 0
    assert status.rate_limiter is not None and status.rate_limiter.used == used
    assert status.breaker is not None and status.breaker.half_open_in_flight == 0
    assert registry.in_flight == 0


@pytest.mark.parametrize("signal", SIGNALS)
def test_sync_signal_in_half_open_probe_gives_everything_back(
    registry: ResilienceRegistry, clock: FakeClock, signal: type[BaseException]
) -> None:
    """A probe that raises an interrupt: no retry, no count, no fallback, no leak."""
    fallbacks: list[BaseException] = []
    _full_policy(registry, fallbacks)
    policy = registry.policy("dep")
    calls = 0

    def down() -> None:
        raise Down

    def interrupted() -> None:
        nonlocal calls
        calls += 1
        raise signal()

    assert policy.call(down) == "fallback"  # opens the breaker
    clock.advance(1.0)
    fallbacks.clear()
    with pytest.raises(signal):
        policy.call(interrupted)
    assert calls == 1
    assert fallbacks == []
    _assert_clean(registry, used=1)
    snapshot = policy.status().breaker
    assert snapshot is not None and snapshot.state is CircuitState.HALF_OPEN
    assert policy.call(lambda: "ok") == "ok"  # the single probe slot is free


@pytest.mark.parametrize("signal", SIGNALS)
def test_sync_signal_is_not_a_breaker_failure(
    registry: ResilienceRegistry, clock: FakeClock, signal: type[BaseException]
) -> None:
    """With failure_threshold=1 an interrupt leaves the breaker closed."""
    fallbacks: list[BaseException] = []
    _full_policy(registry, fallbacks)
    policy = registry.policy("dep")

    def interrupted() -> None:
        raise signal()

    with pytest.raises(signal):
        policy.call(interrupted)
    snapshot = policy.status().breaker
    assert snapshot is not None and snapshot.state is CircuitState.CLOSED
    assert snapshot.consecutive_failures == 0
    assert fallbacks == []


class InterruptingClock(FakeClock):
    """A virtual clock whose next sleep is interrupted, like Ctrl-C mid-wait."""

    interrupt_next = False

    def sleep(self, seconds: float) -> None:
        """Raise KeyboardInterrupt instead of sleeping when armed."""
        if self.interrupt_next:
            self.interrupt_next = False
            raise KeyboardInterrupt
        super().sleep(seconds)


def test_interrupt_while_waiting_for_a_permit_returns_the_reservation() -> None:
    """An interrupted limiter wait frees its future start for the next caller."""
    clock = InterruptingClock()
    registry = ResilienceRegistry(clock=clock)
    registry.register(
        "dep",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=1, period=10.0, max_wait=30.0)
        ),
    )
    policy = registry.policy("dep")
    starts: list[float] = []

    def record() -> None:
        starts.append(clock.monotonic())

    policy.call(record)
    clock.interrupt_next = True
    with pytest.raises(KeyboardInterrupt):
        policy.call(record)
    policy.call(record)  # takes the start at t=10 the interrupted call gave up
    assert starts == [0.0, 10.0]
    assert clock.sleeps == [10.0]


async def test_task_cancelled_while_queued_for_bulkhead_leaks_nothing(
    registry: ResilienceRegistry,
) -> None:
    """A task cancelled in the bulkhead queue leaves no slot, waiter or permit."""
    registry.register(
        "dep",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=5, period=10.0),
            bulkhead=BulkheadConfig(max_concurrent=1, max_wait=5.0),
        ),
    )
    policy = registry.policy("dep")
    ran: list[str] = []

    async def work(tag: str) -> None:
        ran.append(tag)

    async with policy.aguard():  # holds the only slot and one permit
        task = asyncio.create_task(policy.acall(work, "queued"))
        await asyncio.sleep(0.02)
        status = policy.status()
        assert status.bulkhead is not None and status.bulkhead.waiting == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    status = policy.status()
    assert status.bulkhead is not None
    assert (status.bulkhead.in_flight, status.bulkhead.waiting) == (0, 0)
    assert status.rate_limiter is not None and status.rate_limiter.used == 1
    assert ran == []
    assert registry.in_flight == 0


async def test_cancelled_probe_task_is_not_counted_or_retried(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Cancelling a running async probe: one call, no fallback, probe slot back."""
    fallbacks: list[BaseException] = []
    _full_policy(registry, fallbacks)
    policy = registry.policy("dep")
    started = asyncio.Event()
    calls = 0

    async def down() -> None:
        raise Down

    async def hang() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(30)

    assert await policy.acall(down) == "fallback"
    clock.advance(1.0)
    fallbacks.clear()
    task = asyncio.create_task(policy.acall(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1
    assert fallbacks == []
    status = policy.status()
    assert status.breaker is not None
    assert status.breaker.state is CircuitState.HALF_OPEN
    assert status.breaker.half_open_in_flight == 0
    assert status.bulkhead is not None and status.bulkhead.in_flight == 0
    assert registry.in_flight == 0

    async def ok() -> str:
        return "ok"

    assert await policy.acall(ok) == "ok"


def test_interrupt_raised_in_timeout_worker_passes_through(
    registry: ResilienceRegistry,
) -> None:
    """KeyboardInterrupt from a timed sync call reaches the caller, unretried."""
    fallbacks: list[BaseException] = []
    _full_policy(registry, fallbacks, timeout=TimeoutConfig(seconds=2.0))
    policy = registry.policy("dep")
    calls = 0
    threads: set[str] = set()

    def interrupted() -> None:
        nonlocal calls
        calls += 1
        threads.add(threading.current_thread().name)
        raise KeyboardInterrupt

    before = timeout_worker_stats().abandoned
    with pytest.raises(KeyboardInterrupt):
        policy.call(interrupted)
    assert calls == 1
    assert threads == {"pyresilience-timeout"}
    assert fallbacks == []
    assert timeout_worker_stats().abandoned == before
    _assert_clean(registry, used=0)  # per the spec, the permit is given back
