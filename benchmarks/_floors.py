"""Hand-written floors: the least code that does each job.

A library row is read against these: they show what the job costs in plain
Python, with nothing configurable and nothing observable.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = [
    "RejectedForBench",
    "afive_patterns",
    "araise_and_catch",
    "aretry_loop",
    "asemaphore_wrapper",
    "atimeout_wrapper",
    "atry_except_fallback",
    "awrapper",
    "five_patterns",
    "raise_and_catch",
    "retry_loop",
    "semaphore_wrapper",
    "thread_timeout_wrapper",
    "try_except_fallback",
    "two_lock_wrapper",
    "wrapper",
]

T = TypeVar("T")
Fn = Callable[..., Any]
AFn = Callable[..., Awaitable[Any]]


def wrapper(fn: Fn) -> Fn:
    """Return the bare wrapper: ``functools.wraps`` and a pass-through call."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapped


def awrapper(fn: AFn) -> AFn:
    """Async twin of :func:`wrapper`."""

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        return await fn(*args, **kwargs)

    return wrapped


def retry_loop(fn: Fn, attempts: int = 3) -> Fn:
    """Return a try/except loop that retries any ``Exception``, no sleeping."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return fn(*args, **kwargs)
            except Exception:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    return wrapped


def aretry_loop(fn: AFn, attempts: int = 3) -> AFn:
    """Async twin of :func:`retry_loop`."""

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, attempts + 1):
            try:
                return await fn(*args, **kwargs)
            except Exception:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    return wrapped


class RejectedForBench(Exception):
    """The exception the raise-and-catch floor raises."""


def _reject() -> None:
    raise RejectedForBench("rejected")


async def _areject() -> None:
    raise RejectedForBench("rejected")


def raise_and_catch() -> None:
    """Call a function that raises, and catch it: the rejection floor."""
    try:
        _reject()
    except RejectedForBench:
        pass


async def araise_and_catch() -> None:
    """Async twin of :func:`raise_and_catch`."""
    try:
        await _areject()
    except RejectedForBench:
        pass


def two_lock_wrapper(fn: Fn) -> Fn:
    """Return a wrapper taking one lock before the call and one after.

    This is the shape of the least breaker: check the state under a lock,
    call, record the outcome under a lock.
    """
    before, after = threading.Lock(), threading.Lock()
    counts = [0, 0]

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with before:
            counts[0] += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with after:
                counts[1] += 1

    return wrapped


def semaphore_wrapper(fn: Fn, slots: int = 10) -> Fn:
    """Return a bulkhead as a non-blocking ``BoundedSemaphore``."""
    semaphore = threading.BoundedSemaphore(slots)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not semaphore.acquire(blocking=False):
            raise RejectedForBench("full")
        try:
            return fn(*args, **kwargs)
        finally:
            semaphore.release()

    return wrapped


def asemaphore_wrapper(fn: AFn, slots: int = 10) -> AFn:
    """Async twin of :func:`semaphore_wrapper`, on ``asyncio.Semaphore``."""
    semaphore = asyncio.Semaphore(slots)

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        if semaphore.locked():
            raise RejectedForBench("full")
        async with semaphore:
            return await fn(*args, **kwargs)

    return wrapped


def try_except_fallback(fn: Fn, value: Any = None) -> Fn:
    """Return a wrapper that returns ``value`` when ``fn`` raises."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            return value

    return wrapped


def atry_except_fallback(fn: AFn, value: Any = None) -> AFn:
    """Async twin of :func:`try_except_fallback`."""

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except Exception:
            return value

    return wrapped


def thread_timeout_wrapper(fn: Fn, seconds: float, pool: ThreadPoolExecutor) -> Fn:
    """Return a sync timeout: run in ``pool``, wait at most ``seconds``."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return pool.submit(fn, *args, **kwargs).result(timeout=seconds)

    return wrapped


def atimeout_wrapper(fn: AFn, seconds: float) -> AFn:
    """Return an async timeout: ``asyncio.timeout`` (3.11+) or ``wait_for``."""
    if not hasattr(asyncio, "timeout"):

        @functools.wraps(fn)
        async def waiting(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.wait_for(fn(*args, **kwargs), seconds)

        return waiting

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        # Only reached on 3.11+, where asyncio.timeout exists (checked above).
        async with asyncio.timeout(seconds):  # type: ignore[attr-defined]
            return await fn(*args, **kwargs)

    return wrapped


class _FivePatternState:
    """The least state the five patterns need: counters, a log, two locks."""

    def __init__(self, max_calls: int, period: float, slots: int) -> None:
        self.lock = threading.Lock()
        self.failures = 0
        self.open_until = 0.0
        self.starts: deque[float] = deque()
        self.max_calls, self.period = max_calls, period
        self.in_flight, self.slots = 0, slots

    def admit(self, now: float) -> None:
        if self.open_until and now < self.open_until:
            raise RejectedForBench("open")
        with self.lock:
            starts = self.starts
            while starts and starts[0] <= now - self.period:
                starts.popleft()
            if len(starts) >= self.max_calls or self.in_flight >= self.slots:
                raise RejectedForBench("limited")
            starts.append(now)
            self.in_flight += 1

    def leave(self, failed: bool) -> None:
        with self.lock:
            self.in_flight -= 1
            if failed:
                self.failures += 1
                if self.failures >= 5:
                    self.open_until = time.monotonic() + 30.0
            elif self.failures:
                self.failures = 0


def five_patterns(
    fn: Fn, max_calls: int, period: float, slots: int = 10, value: Any = None
) -> Fn:
    """Return a hand-written retry + breaker + limiter + bulkhead + fallback.

    Two lock round trips per attempt, a sliding-window log, a consecutive
    failure count and a try/except fallback: about the least Python that
    does all five jobs, for scale against the library row.
    """
    state = _FivePatternState(max_calls, period, slots)

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            for attempt in range(1, 4):
                state.admit(time.monotonic())
                try:
                    result = fn(*args, **kwargs)
                except Exception:
                    state.leave(True)
                    if attempt == 3:
                        raise
                    continue
                state.leave(False)
                return result
        except Exception:
            return value
        raise AssertionError("unreachable")

    return wrapped


def afive_patterns(
    fn: AFn, max_calls: int, period: float, slots: int = 10, value: Any = None
) -> AFn:
    """Async twin of :func:`five_patterns`."""
    state = _FivePatternState(max_calls, period, slots)

    @functools.wraps(fn)
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            for attempt in range(1, 4):
                state.admit(time.monotonic())
                try:
                    result = await fn(*args, **kwargs)
                except Exception:
                    state.leave(True)
                    if attempt == 3:
                        raise
                    continue
                state.leave(False)
                return result
        except Exception:
            return value
        raise AssertionError("unreachable")

    return wrapped
