"""``@resilient``: protect one function with a policy built from configs."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, overload

from ._callables import check_fallback_fits, is_async_callable, qualified_name
from ._clock import SYSTEM_CLOCK, Clock
from ._config import (
    BulkheadConfig,
    CacheConfig,
    CircuitBreakerConfig,
    FallbackConfig,
    RateLimiterConfig,
    ResilienceConfig,
    RetryBudgetConfig,
    RetryConfig,
    TimeoutConfig,
)
from ._engine import PolicyRuntime
from ._gate import PROCESS_GATE
from ._store import MemoryStore

__all__ = ["resilient", "wrap"]

F = TypeVar("F", bound=Callable[..., Any])


def wrap(
    fn: F,
    resolve: Callable[[], tuple[PolicyRuntime, Any]],
) -> F:
    """Wrap ``fn`` so each call runs through the runtime ``resolve()`` returns."""
    fname = qualified_name(fn)
    if is_async_callable(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            runtime, cache = resolve()
            return await runtime.acall(fn, fname, args, kwargs, cache)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        runtime, cache = resolve()
        return runtime.call(fn, fname, args, kwargs, cache)

    return wrapper  # type: ignore[return-value]


def _wrap_fixed(fn: F, runtime: PolicyRuntime) -> F:
    # A standalone policy never changes, so skip the resolve() call.
    fname = qualified_name(fn)
    cache = runtime.new_cache()
    call, acall = runtime.call, runtime.acall
    if is_async_callable(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            return await acall(fn, fname, args, kwargs, cache)

        async_wrapper.__resilience__ = runtime  # type: ignore[attr-defined]
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return call(fn, fname, args, kwargs, cache)

    wrapper.__resilience__ = runtime  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


@overload
def resilient(fn: F, /) -> F: ...


@overload
def resilient(
    fn: None = None,
    /,
    *,
    retry: RetryConfig | None = None,
    timeout: TimeoutConfig | None = None,
    circuit_breaker: CircuitBreakerConfig | None = None,
    fallback: FallbackConfig | None = None,
    bulkhead: BulkheadConfig | None = None,
    rate_limiter: RateLimiterConfig | None = None,
    cache: CacheConfig | None = None,
    listeners: Sequence[Callable[..., Any]] | None = None,
    retry_budget: RetryBudgetConfig | None = None,
    config: ResilienceConfig | None = None,
    clock: Clock | None = None,
) -> Callable[[F], F]: ...


def resilient(
    fn: F | None = None,
    /,
    *,
    retry: RetryConfig | None = None,
    timeout: TimeoutConfig | None = None,
    circuit_breaker: CircuitBreakerConfig | None = None,
    fallback: FallbackConfig | None = None,
    bulkhead: BulkheadConfig | None = None,
    rate_limiter: RateLimiterConfig | None = None,
    cache: CacheConfig | None = None,
    listeners: Sequence[Callable[..., Any]] | None = None,
    retry_budget: RetryBudgetConfig | None = None,
    config: ResilienceConfig | None = None,
    clock: Clock | None = None,
) -> F | Callable[[F], F]:
    """Protect a sync or async function with the given patterns.

    ``@resilient`` alone retries with :class:`RetryConfig` defaults. Each
    decorated function gets its own breaker, limiter, bulkhead and cache; to
    share them between functions, use :meth:`ResilienceRegistry.decorator`.
    Metadata is kept (``functools.wraps``) and async functions stay
    coroutine functions.

    Args:
        retry, timeout, circuit_breaker, fallback, bulkhead, rate_limiter,
            cache, retry_budget: The patterns to apply; ``None`` leaves one out.
        listeners: Callables receiving every ``ResilienceEvent``.
        config: A whole :class:`ResilienceConfig` instead of the fields.
        clock: Time source; inject ``pyresilience.testing.FakeClock`` in tests.

    Raises:
        TypeError: ``config`` combined with individual patterns, or an async
            fallback handler on a sync function.
    """
    if fn is not None:
        if not callable(fn):
            raise TypeError(f"resilient() expects a function, got {fn!r}")
        return resilient()(fn)
    parts = (retry, timeout, circuit_breaker, fallback, bulkhead, rate_limiter, cache)
    if config is not None and (any(parts) or listeners or retry_budget):
        raise TypeError("pass either config= or individual patterns, not both")
    if config is None:
        nothing_chosen = not any(parts) and retry_budget is None
        config = ResilienceConfig(
            retry=RetryConfig() if nothing_chosen else retry,
            timeout=timeout,
            circuit_breaker=circuit_breaker,
            fallback=fallback,
            bulkhead=bulkhead,
            rate_limiter=rate_limiter,
            cache=cache,
            listeners=tuple(listeners or ()),
            retry_budget=retry_budget,
        )
    chosen = config

    def decorate(function: F) -> F:
        check_fallback_fits(function, chosen)
        runtime = PolicyRuntime(
            None,
            chosen,
            store=MemoryStore(),
            clock=clock or SYSTEM_CLOCK,
            gate=PROCESS_GATE,
            state_key=qualified_name(function),
        )
        return _wrap_fixed(function, runtime)

    return decorate
