"""Adversarial tests of the core's fast paths: plain breaker, early rejection,
stopping retries on an open breaker, the guard shortcut and the bare path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    CacheConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    EventType,
    FallbackConfig,
    Policy,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceRegistry,
    RetryBudgetConfig,
    RetryConfig,
)
from pyresilience.testing import FakeClock


class Down(Exception):
    """The dependency failed."""


class Other(Exception):
    """An error the breaker is configured to ignore."""


def _policy(
    registry: ResilienceRegistry,
    breaker: CircuitBreakerConfig | None = None,
    **extra: Any,
) -> Policy:
    registry.register("dep", ResilienceConfig(circuit_breaker=breaker, **extra))
    return registry.policy("dep")


def _down() -> None:
    raise Down("boom")


async def _adown() -> None:
    raise Down("boom")


def _ok() -> str:
    return "ok"


async def _aok() -> str:
    return "ok"


def _state(policy: Policy) -> CircuitState:
    snapshot = policy.status().breaker
    assert snapshot is not None
    return snapshot.state


def _failures(policy: Policy) -> int:
    snapshot = policy.status().breaker
    assert snapshot is not None
    return snapshot.consecutive_failures


def _runtime(registry: ResilienceRegistry) -> Any:
    return registry.runtime("dep")


# -- 1. the plain breaker path ---------------------------------------------


def test_plain_path_is_taken_for_a_lone_count_breaker(
    registry: ResilienceRegistry,
) -> None:
    """A policy with only a count-mode breaker uses the plain path."""
    _policy(registry, CircuitBreakerConfig(failure_threshold=3))
    assert _runtime(registry).plain_breaker is not None


def test_plain_path_opens_at_exactly_the_threshold(
    registry: ResilienceRegistry,
) -> None:
    """Failure threshold - 1 failures keep it closed; the next one opens it."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=3))
    for _ in range(2):
        with pytest.raises(Down):
            policy.call(_down)
    assert _state(policy) is CircuitState.CLOSED
    assert _failures(policy) == 2
    with pytest.raises(Down):
        policy.call(_down)
    assert _state(policy) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        policy.call(_ok)


async def test_async_plain_path_opens_at_exactly_the_threshold(
    registry: ResilienceRegistry,
) -> None:
    """The async plain path opens the breaker on the threshold-th failure."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))
    with pytest.raises(Down):
        await policy.acall(_adown)
    assert _state(policy) is CircuitState.CLOSED
    with pytest.raises(Down):
        await policy.acall(_adown)
    assert _state(policy) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await policy.acall(_aok)


def test_plain_path_success_resets_the_count(registry: ResilienceRegistry) -> None:
    """A success between failures resets the consecutive count."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))
    with pytest.raises(Down):
        policy.call(_down)
    assert policy.call(_ok) == "ok"
    assert _failures(policy) == 0
    with pytest.raises(Down):
        policy.call(_down)
    assert _state(policy) is CircuitState.CLOSED


async def test_async_plain_path_success_resets_the_count(
    registry: ResilienceRegistry,
) -> None:
    """An async success between failures resets the consecutive count."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))
    with pytest.raises(Down):
        await policy.acall(_adown)
    assert await policy.acall(_aok) == "ok"
    with pytest.raises(Down):
        await policy.acall(_adown)
    assert _state(policy) is CircuitState.CLOSED


def test_plain_path_ignored_error_is_not_a_failure(
    registry: ResilienceRegistry,
) -> None:
    """An error outside error_types (or in ignore_on) never opens the breaker."""
    policy = _policy(
        registry, CircuitBreakerConfig(failure_threshold=1, ignore_on=(Other,))
    )

    def other() -> None:
        raise Other

    for _ in range(3):
        with pytest.raises(Other):
            policy.call(other)
    assert _state(policy) is CircuitState.CLOSED


def test_plain_path_half_open_probe_closes(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """After recovery_timeout, success_threshold probes close the breaker."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=10.0, success_threshold=2
        ),
    )
    with pytest.raises(Down):
        policy.call(_down)
    clock.advance(9.999)
    with pytest.raises(CircuitOpenError):
        policy.call(_ok)
    clock.advance(0.001)
    assert policy.call(_ok) == "ok"
    assert _state(policy) is CircuitState.HALF_OPEN
    assert policy.call(_ok) == "ok"
    assert _state(policy) is CircuitState.CLOSED


def test_plain_path_half_open_probe_failure_reopens(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """A failed probe reopens the breaker for a fresh recovery_timeout."""
    policy = _policy(
        registry, CircuitBreakerConfig(failure_threshold=1, recovery_timeout=5.0)
    )
    with pytest.raises(Down):
        policy.call(_down)
    clock.advance(5.0)
    with pytest.raises(Down):
        policy.call(_down)
    assert _state(policy) is CircuitState.OPEN
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as caught:
        policy.call(_ok)
    assert caught.value.retry_after == pytest.approx(1.0)


async def test_async_plain_path_half_open_probe_closes(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """The async path half-opens after recovery_timeout and closes on success."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=3.0, success_threshold=1
        ),
    )
    with pytest.raises(Down):
        await policy.acall(_adown)
    with pytest.raises(CircuitOpenError):
        await policy.acall(_aok)
    clock.advance(3.0)
    assert await policy.acall(_aok) == "ok"
    assert _state(policy) is CircuitState.CLOSED


def test_plain_path_rejection_from_function_not_counted(
    registry: ResilienceRegistry,
) -> None:
    """A RejectedError raised by the function neither counts nor resets."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))

    def rejected() -> None:
        raise RateLimitExceededError("inner", policy="inner")

    with pytest.raises(Down):
        policy.call(_down)
    for _ in range(3):
        with pytest.raises(RateLimitExceededError):
            policy.call(rejected)
    assert _failures(policy) == 1
    assert _state(policy) is CircuitState.CLOSED


async def test_async_plain_path_rejection_from_function_not_counted(
    registry: ResilienceRegistry,
) -> None:
    """An awaited RejectedError is neither a failure nor a success."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=1))

    async def rejected() -> None:
        raise BulkheadFullError("inner", policy="inner")

    for _ in range(3):
        with pytest.raises(BulkheadFullError):
            await policy.acall(rejected)
    assert _state(policy) is CircuitState.CLOSED


def test_plain_path_keyboard_interrupt_not_counted(
    registry: ResilienceRegistry,
) -> None:
    """KeyboardInterrupt passes through without counting as a failure."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=1))

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        policy.call(interrupted)
    assert _state(policy) is CircuitState.CLOSED
    assert _failures(policy) == 0


async def test_async_plain_path_cancellation_not_counted(
    registry: ResilienceRegistry,
) -> None:
    """CancelledError passes through without counting as a failure."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=1))

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await policy.acall(cancelled)
    assert _state(policy) is CircuitState.CLOSED


def test_plain_path_with_fallback_counts_and_falls_back(
    registry: ResilienceRegistry,
) -> None:
    """With a fallback the failure still counts, then the rejection falls back."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=2),
        fallback=FallbackConfig(handler=lambda e: type(e).__name__),
    )
    assert _runtime(registry).plain_breaker is not None
    assert policy.call(_down) == "Down"
    assert policy.call(_down) == "Down"
    assert _state(policy) is CircuitState.OPEN
    assert policy.call(_ok) == "CircuitOpenError"


async def test_async_plain_path_with_fallback(
    registry: ResilienceRegistry,
) -> None:
    """Async: failures count under a fallback and the rejection falls back."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1),
        fallback=FallbackConfig(handler=lambda e: type(e).__name__),
    )
    assert await policy.acall(_adown) == "Down"
    assert await policy.acall(_aok) == "CircuitOpenError"


def test_plain_path_with_cache_serves_hits_while_open(
    registry: ResilienceRegistry,
) -> None:
    """A cache hit is served before the open breaker is consulted."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1),
        cache=CacheConfig(max_size=8, ttl=60.0),
    )
    calls: list[int] = []

    def double(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise Down
        return 2 * x

    assert policy.call(double, 2) == 4
    with pytest.raises(Down):
        policy.call(double, -1)
    assert policy.call(double, 2) == 4
    with pytest.raises(CircuitOpenError):
        policy.call(double, 3)
    assert calls == [2, -1]


# -- 2. early rejection while open ----------------------------------------


def test_force_open_rejects_fast_and_reset_readmits(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """force_open rejects with the full recovery_timeout; reset readmits."""
    policy = _policy(registry, CircuitBreakerConfig(recovery_timeout=7.0))
    ran: list[int] = []
    policy.circuit_breaker.force_open()
    with pytest.raises(CircuitOpenError) as caught:
        policy.call(lambda: ran.append(1))
    assert caught.value.retry_after == pytest.approx(7.0)
    assert caught.value.policy == "dep"
    assert ran == []
    policy.circuit_breaker.reset()
    policy.call(lambda: ran.append(1))
    assert ran == [1]


def test_force_open_twice_restarts_the_cool_down(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Forcing an open breaker open again restarts its recovery_timeout."""
    policy = _policy(registry, CircuitBreakerConfig(recovery_timeout=10.0))
    policy.circuit_breaker.force_open()
    clock.advance(8.0)
    policy.circuit_breaker.force_open()
    clock.advance(5.0)
    with pytest.raises(CircuitOpenError) as caught:
        policy.call(_ok)
    assert caught.value.retry_after == pytest.approx(5.0)


async def test_async_force_open_rejects_and_reset_readmits(
    registry: ResilienceRegistry,
) -> None:
    """The async early rejection honours force_open and reset."""
    policy = _policy(registry, CircuitBreakerConfig(recovery_timeout=7.0))
    policy.circuit_breaker.force_open()
    with pytest.raises(CircuitOpenError):
        await policy.acall(_aok)
    policy.circuit_breaker.reset()
    assert await policy.acall(_aok) == "ok"


def test_recovery_timeout_zero_probes_at_once(
    registry: ResilienceRegistry,
) -> None:
    """With recovery_timeout=0 the call after opening is a probe, not rejected."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=0.0, success_threshold=1
        ),
    )
    with pytest.raises(Down):
        policy.call(_down)
    assert policy.call(_ok) == "ok"
    assert _state(policy) is CircuitState.CLOSED


def test_reregistration_keeps_an_open_breaker(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """Re-registering with an equal breaker config keeps it open."""
    breaker = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=10.0)
    policy = _policy(registry, breaker)
    with pytest.raises(Down):
        policy.call(_down)
    registry.register(
        "dep", ResilienceConfig(circuit_breaker=breaker, retry=RetryConfig(delay=0))
    )
    clock.advance(4.0)
    with pytest.raises(CircuitOpenError) as caught:
        policy.call(_ok)
    assert caught.value.retry_after == pytest.approx(6.0)


def test_early_rejection_emits_event_with_listener(
    registry: ResilienceRegistry,
) -> None:
    """With a listener the early rejection emits CIRCUIT_REJECTED once."""
    events: list[Any] = []
    policy = _policy(
        registry, CircuitBreakerConfig(failure_threshold=1), listeners=(events.append,)
    )
    with pytest.raises(Down):
        policy.call(_down)
    events.clear()
    with pytest.raises(CircuitOpenError):
        policy.call(_ok)
    kinds = [event.event_type for event in events]
    assert kinds == [EventType.CIRCUIT_REJECTED]


async def test_async_early_rejection_emits_event_with_listener(
    registry: ResilienceRegistry,
) -> None:
    """The async early rejection emits CIRCUIT_REJECTED once."""
    events: list[Any] = []
    policy = _policy(
        registry, CircuitBreakerConfig(failure_threshold=1), listeners=(events.append,)
    )
    with pytest.raises(Down):
        await policy.acall(_adown)
    events.clear()
    with pytest.raises(CircuitOpenError):
        await policy.acall(_aok)
    assert [event.event_type for event in events] == [EventType.CIRCUIT_REJECTED]


def test_early_rejection_reaches_fallback_with_listener(
    registry: ResilienceRegistry,
) -> None:
    """A fallback catches the early rejection, and FALLBACK_USED is emitted."""
    events: list[Any] = []
    policy = _policy(
        registry,
        CircuitBreakerConfig(recovery_timeout=5.0),
        fallback=FallbackConfig(handler="cached"),
        listeners=(events.append,),
    )
    policy.circuit_breaker.force_open()
    events.clear()
    assert policy.call(_ok) == "cached"
    kinds = [event.event_type for event in events]
    assert kinds == [EventType.CIRCUIT_REJECTED, EventType.FALLBACK_USED]


# -- 3. stopping retries when the breaker opens ----------------------------


def test_retry_stops_without_sleeping_when_breaker_opens(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """The failure that opens the breaker ends the retry loop with no sleep."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30.0),
        retry=RetryConfig(max_attempts=5, delay=1.0, jitter=False),
    )
    calls: list[float] = []

    def down() -> None:
        calls.append(clock.monotonic())
        raise Down(len(calls))

    with pytest.raises(CircuitOpenError) as caught:
        policy.call(down)
    assert len(calls) == 2
    assert clock.monotonic() == pytest.approx(1.0)
    assert isinstance(caught.value.__cause__, Down)
    assert caught.value.__cause__.args == (2,)


async def test_async_retry_stops_without_sleeping_when_breaker_opens(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """The async retry loop stops on the opening failure with no sleep."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1, recovery_timeout=30.0),
        retry=RetryConfig(max_attempts=3, delay=1.0, jitter=False),
    )
    with pytest.raises(CircuitOpenError) as caught:
        await policy.acall(_adown)
    assert clock.monotonic() == 0.0
    assert isinstance(caught.value.__cause__, Down)


def test_retry_on_not_matching_raises_the_error(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """An error retry_on does not match is raised as is, even if it opened."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1),
        retry=RetryConfig(max_attempts=3, delay=1.0, retry_on=(KeyError,)),
    )
    with pytest.raises(Down):
        policy.call(_down)
    assert _state(policy) is CircuitState.OPEN
    assert clock.monotonic() == 0.0


def test_max_attempts_one_raises_the_error_not_a_rejection(
    registry: ResilienceRegistry,
) -> None:
    """With one attempt the opening failure itself is raised."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1),
        retry=RetryConfig(max_attempts=1),
    )
    with pytest.raises(Down):
        policy.call(_down)
    assert _state(policy) is CircuitState.OPEN


def test_exhausted_budget_with_open_breaker_stops_without_sleep(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """With a retry budget the loop still stops at once when the breaker opens."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1, recovery_timeout=30.0),
        retry=RetryConfig(max_attempts=3, delay=1.0, jitter=False),
        retry_budget=RetryBudgetConfig(max_retries=1, refill_rate=0.001),
    )
    with pytest.raises(CircuitOpenError):
        policy.call(_down)
    assert clock.monotonic() == 0.0
    status = policy.status()
    assert status.retry_budget is not None and status.retry_budget >= 1


def test_recovery_zero_retry_probes_instead_of_stopping(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """With recovery_timeout=0 the loop retries, the next attempt a probe."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=0.0, success_threshold=1
        ),
        retry=RetryConfig(max_attempts=3, delay=1.0, jitter=False),
    )
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Down
        return "ok"

    assert policy.call(flaky) == "ok"
    assert _state(policy) is CircuitState.CLOSED


def test_stop_emits_rejection_event_after_failure(
    registry: ResilienceRegistry,
) -> None:
    """With listeners the stop emits FAILURE, the opening, then CIRCUIT_REJECTED."""
    events: list[Any] = []
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=1, recovery_timeout=30.0),
        retry=RetryConfig(max_attempts=3, delay=1.0),
        listeners=(events.append,),
    )
    with pytest.raises(CircuitOpenError):
        policy.call(_down)
    kinds = [event.event_type for event in events]
    assert kinds[0] is EventType.FAILURE
    assert kinds[-1] is EventType.CIRCUIT_REJECTED
    assert EventType.RETRY not in kinds


# -- 4. the guard fast path ------------------------------------------------


def test_guard_counts_failures_on_the_fast_path(
    registry: ResilienceRegistry,
) -> None:
    """Block failures under a quiet breaker still open it at the threshold."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))
    for _ in range(2):
        with pytest.raises(Down), policy.guard():
            raise Down
    assert _state(policy) is CircuitState.OPEN
    with pytest.raises(CircuitOpenError), policy.guard():
        pass


def test_guard_success_resets_the_count(registry: ResilienceRegistry) -> None:
    """A successful block after a failure resets the consecutive count."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))
    with pytest.raises(Down), policy.guard():
        raise Down
    with policy.guard():
        pass
    assert _failures(policy) == 0


async def test_aguard_counts_failures_and_resets(
    registry: ResilienceRegistry,
) -> None:
    """The async guard counts failures and resets on success."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=2))
    with pytest.raises(Down):
        async with policy.aguard():
            raise Down
    async with policy.aguard():
        pass
    assert _failures(policy) == 0
    for _ in range(2):
        with pytest.raises(Down):
            async with policy.aguard():
                raise Down
    assert _state(policy) is CircuitState.OPEN


def test_guard_slow_success_counts_in_window_mode(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """A slow block counts as slow even though the breaker looked quiet."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            sliding_window_size=2,
            minimum_calls=2,
            slow_call_duration=1.0,
            slow_call_rate_threshold=1.0,
        ),
    )
    for _ in range(2):
        with policy.guard():
            clock.advance(2.0)
    assert _state(policy) is CircuitState.OPEN


def test_guard_slow_success_counts_in_count_mode(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """In count mode a slow block is reported (not skipped) to the breaker."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=2, slow_call_duration=1.0),
    )
    with pytest.raises(Down), policy.guard():
        raise Down
    with policy.guard():
        clock.advance(2.0)
    # A slow success is still a success in count mode: the count resets.
    assert _failures(policy) == 0


def test_guard_releases_the_bulkhead_slot_every_way(
    registry: ResilienceRegistry,
) -> None:
    """Success, failure, rejection inside and interrupt all free the slot."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=100),
        bulkhead=BulkheadConfig(max_concurrent=1),
    )
    with policy.guard():
        pass
    with pytest.raises(Down), policy.guard():
        raise Down
    with pytest.raises(CircuitOpenError), policy.guard():
        raise CircuitOpenError.fast("inner", 1.0)
    with pytest.raises(KeyboardInterrupt), policy.guard():
        raise KeyboardInterrupt
    status = policy.status().bulkhead
    assert status is not None and status.in_flight == 0
    with policy.guard():
        pass


async def test_aguard_releases_the_bulkhead_slot_every_way(
    registry: ResilienceRegistry,
) -> None:
    """The async guard frees its slot on success, failure and cancellation."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(failure_threshold=100),
        bulkhead=BulkheadConfig(max_concurrent=1),
    )
    async with policy.aguard():
        pass
    with pytest.raises(Down):
        async with policy.aguard():
            raise Down
    with pytest.raises(asyncio.CancelledError):
        async with policy.aguard():
            raise asyncio.CancelledError
    status = policy.status().bulkhead
    assert status is not None and status.in_flight == 0


def test_guard_without_breaker_releases_slot_and_keeps_error(
    registry: ResilienceRegistry,
) -> None:
    """A policy without a breaker frees the slot and re-raises the same error."""
    policy = _policy(registry, None, bulkhead=BulkheadConfig(max_concurrent=1))
    error = Down("same")
    with pytest.raises(Down) as caught, policy.guard():
        raise error
    assert caught.value is error
    with policy.guard():
        pass
    status = policy.status().bulkhead
    assert status is not None and status.in_flight == 0


def test_guard_rejection_inside_block_is_not_counted(
    registry: ResilienceRegistry,
) -> None:
    """A rejection raised inside the block is no verdict for the breaker."""
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=1))
    with pytest.raises(RateLimitExceededError), policy.guard():
        raise RateLimitExceededError("inner", policy="inner")
    assert _state(policy) is CircuitState.CLOSED


def test_guard_half_open_probe_released_on_interrupt(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """An interrupted half-open probe block hands its probe slot back."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=1
        ),
    )
    with pytest.raises(Down), policy.guard():
        raise Down
    clock.advance(1.0)
    with pytest.raises(KeyboardInterrupt), policy.guard():
        raise KeyboardInterrupt
    with policy.guard():
        pass
    assert _state(policy) is CircuitState.HALF_OPEN


# -- 5. the bare path and slots --------------------------------------------


def test_bare_path_with_fallback_and_cache(registry: ResilienceRegistry) -> None:
    """Fallback-and-cache only: one attempt, failures fall back, none cached."""
    policy = _policy(
        registry,
        None,
        fallback=FallbackConfig(handler=-1),
        cache=CacheConfig(max_size=4, ttl=60.0),
    )
    runtime = _runtime(registry)
    assert runtime.bare and runtime.single
    calls: list[int] = []

    def once(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise Down
        return x

    assert policy.call(once, 3) == -1
    assert policy.call(once, 3) == 3
    assert policy.call(once, 3) == 3
    assert calls == [3, 3]


async def test_async_bare_path_with_fallback(registry: ResilienceRegistry) -> None:
    """The async bare path runs once and hands the error to the fallback."""
    policy = _policy(registry, None, fallback=FallbackConfig(handler="fb"))
    assert await policy.acall(_adown) == "fb"
    assert await policy.acall(_aok) == "ok"


def test_bare_path_interrupt_skips_fallback(registry: ResilienceRegistry) -> None:
    """KeyboardInterrupt is never handed to the fallback on the bare path."""
    policy = _policy(registry, None, fallback=FallbackConfig(handler="fb"))

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        policy.call(interrupted)


def test_bare_path_with_listener_emits_success(registry: ResilienceRegistry) -> None:
    """A listener makes the path non-bare, so attempts are reported."""
    events: list[Any] = []
    policy = _policy(
        registry, None, fallback=FallbackConfig(handler=0), listeners=(events.append,)
    )
    assert not _runtime(registry).bare
    policy.call(_ok)
    assert [event.event_type for event in events] == [EventType.SUCCESS]


def test_runtime_has_no_instance_dict(registry: ResilienceRegistry) -> None:
    """Every runtime attribute is a slot: nothing else can be attached."""
    _policy(registry, CircuitBreakerConfig())
    runtime = _runtime(registry)
    assert not hasattr(runtime, "__dict__")
    with pytest.raises(AttributeError):
        runtime.extra = 1


# -- path selection and equivalence ----------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"listeners": (lambda event: None,)},
        {"retry": RetryConfig(max_attempts=2, delay=0)},
        {"bulkhead": BulkheadConfig(max_concurrent=4)},
    ],
    ids=["listener", "retry", "bulkhead"],
)
def test_plain_path_not_taken_when_anything_else_applies(
    registry: ResilienceRegistry, extra: dict[str, Any]
) -> None:
    """Listeners, retry or a bulkhead take the full attempt path instead."""
    _policy(registry, CircuitBreakerConfig(), **extra)
    assert _runtime(registry).plain_breaker is None


def test_plain_path_not_taken_for_window_or_slow_breakers(
    registry: ResilienceRegistry,
) -> None:
    """Window-mode and slow-call breakers never use the plain path."""
    _policy(registry, CircuitBreakerConfig(sliding_window_size=4))
    assert _runtime(registry).plain_breaker is None
    _policy(registry, CircuitBreakerConfig(slow_call_duration=1.0))
    assert _runtime(registry).plain_breaker is None


_SCRIPT = [
    "down", "ok", "down", "rej", "down", "down", "ok", "wait", "ok", "down",
    "wait", "kbd", "ok", "ok", "down", "down", "down", "force", "ok", "reset",
    "other", "down", "other", "down", "wait", "down", "wait", "ok", "ok",
]  # fmt: skip


def _run_script(policy: Policy, clock: FakeClock) -> list[Any]:
    trace: list[Any] = []

    def step(kind: str) -> Any:
        if kind == "ok":
            return "ok"
        if kind == "rej":
            raise RateLimitExceededError("inner", policy="inner")
        if kind == "kbd":
            raise KeyboardInterrupt
        raise Other if kind == "other" else Down

    for kind in _SCRIPT:
        if kind == "wait":
            clock.advance(2.0)
            continue
        if kind == "force":
            policy.circuit_breaker.force_open()
            continue
        if kind == "reset":
            policy.circuit_breaker.reset()
            continue
        try:
            outcome: Any = policy.call(step, kind)
        except BaseException as error:
            outcome = type(error).__name__
        snapshot = policy.status().breaker
        assert snapshot is not None
        trace.append((kind, outcome, snapshot.state, snapshot.consecutive_failures))
    return trace


@pytest.mark.parametrize(
    "extra",
    [
        {"listeners": (lambda event: None,)},
        {"retry": RetryConfig(max_attempts=1)},
        {"bulkhead": BulkheadConfig(max_concurrent=8)},
        {"fallback": FallbackConfig(handler=0, fallback_on=(KeyError,))},
    ],
    ids=["listener", "retry1", "bulkhead", "fallback"],
)
def test_plain_path_matches_the_full_attempt_path(extra: dict[str, Any]) -> None:
    """The plain path and the full attempt path leave the same breaker states."""
    breaker = CircuitBreakerConfig(
        failure_threshold=2,
        recovery_timeout=3.0,
        success_threshold=2,
        ignore_on=(Other,),
    )
    traces = []
    for more in ({}, extra):
        clock = FakeClock()
        registry = ResilienceRegistry(clock=clock)
        policy = _policy(registry, breaker, **more)
        traces.append(_run_script(policy, clock))
    assert traces[0] == traces[1]


def test_half_open_probe_released_on_interrupt_in_call(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """An interrupted half-open probe call gives its probe slot back."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=1
        ),
    )
    with pytest.raises(Down):
        policy.call(_down)
    clock.advance(1.0)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        policy.call(interrupted)
    assert policy.call(_ok) == "ok"


async def test_half_open_probe_released_on_cancellation_in_acall(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """A cancelled half-open probe coroutine gives its probe slot back."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=1
        ),
    )
    with pytest.raises(Down):
        await policy.acall(_adown)
    clock.advance(1.0)

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await policy.acall(cancelled)
    assert await policy.acall(_aok) == "ok"


def test_window_breaker_stops_retries_when_it_opens(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """A window-mode breaker also ends the retry loop the moment it opens."""
    policy = _policy(
        registry,
        CircuitBreakerConfig(
            sliding_window_size=2, minimum_calls=2, recovery_timeout=30.0
        ),
        retry=RetryConfig(max_attempts=5, delay=1.0, jitter=False),
    )
    with pytest.raises(CircuitOpenError) as caught:
        policy.call(_down)
    assert isinstance(caught.value.__cause__, Down)
    assert clock.monotonic() == pytest.approx(1.0)


def test_concurrent_plain_failures_are_all_counted(clock: FakeClock) -> None:
    """Failures from many threads on the plain path open it exactly once."""
    import threading

    events: list[Any] = []
    registry = ResilienceRegistry(clock=clock)
    policy = _policy(registry, CircuitBreakerConfig(failure_threshold=400))
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for _ in range(100):
            try:
                policy.call(_down)
            except Down:
                events.append(1)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(events) == 400
    assert _state(policy) is CircuitState.OPEN
