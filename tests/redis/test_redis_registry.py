"""Registries on a RedisStore: policies of one name share state across them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from redis_support import RedisServer, RoundTrips

from pyresilience import (
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    CircuitState,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceRegistry,
    RetryBudgetConfig,
    RetryConfig,
)
from pyresilience.stores import RedisStore

POLICY = ResilienceConfig(
    circuit_breaker=CircuitBreakerConfig(failure_threshold=3, recovery_timeout=30),
    rate_limiter=RateLimiterConfig(max_calls=100, period=1.0),
    bulkhead=BulkheadConfig(max_concurrent=4),
)


class Boom(Exception):
    """The dependency failed."""


def boom() -> None:
    raise Boom("down")


async def aboom() -> None:
    raise Boom("down")


@pytest.fixture
def make_registry(
    make_store: Callable[..., RedisStore],
) -> Iterator[Callable[..., ResilienceRegistry]]:
    """Registries on stores with this test's prefix, as separate workers would have."""
    made: list[ResilienceRegistry] = []

    def make(config: ResilienceConfig = POLICY) -> ResilienceRegistry:
        registry = ResilienceRegistry(store=make_store())
        registry.register("payments", config)
        registry.open()
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.shutdown(timeout=1.0)


def test_the_first_worker_to_see_the_outage_opens_the_breaker_for_all(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """Failures seen by one registry make another reject without calling."""
    seeing, other = make_registry(), make_registry()
    calls = []

    for _ in range(3):
        with pytest.raises(Boom):
            seeing.policy("payments").call(boom)
    with pytest.raises(CircuitOpenError) as rejected:
        other.policy("payments").call(calls.append, "called")

    assert calls == []
    assert rejected.value.policy == "payments"
    assert 29 < rejected.value.retry_after <= 30
    assert other.status()["payments"].breaker.state is CircuitState.OPEN


async def test_sync_and_async_workers_share_the_breaker(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """Async failures in one registry and sync ones in another add up."""
    sync_side, async_side = make_registry(), make_registry()

    with pytest.raises(Boom):
        sync_side.policy("payments").call(boom)
    for _ in range(2):
        with pytest.raises(Boom):
            await async_side.policy("payments").acall(aboom)

    with pytest.raises(CircuitOpenError):
        sync_side.policy("payments").call(boom)
    await async_side.store.aclose()


def test_reset_closes_the_breaker_everywhere(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """registry.reset(name) closes the shared breaker for every registry."""
    one, two = make_registry(), make_registry()
    one.policy("payments").circuit_breaker.force_open()
    assert two.policy("payments").circuit_breaker.state is CircuitState.OPEN

    one.reset("payments")

    assert two.policy("payments").call(lambda: "ok") == "ok"


def test_the_rate_limit_is_one_budget_for_all_workers(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """Three calls per period in total, whichever registry makes them."""
    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(),
        rate_limiter=RateLimiterConfig(max_calls=3, period=10.0),
    )
    workers = [make_registry(config) for _ in range(2)]

    results = [workers[i % 2].policy("payments").call(lambda: "ok") for i in range(3)]
    with pytest.raises(RateLimitExceededError) as rejected:
        workers[1].policy("payments").call(lambda: "ok")

    assert results == ["ok"] * 3
    assert 9 < rejected.value.retry_after <= 10
    assert workers[0].policy("payments").status().rate_limiter.used == 3


def test_the_retry_budget_is_shared(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """Retries spent by one registry come out of the same bucket as another's."""
    config = ResilienceConfig(
        retry=RetryConfig(max_attempts=5, delay=0, jitter=False),
        retry_budget=RetryBudgetConfig(max_retries=3, refill_rate=0.0),
    )
    one, two = make_registry(config), make_registry(config)
    attempts = []

    def failing() -> None:
        attempts.append(1)
        raise Boom

    for registry in (one, two):
        with pytest.raises(Boom):
            registry.policy("payments").call(failing)

    assert len(attempts) == 2 + 3  # two first attempts, three budgeted retries
    assert two.policy("payments").status().retry_budget == 0.0


def test_guards_use_the_shared_state(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """Inbound guards admit through the shared breaker, limiter and bulkhead."""
    one, two = make_registry(), make_registry()

    with one.policy("payments").guard():
        assert two.policy("payments").status().bulkhead.in_flight == 1
    for _ in range(3):
        with pytest.raises(Boom), one.policy("payments").guard():
            raise Boom

    with pytest.raises(CircuitOpenError), two.policy("payments").guard():
        pass


def test_a_mapping_with_a_store_url_builds_a_shared_registry(
    redis_server: RedisServer, prefix: str
) -> None:
    """RESILIENCE-style settings with a STORE mapping share state by name."""
    settings = {
        "STORE": {"url": redis_server.url, "prefix": prefix, "timeout": "500ms"},
        "POLICIES": {"payments": {"circuit_breaker": {"failure_threshold": 1}}},
    }
    one = ResilienceRegistry.from_mapping(settings, path="RESILIENCE")
    two = ResilienceRegistry.from_mapping(settings, path="RESILIENCE")
    try:
        assert isinstance(one.store, RedisStore) and one.store.prefix == prefix
        with pytest.raises(Boom):
            one.policy("payments").call(boom)
        with pytest.raises(CircuitOpenError):
            two.policy("payments").call(boom)
    finally:
        one.shutdown(timeout=1.0)
        two.shutdown(timeout=1.0)


def test_shutdown_closes_the_store_connections(
    make_registry: Callable[..., ResilienceRegistry],
) -> None:
    """The registry lifecycle opens and closes the store's clients."""
    registry = make_registry()
    registry.policy("payments").call(lambda: None)
    store = registry.store
    assert isinstance(store, RedisStore) and store._client is not None

    registry.shutdown(timeout=1.0)

    assert store._client is None
    registry.open()
    assert registry.policy("payments").call(lambda: "again") == "again"


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_a_call_through_breaker_and_limiter_is_one_round_trip(
    make_registry: Callable[..., ResilienceRegistry], mode: str
) -> None:
    """The pipeline's breaker and limiter checks travel in one script call."""
    config = ResilienceConfig(
        circuit_breaker=CircuitBreakerConfig(),
        rate_limiter=RateLimiterConfig(max_calls=1000, period=1.0),
    )
    registry = make_registry(config)
    policy, store = registry.policy("payments"), registry.store
    assert isinstance(store, RedisStore)
    await store.aopen()

    async def ok() -> str:
        return "ok"

    trips = RoundTrips()
    trips.watch(store._sync_client())
    trips.watch(store._async_client())
    for _ in range(5):
        if mode == "sync":
            assert policy.call(lambda: "ok") == "ok"
        else:
            assert await policy.acall(ok) == "ok"
    await store.aclose()

    assert trips.sent == ["EVALSHA"] * 5
    limiter = registry.runtime("payments").limiter
    assert limiter is not None and limiter.combine  # type: ignore[attr-defined]
