"""Rate limiter: sliding window, ordered waiters, nothing consumed on rejection."""

from __future__ import annotations

import asyncio

import pytest

from pyresilience import (
    AsyncRateLimiter,
    RateLimiter,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    resilient,
)
from pyresilience._ratelimit import LocalRateLimiterState
from pyresilience.testing import FakeClock


def test_no_burst_above_max_calls_in_any_window(clock: FakeClock) -> None:
    """Calls at the end of one window and the start of the next stay <= max."""
    limiter = RateLimiter(3, 1.0, clock=clock)
    clock.advance(0.9)
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, True]
    clock.advance(0.2)  # t = 1.1: a fixed window would have reset at 1.0
    assert not limiter.try_acquire()
    clock.advance(0.8)  # t = 1.9: the first three starts have left the window
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_any_window_holds_at_most_max_calls(clock: FakeClock) -> None:
    """Over a long randomised run no window of length period exceeds max_calls."""
    import random

    rng = random.Random(7)
    state = LocalRateLimiterState(RateLimiterConfig(max_calls=5, period=1.0))
    starts = []
    for _ in range(2000):
        clock.advance(rng.random() * 0.1)
        reservation = state.reserve(clock.monotonic(), 0.0)
        if reservation is not None:
            starts.append(clock.monotonic())
    for index in range(len(starts) - 5):
        assert starts[index + 5] - starts[index] >= 1.0 - 1e-9


def test_rejection_consumes_nothing_and_says_when(clock: FakeClock) -> None:
    """A rejected call takes no permit and reports when one frees up."""
    limiter = RateLimiter(2, 10.0, clock=clock)
    limiter.acquire()
    clock.advance(4.0)
    limiter.acquire()
    for _ in range(5):
        with pytest.raises(RateLimitExceededError) as caught:
            limiter.acquire()
    assert caught.value.retry_after == pytest.approx(6.0)
    clock.advance(6.0)
    limiter.acquire()  # exactly one freed; the rejections consumed nothing
    assert limiter.statistics().used == 2


def test_waiters_are_served_in_order(clock: FakeClock) -> None:
    """Reservations with max_wait are granted in arrival order, spaced by period."""
    state = LocalRateLimiterState(RateLimiterConfig(max_calls=1, period=1.0))
    waits = [state.reserve(0.0, 10.0) for _ in range(4)]
    assert [w.wait for w in waits] == [0.0, 1.0, 2.0, 3.0]  # type: ignore[union-attr]
    assert state.reserve(0.0, 2.5) is None  # would be 4 s away


def test_waiting_decorated_calls_sleep_on_the_clock(clock: FakeClock) -> None:
    """A decorated call within max_wait sleeps until its slot, then runs."""
    wrapped = resilient(
        rate_limiter=RateLimiterConfig(max_calls=2, period=1.0, max_wait=5.0),
        clock=clock,
    )(lambda: clock.monotonic())
    assert [wrapped() for _ in range(5)] == [0.0, 0.0, 1.0, 1.0, 2.0]


async def test_cancelled_waiter_gives_its_reservation_back() -> None:
    """A task cancelled while waiting for its slot frees that slot."""
    limiter = AsyncRateLimiter(1, 60.0, max_wait=120.0)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0.01)
    assert limiter._state.next_free(limiter.clock.monotonic()) > 100
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    # Only the first permit remains; the next start is one period after it.
    assert 59 < limiter._state.next_free(limiter.clock.monotonic()) <= 60


def test_limit_is_shared_per_registry_name(registry, clock) -> None:
    """Functions under one name draw on the same permits."""
    registry.register(
        "api", ResilienceConfig(rate_limiter=RateLimiterConfig(max_calls=2, period=1.0))
    )
    first = registry.decorator("api")(lambda: 1)
    second = registry.decorator("api")(lambda: 2)
    assert first() == 1 and second() == 2
    with pytest.raises(RateLimitExceededError) as caught:
        first()
    assert caught.value.policy == "api"
    assert registry.status()["api"].rate_limiter.used == 2


async def test_async_limiter_as_context_manager(clock: FakeClock) -> None:
    """`async with` takes a permit; over the limit it raises."""
    limiter = AsyncRateLimiter(RateLimiterConfig(max_calls=1, period=1.0), clock=clock)
    async with limiter:
        pass
    with pytest.raises(RateLimitExceededError):
        async with limiter:
            pass


def test_threads_with_stale_clock_readings_are_not_rejected() -> None:
    """A caller whose clock reading predates another's reservation still fits."""
    state = LocalRateLimiterState(RateLimiterConfig(max_calls=100, period=1.0))
    assert state.reserve(10.002, 0.0) is not None  # a later reading wins the lock
    reservation = state.reserve(10.001, 0.0)  # an earlier reading arrives second
    assert reservation is not None and reservation.wait == 0.0
