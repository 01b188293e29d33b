"""Retry: attempt counts, back-off, jitter, delay_func, budgets, deadlines."""

from __future__ import annotations

import asyncio

import pytest
from core_helpers import AsyncFlaky, Flaky

from pyresilience import (
    CircuitBreakerConfig,
    CircuitOpenError,
    ResilienceTimeoutError,
    RetryBudgetConfig,
    RetryConfig,
    TimeoutConfig,
    resilient,
)
from pyresilience.testing import FakeClock


def test_success_runs_once(clock: FakeClock) -> None:
    """A function that succeeds is called exactly once and never sleeps."""
    fn = Flaky(0)
    assert resilient(retry=RetryConfig(), clock=clock)(fn)() == "ok"
    assert fn.calls == 1
    assert clock.sleeps == []


def test_persistent_failure_runs_max_attempts_and_raises_last_error(
    clock: FakeClock,
) -> None:
    """A persistent failure runs max_attempts times and re-raises the last error."""
    fn = Flaky(100)
    wrapped = resilient(retry=RetryConfig(max_attempts=4, jitter=False), clock=clock)(
        fn
    )
    with pytest.raises(ConnectionError, match="failure 4"):
        wrapped()
    assert fn.calls == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]


async def test_async_persistent_failure_matches_sync(clock: FakeClock) -> None:
    """The async path makes the same attempts and sleeps as the sync path."""
    fn = AsyncFlaky(100)
    wrapped = resilient(retry=RetryConfig(max_attempts=3, jitter=False), clock=clock)(
        fn
    )
    with pytest.raises(ConnectionError, match="failure 3"):
        await wrapped()
    assert fn.calls == 3
    assert clock.sleeps == [1.0, 2.0]


def test_recovers_after_transient_failures(clock: FakeClock) -> None:
    """Two failures then success returns the result on the third attempt."""
    fn = Flaky(2)
    assert resilient(retry=RetryConfig(max_attempts=3), clock=clock)(fn)() == "ok"
    assert fn.calls == 3


def test_jitter_stays_within_upper_half_and_cap(clock: FakeClock) -> None:
    """Jittered sleeps lie in [d/2, d] and never exceed max_delay."""
    config = RetryConfig(max_attempts=40, delay=1.0, max_delay=5.0)
    fn = Flaky(100)
    with pytest.raises(ConnectionError):
        resilient(retry=config, clock=clock)(fn)()
    for attempt, slept in enumerate(clock.sleeps, start=1):
        base = config.backoff(attempt)
        assert base / 2 <= slept <= base <= 5.0


def test_zero_delay_never_sleeps(clock: FakeClock) -> None:
    """With delay=0 the retry loop never calls sleep."""
    fn = Flaky(100)
    with pytest.raises(ConnectionError):
        resilient(retry=RetryConfig(max_attempts=5, delay=0), clock=clock)(fn)()
    assert fn.calls == 5
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("returned", "expected"),
    [(-5.0, None), (0.25, 0.25), (1e9, 3.0), (float("nan"), None), (None, 1.0)],
)
def test_delay_func_is_clamped(clock: FakeClock, returned, expected) -> None:
    """delay_func results are clamped to [0, max_delay]; None means back-off."""
    seen = []

    def delay_func(attempt: int, trigger: object) -> float | None:
        seen.append((attempt, type(trigger)))
        return returned

    config = RetryConfig(
        max_attempts=2, delay=1.0, max_delay=3.0, jitter=False, delay_func=delay_func
    )
    with pytest.raises(ConnectionError):
        resilient(retry=config, clock=clock)(Flaky(100))()
    assert seen == [(1, ConnectionError)]
    assert clock.sleeps == ([] if expected is None else [expected])


def test_ignore_on_wins_over_retry_on(clock: FakeClock) -> None:
    """An exception in both retry_on and ignore_on is raised at once."""
    fn = Flaky(100, error=KeyError)
    config = RetryConfig(retry_on=(LookupError,), ignore_on=(KeyError,))
    with pytest.raises(KeyError):
        resilient(retry=config, clock=clock)(fn)()
    assert fn.calls == 1


def test_unlisted_exception_is_not_retried(clock: FakeClock) -> None:
    """Only exceptions matching retry_on are retried."""
    fn = Flaky(100, error=ValueError)
    with pytest.raises(ValueError):
        resilient(retry=RetryConfig(retry_on=(ConnectionError,)), clock=clock)(fn)()
    assert fn.calls == 1


def test_retry_on_result_retries_then_returns_last_result(clock: FakeClock) -> None:
    """Rejected results are retried; when attempts run out the last is returned."""
    results = iter([503, 503, 200])
    wrapped = resilient(
        retry=RetryConfig(max_attempts=3, delay=0, retry_on_result=lambda r: r >= 500),
        clock=clock,
    )(lambda: next(results))
    assert wrapped() == 200
    results = iter([503, 502, 501])
    assert wrapped() == 501


@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exceptions_pass_straight_through(clock: FakeClock, signal) -> None:
    """KeyboardInterrupt, SystemExit and GeneratorExit are never retried."""
    calls = []

    def fn() -> None:
        calls.append(1)
        raise signal()

    with pytest.raises(signal):
        resilient(retry=RetryConfig(max_attempts=5), clock=clock)(fn)()
    assert calls == [1]


async def test_cancellation_is_never_retried(clock: FakeClock) -> None:
    """asyncio.CancelledError from inside the function is not retried."""
    calls = []

    async def fn() -> None:
        calls.append(1)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await resilient(retry=RetryConfig(max_attempts=5), clock=clock)(fn)()
    assert calls == [1]


def test_open_breaker_stops_the_retry_loop(clock: FakeClock) -> None:
    """Once the breaker opens, the rejection ends the loop and is not retried."""
    fn = Flaky(100)
    wrapped = resilient(
        retry=RetryConfig(max_attempts=10, delay=0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3),
        clock=clock,
    )(fn)
    with pytest.raises(CircuitOpenError) as caught:
        wrapped()
    assert fn.calls == 3
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert clock.sleeps == []  # no back-off after the failure that opened it


def test_no_backoff_is_slept_after_the_breaker_opens(clock: FakeClock) -> None:
    """The loop stops at the failure that opens the breaker, before sleeping."""
    fn = Flaky(100)
    wrapped = resilient(
        retry=RetryConfig(max_attempts=5, delay=1.0, jitter=False),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2),
        clock=clock,
    )(fn)
    with pytest.raises(CircuitOpenError):
        wrapped()
    assert fn.calls == 2
    assert clock.sleeps == [1.0]


def test_retry_budget_is_shared_and_stops_retries(registry, clock) -> None:
    """An empty budget stops retrying for every function under the name."""
    from pyresilience import ResilienceConfig

    registry.register(
        "api",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=3, delay=0),
            retry_budget=RetryBudgetConfig(max_retries=3, refill_rate=0.0),
        ),
    )
    first, second = Flaky(100), Flaky(100)
    with pytest.raises(ConnectionError):
        registry.decorator("api")(first)()
    with pytest.raises(ConnectionError):
        registry.decorator("api")(second)()
    assert first.calls == 3  # two retries spent
    assert second.calls == 2  # one retry left in the shared budget
    assert registry.status()["api"].retry_budget == 0.0


def test_retry_budget_refills_over_time(registry, clock) -> None:
    """Budget tokens come back at refill_rate per second of virtual time."""
    from pyresilience import ResilienceConfig

    registry.register(
        "api",
        ResilienceConfig(
            retry=RetryConfig(max_attempts=2, delay=0),
            retry_budget=RetryBudgetConfig(max_retries=1, refill_rate=2.0),
        ),
    )
    wrapped = registry.decorator("api")(Flaky(100))
    with pytest.raises(ConnectionError):
        wrapped()
    assert registry.status()["api"].retry_budget == 0.0
    clock.advance(0.5)
    assert registry.status()["api"].retry_budget == pytest.approx(1.0)


def test_total_deadline_cuts_backoff(clock: FakeClock) -> None:
    """With one deadline for the call, a sleep that would cross it ends the call."""
    fn = Flaky(100)
    wrapped = resilient(
        retry=RetryConfig(max_attempts=10, delay=1.0, jitter=False),
        timeout=TimeoutConfig(seconds=5.0, per_attempt=False),
        clock=clock,
    )(fn)
    with pytest.raises(ConnectionError):
        wrapped()
    # Sleeps 1 + 2 = 3 s; the next 4 s sleep would pass the 5 s deadline.
    assert clock.sleeps == [1.0, 2.0]
    assert fn.calls == 3
    assert clock.monotonic() <= 5.0


async def test_total_deadline_bounds_an_async_call() -> None:
    """A slow async attempt under a total deadline raises our timeout error."""

    async def slow() -> None:
        await asyncio.sleep(5)

    wrapped = resilient(
        retry=RetryConfig(max_attempts=3, delay=0),
        timeout=TimeoutConfig(seconds=0.05, per_attempt=False),
    )(slow)
    with pytest.raises(ResilienceTimeoutError) as caught:
        await wrapped()
    assert isinstance(caught.value, TimeoutError)


def test_bare_decorator_and_metadata() -> None:
    """@resilient alone works and keeps the function's metadata."""

    @resilient
    def documented(x: int) -> int:
        """Doc."""
        return x * 2

    assert documented(4) == 8
    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Doc."


def test_async_functions_stay_coroutine_functions() -> None:
    """Decorating an async function keeps inspect.iscoroutinefunction true."""
    import inspect

    @resilient(retry=RetryConfig())
    async def fetch() -> int:
        return 1

    assert inspect.iscoroutinefunction(fetch)
    assert asyncio.run(fetch()) == 1
