"""The retry budget: a token bucket that caps retries per policy name."""

from __future__ import annotations

import threading

from ._clock import SYSTEM_CLOCK, Clock
from ._config import RetryBudgetConfig

__all__ = ["LocalBudgetState", "RetryBudget"]


class LocalBudgetState:
    """Tokens left and the time they were last topped up."""

    def __init__(self, config: RetryBudgetConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._tokens = float(config.max_retries)
        self._updated: float | None = None

    def try_acquire(self, now: float) -> bool:
        """Take one token if at least one is left."""
        with self._lock:
            self._refill(now)
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True

    async def atry_acquire(self, now: float) -> bool:
        """Async twin of :meth:`try_acquire`."""
        return self.try_acquire(now)

    def available(self, now: float) -> float:
        """Tokens in the bucket now."""
        with self._lock:
            self._refill(now)
            return self._tokens

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            earned = (now - self._updated) * self.config.refill_rate
            self._tokens = min(float(self.config.max_retries), self._tokens + earned)
        if self._updated is None or now > self._updated:
            self._updated = now


class RetryBudget:
    """A standalone retry budget (see :class:`RetryBudgetConfig`).

    Registries share one budget per policy name; use this class directly to
    share a budget between hand-written retry loops.
    """

    def __init__(
        self,
        config: RetryBudgetConfig | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or RetryBudgetConfig()
        self.clock = clock or SYSTEM_CLOCK
        self._state = LocalBudgetState(self.config)

    def acquire(self) -> bool:
        """Spend one retry token; False when the budget is exhausted."""
        return self._state.try_acquire(self.clock.monotonic())

    def available(self) -> float:
        """Retry tokens left now."""
        return self._state.available(self.clock.monotonic())
