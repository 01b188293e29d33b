"""Config dataclasses: defaults, validation and immutability."""

from __future__ import annotations

import dataclasses
import math
from datetime import timedelta

import pytest

from pyresilience import (
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


def test_defaults_match_the_documented_api() -> None:
    """Every default is the documented one."""
    retry = RetryConfig()
    assert (retry.max_attempts, retry.delay, retry.backoff_factor) == (3, 1.0, 2.0)
    assert (retry.max_delay, retry.jitter, retry.retry_on) == (60.0, True, (Exception,))
    assert retry.retry_on_result is None and retry.ignore_on == ()
    assert retry.delay_func is None
    assert TimeoutConfig() == TimeoutConfig(seconds=30.0, per_attempt=True)
    breaker = CircuitBreakerConfig()
    assert (breaker.failure_threshold, breaker.recovery_timeout) == (5, 30.0)
    assert (breaker.success_threshold, breaker.sliding_window_size) == (2, 0)
    assert (breaker.failure_rate_threshold, breaker.minimum_calls) == (0.5, 0)
    assert (breaker.slow_call_duration, breaker.slow_call_rate_threshold) == (0.0, 1.0)
    assert breaker.error_types == (Exception,) and breaker.ignore_on == ()
    assert breaker.half_open_max_calls is None
    assert breaker.probe_limit == breaker.success_threshold
    assert FallbackConfig() == FallbackConfig(handler=None, fallback_on=(Exception,))
    assert BulkheadConfig() == BulkheadConfig(max_concurrent=10, max_wait=0.0)
    assert RateLimiterConfig() == RateLimiterConfig(10, 1.0, 0.0)
    assert CacheConfig() == CacheConfig(max_size=256, ttl=300.0)
    assert RetryBudgetConfig() == RetryBudgetConfig(max_retries=100, refill_rate=10.0)


def test_configs_are_frozen() -> None:
    """Assigning to a config field fails."""
    config = RetryConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.max_attempts = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "field", "allowed"),
    [
        (lambda: RetryConfig(max_attempts=0), "RetryConfig.max_attempts", ">= 1"),
        (lambda: RetryConfig(delay=-1), "RetryConfig.delay", ">= 0"),
        (lambda: RetryConfig(backoff_factor=0.5), "RetryConfig.backoff_factor", "[1"),
        (
            lambda: RetryConfig(delay=5, max_delay=1),
            "RetryConfig.max_delay",
            ">= delay",
        ),
        (lambda: TimeoutConfig(seconds=0), "TimeoutConfig.seconds", "> 0"),
        (lambda: TimeoutConfig(pool_size=0), "TimeoutConfig.pool_size", ">= 1"),
        (
            lambda: CircuitBreakerConfig(success_threshold=0),
            "CircuitBreakerConfig.success_threshold",
            ">= 1",
        ),
        (
            lambda: CircuitBreakerConfig(failure_rate_threshold=1.5),
            "CircuitBreakerConfig.failure_rate_threshold",
            "(0, 1]",
        ),
        (
            lambda: CircuitBreakerConfig(slow_call_rate_threshold=0),
            "CircuitBreakerConfig.slow_call_rate_threshold",
            "(0, 1]",
        ),
        (
            lambda: CircuitBreakerConfig(sliding_window_size=10, minimum_calls=11),
            "CircuitBreakerConfig.minimum_calls",
            "sliding_window_size",
        ),
        (
            lambda: CircuitBreakerConfig(half_open_max_calls=0),
            "CircuitBreakerConfig.half_open_max_calls",
            ">= 1",
        ),
        (
            lambda: BulkheadConfig(max_concurrent=0),
            "BulkheadConfig.max_concurrent",
            ">= 1",
        ),
        (lambda: RateLimiterConfig(period=0), "RateLimiterConfig.period", "> 0"),
        (lambda: CacheConfig(max_size=0), "CacheConfig.max_size", ">= 1"),
        (lambda: CacheConfig(ttl=math.inf), "CacheConfig.ttl", "finite"),
        (
            lambda: RetryBudgetConfig(refill_rate=-1),
            "RetryBudgetConfig.refill_rate",
            "[0",
        ),
    ],
)
def test_bad_values_name_field_value_and_range(build, field, allowed) -> None:
    """A bad value raises ValueError naming the field and the allowed range."""
    with pytest.raises(ValueError) as caught:
        build()
    message = str(caught.value)
    assert field in message
    assert allowed in message


@pytest.mark.parametrize(
    "build",
    [
        lambda: RetryConfig(max_attempts="3"),
        lambda: RetryConfig(max_attempts=True),
        lambda: RetryConfig(retry_on=("ValueError",)),
        lambda: RetryConfig(delay_func=5),
        lambda: CircuitBreakerConfig(error_types=[int]),
        lambda: ResilienceConfig(retry=TimeoutConfig()),
        lambda: ResilienceConfig(listeners=[1]),
    ],
)
def test_wrong_kinds_raise_type_error(build) -> None:
    """A value of the wrong type raises TypeError, not ValueError."""
    with pytest.raises(TypeError):
        build()


def test_durations_accept_timedelta_and_exception_lists() -> None:
    """timedelta becomes seconds; a single exception class becomes a tuple."""
    config = CircuitBreakerConfig(
        recovery_timeout=timedelta(minutes=2), error_types=OSError
    )
    assert config.recovery_timeout == 120.0
    assert config.error_types == (OSError,)
    assert RetryConfig(retry_on=[KeyError, ValueError]).retry_on == (
        KeyError,
        ValueError,
    )


def test_backoff_is_capped_and_never_overflows() -> None:
    """Back-off grows exponentially, stops at max_delay and survives huge attempts."""
    retry = RetryConfig(delay=1.0, backoff_factor=2.0, max_delay=10.0)
    assert [retry.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert retry.backoff(10_000) == 10.0
    assert retry.backoff(2**62) == 10.0
    assert RetryConfig(backoff_factor=1.0, delay=3.0).backoff(10**9) == 3.0


def test_retry_that_can_never_run_warns_at_the_users_line() -> None:
    """A first back-off past the total deadline warns, pointing at user code."""
    with pytest.warns(UserWarning, match="no retry can ever run") as record:
        ResilienceConfig(
            retry=RetryConfig(delay=10.0),
            timeout=TimeoutConfig(seconds=5.0, per_attempt=False),
        )
    assert record[0].filename == __file__
