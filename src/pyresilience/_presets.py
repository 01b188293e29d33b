"""Ready-made policies for common kinds of dependency.

Each preset returns a :class:`ResilienceConfig`; keyword arguments replace
whole sections, e.g. ``http_policy(timeout=TimeoutConfig(seconds=5))`` or
``http_policy(cache=None)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._config import (
    BulkheadConfig,
    CircuitBreakerConfig,
    RateLimiterConfig,
    ResilienceConfig,
    RetryBudgetConfig,
    RetryConfig,
    TimeoutConfig,
)

__all__ = ["db_policy", "http_policy", "llm_policy", "queue_policy", "strict_policy"]


def _with(base: ResilienceConfig, overrides: dict[str, Any]) -> ResilienceConfig:
    allowed = {field.name for field in dataclasses.fields(ResilienceConfig)}
    unknown = set(overrides) - allowed
    if unknown:
        raise TypeError(
            f"unknown preset override(s) {sorted(unknown)}; allowed: "
            f"{', '.join(sorted(allowed))}"
        )
    return dataclasses.replace(base, **overrides)


def http_policy(**overrides: Any) -> ResilienceConfig:
    """Remote HTTP APIs: 3 attempts with jittered back-off from 0.5 s, 10 s
    per attempt, a breaker opening after 5 failures for 30 s."""
    return _with(
        ResilienceConfig(
            retry=RetryConfig(max_attempts=3, delay=0.5, max_delay=10.0),
            timeout=TimeoutConfig(seconds=10.0),
            circuit_breaker=CircuitBreakerConfig(failure_threshold=5),
        ),
        overrides,
    )


def db_policy(**overrides: Any) -> ResilienceConfig:
    """Databases: 2 quick attempts, 5 s per attempt, at most 20 concurrent
    queries, a breaker opening after 10 failures for 15 s."""
    return _with(
        ResilienceConfig(
            retry=RetryConfig(max_attempts=2, delay=0.1, max_delay=1.0),
            timeout=TimeoutConfig(seconds=5.0),
            bulkhead=BulkheadConfig(max_concurrent=20, max_wait=1.0),
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=10, recovery_timeout=15.0
            ),
        ),
        overrides,
    )


def queue_policy(**overrides: Any) -> ResilienceConfig:
    """Message brokers: 5 patient attempts from 1 s up to 30 s apart, a
    breaker opening after 5 failures for 60 s."""
    return _with(
        ResilienceConfig(
            retry=RetryConfig(max_attempts=5, delay=1.0, max_delay=30.0),
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=5, recovery_timeout=60.0
            ),
        ),
        overrides,
    )


def llm_policy(**overrides: Any) -> ResilienceConfig:
    """LLM endpoints: slow calls (120 s per attempt), 4 attempts from 2 s,
    a 60-per-minute rate limit that queues up to 30 s, 10 at a time, and a
    retry budget so an outage does not multiply the bill."""
    return _with(
        ResilienceConfig(
            retry=RetryConfig(max_attempts=4, delay=2.0, max_delay=60.0),
            timeout=TimeoutConfig(seconds=120.0),
            rate_limiter=RateLimiterConfig(max_calls=60, period=60.0, max_wait=30.0),
            bulkhead=BulkheadConfig(max_concurrent=10, max_wait=30.0),
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=5, recovery_timeout=60.0
            ),
            retry_budget=RetryBudgetConfig(max_retries=20, refill_rate=1.0),
        ),
        overrides,
    )


def strict_policy(**overrides: Any) -> ResilienceConfig:
    """Latency-critical paths: no retry, 1 s timeout, a breaker that judges
    the failure rate of the last 20 calls and opens at 50 %."""
    return _with(
        ResilienceConfig(
            timeout=TimeoutConfig(seconds=1.0),
            circuit_breaker=CircuitBreakerConfig(
                sliding_window_size=20,
                minimum_calls=10,
                failure_rate_threshold=0.5,
                recovery_timeout=10.0,
                success_threshold=2,
            ),
        ),
        overrides,
    )
