"""Sliding-window rate limiting, in process, plus the standalone limiters.

The limiter keeps the start times of recent and reserved calls. A new call
may start at ``max(now, last reserved start, t[-max_calls] + period)``: the
first term serves it at once when the window has room, the second keeps
waiters in arrival order, the third guarantees that *no* window of length
``period`` ever holds more than ``max_calls`` starts, so there is no double
burst at the edge of a fixed window. A call whose start would be more than
``max_wait`` away is rejected and consumes nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType

from ._clock import SYSTEM_CLOCK, Clock
from ._config import RateLimiterConfig
from ._exceptions import RateLimitExceededError
from ._state import RateLimiterSnapshot, Reservation

__all__ = ["AsyncRateLimiter", "LocalRateLimiterState", "RateLimiter"]


class LocalRateLimiterState:
    """Start times of the last ``max_calls`` calls, guarded by a lock."""

    def __init__(self, config: RateLimiterConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._period = config.period
        self._limit = config.max_calls
        self._latest = float("-inf")

    def reserve(self, now: float, max_wait: float) -> Reservation | None:
        """Reserve the earliest allowed start, if it is within ``max_wait``."""
        # Written out in one frame: this runs on every rate-limited call.
        starts, period, limit = self._starts, self._period, self._limit
        with self._lock:
            # Threads read the clock before taking the lock, so a caller may
            # arrive with a reading older than one already used here; time
            # never goes backwards for the limiter.
            if now < self._latest:
                now = self._latest
            else:
                self._latest = now
            horizon = now - period
            while starts and starts[0] <= horizon:
                starts.popleft()
            start = now
            if starts:
                if starts[-1] > now:
                    start = starts[-1]
                if len(starts) >= limit:
                    free_at = starts[-limit] + period
                    if free_at > start:
                        start = free_at
            wait = start - now
            if wait > max_wait:
                return None
            starts.append(start)
        # tuple.__new__ skips the Python-level NamedTuple constructor.
        return tuple.__new__(Reservation, (wait, start))

    def cancel(self, token: object) -> None:
        """Give back an unused reservation (its start time is the token)."""
        with self._lock:
            try:
                self._starts.remove(token)  # type: ignore[arg-type]
            except ValueError:
                pass  # already expired from the window

    def next_free(self, now: float) -> float:
        """Seconds until a call could start without waiting."""
        with self._lock:
            return max(0.0, self._earliest_start(now) - now)

    def snapshot(self, now: float) -> RateLimiterSnapshot:
        """Count the starts inside the window ending now."""
        with self._lock:
            self._forget_before(now)
            used = sum(1 for start in self._starts if start <= now)
            return RateLimiterSnapshot(
                used=used, max_calls=self.config.max_calls, period=self.config.period
            )

    async def areserve(self, now: float, max_wait: float) -> Reservation | None:
        """Async twin of :meth:`reserve`."""
        return self.reserve(now, max_wait)

    async def acancel(self, token: object) -> None:
        """Async twin of :meth:`cancel`."""
        self.cancel(token)

    def _earliest_start(self, now: float) -> float:
        self._forget_before(now)
        starts = self._starts
        if not starts:
            return now
        start = starts[-1] if starts[-1] > now else now
        limit = self.config.max_calls
        if len(starts) >= limit:
            free_at = starts[-limit] + self.config.period
            if free_at > start:
                start = free_at
        return start

    def _forget_before(self, now: float) -> None:
        # Starts that left the window can no longer constrain a future start.
        horizon = now - self.config.period
        starts = self._starts
        while starts and starts[0] <= horizon:
            starts.popleft()


class _LimiterBase:
    def __init__(
        self,
        max_calls: int | RateLimiterConfig = 10,
        period: float = 1.0,
        max_wait: float = 0.0,
        *,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(max_calls, RateLimiterConfig):
            self.config = max_calls
        else:
            self.config = RateLimiterConfig(max_calls, period, max_wait)
        self.clock = clock or SYSTEM_CLOCK
        self.name = name
        self._state = LocalRateLimiterState(self.config)

    def try_acquire(self) -> bool:
        """Take a permit only if one is free right now."""
        return self._state.reserve(self.clock.monotonic(), 0.0) is not None

    def statistics(self) -> RateLimiterSnapshot:
        """Permits used in the current window."""
        return self._state.snapshot(self.clock.monotonic())

    def _reserve(self) -> Reservation:
        now = self.clock.monotonic()
        reservation = self._state.reserve(now, self.config.max_wait)
        if reservation is None:
            raise RateLimitExceededError(
                f"rate limit of {self.config.max_calls} calls per "
                f"{self.config.period:g}s exceeded",
                policy=self.name,
                retry_after=self._state.next_free(now),
            )
        return reservation


class RateLimiter(_LimiterBase):
    """A thread-safe sliding-window limiter for sync code.

    Accepts a :class:`RateLimiterConfig` or its fields. ``acquire()`` waits up
    to ``max_wait`` seconds for a permit, else raises
    :class:`~pyresilience.RateLimitExceededError`. Usable as ``with limiter:``.
    """

    def acquire(self) -> None:
        """Wait for a permit (at most ``max_wait``) or raise."""
        reservation = self._reserve()
        if reservation.wait > 0:
            try:
                self.clock.sleep(reservation.wait)
            except BaseException:
                self._state.cancel(reservation.token)
                raise

    def __enter__(self) -> RateLimiter:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class AsyncRateLimiter(_LimiterBase):
    """The same limiter for asyncio code; waiting never blocks the loop.

    Usable as ``async with limiter:``. A task cancelled while waiting gives
    its reservation back.
    """

    async def acquire(self) -> None:
        """Wait for a permit (at most ``max_wait``) or raise."""
        reservation = self._reserve()
        if reservation.wait > 0:
            try:
                await self.clock.asleep(reservation.wait)
            except BaseException:
                self._state.cancel(reservation.token)
                raise

    async def __aenter__(self) -> AsyncRateLimiter:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None
