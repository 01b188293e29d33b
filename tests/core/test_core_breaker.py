"""Circuit breaker: count and window modes, half-open probes, manual control."""

from __future__ import annotations

import asyncio

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    CircuitBreaker,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    EventType,
    ResilienceConfig,
    resilient,
)
from pyresilience.testing import FakeClock


def fail() -> None:
    raise ConnectionError("down")


def ok() -> str:
    return "ok"


def call(fn, *args):
    try:
        return fn(*args)
    except Exception as error:
        return error


def test_opens_after_consecutive_failures_and_reports_wait(clock: FakeClock) -> None:
    """failure_threshold consecutive failures open it; the error says for how long."""
    config = CircuitBreakerConfig(failure_threshold=3, recovery_timeout=10.0)
    protect = resilient(circuit_breaker=config, clock=clock)
    failing = protect(fail)
    for _ in range(3):
        assert isinstance(call(failing), ConnectionError)
    clock.advance(4.0)
    error = call(failing)
    assert isinstance(error, CircuitOpenError)
    assert error.retry_after == pytest.approx(6.0)
    assert "6s" in str(error)


def test_success_resets_consecutive_count(clock: FakeClock) -> None:
    """A success between failures restarts the consecutive count."""
    results = iter([1, 1, 0, 1, 1, 0])

    def flaky() -> str:
        if next(results):
            raise ConnectionError
        return "ok"

    wrapped = resilient(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=3), clock=clock
    )(flaky)
    outcomes = [call(wrapped) for _ in range(6)]
    assert not any(isinstance(o, CircuitOpenError) for o in outcomes)


def test_half_open_after_recovery_then_closes_on_successes(clock, metrics) -> None:
    """After recovery_timeout probes run; success_threshold successes close it."""
    config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=5.0, success_threshold=2
    )
    breaker = CircuitBreaker(config, clock=clock, listeners=[metrics], name="b")
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow_request()
    clock.advance(5.0)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow_request()
    assert metrics.count(EventType.CIRCUIT_HALF_OPEN) == 1
    breaker.record_success()
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allow_request()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert metrics.count(EventType.CIRCUIT_CLOSED) == 1
    assert metrics.count(EventType.CIRCUIT_OPEN) == 1


def test_one_failed_probe_reopens(clock: FakeClock) -> None:
    """A failure in half-open opens the breaker again for a full recovery time."""
    breaker = CircuitBreaker(
        CircuitBreakerConfig(failure_threshold=1, recovery_timeout=5.0), clock=clock
    )
    breaker.record_failure()
    clock.advance(5.0)
    assert breaker.allow_request()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.metrics.retry_after == pytest.approx(5.0)


def test_half_open_admits_at_most_the_probe_limit(clock: FakeClock) -> None:
    """Only half_open_max_calls probes run at once; the rest are rejected."""
    config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=2
    )
    breaker = CircuitBreaker(config, clock=clock)
    breaker.record_failure()
    clock.advance(1.0)
    admitted = [breaker.allow_request() for _ in range(5)]
    assert admitted == [True, True, False, False, False]


async def test_concurrent_async_probes_are_bounded(clock: FakeClock) -> None:
    """With many concurrent callers in half-open, only the probe limit runs."""
    config = CircuitBreakerConfig(
        failure_threshold=1,
        recovery_timeout=1.0,
        success_threshold=1,
        half_open_max_calls=1,
    )
    running = []
    gate = asyncio.Event()

    @resilient(circuit_breaker=config, clock=clock)
    async def probe(fail_it: bool) -> str:
        if fail_it:
            raise ConnectionError
        running.append(1)
        await gate.wait()
        return "ok"

    with pytest.raises(ConnectionError):
        await probe(True)
    clock.advance(1.0)
    tasks = [asyncio.ensure_future(probe(False)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert running == [1]
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 4


def test_window_mode_opens_on_failure_rate(clock: FakeClock) -> None:
    """In window mode the rate over the last N calls decides, once minimum_calls."""
    config = CircuitBreakerConfig(
        sliding_window_size=10, minimum_calls=4, failure_rate_threshold=0.5
    )
    breaker = CircuitBreaker(config, clock=clock)
    for success in (True, False, True):
        breaker._record(success=success, duration=0.0)
    assert breaker.state is CircuitState.CLOSED  # 3 calls < minimum_calls
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN  # 2 of 4 failed = 50 %


def test_window_mode_forgets_old_calls(clock: FakeClock) -> None:
    """Only the last sliding_window_size outcomes count."""
    config = CircuitBreakerConfig(sliding_window_size=4, failure_rate_threshold=0.75)
    breaker = CircuitBreaker(config, clock=clock)
    for success in (False, False, True, True, True, False, False):
        breaker._record(success=success, duration=0.0)
        assert breaker.state is CircuitState.CLOSED
    assert breaker.metrics.window_failures == 2


def test_window_mode_opens_on_slow_calls(clock: FakeClock) -> None:
    """Slow successes trip the breaker at slow_call_rate_threshold."""
    config = CircuitBreakerConfig(
        sliding_window_size=4,
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.5,
    )
    breaker = CircuitBreaker(config, clock=clock)
    for duration in (0.1, 2.0, 0.1):
        breaker.record_success(duration)
    assert breaker.state is CircuitState.CLOSED
    breaker.record_success(3.0)
    assert breaker.state is CircuitState.OPEN


def test_slow_call_measured_through_decorator() -> None:
    """The pipeline times each attempt on its clock to spot slow calls."""
    clock = FakeClock()
    config = CircuitBreakerConfig(
        sliding_window_size=2, slow_call_duration=1.0, slow_call_rate_threshold=1.0
    )

    @resilient(circuit_breaker=config, clock=clock)
    def slow() -> str:
        clock.advance(1.5)
        return "ok"

    assert slow() == "ok" and slow() == "ok"
    assert isinstance(call(slow), CircuitOpenError)


def test_error_types_and_ignore_on_decide_what_counts(clock: FakeClock) -> None:
    """Only error_types not in ignore_on count as failures."""
    config = CircuitBreakerConfig(
        failure_threshold=1, error_types=(OSError,), ignore_on=(FileNotFoundError,)
    )
    breaker = CircuitBreaker(config, clock=clock)
    breaker.record_failure(ValueError())
    breaker.record_failure(FileNotFoundError())
    assert breaker.state is CircuitState.CLOSED
    breaker.record_failure(ConnectionError())
    assert breaker.state is CircuitState.OPEN


def test_own_rejections_never_count_as_failures(registry, clock) -> None:
    """A full bulkhead rejects without counting against the breaker."""
    registry.register(
        "api",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
            bulkhead=BulkheadConfig(max_concurrent=1),
        ),
    )
    policy = registry.policy("api")
    with policy.guard():
        with pytest.raises(BulkheadFullError):
            policy.call(ok)
    assert policy.circuit_breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit])
def test_interrupts_never_count_and_give_back_the_probe(clock, signal) -> None:
    """An interrupted half-open probe is released and not counted."""
    config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=1
    )
    outcomes = iter([ConnectionError(), signal(), None])

    @resilient(circuit_breaker=config, clock=clock)
    def fn() -> str:
        error = next(outcomes)
        if error is not None:
            raise error
        return "ok"

    with pytest.raises(ConnectionError):
        fn()
    clock.advance(1.0)
    with pytest.raises(signal):
        fn()
    assert fn() == "ok"  # the probe slot came back


async def test_cancelled_probe_is_given_back(clock: FakeClock) -> None:
    """Cancelling a half-open probe frees its slot without counting a failure."""
    config = CircuitBreakerConfig(
        failure_threshold=1,
        recovery_timeout=1.0,
        half_open_max_calls=1,
        success_threshold=1,
    )
    started = asyncio.Event()

    @resilient(circuit_breaker=config, clock=clock)
    async def fn(mode: str) -> str:
        if mode == "fail":
            raise ConnectionError
        if mode == "hang":
            started.set()
            await asyncio.sleep(3600)
        return "ok"

    with pytest.raises(ConnectionError):
        await fn("fail")
    clock.advance(1.0)
    task = asyncio.ensure_future(fn("hang"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await fn("ok") == "ok"


def test_force_open_reset_and_force_close(clock: FakeClock, metrics) -> None:
    """Manual control moves the state and emits the matching events."""
    breaker = CircuitBreaker(clock=clock, listeners=[metrics])
    breaker.force_open()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.allow_request()
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    breaker.force_open()
    breaker.force_close()
    assert breaker.allow_request()
    assert metrics.count(EventType.CIRCUIT_OPEN) == 2
    assert metrics.count(EventType.CIRCUIT_CLOSED) == 2


def test_sync_and_async_callers_share_one_breaker(registry) -> None:
    """Under one registry name, sync and async failures open the same breaker."""
    registry.register(
        "db",
        ResilienceConfig(circuit_breaker=CircuitBreakerConfig(failure_threshold=2)),
    )

    @registry.decorator("db")
    def sync_query() -> None:
        raise ConnectionError

    @registry.decorator("db")
    async def async_query() -> None:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        sync_query()
    with pytest.raises(ConnectionError):
        asyncio.run(async_query())
    with pytest.raises(CircuitOpenError) as caught:
        sync_query()
    assert caught.value.policy == "db"


def test_timeout_counts_as_failure() -> None:
    """An attempt that times out is a breaker failure."""
    import time

    from pyresilience import ResilienceTimeoutError, TimeoutConfig

    @resilient(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
        timeout=TimeoutConfig(seconds=0.01),
    )
    def slow() -> None:
        time.sleep(0.2)

    with pytest.raises(ResilienceTimeoutError):
        slow()
    with pytest.raises(CircuitOpenError):
        slow()
