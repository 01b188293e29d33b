"""Adversarial tests of the registry, listeners, lifecycle and thread safety."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import pyresilience
from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    CacheConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    EventType,
    FallbackConfig,
    MetricsCollector,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceEvent,
    ResilienceRegistry,
    RetryBudgetConfig,
    RetryConfig,
    ShutdownError,
    TimeoutConfig,
    UnknownPolicyError,
    health_check,
    resilient,
    timeout_worker_stats,
)
from pyresilience.testing import FakeClock, isolated_process_gate


class Down(Exception):
    """The dependency failed."""


def test_lazy_async_fallback_on_sync_function_fails_at_first_call(
    registry: ResilienceRegistry,
) -> None:
    """Decorating first is fine; the bad pairing is reported when first called."""

    @registry.decorator("later")
    def fn() -> str:
        return "ok"

    async def handler(error: BaseException) -> str:
        return "fallback"

    registry.register("later", ResilienceConfig(fallback=FallbackConfig(handler)))
    with pytest.raises(TypeError, match="async"):
        fn()
    registry.register("later", ResilienceConfig(retry=RetryConfig(max_attempts=1)))
    assert fn() == "ok"


def test_unregister_then_default_then_clear(registry: ResilienceRegistry) -> None:
    """Unknown names fail listing the rest, a default serves them, clear removes all."""

    @registry.decorator("b")
    def fn() -> str:
        return "ok"

    registry.register("a", ResilienceConfig())
    registry.register("b", ResilienceConfig())
    assert fn() == "ok"
    registry.unregister("b")
    with pytest.raises(UnknownPolicyError) as caught:
        fn()
    assert str(caught.value) == (
        "no resilience policy named 'b' and no default policy; registered: 'a'"
    )
    assert isinstance(caught.value, KeyError)
    registry.set_default(ResilienceConfig(retry=RetryConfig(max_attempts=1)))
    assert fn() == "ok"
    registry.clear()
    with pytest.raises(UnknownPolicyError, match="registered: none"):
        fn()


def test_reregistration_applies_to_handles_guards_and_decorated_functions(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """One re-register changes decorated functions, Policy handles and guards."""
    registry.register("dep", ResilienceConfig())
    policy = registry.policy("dep")

    @registry.decorator("dep")
    def fn() -> str:
        return "ok"

    fn()
    with policy.guard():
        pass
    registry.register(
        "dep",
        ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=2, period=60.0)),
    )
    fn()
    with policy.guard():
        pass
    with pytest.raises(RateLimitExceededError):
        policy.call(lambda: None)


def test_in_flight_call_finishes_on_old_config_after_reregister(
    registry: ResilienceRegistry,
) -> None:
    """A running call keeps its slot and config; the next call uses the new one."""
    registry.register(
        "dep", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=1))
    )
    policy = registry.policy("dep")
    inside = threading.Event()
    release = threading.Event()

    def hold() -> str:
        inside.set()
        release.wait(2.0)
        return "held"

    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(policy.call(hold)))
    worker.start()
    assert inside.wait(2.0)
    with pytest.raises(BulkheadFullError):
        policy.call(lambda: "x")
    registry.register(
        "dep", ResilienceConfig(bulkhead=BulkheadConfig(max_concurrent=2))
    )
    assert policy.call(lambda: "fresh") == "fresh"  # new config, new slots
    release.set()
    worker.join(2.0)
    assert results == ["held"]


def _tour(registry: ResilienceRegistry, clock: FakeClock) -> list[object]:
    """Drive every pattern of a policy and record what each call returned."""
    policy = registry.policy("dep")
    outcomes: list[object] = []

    def attempt(fn: Callable[[], object]) -> None:
        try:
            outcomes.append(policy.call(fn))
        except Exception as error:
            outcomes.append(type(error).__name__)

    def down() -> object:
        raise Down

    for _ in range(3):
        attempt(down)
    clock.advance(5.0)
    attempt(lambda: "probe")
    attempt(lambda: "closed")
    with policy.guard():
        attempt(lambda: "bulkhead full")
    for _ in range(4):
        attempt(lambda: "limited")
    snapshot = policy.status()
    outcomes.append(snapshot.breaker.state if snapshot.breaker else None)
    return outcomes


def test_raising_listeners_change_no_outcome(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener raising on every event leaves every result and state unchanged."""
    seen: list[EventType] = []

    def broken(event: ResilienceEvent) -> None:
        seen.append(event.event_type)
        raise RuntimeError(f"listener broke on {event.event_type.value}")

    def config(listeners: list[Any]) -> ResilienceConfig:
        return ResilienceConfig(
            retry=RetryConfig(max_attempts=2, delay=0.0),
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=2, recovery_timeout=5.0, success_threshold=1
            ),
            fallback=FallbackConfig(handler="fallback", fallback_on=(Down,)),
            bulkhead=BulkheadConfig(max_concurrent=1),
            rate_limiter=RateLimiterConfig(max_calls=6, period=60.0),
            listeners=listeners,
        )

    quiet = ResilienceRegistry(clock=FakeClock())
    quiet.register("dep", config([]))
    noisy = ResilienceRegistry(clock=clock)
    noisy.register("dep", config([broken]))
    with caplog.at_level(logging.ERROR, logger="pyresilience.events"):
        noisy_outcomes = _tour(noisy, clock)
    assert noisy_outcomes == _tour(quiet, quiet.clock)  # type: ignore[arg-type]
    assert "fallback" in noisy_outcomes and "RateLimitExceededError" in noisy_outcomes
    assert {
        EventType.CIRCUIT_OPEN,
        EventType.CIRCUIT_HALF_OPEN,
        EventType.CIRCUIT_CLOSED,
        EventType.FALLBACK_USED,
        EventType.BULKHEAD_REJECTED,
        EventType.RATE_LIMITED,
    } <= set(seen)
    assert len(caplog.records) == len(seen)


def test_eight_threads_hammering_one_function_count_exactly(
    registry: ResilienceRegistry,
) -> None:
    """8 threads x 100 calls, each failing twice then succeeding: exact counts."""
    metrics = MetricsCollector()
    registry.register(
        "dep",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=3, delay=0.0),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=10_000),
            bulkhead=BulkheadConfig(max_concurrent=4, max_wait=5.0),
            rate_limiter=RateLimiterConfig(max_calls=10_000, period=60.0),
            listeners=[metrics],
        ),
    )
    local = threading.local()
    lock = threading.Lock()
    invocations = 0

    @registry.decorator("dep")
    def flaky() -> str:
        nonlocal invocations
        with lock:
            invocations += 1
        local.attempt = getattr(local, "attempt", 0) + 1
        if local.attempt % 3:
            raise Down
        return "ok"

    start = threading.Barrier(8)
    results: list[str] = []

    def worker() -> None:
        start.wait()
        mine = [flaky() for _ in range(100)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert results == ["ok"] * 800
    assert invocations == 2400
    assert metrics.count(EventType.SUCCESS, "dep") == 800
    assert metrics.count(EventType.FAILURE, "dep") == 1600
    assert metrics.count(EventType.RETRY, "dep") == 1600
    assert metrics.count(EventType.RETRY_EXHAUSTED, "dep") == 0
    status = registry.status()["dep"]
    assert status.rate_limiter is not None and status.rate_limiter.used == 2400
    assert status.bulkhead is not None and status.bulkhead.in_flight == 0
    assert status.breaker is not None and status.breaker.state is CircuitState.CLOSED
    assert registry.in_flight == 0


async def test_ashutdown_drains_async_calls_then_refuses_everything() -> None:
    """ashutdown waits for a running call; then calls, guards and cache refuse."""
    registry = ResilienceRegistry()
    registry.register("dep", ResilienceConfig(cache=CacheConfig()))
    policy = registry.policy("dep")
    release = asyncio.Event()
    finished: list[str] = []

    async def slow() -> str:
        await release.wait()
        finished.append("slow")
        return "slow"

    async def quick() -> str:
        return "quick"

    assert await policy.acall(quick) == "quick"  # now cached
    running = asyncio.create_task(policy.acall(slow))
    await asyncio.sleep(0.01)
    assert registry.in_flight == 1
    draining = asyncio.create_task(registry.ashutdown(timeout=2.0))
    await asyncio.sleep(0.02)
    assert not draining.done()
    with pytest.raises(ShutdownError):
        await policy.acall(quick)  # refused, even though the result is cached
    with pytest.raises(ShutdownError):
        async with policy.aguard():
            pass
    release.set()
    assert await draining is True
    assert await running == "slow"
    registry.open()
    assert await policy.acall(quick) == "quick"


def test_shutdown_reports_a_call_that_did_not_drain() -> None:
    """shutdown(timeout) returns False when a call is still running at the end."""
    registry = ResilienceRegistry()
    registry.register("dep", ResilienceConfig())
    release = threading.Event()
    inside = threading.Event()

    def stuck() -> None:
        inside.set()
        release.wait(2.0)

    worker = threading.Thread(target=registry.policy("dep").call, args=(stuck,))
    worker.start()
    assert inside.wait(2.0)
    started = time.monotonic()
    assert registry.shutdown(timeout=0.05) is False
    assert time.monotonic() - started < 0.5
    release.set()
    worker.join(2.0)
    assert registry.in_flight == 0


class _SlowAppendList(list):  # type: ignore[type-arg]
    """An in-flight list whose append is delayed, as if the thread were preempted."""

    def append(self, item: object) -> None:
        time.sleep(0.15)
        super().append(item)


def test_no_call_starts_after_shutdown_reports_drained() -> None:
    """Once shutdown() returns True, no admitted call is still about to run."""
    registry = ResilienceRegistry()
    registry.register("dep", ResilienceConfig())
    # Widen the window between admission check and in-flight count.
    registry._gate.calls = _SlowAppendList()
    ran_at: list[float] = []
    refused: list[ShutdownError] = []

    def caller() -> None:
        try:
            registry.policy("dep").call(lambda: ran_at.append(time.monotonic()))
        except ShutdownError as error:
            refused.append(error)

    worker = threading.Thread(target=caller)
    worker.start()
    time.sleep(0.05)  # the worker is inside the window, past the admission check
    drained = registry.shutdown(timeout=1.0)
    returned_at = time.monotonic()
    worker.join(2.0)
    assert drained
    # Either the call was refused, or it had finished before shutdown returned.
    assert refused or (ran_at and ran_at[0] <= returned_at)


def test_process_shutdown_refuses_standalone_and_registry_calls() -> None:
    """pyresilience.shutdown() stops every policy until the gate is reopened."""
    registry = ResilienceRegistry()
    registry.register("dep", ResilienceConfig())

    @resilient(retry=RetryConfig(max_attempts=1))
    def standalone() -> str:
        return "ok"

    with isolated_process_gate():
        assert pyresilience.shutdown(timeout=0.5) is True
        with pytest.raises(ShutdownError):
            standalone()
        with pytest.raises(ShutdownError):
            registry.policy("dep").call(lambda: "x")
        assert health_check(registry)["status"] == "shutting_down"
    assert standalone() == "ok"
    assert registry.policy("dep").call(lambda: "x") == "x"


def _start_idle_workers(pool_size: int, count: int) -> None:
    """Leave ``count`` idle timeout workers in the pool of ``pool_size``."""
    release = threading.Event()
    started = threading.Semaphore(0)

    @resilient(timeout=TimeoutConfig(seconds=2.0, pool_size=pool_size))
    def hold() -> None:
        started.release()
        release.wait(2.0)

    threads = []
    for _ in range(count):
        thread = threading.Thread(target=hold)
        thread.start()
        threads.append(thread)
        assert started.acquire(timeout=2.0)  # each call runs on its own worker
    release.set()
    for thread in threads:
        thread.join(2.0)


def test_process_shutdown_lets_every_idle_timeout_worker_exit() -> None:
    """After pyresilience.shutdown(), no idle timeout worker is left running."""
    _start_idle_workers(pool_size=811, count=3)
    with isolated_process_gate():
        pyresilience.shutdown(timeout=0.5)
    for _ in range(100):
        stats = timeout_worker_stats()
        if stats.threads == stats.busy:
            break
        time.sleep(0.01)
    stats = timeout_worker_stats()
    assert stats.threads - stats.busy == 0, f"idle workers left: {stats}"


async def test_sync_and_async_share_breaker_and_rejection_names_policy(
    registry: ResilienceRegistry,
) -> None:
    """An async failure opens the breaker a sync caller then hits, by name."""
    registry.register(
        "payment-api",
        ResilienceConfig(circuit_breaker=CircuitBreakerConfig(failure_threshold=1)),
    )

    @registry.decorator("payment-api")
    async def charge() -> None:
        raise Down

    @registry.decorator("payment-api")
    def refund() -> str:
        return "ok"

    with pytest.raises(Down):
        await charge()
    with pytest.raises(CircuitOpenError) as caught:
        refund()
    assert caught.value.policy == "payment-api"
    assert caught.value.retry_after == pytest.approx(30.0)
    assert "payment-api" in str(caught.value)


async def test_sync_and_async_callers_draw_on_one_rate_limit(
    registry: ResilienceRegistry,
) -> None:
    """Permits of a name are spent by sync and async functions alike."""
    registry.register(
        "dep",
        ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=3, period=60.0)),
    )

    @registry.decorator("dep")
    def sync_fn() -> str:
        return "sync"

    @registry.decorator("dep")
    async def async_fn() -> str:
        return "async"

    assert [sync_fn(), await async_fn(), sync_fn()] == ["sync", "async", "sync"]
    with pytest.raises(RateLimitExceededError) as caught:
        await async_fn()
    assert caught.value.policy == "dep"
    with pytest.raises(RateLimitExceededError):
        sync_fn()


async def test_no_event_is_built_without_listeners_on_any_async_path(
    registry: ResilienceRegistry,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Transitions, rejections, fallbacks, cache and guards build no event object."""
    import pyresilience._events as events_module

    built: list[object] = []
    monkeypatch.setattr(
        events_module, "ResilienceEvent", lambda *a, **k: built.append(k)
    )
    registry.register(
        "dep",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=2, delay=0.5),
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=2, recovery_timeout=1.0, success_threshold=1
            ),
            fallback=FallbackConfig(handler="fallback", fallback_on=(Down,)),
            bulkhead=BulkheadConfig(max_concurrent=1),
            rate_limiter=RateLimiterConfig(max_calls=50, period=1.0),
            cache=CacheConfig(),
            timeout=TimeoutConfig(seconds=1.0),
        ),
    )
    policy = registry.policy("dep")

    async def down() -> None:
        raise Down

    async def fine(key: str) -> str:
        return key

    assert await policy.acall(down) == "fallback"  # retry, open
    with pytest.raises(CircuitOpenError):
        await policy.acall(fine, "rejected")
    clock.advance(1.0)
    assert await policy.acall(fine, "a") == "a"  # half-open probe closes it
    assert await policy.acall(fine, "a") == "a"  # cache hit
    async with policy.aguard():
        with pytest.raises(BulkheadFullError):
            await policy.acall(fine, "b")
    assert built == []


def test_first_use_from_many_threads_builds_one_shared_state(
    registry: ResilienceRegistry,
) -> None:
    """Sixteen threads making the first call of a name all hit one breaker."""
    registry.register(
        "dep",
        ResilienceConfig(circuit_breaker=CircuitBreakerConfig(failure_threshold=16)),
    )
    start = threading.Barrier(16)

    @registry.decorator("dep")
    def down() -> None:
        raise Down

    def worker() -> None:
        start.wait()
        with pytest.raises(Down):
            down()

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5.0)
    with pytest.raises(CircuitOpenError):
        down()


def test_retry_budget_is_spent_exactly_under_a_thread_hammer(
    registry: ResilienceRegistry,
) -> None:
    """Eight threads of always-failing calls make exactly max_retries retries."""
    metrics = MetricsCollector()
    registry.register(
        "dep",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=5, delay=0.0),
            retry_budget=RetryBudgetConfig(max_retries=100, refill_rate=0.0),
            listeners=[metrics],
        ),
    )
    lock = threading.Lock()
    attempts = 0

    @registry.decorator("dep")
    def down() -> None:
        nonlocal attempts
        with lock:
            attempts += 1
        raise Down

    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(20):
            with pytest.raises(Down):
                down()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5.0)
    assert attempts == 160 + 100  # every first attempt, plus the whole budget
    assert metrics.count(EventType.RETRY, "dep") == 100
    assert registry.policy("dep").status().retry_budget == 0.0
