"""Adversarial tests of the result cache: keys, bypasses, bounds, what is kept."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator

import pytest

from pyresilience import (
    CacheConfig,
    FallbackConfig,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    resilient,
)
from pyresilience.testing import FakeClock

Point = namedtuple("Point", "x")


class Echo:
    """A function that returns a tagged repr of its arguments and counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: object, **kwargs: object) -> str:
        self.calls += 1
        return f"{self.calls}:{args!r}:{kwargs!r}"


def _cached(clock: FakeClock, **config: object) -> tuple[Echo, Callable[..., str]]:
    echo = Echo()
    cache = CacheConfig(**config)  # type: ignore[arg-type]

    @resilient(cache=cache, clock=clock)
    def fn(*args: object, **kwargs: object) -> str:
        return echo(*args, **kwargs)

    return echo, fn


def test_keyword_values_of_equal_but_different_types_are_distinct(
    clock: FakeClock,
) -> None:
    """f(x=1), f(x=1.0) and f(x=True) are three entries, each hit on repeat."""
    echo, fn = _cached(clock)
    first = [fn(x=1), fn(x=1.0), fn(x=True)]
    again = [fn(x=1), fn(x=1.0), fn(x=True)]
    assert echo.calls == 3
    assert first == again
    assert first[1].endswith("{'x': 1.0}")


def test_nested_tuples_and_frozensets_keep_element_types(clock: FakeClock) -> None:
    """(1, (2,)) and (1, (2.0,)) differ; so do frozenset({1}) and frozenset({1.0})."""
    echo, fn = _cached(clock)
    fn((1, (2,)))
    fn((1, (2.0,)))
    fn(frozenset({1}))
    fn(frozenset({1.0}))
    assert echo.calls == 4


def test_namedtuple_fields_of_different_types_are_distinct(clock: FakeClock) -> None:
    """A namedtuple argument is keyed by its field types like a plain tuple."""
    echo, fn = _cached(clock)
    assert fn(Point(1)).endswith("(Point(x=1),):{}")
    assert fn(Point(1.0)).endswith("(Point(x=1.0),):{}")
    assert echo.calls == 2


@pytest.mark.parametrize(
    "args, kwargs",
    [(([1],), {}), (((1, [2]),), {}), ((), {"options": {"a": 1}}), (({1},), {})],
)
def test_unhashable_arguments_anywhere_bypass(
    clock: FakeClock, args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    """Unhashable values, even nested in a tuple, run the function every time."""
    echo, fn = _cached(clock)
    fn(*args, **kwargs)
    fn(*args, **kwargs)
    assert echo.calls == 2


def test_ttl_boundary_and_lru_refresh(clock: FakeClock) -> None:
    """An entry read at ttl exactly is stale; a read moves an entry to the new end."""
    echo, fn = _cached(clock, max_size=2, ttl=10.0)
    fn("a")
    clock.advance(9.999)
    fn("a")  # still fresh
    assert echo.calls == 1
    clock.advance(0.001)
    fn("a")  # expired at exactly ttl
    assert echo.calls == 2
    fn("b")
    fn("a")  # hit: "a" is now most recent
    fn("c")  # evicts "b", the least recently used
    fn("a")
    assert echo.calls == 4
    fn("b")
    assert echo.calls == 5


def test_none_results_are_cached(clock: FakeClock) -> None:
    """A function returning None is served from the cache on the second call."""
    calls = 0

    @resilient(cache=CacheConfig(), clock=clock)
    def fn() -> None:
        nonlocal calls
        calls += 1

    fn()
    fn()
    assert calls == 1


def test_results_rejected_by_retry_on_result_are_not_cached(clock: FakeClock) -> None:
    """An exhausted retry returns its last bad result but does not store it."""
    values = iter(["bad", "bad", "bad", "good"])

    @resilient(
        cache=CacheConfig(),
        retry=RetryConfig(
            max_attempts=3, delay=0.0, retry_on_result=lambda value: value == "bad"
        ),
        clock=clock,
    )
    def fn() -> str:
        return next(values)

    assert fn() == "bad"
    assert fn() == "good"
    assert fn() == "good"  # now cached


async def test_async_fallback_values_and_errors_are_never_cached(
    clock: FakeClock,
) -> None:
    """Async: a failure served by the fallback is retried on the next call."""
    outcomes: Iterator[str | Exception] = iter([ConnectionError(), "real", "unused"])

    @resilient(
        cache=CacheConfig(),
        fallback=FallbackConfig(handler="stale"),
        clock=clock,
    )
    async def fn(key: str) -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await fn("k") == "stale"
    assert await fn("k") == "real"
    assert await fn("k") == "real"


def test_cache_hit_spends_no_rate_limit_permit(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """The cache sits outside the limiter: hits never consume permits."""
    registry.register(
        "dep",
        ResilienceConfig(
            cache=CacheConfig(),
            rate_limiter=RateLimiterConfig(max_calls=1, period=60.0),
        ),
    )
    echo = Echo()

    @registry.decorator("dep")
    def fn(key: str) -> str:
        return echo(key)

    results = {fn("k") for _ in range(20)}
    assert len(results) == 1 and echo.calls == 1
    status = registry.policy("dep").status().rate_limiter
    assert status is not None and status.used == 1


def test_policy_call_keeps_entries_per_function(
    registry: ResilienceRegistry, clock: FakeClock
) -> None:
    """policy.call with two functions and equal arguments never mixes results."""
    registry.register("dep", ResilienceConfig(cache=CacheConfig()))
    policy = registry.policy("dep")

    def double(x: int) -> int:
        return 2 * x

    def square(x: int) -> int:
        return x * x

    assert [policy.call(double, 3), policy.call(square, 3)] == [6, 9]
    assert [policy.call(double, 3), policy.call(square, 3)] == [6, 9]
