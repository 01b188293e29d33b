"""Adversarial tests of the retry loop: counts, sleeps, caps and deadlines."""

from __future__ import annotations

import asyncio
import time

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceRegistry,
    ResilienceTimeoutError,
    RetryBudgetConfig,
    RetryConfig,
    TimeoutConfig,
    resilient,
)
from pyresilience.testing import FakeClock


class Boom(Exception):
    """A failure tagged with the attempt that raised it."""


def test_exact_attempts_and_uncapped_then_capped_sleeps(clock: FakeClock) -> None:
    """Seven failing attempts sleep 1, 2, 4, 8, then the 10 s cap twice."""
    raised: list[Boom] = []

    @resilient(
        retry=RetryConfig(max_attempts=7, delay=1.0, max_delay=10.0, jitter=False),
        clock=clock,
    )
    def fn() -> None:
        error = Boom(len(raised) + 1)
        raised.append(error)
        raise error

    with pytest.raises(Boom) as caught:
        fn()
    assert len(raised) == 7
    assert caught.value is raised[-1]
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


async def test_async_last_attempts_own_exception_is_raised(clock: FakeClock) -> None:
    """The async path re-raises the very object the last attempt raised."""
    raised: list[Boom] = []

    @resilient(retry=RetryConfig(max_attempts=4, delay=0.0), clock=clock)
    async def fn() -> None:
        error = Boom(len(raised) + 1)
        raised.append(error)
        raise error

    with pytest.raises(Boom) as caught:
        await fn()
    assert len(raised) == 4
    assert caught.value is raised[-1]
    assert clock.sleeps == []


def test_jitter_never_exceeds_cap_over_many_attempts(clock: FakeClock) -> None:
    """With jitter, every one of 199 sleeps lies in [cap/2, cap] once capped."""

    @resilient(
        retry=RetryConfig(max_attempts=200, delay=0.5, max_delay=3.0, jitter=True),
        clock=clock,
    )
    def fn() -> None:
        raise Boom

    with pytest.raises(Boom):
        fn()
    assert len(clock.sleeps) == 199
    assert all(0 < s <= 3.0 for s in clock.sleeps)
    assert all(s >= 1.5 for s in clock.sleeps[3:])


def test_huge_attempt_counts_do_not_overflow_backoff() -> None:
    """backoff() of a huge attempt number with a huge factor saturates at the cap."""
    config = RetryConfig(delay=1.0, backoff_factor=1e300, max_delay=5.0)
    assert config.backoff(10**12) == 5.0
    assert config.backoff(2) == 5.0
    assert RetryConfig(delay=0.25, backoff_factor=1.0).backoff(10**15) == 0.25


def test_zero_delay_backoff_stays_zero_past_float_overflow() -> None:
    """A zero base delay gives a zero back-off at any attempt number."""
    assert RetryConfig(delay=0.0).backoff(2000) == 0.0


def test_zero_delay_never_sleeps_even_after_a_thousand_attempts(
    clock: FakeClock,
) -> None:
    """delay=0 means the retry loop never sleeps, however many attempts run."""
    calls = 0

    @resilient(retry=RetryConfig(max_attempts=1100, delay=0.0), clock=clock)
    def fn() -> None:
        nonlocal calls
        calls += 1
        raise Boom

    with pytest.raises(Boom):
        fn()
    assert calls == 1100
    assert clock.sleeps == []


def test_delay_func_huge_integer_is_clamped(clock: FakeClock) -> None:
    """An absurdly large delay_func result is clamped to max_delay, not an error."""
    calls = 0

    @resilient(
        retry=RetryConfig(
            max_attempts=3, max_delay=7.0, delay_func=lambda attempt, trigger: 10**400
        ),
        clock=clock,
    )
    def fn() -> None:
        nonlocal calls
        calls += 1
        raise Boom

    with pytest.raises(Boom):
        fn()
    assert calls == 3
    assert clock.sleeps == [7.0, 7.0]


def test_delay_func_sees_attempt_and_trigger(clock: FakeClock) -> None:
    """delay_func gets the 1-based attempt and the exception or rejected result."""
    seen: list[tuple[int, object]] = []
    results = iter(["bad", "bad", "good"])

    def delay_func(attempt: int, trigger: object) -> float | None:
        seen.append((attempt, trigger))
        return None if attempt == 1 else 0.125

    @resilient(
        retry=RetryConfig(
            max_attempts=5,
            delay=2.0,
            jitter=False,
            retry_on_result=lambda value: value == "bad",
            delay_func=delay_func,
        ),
        clock=clock,
    )
    def fn() -> str:
        return next(results)

    assert fn() == "good"
    assert seen == [(1, "bad"), (2, "bad")]
    assert clock.sleeps == [2.0, 0.125]


def test_ignore_on_subclass_beats_retry_on_base(clock: FakeClock) -> None:
    """An exception whose subclass is ignored is not retried though its base is."""

    class Fatal(Boom):
        """Never worth retrying."""

    calls = 0

    @resilient(
        retry=RetryConfig(
            max_attempts=5, delay=0.0, retry_on=(Boom,), ignore_on=(Fatal,)
        ),
        clock=clock,
    )
    def fn() -> None:
        nonlocal calls
        calls += 1
        raise Fatal

    with pytest.raises(Fatal):
        fn()
    assert calls == 1


async def test_async_retry_on_result_returns_last_result(clock: FakeClock) -> None:
    """Async: results rejected every time are retried, then the last is returned."""
    calls = 0

    @resilient(
        retry=RetryConfig(
            max_attempts=3,
            delay=1.0,
            jitter=False,
            retry_on_result=lambda value: value < 10,
        ),
        clock=clock,
    )
    async def fn() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await fn() == 3
    assert clock.sleeps == [1.0, 2.0]


@pytest.mark.parametrize("kind", ["limiter", "bulkhead"])
def test_own_rejections_are_never_retried(clock: FakeClock, kind: str) -> None:
    """A rate-limit or bulkhead rejection ends the retry loop at once."""
    registry = ResilienceRegistry(clock=clock)
    config = ResilienceConfig(
        retry=RetryConfig(max_attempts=5, delay=1.0),
        rate_limiter=RateLimiterConfig(max_calls=1, period=60.0)
        if kind == "limiter"
        else None,
        bulkhead=BulkheadConfig(max_concurrent=1) if kind == "bulkhead" else None,
    )
    registry.register("p", config)
    policy = registry.policy("p")
    expected = RateLimitExceededError if kind == "limiter" else BulkheadFullError
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1

    with policy.guard():  # takes the only permit / slot
        with pytest.raises(expected):
            policy.call(fn)
    assert calls == 0
    assert clock.sleeps == []


def test_breaker_opening_mid_retry_stops_loop_and_chains_cause(
    clock: FakeClock,
) -> None:
    """When the breaker opens during retries the rejection ends the loop."""
    calls = 0

    @resilient(
        retry=RetryConfig(max_attempts=10, delay=0.0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3),
        clock=clock,
    )
    def fn() -> None:
        nonlocal calls
        calls += 1
        raise Boom(calls)

    with pytest.raises(CircuitOpenError) as caught:
        fn()
    assert calls == 3
    assert isinstance(caught.value.__cause__, Boom)
    assert caught.value.retry_after == pytest.approx(30.0)


async def test_retry_budget_is_shared_by_sync_and_async_callers(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """One name's budget is drained by a sync function and an async one alike."""
    registry.register(
        "p",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=4, delay=0.0),
            retry_budget=RetryBudgetConfig(max_retries=3, refill_rate=0.0),
        ),
    )
    sync_calls = async_calls = 0

    @registry.decorator("p")
    def sync_fn() -> None:
        nonlocal sync_calls
        sync_calls += 1
        raise Boom

    @registry.decorator("p")
    async def async_fn() -> None:
        nonlocal async_calls
        async_calls += 1
        raise Boom

    with pytest.raises(Boom):
        sync_fn()
    with pytest.raises(Boom):
        await async_fn()
    assert sync_calls == 4  # 1 + 3 retries: the whole budget
    assert async_calls == 1  # no token left for any retry
    assert registry.policy("p").status().retry_budget == 0.0


def test_total_deadline_gives_up_instead_of_sleeping_past_it(clock: FakeClock) -> None:
    """Under one 10 s deadline, sleeps 1, 2, 4 fit; the next 8 s one would not."""
    calls = 0

    @resilient(
        retry=RetryConfig(max_attempts=10, delay=1.0, jitter=False),
        timeout=TimeoutConfig(seconds=10.0, per_attempt=False),
        clock=clock,
    )
    async def fn() -> None:
        nonlocal calls
        calls += 1
        raise Boom(calls)

    with pytest.raises(Boom) as caught:
        asyncio.run(fn())
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert calls == 4
    assert caught.value.args == (4,)
    assert clock.monotonic() < 10.0


def test_total_deadline_bounds_a_rate_limiter_wait(clock: FakeClock) -> None:
    """A permit that frees only after the deadline is not waited for."""
    runs: list[float] = []

    @resilient(
        timeout=TimeoutConfig(seconds=1.0, per_attempt=False),
        rate_limiter=RateLimiterConfig(max_calls=1, period=4.0, max_wait=5.0),
        clock=clock,
    )
    def fn() -> None:
        runs.append(clock.monotonic())

    fn()
    started = clock.monotonic()
    with pytest.raises((ResilienceTimeoutError, RateLimitExceededError)):
        fn()
    assert clock.monotonic() - started <= 1.0
    assert runs == [0.0]


def test_total_deadline_bounds_a_bulkhead_wait() -> None:
    """A caller queued for a bulkhead slot hears back by the total deadline."""
    registry = ResilienceRegistry()
    registry.register(
        "p",
        ResilienceConfig(
            timeout=TimeoutConfig(seconds=0.1, per_attempt=False),
            bulkhead=BulkheadConfig(max_concurrent=1, max_wait=0.5),
        ),
    )
    policy = registry.policy("p")
    with policy.guard():  # holds the only slot
        started = time.monotonic()
        with pytest.raises((BulkheadFullError, ResilienceTimeoutError)):
            policy.call(lambda: None)
        waited = time.monotonic() - started
    assert waited < 0.3


async def test_async_total_deadline_bounds_a_rate_limiter_wait(
    clock: FakeClock,
) -> None:
    """An async call does not wait for a permit that frees after its deadline."""
    runs: list[float] = []

    @resilient(
        timeout=TimeoutConfig(seconds=1.0, per_attempt=False),
        rate_limiter=RateLimiterConfig(max_calls=1, period=4.0, max_wait=5.0),
        clock=clock,
    )
    async def fn() -> None:
        runs.append(clock.monotonic())

    await fn()
    started = clock.monotonic()
    with pytest.raises((ResilienceTimeoutError, RateLimitExceededError)):
        await fn()
    assert clock.monotonic() - started <= 1.0
    assert runs == [0.0]


async def test_async_total_deadline_bounds_a_bulkhead_wait() -> None:
    """An async caller queued for a slot hears back by the total deadline."""
    registry = ResilienceRegistry()
    registry.register(
        "p",
        ResilienceConfig(
            timeout=TimeoutConfig(seconds=0.1, per_attempt=False),
            bulkhead=BulkheadConfig(max_concurrent=1, max_wait=0.5),
        ),
    )
    policy = registry.policy("p")

    async def quick() -> None:
        return None

    async with policy.aguard():  # holds the only slot
        started = time.monotonic()
        with pytest.raises((BulkheadFullError, ResilienceTimeoutError)):
            await policy.acall(quick)
        waited = time.monotonic() - started
    assert waited < 0.3


def test_permit_freeing_exactly_at_the_deadline_is_not_waited_for(
    clock: FakeClock,
) -> None:
    """A wait that would use up the whole deadline is refused, counting nothing."""
    registry = ResilienceRegistry(clock=clock)
    registry.register(
        "p",
        ResilienceConfig(
            timeout=TimeoutConfig(seconds=4.0, per_attempt=False),
            rate_limiter=RateLimiterConfig(max_calls=1, period=4.0, max_wait=10.0),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
        ),
    )
    policy = registry.policy("p")
    runs: list[float] = []
    policy.call(lambda: runs.append(clock.monotonic()))
    with pytest.raises((RateLimitExceededError, ResilienceTimeoutError)):
        policy.call(lambda: runs.append(clock.monotonic()))
    assert runs == [0.0]
    assert clock.sleeps == []
    breaker = policy.status().breaker
    assert breaker is not None and breaker.state is CircuitState.CLOSED
