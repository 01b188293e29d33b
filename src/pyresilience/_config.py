"""The configuration dataclasses, one per pattern, plus :class:`ResilienceConfig`.

Every config is frozen and validated when it is built: a bad value raises
``ValueError`` (or ``TypeError`` for a value of the wrong kind) naming the
field, the value and what is allowed. Durations are seconds; a
:class:`datetime.timedelta` is accepted too. The loader in
:mod:`pyresilience._loader` builds the same objects from plain mappings.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _validate as check

__all__ = [
    "BulkheadConfig",
    "CacheConfig",
    "CircuitBreakerConfig",
    "FallbackConfig",
    "RateLimiterConfig",
    "ResilienceConfig",
    "RetryBudgetConfig",
    "RetryConfig",
    "TimeoutConfig",
]

# Fields are typed as tuples, what they always hold after construction; a
# single class (or a list) is accepted at runtime and normalised to a tuple.
ExceptionTypes = tuple[type[BaseException], ...]
DelayFunc = Callable[[int, Any], "float | None"]


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their own fields once, in __post_init__.
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class RetryConfig:
    """How often and how patiently to retry.

    The sleep before attempt ``n + 1`` (after ``n`` failures) is
    ``min(delay * backoff_factor ** (n - 1), max_delay)``. With ``jitter`` the
    sleep is drawn uniformly from the upper half of that value, so jitter
    spreads callers out without ever exceeding ``max_delay``. A
    ``delay_func(attempt, trigger)`` may return seconds (clamped to
    ``[0, max_delay]``) or ``None`` to use the normal back-off; ``trigger`` is
    the exception raised, or the result rejected by ``retry_on_result``.

    A persistent failure runs exactly ``max_attempts`` times and re-raises the
    last attempt's own exception. ``ignore_on`` wins over ``retry_on``.
    """

    max_attempts: int = 3
    delay: float = 1.0
    backoff_factor: float = 2.0
    max_delay: float = 60.0
    jitter: bool = True
    retry_on: ExceptionTypes = (Exception,)
    retry_on_result: Callable[[Any], bool] | None = None
    ignore_on: ExceptionTypes = ()
    delay_func: DelayFunc | None = None

    def __post_init__(self) -> None:
        owner = "RetryConfig"
        check.integer(owner, "max_attempts", self.max_attempts, minimum=1)
        _set(self, "delay", check.seconds(owner, "delay", self.delay, allow_zero=True))
        _set(
            self,
            "backoff_factor",
            check.number(owner, "backoff_factor", self.backoff_factor, low=1.0),
        )
        max_delay = check.seconds(owner, "max_delay", self.max_delay, allow_zero=True)
        _set(self, "max_delay", max_delay)
        if max_delay < self.delay:
            raise ValueError(
                f"RetryConfig.max_delay ({max_delay:g}) must be >= delay "
                f"({self.delay:g}): the cap would cut every sleep"
            )
        check.boolean(owner, "jitter", self.jitter)
        _set(self, "retry_on", check.exception_types(owner, "retry_on", self.retry_on))
        _set(
            self, "ignore_on", check.exception_types(owner, "ignore_on", self.ignore_on)
        )
        check.optional_callable(owner, "retry_on_result", self.retry_on_result)
        check.optional_callable(owner, "delay_func", self.delay_func)

    def backoff(self, failures: int) -> float:
        """Return the un-jittered sleep after ``failures`` failed attempts.

        Never overflows: a huge exponent saturates at ``max_delay``.
        """
        if failures <= 0 or not self.delay:
            return 0.0
        try:
            raw = self.delay * self.backoff_factor ** (failures - 1)
        except OverflowError:
            return self.max_delay
        return self.max_delay if raw > self.max_delay else raw


@dataclass(frozen=True)
class RetryBudgetConfig:
    """A token bucket capping retries across every call of one policy.

    Each retry (not the first attempt) takes one token; the bucket holds at
    most ``max_retries`` tokens and refills ``refill_rate`` tokens per second.
    When it is empty, the call stops retrying and raises its last error, so
    an outage does not multiply the load on a struggling dependency.
    """

    max_retries: int = 100
    refill_rate: float = 10.0

    def __post_init__(self) -> None:
        check.integer("RetryBudgetConfig", "max_retries", self.max_retries, minimum=1)
        _set(
            self,
            "refill_rate",
            check.number("RetryBudgetConfig", "refill_rate", self.refill_rate, low=0.0),
        )


@dataclass(frozen=True)
class TimeoutConfig:
    """Time limit per attempt, or for the whole call.

    With ``per_attempt=True`` each attempt gets ``seconds``. With
    ``per_attempt=False`` there is one deadline for the whole call, retries
    and back-off sleeps included; sleeps are cut so the caller hears back by
    the deadline.

    Sync functions run in a worker thread so the caller can stop waiting.
    Python cannot kill a thread: an attempt that times out keeps running in
    its worker until it returns. ``pool_size`` bounds how many such workers a
    process keeps (default 32); see :func:`pyresilience.timeout_worker_stats`.
    """

    seconds: float = 30.0
    per_attempt: bool = True
    pool_size: int | None = None

    def __post_init__(self) -> None:
        value = check.seconds(
            "TimeoutConfig", "seconds", self.seconds, allow_zero=False
        )
        _set(self, "seconds", value)
        check.boolean("TimeoutConfig", "per_attempt", self.per_attempt)
        if self.pool_size is not None:
            check.integer("TimeoutConfig", "pool_size", self.pool_size, minimum=1)


@dataclass(frozen=True)
class CircuitBreakerConfig:
    """When to stop calling a failing dependency, and when to try again.

    States: CLOSED lets calls through and counts failures. It opens after
    ``failure_threshold`` consecutive failures (count mode,
    ``sliding_window_size=0``), or, in window mode, when among the last
    ``sliding_window_size`` calls the failure rate reaches
    ``failure_rate_threshold`` or the share of calls slower than
    ``slow_call_duration`` reaches ``slow_call_rate_threshold``; rates are
    judged only once ``minimum_calls`` calls are in the window (0: a full
    window). OPEN rejects every call with
    :class:`~pyresilience.CircuitOpenError` for ``recovery_timeout`` seconds,
    then turns HALF_OPEN: at most ``half_open_max_calls`` probes run at once
    (default: ``success_threshold``), the rest are rejected;
    ``success_threshold`` successful probes close it, one failed probe opens
    it again.

    Only exceptions matching ``error_types`` and not ``ignore_on`` count as
    failures; others pass through as successes for the breaker.
    """

    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    success_threshold: int = 2
    error_types: ExceptionTypes = (Exception,)
    sliding_window_size: int = 0
    failure_rate_threshold: float = 0.5
    minimum_calls: int = 0
    slow_call_duration: float = 0.0
    slow_call_rate_threshold: float = 1.0
    ignore_on: ExceptionTypes = ()
    half_open_max_calls: int | None = None

    def __post_init__(self) -> None:
        owner = "CircuitBreakerConfig"
        check.integer(owner, "failure_threshold", self.failure_threshold, minimum=1)
        _set(
            self,
            "recovery_timeout",
            check.seconds(
                owner, "recovery_timeout", self.recovery_timeout, allow_zero=True
            ),
        )
        check.integer(owner, "success_threshold", self.success_threshold, minimum=1)
        _set(
            self,
            "error_types",
            check.exception_types(owner, "error_types", self.error_types),
        )
        _set(
            self, "ignore_on", check.exception_types(owner, "ignore_on", self.ignore_on)
        )
        check.integer(owner, "sliding_window_size", self.sliding_window_size, minimum=0)
        self._check_rates(owner)
        check.integer(owner, "minimum_calls", self.minimum_calls, minimum=0)
        if self.sliding_window_size and self.minimum_calls > self.sliding_window_size:
            raise ValueError(
                f"{owner}.minimum_calls ({self.minimum_calls}) must be <= "
                f"sliding_window_size ({self.sliding_window_size}): the window "
                "could never hold enough calls to judge"
            )
        # None stays None (it means "success_threshold"), so a config derived
        # with dataclasses.replace(success_threshold=...) follows the change.
        if self.half_open_max_calls is not None:
            check.integer(
                owner, "half_open_max_calls", self.half_open_max_calls, minimum=1
            )

    def _check_rates(self, owner: str) -> None:
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = check.number(
                owner, name, getattr(self, name), low=0.0, high=1.0, low_open=True
            )
            _set(self, name, value)
        _set(
            self,
            "slow_call_duration",
            check.seconds(
                owner, "slow_call_duration", self.slow_call_duration, allow_zero=True
            ),
        )

    @property
    def window_minimum(self) -> int:
        """Calls needed in the window before rates are judged."""
        return self.minimum_calls or self.sliding_window_size

    @property
    def probe_limit(self) -> int:
        """How many half-open probes may run at once."""
        return self.half_open_max_calls or self.success_threshold


@dataclass(frozen=True)
class FallbackConfig:
    """What to return instead of raising.

    ``handler`` is a plain value, a function ``fn(exc)``, or an async
    ``fn(exc)`` (async callers only). It is used for exceptions matching
    ``fallback_on``, rejections by breaker, limiter and bulkhead included.
    ``KeyboardInterrupt``, ``SystemExit`` and cancellation never reach it.
    """

    handler: Any = None
    fallback_on: ExceptionTypes = (Exception,)

    def __post_init__(self) -> None:
        _set(
            self,
            "fallback_on",
            check.exception_types("FallbackConfig", "fallback_on", self.fallback_on),
        )


@dataclass(frozen=True)
class BulkheadConfig:
    """At most ``max_concurrent`` calls in flight; wait up to ``max_wait`` s.

    Waiters are served first come, first served. A slot is given back when
    the call returns, raises, times out or is cancelled.
    """

    max_concurrent: int = 10
    max_wait: float = 0.0

    def __post_init__(self) -> None:
        check.integer(
            "BulkheadConfig", "max_concurrent", self.max_concurrent, minimum=1
        )
        _set(
            self,
            "max_wait",
            check.seconds("BulkheadConfig", "max_wait", self.max_wait, allow_zero=True),
        )


@dataclass(frozen=True)
class RateLimiterConfig:
    """At most ``max_calls`` starts in any window of ``period`` seconds.

    The limit holds over every sliding window, so there is no double burst
    at the edge of a fixed window. A call that would have to wait longer
    than ``max_wait`` is rejected at once and consumes nothing; waiters are
    served in arrival order.
    """

    max_calls: int = 10
    period: float = 1.0
    max_wait: float = 0.0

    def __post_init__(self) -> None:
        check.integer("RateLimiterConfig", "max_calls", self.max_calls, minimum=1)
        _set(
            self,
            "period",
            check.seconds("RateLimiterConfig", "period", self.period, allow_zero=False),
        )
        _set(
            self,
            "max_wait",
            check.seconds(
                "RateLimiterConfig", "max_wait", self.max_wait, allow_zero=True
            ),
        )


@dataclass(frozen=True)
class CacheConfig:
    """Remember successful results for ``ttl`` seconds, at most ``max_size``.

    Entries are keyed by the decorated function and its arguments (with
    their types, so ``f(1)``, ``f(1.0)`` and ``f(True)`` differ). Exceptions
    and fallback values are never cached; calls with unhashable arguments
    bypass the cache. The least recently used entry is evicted first.
    """

    max_size: int = 256
    ttl: float = 300.0

    def __post_init__(self) -> None:
        check.integer("CacheConfig", "max_size", self.max_size, minimum=1)
        _set(
            self, "ttl", check.seconds("CacheConfig", "ttl", self.ttl, allow_zero=False)
        )


@dataclass(frozen=True)
class ResilienceConfig:
    """Every pattern of one policy; ``None`` leaves a pattern out.

    The patterns run in this order, outermost first: fallback, cache, total
    deadline, retry (with its budget), then per attempt: circuit breaker,
    rate limiter, bulkhead, attempt timeout, the function. See the README
    for why.
    """

    retry: RetryConfig | None = None
    timeout: TimeoutConfig | None = None
    circuit_breaker: CircuitBreakerConfig | None = None
    fallback: FallbackConfig | None = None
    bulkhead: BulkheadConfig | None = None
    rate_limiter: RateLimiterConfig | None = None
    cache: CacheConfig | None = None
    listeners: Sequence[Callable[..., Any]] = field(default_factory=tuple)
    retry_budget: RetryBudgetConfig | None = None

    def __post_init__(self) -> None:
        expected = {
            "retry": RetryConfig,
            "timeout": TimeoutConfig,
            "circuit_breaker": CircuitBreakerConfig,
            "fallback": FallbackConfig,
            "bulkhead": BulkheadConfig,
            "rate_limiter": RateLimiterConfig,
            "cache": CacheConfig,
            "retry_budget": RetryBudgetConfig,
        }
        for name, kind in expected.items():
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind):
                raise TypeError(
                    f"ResilienceConfig.{name} must be a {kind.__name__} or None, "
                    f"got {value!r}"
                )
        _set(self, "listeners", check.listeners("ResilienceConfig", self.listeners))
        self._warn_suspicious()

    def _warn_suspicious(self) -> None:
        retry, timeout = self.retry, self.timeout
        if not (retry and timeout) or timeout.per_attempt or retry.max_attempts < 2:
            return
        if retry.delay_func is None and retry.backoff(1) >= timeout.seconds:
            warnings.warn(
                f"the first retry back-off ({retry.backoff(1):g}s) already reaches "
                f"the total deadline ({timeout.seconds:g}s), so no retry can ever "
                "run; lower RetryConfig.delay or raise TimeoutConfig.seconds",
                UserWarning,
                stacklevel=4,
            )

    @classmethod
    def from_mapping(
        cls,
        mapping: Any,
        *,
        path: str = "config",
        profiles: Any = None,
    ) -> ResilienceConfig:
        """Build a config from nested plain data; see :func:`load_config`."""
        from ._loader import load_config

        return load_config(mapping, path=path, profiles=profiles)
