"""The registry and policies of the core scene, built through the public API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from .. import (
    BulkheadConfig,
    CircuitBreakerConfig,
    FallbackConfig,
    RateLimiterConfig,
    ResilienceConfig,
    ResilienceRegistry,
    RetryConfig,
    TimeoutConfig,
)
from ..contrib.http import retry_after_delay
from .client import QuoteBook, ThrottledError, UpstreamStatusError

__all__ = ["POLICY_SUMMARIES", "build_registry"]

#: One line per policy for the report, in registration order.
POLICY_SUMMARIES: tuple[tuple[str, str], ...] = (
    (
        "quotes",
        "retry: 3 attempts on 429, 5xx, timeouts and connection errors, "
        "50ms then 100ms apart or as long as Retry-After asks (up to 1s); "
        "timeout: 0.25s per attempt; circuit breaker: opens after 5 failures "
        "in a row (429 does not count), probes again after 0.5s; fallback: "
        "the last good quote, marked stale",
    ),
    ("quotes-async", "the same settings, called with await policy.acall()"),
    (
        "checkout",
        "rate limiter: 15 calls/s; bulkhead: 3 in flight; timeout: 2s; "
        "no fallback, so rejections reach the caller",
    ),
)


def _quotes_config(
    listeners: Sequence[Callable[..., Any]], book: QuoteBook
) -> ResilienceConfig:
    return ResilienceConfig(
        retry=RetryConfig(
            max_attempts=3,
            delay=0.05,
            max_delay=1.0,
            # An attempt's timeout raises a TimeoutError subclass.
            retry_on=(UpstreamStatusError, httpx.TransportError, TimeoutError),
            delay_func=retry_after_delay(max_wait=1.0),
        ),
        timeout=TimeoutConfig(seconds=0.25),
        circuit_breaker=CircuitBreakerConfig(
            failure_threshold=5,
            recovery_timeout=0.5,
            success_threshold=2,
            ignore_on=(ThrottledError,),
        ),
        fallback=FallbackConfig(handler=book.stale),
        listeners=tuple(listeners),
    )


def build_registry(
    listeners: Sequence[Callable[..., Any]], book: QuoteBook
) -> ResilienceRegistry:
    """Return a registry holding ``quotes``, ``quotes-async`` and ``checkout``.

    Args:
        listeners: Receive every event of every policy.
        book: Serves the stale fallback of both quote policies.
    """
    registry = ResilienceRegistry()
    registry.register("quotes", _quotes_config(listeners, book))
    registry.register("quotes-async", _quotes_config(listeners, book))
    registry.register(
        "checkout",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=15, period=1.0),
            bulkhead=BulkheadConfig(max_concurrent=3),
            timeout=TimeoutConfig(seconds=2.0),
            listeners=tuple(listeners),
        ),
    )
    return registry
