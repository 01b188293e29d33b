"""Adversarial tests of the circuit breaker: probes, windows, timing, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from pyresilience import (
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    EventType,
    MetricsCollector,
    Policy,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    resilient,
)
from pyresilience.testing import FakeClock


class Down(Exception):
    """The dependency failed."""


def _policy(
    registry: ResilienceRegistry, breaker: CircuitBreakerConfig, **extra: Any
) -> Policy:
    config = ResilienceConfig(circuit_breaker=breaker, **extra)
    registry.register("dep", config)
    return registry.policy("dep")


def _fail(policy: Policy) -> None:
    def down() -> None:
        raise Down

    with pytest.raises(Down):
        policy.call(down)


def _state(policy: Policy) -> CircuitState:
    snapshot = policy.status().breaker
    assert snapshot is not None
    return snapshot.state


def _open_then_half_open_with_stale_probe(
    registry: ResilienceRegistry, clock: FakeClock
) -> tuple[Policy, object]:
    """Leave one probe of an earlier half-open episode running into a new one."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=10.0, success_threshold=2
        ),
    )
    _fail(policy)
    clock.advance(10.0)
    stale = policy.guard()
    stale.__enter__()  # probe 1 of episode 1, still running
    failing = policy.guard()
    failing.__enter__()  # probe 2 of episode 1 ...
    failing.__exit__(Down, Down(), None)  # ... fails: the breaker re-opens
    assert _state(policy) is CircuitState.OPEN
    clock.advance(10.0)
    return policy, stale


def test_stale_probe_cannot_widen_a_later_half_open_episode(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """A late probe from before a re-open never frees a slot of the new episode."""
    policy, stale = _open_then_half_open_with_stale_probe(registry, clock)
    first, second = policy.guard(), policy.guard()
    first.__enter__()
    second.__enter__()  # both probe slots of episode 2 taken
    stale.__exit__(None, None, None)  # type: ignore[attr-defined]
    try:
        policy.guard().__enter__()
        third_admitted = True
    except CircuitOpenError:
        third_admitted = False
    assert not third_admitted
    snapshot = policy.status().breaker
    assert snapshot is not None and snapshot.half_open_in_flight == 2


def test_stale_probe_success_does_not_count_towards_closing(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Only probes of the current half-open episode count towards closing it."""
    policy, stale = _open_then_half_open_with_stale_probe(registry, clock)
    fresh = policy.guard()
    fresh.__enter__()
    stale.__exit__(None, None, None)  # type: ignore[attr-defined]
    fresh.__exit__(None, None, None)
    assert _state(policy) is CircuitState.HALF_OPEN  # one of two successes


def test_sync_slow_call_opens_breaker_at_the_time_it_finished(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """A slow sync success that opens the breaker starts a full recovery_timeout."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            sliding_window_size=1,
            minimum_calls=1,
            slow_call_duration=5.0,
            recovery_timeout=10.0,
        ),
    )

    def slow() -> str:
        clock.advance(8.0)
        return "ok"

    assert policy.call(slow) == "ok"
    snapshot = policy.status().breaker
    assert snapshot is not None and snapshot.state is CircuitState.OPEN
    assert snapshot.retry_after == pytest.approx(10.0)


async def test_async_slow_call_opens_breaker_at_the_time_it_finished(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """The async twin: a slow success that trips the breaker waits a full cool-down."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            sliding_window_size=1,
            minimum_calls=1,
            slow_call_duration=5.0,
            recovery_timeout=10.0,
        ),
    )

    async def slow() -> str:
        clock.advance(8.0)
        return "ok"

    assert await policy.acall(slow) == "ok"
    snapshot = policy.status().breaker
    assert snapshot is not None and snapshot.state is CircuitState.OPEN
    assert snapshot.retry_after == pytest.approx(10.0)


def test_half_open_probe_limit_holds_under_thread_storm(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Twelve threads hitting a half-open breaker: exactly two probes run at once."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=5.0, success_threshold=2
        ),
    )
    _fail(policy)
    clock.advance(5.0)
    lock = threading.Lock()
    running = peak = admitted = rejected = 0
    release = threading.Event()
    start = threading.Barrier(12)

    def probe() -> str:
        nonlocal running, peak, admitted
        with lock:
            running += 1
            admitted += 1
            peak = max(peak, running)
        release.wait(2.0)
        with lock:
            running -= 1
        return "ok"

    def worker() -> None:
        nonlocal rejected
        start.wait()
        try:
            policy.call(probe)
        except CircuitOpenError:
            with lock:
                rejected += 1

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    threading.Timer(0.15, release.set).start()
    for thread in threads:
        thread.join(3.0)
    assert (peak, admitted, rejected) == (2, 2, 10)
    assert _state(policy) is CircuitState.CLOSED


async def test_half_open_limit_is_shared_by_threads_and_tasks(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Sync threads and async tasks on one name share the same three probe slots."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1,
            recovery_timeout=5.0,
            success_threshold=3,
            half_open_max_calls=3,
        ),
    )
    _fail(policy)
    clock.advance(5.0)
    lock = threading.Lock()
    running = peak = 0
    release = threading.Event()
    outcomes: list[str] = []

    def enter() -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)

    def leave() -> None:
        nonlocal running
        with lock:
            running -= 1

    def sync_probe() -> str:
        enter()
        release.wait(2.0)
        leave()
        return "ok"

    async def async_probe() -> str:
        enter()
        while not release.is_set():
            await asyncio.sleep(0.005)
        leave()
        return "ok"

    def sync_worker() -> None:
        try:
            outcomes.append(policy.call(sync_probe))
        except CircuitOpenError:
            outcomes.append("rejected")

    async def async_worker() -> None:
        try:
            outcomes.append(await policy.acall(async_probe))
        except CircuitOpenError:
            outcomes.append("rejected")

    threads = [threading.Thread(target=sync_worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    tasks = [asyncio.create_task(async_worker()) for _ in range(6)]
    await asyncio.sleep(0.1)
    release.set()
    await asyncio.gather(*tasks)
    for thread in threads:
        await asyncio.to_thread(thread.join, 3.0)
    assert peak == 3
    assert sorted(outcomes).count("ok") == 3
    assert outcomes.count("rejected") == 9
    assert _state(policy) is CircuitState.CLOSED


def test_success_threshold_needs_exactly_that_many_probes(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """With success_threshold=3 and one probe at a time, the third success closes."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1,
            recovery_timeout=1.0,
            success_threshold=3,
            half_open_max_calls=1,
        ),
    )
    _fail(policy)
    clock.advance(1.0)
    for expected in (CircuitState.HALF_OPEN, CircuitState.HALF_OPEN):
        assert policy.call(lambda: "ok") == "ok"
        assert _state(policy) is expected
    assert policy.call(lambda: "ok") == "ok"
    assert _state(policy) is CircuitState.CLOSED


def test_one_failed_probe_after_successes_reopens_for_full_timeout(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Two good probes then one bad one re-open it for the whole recovery_timeout."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1,
            recovery_timeout=7.0,
            success_threshold=3,
            half_open_max_calls=1,
        ),
    )
    _fail(policy)
    clock.advance(7.0)
    policy.call(lambda: "ok")
    policy.call(lambda: "ok")
    _fail(policy)
    clock.advance(3.0)
    with pytest.raises(CircuitOpenError) as caught:
        policy.call(lambda: "ok")
    assert caught.value.policy == "dep"
    assert caught.value.retry_after == pytest.approx(4.0)
    assert "dep" in str(caught.value)


def test_window_minimum_calls_then_rate_decides(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Below minimum_calls nothing opens; at it, a 50 % failure rate opens."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            sliding_window_size=4, minimum_calls=3, failure_rate_threshold=0.5
        ),
    )
    _fail(policy)
    _fail(policy)
    assert _state(policy) is CircuitState.CLOSED  # 2 calls < minimum 3
    policy.call(lambda: "ok")  # 2 of 3 failed: 67 % >= 50 %
    assert _state(policy) is CircuitState.OPEN


def test_window_slow_calls_below_threshold_keep_it_closed(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Slow successes open it only once their share reaches the slow-call rate."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            sliding_window_size=4,
            slow_call_duration=1.0,
            slow_call_rate_threshold=0.75,
            failure_rate_threshold=1.0,
        ),
    )

    def slow() -> str:
        clock.advance(1.5)
        return "slow"

    for fn in (slow, lambda: "fast", slow, slow):
        policy.call(fn)
    assert _state(policy) is CircuitState.OPEN  # 3 of 4 slow = 75 %
    registry.reset("dep")
    for fn in (slow, lambda: "fast", slow, lambda: "fast"):
        policy.call(fn)
    assert _state(policy) is CircuitState.CLOSED  # 2 of 4 slow = 50 %


def test_rate_limit_rejections_never_count_as_failures(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Many rate-limit rejections leave a count-mode breaker with no failures."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=2),
        rate_limiter=RateLimiterConfig(max_calls=1, period=60.0),
    )
    policy.call(lambda: "ok")
    for _ in range(5):
        with pytest.raises(RateLimitExceededError):
            policy.call(lambda: "ok")
    snapshot = policy.status().breaker
    assert snapshot is not None
    assert snapshot.state is CircuitState.CLOSED
    assert snapshot.consecutive_failures == 0


def test_force_open_and_reset_through_the_shared_breaker(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """force_open rejects every caller of the name; reset lets them all through."""
    policy = _policy(registry, CircuitBreakerConfig(recovery_timeout=20.0))

    @registry.decorator("dep")
    def fn() -> str:
        return "ok"

    policy.circuit_breaker.force_open()
    with pytest.raises(CircuitOpenError) as caught:
        fn()
    assert caught.value.retry_after == pytest.approx(20.0)
    registry.reset("dep")
    assert fn() == "ok"
    assert _state(policy) is CircuitState.CLOSED


def test_breaker_opens_exactly_once_under_thread_hammer(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Eight threads failing at once open the breaker once, then all are rejected."""
    metrics = MetricsCollector()
    registry.register(
        "dep",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(failure_threshold=5),
            listeners=[metrics],
        ),
    )
    policy = registry.policy("dep")
    start = threading.Barrier(8)
    lock = threading.Lock()
    failures = rejections = 0

    def down() -> None:
        raise Down

    def worker() -> None:
        nonlocal failures, rejections
        start.wait()
        for _ in range(50):
            try:
                policy.call(down)
            except Down:
                with lock:
                    failures += 1
            except CircuitOpenError:
                with lock:
                    rejections += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5.0)
    assert failures + rejections == 400
    assert failures >= 5
    assert metrics.count(EventType.CIRCUIT_OPEN, "dep") == 1
    assert metrics.count(EventType.FAILURE, "dep") == failures
    assert metrics.count(EventType.CIRCUIT_REJECTED, "dep") == rejections


def test_standalone_rejection_names_the_function(clock: FakeClock) -> None:
    """A standalone breaker's CircuitOpenError says which function it protects."""

    @resilient(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
        retry=RetryConfig(max_attempts=1),
        clock=clock,
    )
    def fetch_invoice() -> None:
        raise Down

    with pytest.raises(Down):
        fetch_invoice()
    with pytest.raises(CircuitOpenError) as caught:
        fetch_invoice()
    assert caught.value.policy is not None
    assert "fetch_invoice" in caught.value.policy
