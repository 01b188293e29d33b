"""The public surface: exports, version, public module names, typing marker."""

from __future__ import annotations

import importlib
import inspect
import warnings
from pathlib import Path

import pyresilience

DOCUMENTED = {
    "resilient",
    "RetryConfig",
    "TimeoutConfig",
    "CircuitBreakerConfig",
    "FallbackConfig",
    "BulkheadConfig",
    "RateLimiterConfig",
    "CacheConfig",
    "RetryBudgetConfig",
    "ResilienceConfig",
    "CircuitState",
    "EventType",
    "ResilienceEvent",
    "ResilienceListener",
    "ResilienceError",
    "CircuitOpenError",
    "BulkheadFullError",
    "RateLimitExceededError",
    "ResilienceTimeoutError",
    "CircuitBreaker",
    "RateLimiter",
    "AsyncRateLimiter",
    "ResultCache",
    "AsyncResultCache",
    "RetryBudget",
    "ResilienceRegistry",
    "health_check",
    "shutdown",
    "enable_in_flight_tracking",
    "get_in_flight_count",
    "JsonEventLogger",
    "MetricsCollector",
    "resilience_context",
    "http_policy",
    "db_policy",
    "queue_policy",
    "llm_policy",
    "strict_policy",
}


def test_all_is_sorted_complete_and_documented() -> None:
    """__all__ is sorted, every name exists, and the documented API is there."""
    names = pyresilience.__all__
    assert list(names) == sorted(names)
    assert all(hasattr(pyresilience, name) for name in names)
    assert set(names) >= DOCUMENTED


def test_public_objects_report_the_public_module() -> None:
    """Re-exported classes and functions say they live in `pyresilience`."""
    for name in pyresilience.__all__:
        obj = getattr(pyresilience, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "pyresilience", name


def test_exceptions_share_one_base_and_timeout_is_builtin() -> None:
    """Our errors derive from ResilienceError; the timeout is a TimeoutError."""
    for error in ("CircuitOpenError", "BulkheadFullError", "RateLimitExceededError"):
        assert issubclass(getattr(pyresilience, error), pyresilience.ResilienceError)
    assert issubclass(pyresilience.ResilienceTimeoutError, TimeoutError)
    assert issubclass(pyresilience.ResilienceTimeoutError, pyresilience.ResilienceError)


def test_version_imports_without_warnings() -> None:
    """__version__ is a string and importing the package warns about nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module = importlib.reload(pyresilience)
    assert isinstance(module.__version__, str) and module.__version__[0].isdigit()


def test_packages_ship_py_typed() -> None:
    """Every package carries the py.typed marker."""
    src = Path(pyresilience.__file__).parent.parent
    for package in (
        "pyresilience",
        "pyresilience_fastapi",
        "pyresilience_flask",
        "pyresilience_django",
    ):
        assert (src / package / "py.typed").exists(), package
