"""Our cases, built only from pyresilience's public API.

Each builder mirrors the peer doing the same job (three attempts, no wait;
a breaker opening after five failures; ...). When the core cannot be
imported the builders raise :class:`Unavailable` and the rows are skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ._subjects import Unavailable

__all__ = [
    "LIMIT_CALLS",
    "LIMIT_PERIOD",
    "FallbackCounter",
    "core",
    "ours_breaker",
    "ours_bulkhead",
    "ours_cache",
    "ours_combo",
    "ours_combo_config",
    "ours_fallback",
    "ours_limiter",
    "ours_open_breaker",
    "ours_registry_combo",
    "ours_retry",
    "ours_timeout",
]

Fn = Callable[..., Any]

#: A rate limit no benchmark loop reaches (10^8 calls per second), on a short
#: period so the limiter's window of recent starts stays small.
LIMIT_CALLS = 1_000_000
LIMIT_PERIOD = 0.01

_names = itertools.count()


def core() -> Any:
    """Return the ``pyresilience`` module, or raise :class:`Unavailable`."""
    try:
        import pyresilience

        pyresilience.resilient  # noqa: B018 - the decorator must exist
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"pyresilience core not importable yet ({exc})") from None
    return pyresilience


def ours_retry(fn: Fn, attempts: int = 3) -> Fn:
    """Return ``fn`` under ``@resilient(retry=...)``: no delay, no jitter."""
    pr = core()
    retry = pr.RetryConfig(max_attempts=attempts, delay=0.0, jitter=False)
    return pr.resilient(retry=retry)(fn)  # type: ignore[no-any-return]


def ours_breaker(fn: Fn, failures: int = 5, reset: float = 30.0) -> Fn:
    """Return ``fn`` under ``@resilient(circuit_breaker=...)``."""
    pr = core()
    breaker = pr.CircuitBreakerConfig(
        failure_threshold=failures, recovery_timeout=reset
    )
    return pr.resilient(circuit_breaker=breaker)(fn)  # type: ignore[no-any-return]


def ours_limiter(fn: Fn) -> Fn:
    """Return ``fn`` under a rate limiter it never reaches."""
    pr = core()
    limiter = pr.RateLimiterConfig(max_calls=LIMIT_CALLS, period=LIMIT_PERIOD)
    return pr.resilient(rate_limiter=limiter)(fn)  # type: ignore[no-any-return]


def ours_bulkhead(fn: Fn, slots: int = 10) -> Fn:
    """Return ``fn`` under a bulkhead of ``slots`` that never waits."""
    pr = core()
    bulkhead = pr.BulkheadConfig(max_concurrent=slots)
    return pr.resilient(bulkhead=bulkhead)(fn)  # type: ignore[no-any-return]


def ours_fallback(fn: Fn, value: Any = None) -> Fn:
    """Return ``fn`` under a fallback to ``value``."""
    pr = core()
    fallback = pr.FallbackConfig(handler=value)
    return pr.resilient(fallback=fallback)(fn)  # type: ignore[no-any-return]


def ours_timeout(fn: Fn, seconds: float = 10.0) -> Fn:
    """Return ``fn`` under a per-attempt timeout it never reaches."""
    pr = core()
    return pr.resilient(timeout=pr.TimeoutConfig(seconds=seconds))(fn)  # type: ignore[no-any-return]


def ours_cache(fn: Fn) -> Fn:
    """Return ``fn`` under the cache (every timed call is a hit)."""
    pr = core()
    return pr.resilient(cache=pr.CacheConfig())(fn)  # type: ignore[no-any-return]


class FallbackCounter:
    """A fallback handler that counts its uses, so a hidden rejection shows.

    The five-pattern case has a fallback: were the limiter or bulkhead to
    reject a timed call, the fallback would answer and the row would time
    the wrong path. The suite reports any use.
    """

    def __init__(self) -> None:
        self.uses = 0
        self.last: BaseException | None = None

    def __call__(self, exc: BaseException) -> None:
        self.uses += 1
        self.last = exc


def ours_combo_config(handler: Any = None) -> Any:
    """Return the five-pattern config: retry, breaker, bulkhead, limiter, fallback."""
    pr = core()
    return pr.ResilienceConfig(
        retry=pr.RetryConfig(max_attempts=3, delay=0.0, jitter=False),
        circuit_breaker=pr.CircuitBreakerConfig(),
        bulkhead=pr.BulkheadConfig(max_concurrent=10),
        rate_limiter=pr.RateLimiterConfig(max_calls=LIMIT_CALLS, period=LIMIT_PERIOD),
        fallback=pr.FallbackConfig(handler=handler),
    )


def ours_combo(fn: Fn, handler: Any = None) -> Fn:
    """Return ``fn`` under ``@resilient`` with the five patterns."""
    pr = core()
    config = ours_combo_config(handler)
    return pr.resilient(  # type: ignore[no-any-return]
        retry=config.retry,
        circuit_breaker=config.circuit_breaker,
        bulkhead=config.bulkhead,
        rate_limiter=config.rate_limiter,
        fallback=config.fallback,
    )(fn)


def ours_registry_combo(fn: Fn, handler: Any = None) -> Fn:
    """Return ``fn`` under ``registry.decorator(name)`` with the five patterns."""
    pr = core()
    registry = pr.ResilienceRegistry()
    name = f"bench-{next(_names)}"
    registry.register(name, ours_combo_config(handler))
    return registry.decorator(name)(fn)  # type: ignore[no-any-return]


def ours_open_breaker(fn: Fn) -> Fn:
    """Return ``fn`` under a breaker that opens on one failure, for ~forever.

    The caller trips it by making ``fn`` fail once.
    """
    pr = core()
    breaker = pr.CircuitBreakerConfig(failure_threshold=1, recovery_timeout=86400.0)
    return pr.resilient(circuit_breaker=breaker)(fn)  # type: ignore[no-any-return]
