"""The peer libraries, each set up to do one job the way its docs show.

Peers' logging and instrumentation hooks are switched off where they have
any, because our rows run without listeners: both sides then measure the
pattern and nothing else. A missing library raises :class:`Unavailable`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from ._subjects import Unavailable

__all__ = [
    "BREAKER_ERRORS",
    "aiobreaker_breaker",
    "aiolimiter_limiter",
    "backoff_retry",
    "circuitbreaker_breaker",
    "lru_cache",
    "pybreaker_breaker",
    "stamina_retry",
    "tenacity_retry",
]

Fn = Callable[..., Any]
AFn = Callable[..., Awaitable[Any]]

_names = itertools.count()


def _need(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise Unavailable(f"{module} is not installed ({exc})") from None


def tenacity_retry(fn: Fn, attempts: int = 3) -> Fn:
    """Return ``fn`` under ``tenacity.retry``: no wait, ``attempts`` tries."""
    tenacity = _need("tenacity")
    return tenacity.retry(  # type: ignore[no-any-return]
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_none(),
        reraise=True,
    )(fn)


def backoff_retry(fn: Fn, attempts: int = 3) -> Fn:
    """Return ``fn`` under ``backoff.on_exception``: zero interval, no logger."""
    backoff = _need("backoff")
    return backoff.on_exception(  # type: ignore[no-any-return]
        backoff.constant,
        Exception,
        max_tries=attempts,
        interval=0,
        jitter=None,
        logger=None,
    )(fn)


def stamina_retry(fn: Fn, attempts: int = 3) -> Fn:
    """Return ``fn`` under ``stamina.retry``: zero waits, no timeout, no hooks."""
    stamina = _need("stamina")
    from stamina.instrumentation import set_on_retry_hooks

    # Its default hooks log every retry at WARNING; our rows have no
    # listeners, so neither does this one.
    set_on_retry_hooks([])
    return stamina.retry(  # type: ignore[no-any-return]
        on=Exception,
        attempts=attempts,
        timeout=None,
        wait_initial=0.0,
        wait_max=0.0,
        wait_jitter=0.0,
    )(fn)


def pybreaker_breaker(
    fn: Fn, failures: int = 5, reset: float = 30.0, storage: Any = None
) -> Fn:
    """Return ``fn`` under a fresh ``pybreaker.CircuitBreaker``.

    Raises:
        Unavailable: For coroutine functions: pybreaker guards those only
            through Tornado coroutines.
    """
    import inspect

    pybreaker = _need("pybreaker")
    if inspect.iscoroutinefunction(fn):
        raise Unavailable("pybreaker guards coroutines only through Tornado")

    kwargs: dict[str, Any] = {"fail_max": failures, "reset_timeout": reset}
    if storage is not None:
        kwargs["state_storage"] = storage
    return pybreaker.CircuitBreaker(**kwargs)(fn)  # type: ignore[no-any-return]


def circuitbreaker_breaker(fn: Fn, failures: int = 5, reset: float = 30.0) -> Fn:
    """Return ``fn`` under ``circuitbreaker.circuit`` (sync or async)."""
    circuitbreaker = _need("circuitbreaker")
    return circuitbreaker.circuit(  # type: ignore[no-any-return]
        failure_threshold=failures,
        recovery_timeout=reset,
        expected_exception=Exception,
        # Its global monitor keys breakers by name; keep each one apart.
        name=f"bench-{next(_names)}",
    )(fn)


def aiobreaker_breaker(fn: AFn, failures: int = 5, reset: float = 30.0) -> AFn:
    """Return coroutine function ``fn`` under an ``aiobreaker.CircuitBreaker``."""
    aiobreaker = _need("aiobreaker")
    breaker = aiobreaker.CircuitBreaker(
        fail_max=failures, timeout_duration=timedelta(seconds=reset)
    )
    return breaker(fn)  # type: ignore[no-any-return]


def aiolimiter_limiter(fn: AFn, max_rate: float, period: float) -> AFn:
    """Return coroutine function ``fn`` inside ``async with AsyncLimiter``."""
    _need("aiolimiter")
    from aiolimiter import AsyncLimiter

    limiter = AsyncLimiter(max_rate, period)

    @functools.wraps(fn)
    async def limited(*args: Any, **kwargs: Any) -> Any:
        async with limiter:
            return await fn(*args, **kwargs)

    return limited


def lru_cache(fn: Fn, size: int = 256) -> Fn:
    """Return ``fn`` under ``functools.lru_cache`` (no TTL: a stand-in only)."""
    return functools.lru_cache(maxsize=size)(fn)


def _breaker_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module in ("pybreaker", "circuitbreaker", "aiobreaker"):
        try:
            found.append(__import__(module).CircuitBreakerError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


#: The "circuit is open" exceptions of every installed breaker peer.
BREAKER_ERRORS = _breaker_errors()
