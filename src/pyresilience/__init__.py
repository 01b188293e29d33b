"""pyresilience: retry, circuit breaker, timeout, fallback, bulkhead, rate
limiter and cache behind one decorator, with named policies that share state.

Quick start::

    from pyresilience import resilient, RetryConfig, CircuitBreakerConfig

    @resilient(retry=RetryConfig(max_attempts=3),
               circuit_breaker=CircuitBreakerConfig(failure_threshold=5))
    def fetch(url): ...
"""

from __future__ import annotations

import logging as _logging
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from ._breaker import CircuitBreaker as CircuitBreaker
from ._budget import RetryBudget as RetryBudget
from ._cache import AsyncResultCache as AsyncResultCache
from ._cache import ResultCache as ResultCache
from ._clock import Clock as Clock
from ._clock import SystemClock as SystemClock
from ._config import BulkheadConfig as BulkheadConfig
from ._config import CacheConfig as CacheConfig
from ._config import CircuitBreakerConfig as CircuitBreakerConfig
from ._config import FallbackConfig as FallbackConfig
from ._config import RateLimiterConfig as RateLimiterConfig
from ._config import ResilienceConfig as ResilienceConfig
from ._config import RetryBudgetConfig as RetryBudgetConfig
from ._config import RetryConfig as RetryConfig
from ._config import TimeoutConfig as TimeoutConfig
from ._decorator import resilient as resilient
from ._events import EventType as EventType
from ._events import ResilienceEvent as ResilienceEvent
from ._events import ResilienceListener as ResilienceListener
from ._events import resilience_context as resilience_context
from ._exceptions import BulkheadFullError as BulkheadFullError
from ._exceptions import CircuitOpenError as CircuitOpenError
from ._exceptions import ConfigError as ConfigError
from ._exceptions import DeadlineExceededError as DeadlineExceededError
from ._exceptions import RateLimitExceededError as RateLimitExceededError
from ._exceptions import RejectedError as RejectedError
from ._exceptions import ResilienceError as ResilienceError
from ._exceptions import ResilienceTimeoutError as ResilienceTimeoutError
from ._exceptions import ShutdownError as ShutdownError
from ._exceptions import UnknownPolicyError as UnknownPolicyError
from ._lifecycle import enable_in_flight_tracking as enable_in_flight_tracking
from ._lifecycle import get_in_flight_count as get_in_flight_count
from ._lifecycle import health_check as health_check
from ._lifecycle import shutdown as shutdown
from ._observe import JsonEventLogger as JsonEventLogger
from ._observe import MetricsCollector as MetricsCollector
from ._presets import db_policy as db_policy
from ._presets import http_policy as http_policy
from ._presets import llm_policy as llm_policy
from ._presets import queue_policy as queue_policy
from ._presets import strict_policy as strict_policy
from ._ratelimit import AsyncRateLimiter as AsyncRateLimiter
from ._ratelimit import RateLimiter as RateLimiter
from ._registry import Policy as Policy
from ._registry import ResilienceRegistry as ResilienceRegistry
from ._state import BreakerSnapshot as BreakerSnapshot
from ._state import BulkheadSnapshot as BulkheadSnapshot
from ._state import CircuitState as CircuitState
from ._state import PolicyStatus as PolicyStatus
from ._state import RateLimiterSnapshot as RateLimiterSnapshot
from ._store import MemoryStore as MemoryStore
from ._store import StateStore as StateStore
from ._timeout import TimeoutWorkerStats as TimeoutWorkerStats
from ._timeout import timeout_worker_stats as timeout_worker_stats

try:
    __version__ = _version("pyresilience")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0"

__all__ = [
    "AsyncRateLimiter",
    "AsyncResultCache",
    "BreakerSnapshot",
    "BulkheadConfig",
    "BulkheadFullError",
    "BulkheadSnapshot",
    "CacheConfig",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "CircuitState",
    "Clock",
    "ConfigError",
    "DeadlineExceededError",
    "EventType",
    "FallbackConfig",
    "JsonEventLogger",
    "MemoryStore",
    "MetricsCollector",
    "Policy",
    "PolicyStatus",
    "RateLimitExceededError",
    "RateLimiter",
    "RateLimiterConfig",
    "RateLimiterSnapshot",
    "RejectedError",
    "ResilienceConfig",
    "ResilienceError",
    "ResilienceEvent",
    "ResilienceListener",
    "ResilienceRegistry",
    "ResilienceTimeoutError",
    "ResultCache",
    "RetryBudget",
    "RetryBudgetConfig",
    "RetryConfig",
    "ShutdownError",
    "StateStore",
    "SystemClock",
    "TimeoutConfig",
    "TimeoutWorkerStats",
    "UnknownPolicyError",
    "__version__",
    "db_policy",
    "enable_in_flight_tracking",
    "get_in_flight_count",
    "health_check",
    "http_policy",
    "llm_policy",
    "queue_policy",
    "resilience_context",
    "resilient",
    "shutdown",
    "strict_policy",
    "timeout_worker_stats",
]

# A library never configures logging; this only silences "no handler" output.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())

# Show the public path in reprs and tracebacks, not the private module.
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("pyresilience._"):
        try:
            _obj.__module__ = __name__
        except (AttributeError, TypeError):
            pass
del _name, _obj
