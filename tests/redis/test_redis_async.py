"""Async callers of the Redis store, and sync and async sharing one state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from redis_support import RoundTrips

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryBudgetConfig,
)
from pyresilience.stores import MemoryStore, RedisStore


class Boom(Exception):
    """The dependency failed."""


async def aboom() -> None:
    raise Boom("down")


async def test_sync_and_async_callers_share_one_breaker(astore: RedisStore) -> None:
    """Failures recorded by async code open the breaker sync code consults."""
    config = CircuitBreakerConfig(failure_threshold=2, recovery_timeout=30)
    async_side = astore.breaker("api", config)
    sync_side = astore.breaker("api", config)

    for _ in range(2):
        permit = await async_side.aacquire(0.0)
        await async_side.arecord(0.0, success=False, slow=False, probe=permit.probe)

    assert sync_side.snapshot(0.0).state is CircuitState.OPEN
    assert not sync_side.acquire(0.0).allowed
    assert not (await async_side.aacquire(0.0)).allowed


async def test_async_probe_is_released(astore: RedisStore) -> None:
    """arelease_probe hands a half-open probe back for the next caller."""
    config = CircuitBreakerConfig(
        failure_threshold=1, recovery_timeout=0.0, half_open_max_calls=1
    )
    breaker = astore.breaker("api", config)
    await breaker.arecord(0.0, success=False, slow=False, probe=False)

    assert (await breaker.aacquire(0.0)).probe
    assert not (await breaker.aacquire(0.0)).allowed
    await breaker.arelease_probe(0.0)
    assert (await breaker.aacquire(0.0)).probe


async def test_async_breaker_and_limiter_cost_one_round_trip(
    astore: RedisStore,
) -> None:
    """aacquire reserves the start that areserve then hands out."""
    await astore.aopen()
    breaker = astore.breaker("api", CircuitBreakerConfig())
    limiter = astore.rate_limiter("api", RateLimiterConfig(max_calls=2, period=10))
    trips = RoundTrips()
    trips.watch(astore._async_client())

    results = []
    for _ in range(3):
        assert (await breaker.aacquire(0.0)).allowed
        results.append(await limiter.areserve(0.0, 0.0))
        await breaker.arecord(0.0, success=True, slow=False, probe=False)

    assert [r is not None for r in results] == [True, True, False]
    assert trips.sent == ["EVALSHA"] * 3


async def test_async_limiter_cancel_frees_the_start(astore: RedisStore) -> None:
    """acancel gives a reservation back to every process."""
    limiter = astore.rate_limiter("api", RateLimiterConfig(max_calls=1, period=10))
    reservation = await limiter.areserve(0.0, 0.0)
    assert reservation is not None
    assert await limiter.areserve(0.0, 0.0) is None

    await limiter.acancel(reservation.token)

    assert await limiter.areserve(0.0, 0.0) is not None


async def test_async_bulkhead_waits_without_blocking_the_loop(
    astore: RedisStore,
) -> None:
    """aacquire polls with asyncio.sleep, so other tasks run meanwhile."""
    bulkhead = astore.bulkhead("api", BulkheadConfig(max_concurrent=1))
    slot = await bulkhead.aacquire(0.0)
    ticks = 0

    async def release_later() -> None:
        nonlocal ticks
        for _ in range(10):
            ticks += 1
            await asyncio.sleep(0.01)
        await bulkhead.arelease(slot)

    releaser = asyncio.create_task(release_later())
    token = await bulkhead.aacquire(2.0)
    await releaser

    assert token is not None and ticks == 10
    await bulkhead.arelease(token)
    assert bulkhead.snapshot().in_flight == 0


async def test_a_cancelled_waiter_takes_no_slot(astore: RedisStore) -> None:
    """Cancelling a task waiting for a slot leaves neither a slot nor a waiter."""
    bulkhead = astore.bulkhead("api", BulkheadConfig(max_concurrent=1))
    slot = await bulkhead.aacquire(0.0)
    waiter = asyncio.create_task(bulkhead.aacquire(5.0))
    await asyncio.sleep(0.1)
    assert bulkhead.snapshot().waiting == 1

    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    await bulkhead.arelease(slot)

    snapshot = bulkhead.snapshot()
    assert (snapshot.in_flight, snapshot.waiting) == (0, 0)
    assert waiter.cancelled()


async def test_async_budget_is_shared_with_sync_callers(astore: RedisStore) -> None:
    """atry_acquire and try_acquire spend the same tokens."""
    budget = astore.retry_budget("api", RetryBudgetConfig(max_retries=2, refill_rate=0))

    assert await budget.atry_acquire(0.0)
    assert budget.try_acquire(0.0)
    assert not await budget.atry_acquire(0.0)


def test_one_store_serves_several_event_loops(
    make_store: Callable[..., RedisStore],
) -> None:
    """Each event loop gets its own client; clients of finished loops are dropped."""
    store = make_store()
    limiter = store.rate_limiter("api", RateLimiterConfig(max_calls=3, period=10))

    async def reserve() -> bool:
        return await limiter.areserve(0.0, 0.0) is not None

    results = [asyncio.run(reserve()) for _ in range(4)]
    store.close()

    assert results == [True, True, True, False]
    assert not store._async_clients


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_cancelling_a_probe_of_an_ended_episode_keeps_the_current_probe(
    make_store: Callable[..., RedisStore], kind: str
) -> None:
    """A probe cancelled after its half-open episode ended frees no other probe."""
    store = MemoryStore() if kind == "memory" else make_store()
    registry = ResilienceRegistry(store=store)
    registry.register(
        "api",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=1, recovery_timeout=0.0, success_threshold=1,
                half_open_max_calls=2,
            )
        ),
    )  # fmt: skip
    policy = registry.policy("api")
    release = asyncio.Event()

    async def hold(started: asyncio.Event) -> str:
        started.set()
        await release.wait()
        return "ok"

    with pytest.raises(Boom):
        await policy.acall(aboom)  # opens it
    stale_started, current_started = asyncio.Event(), asyncio.Event()
    stale = asyncio.create_task(policy.acall(hold, stale_started))
    await stale_started.wait()  # a probe of the first half-open episode
    with pytest.raises(Boom):
        await policy.acall(aboom)  # the other probe fails: open again
    current = asyncio.create_task(policy.acall(hold, current_started))
    await current_started.wait()  # a probe of the second episode
    stale.cancel()
    await asyncio.gather(stale, return_exceptions=True)
    release.set()
    result = await current
    state = policy.status().breaker.state
    await registry.ashutdown(timeout=1.0)

    assert result == "ok"
    assert state is CircuitState.CLOSED  # the current probe's success counted
