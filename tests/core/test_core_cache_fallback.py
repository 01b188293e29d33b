"""Cache and fallback: what is stored, what is returned, and for whom."""

from __future__ import annotations

import asyncio

import pytest

from pyresilience import (
    CacheConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    EventType,
    FallbackConfig,
    ResilienceConfig,
    ResultCache,
    RetryConfig,
    resilient,
)
from pyresilience._cache import MISS, make_key
from pyresilience.testing import FakeClock


def test_cache_hits_skip_the_call(clock: FakeClock) -> None:
    """A second call with the same arguments is served from the cache."""
    calls = []

    @resilient(cache=CacheConfig(ttl=10), clock=clock)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert calls == [3]


def test_int_float_and_bool_are_distinct_keys(clock: FakeClock) -> None:
    """f(1), f(1.0) and f(True) are cached separately."""

    @resilient(cache=CacheConfig(), clock=clock)
    def kind(x: object) -> str:
        return type(x).__name__

    assert [kind(1), kind(1.0), kind(True), kind((1,)), kind((1.0,))] == [
        "int",
        "float",
        "bool",
        "tuple",
        "tuple",
    ]
    assert make_key((1,), {}) != make_key((1.0,), {})
    assert make_key(((1,),), {}) != make_key(((True,),), {})


def test_unhashable_arguments_bypass_the_cache(clock: FakeClock) -> None:
    """Calls with unhashable arguments always run and are not stored."""
    calls = []

    @resilient(cache=CacheConfig(), clock=clock)
    def total(items: list[int]) -> int:
        calls.append(1)
        return sum(items)

    assert total([1, 2]) == 3 and total([1, 2]) == 3
    assert len(calls) == 2


def test_ttl_and_lru_bound_the_cache(clock: FakeClock) -> None:
    """Entries expire after ttl and the least recently used is evicted first."""
    cache = ResultCache(CacheConfig(max_size=2, ttl=5.0), clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now most recently used
    cache.put("c", 3)
    assert cache.get("b") is MISS
    assert len(cache) == 2
    clock.advance(5.0)
    assert cache.get("a") is MISS


def test_exceptions_and_fallback_values_are_never_cached(clock: FakeClock) -> None:
    """A fallback value is returned but a later good result is what gets cached."""
    outcomes = iter([ConnectionError(), "fresh"])

    @resilient(
        cache=CacheConfig(), fallback=FallbackConfig(handler="stale"), clock=clock
    )
    def fetch(key: str) -> str:
        result = next(outcomes)
        if isinstance(result, Exception):
            raise result
        return result

    assert fetch("k") == "stale"
    assert fetch("k") == "fresh"
    assert fetch("k") == "fresh"


def test_functions_under_one_name_never_share_entries(registry) -> None:
    """Two functions decorated with one name keep separate cache entries."""
    registry.register("c", ResilienceConfig(cache=CacheConfig()))
    first = registry.decorator("c")(lambda x: ("first", x))
    second = registry.decorator("c")(lambda x: ("second", x))
    assert first(1) == ("first", 1)
    assert second(1) == ("second", 1)


def test_fallback_value_function_and_error_filter(clock: FakeClock) -> None:
    """Fallback uses a value or fn(exc), only for matching exceptions."""

    def boom(error_type: type[Exception]) -> None:
        raise error_type("x")

    by_value = resilient(
        fallback=FallbackConfig(handler=0, fallback_on=(ValueError,)), clock=clock
    )(boom)
    assert by_value(ValueError) == 0
    with pytest.raises(KeyError):
        by_value(KeyError)
    by_function = resilient(
        fallback=FallbackConfig(handler=lambda error: f"saw {error!r}"), clock=clock
    )(boom)
    assert by_function(ValueError) == "saw ValueError('x')"


async def test_async_fallback_handler(clock: FakeClock) -> None:
    """An async handler is awaited for async functions."""

    async def handler(error: Exception) -> str:
        await asyncio.sleep(0)
        return "from fallback"

    @resilient(fallback=FallbackConfig(handler=handler), clock=clock)
    async def fetch() -> str:
        raise ConnectionError

    assert await fetch() == "from fallback"


def test_async_handler_on_sync_function_is_refused_at_decoration() -> None:
    """A sync function cannot use an async fallback handler."""

    async def handler(error: Exception) -> str:
        return "x"

    with pytest.raises(TypeError, match="is async but"):
        resilient(fallback=FallbackConfig(handler=handler))(lambda: 1)


def test_fallback_catches_breaker_rejection(clock, metrics) -> None:
    """An open breaker's rejection is served by the fallback."""

    @resilient(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1),
        fallback=FallbackConfig(handler="cached", fallback_on=(CircuitOpenError,)),
        listeners=[metrics],
        clock=clock,
    )
    def fetch() -> str:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        fetch()
    assert fetch() == "cached"
    assert metrics.count(EventType.FALLBACK_USED) == 1


@pytest.mark.parametrize("signal", [KeyboardInterrupt, SystemExit])
def test_interrupts_never_reach_the_fallback(clock: FakeClock, signal) -> None:
    """BaseExceptions that are not Exceptions bypass the fallback."""

    @resilient(
        fallback=FallbackConfig(handler="x", fallback_on=(BaseException,)),
        retry=RetryConfig(max_attempts=3, delay=0),
        clock=clock,
    )
    def fn() -> None:
        raise signal

    with pytest.raises(signal):
        fn()
