"""The state-store seam: where breaker, limiter, bulkhead and budget state live.

A policy never touches its state directly; it asks a *backend* object that
the registry's :class:`StateStore` made for that policy name. The in-memory
store (:class:`MemoryStore`, the default) keeps state in this process; a
shared store (``pyresilience.stores.RedisStore``) keeps it on a server so
many processes and hosts share one breaker, one rate limit, one bulkhead and
one retry budget per name.

Every backend method that takes ``now`` receives the policy clock's
monotonic time. A shared store may use its server's clock instead, so that
processes on different hosts agree.

Backends of a store whose ``is_local`` is true are cheap and non-blocking
(a lock held for microseconds), so async callers use their sync methods
directly and skip the ``a*`` twins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._config import (
        BulkheadConfig,
        CircuitBreakerConfig,
        RateLimiterConfig,
        RetryBudgetConfig,
    )
    from ._state import (
        BreakerSnapshot,
        BulkheadSnapshot,
        CircuitState,
        Permit,
        RateLimiterSnapshot,
        Reservation,
        Transition,
    )

__all__ = [
    "BreakerBackend",
    "BudgetBackend",
    "BulkheadBackend",
    "MemoryStore",
    "RateLimiterBackend",
    "StateStore",
]


class BreakerBackend(Protocol):
    """State machine of one circuit breaker (see ``CircuitBreakerConfig``)."""

    def acquire(self, now: float) -> Permit:
        """Decide whether a call may run; may move OPEN to HALF_OPEN."""
        ...

    def record(
        self, now: float, *, success: bool, slow: bool, probe: int
    ) -> tuple[Transition, ...]:
        """Record the outcome of a permitted call; return state changes.

        ``probe`` is the permit's ``probe`` value, passed back unchanged.
        """
        ...

    def release_probe(self, now: float, probe: int = 0) -> None:
        """Give back a half-open probe whose call never finished (cancelled).

        ``probe`` is the permit's ``probe`` value (0: the caller's latest).
        """
        ...

    def force(self, state: CircuitState, now: float) -> tuple[Transition, ...]:
        """Move to ``state`` and clear the counters (manual override)."""
        ...

    def snapshot(self, now: float) -> BreakerSnapshot:
        """Return the current state and counters."""
        ...

    async def aacquire(self, now: float) -> Permit:
        """Async twin of :meth:`acquire`."""
        ...

    async def arecord(
        self, now: float, *, success: bool, slow: bool, probe: int
    ) -> tuple[Transition, ...]:
        """Async twin of :meth:`record`."""
        ...

    async def arelease_probe(self, now: float, probe: int = 0) -> None:
        """Async twin of :meth:`release_probe`."""
        ...


class RateLimiterBackend(Protocol):
    """Sliding-window permits: ``max_calls`` starts per ``period`` seconds."""

    def reserve(self, now: float, max_wait: float) -> Reservation | None:
        """Reserve the earliest free start within ``max_wait``, or ``None``.

        ``None`` consumes nothing. Reservations are granted in call order, so
        waiters are served first come, first served.
        """
        ...

    def cancel(self, token: object) -> None:
        """Give back a reservation that will not be used."""
        ...

    def next_free(self, now: float) -> float:
        """Seconds until a permit could be reserved without waiting.

        Used for the ``retry_after`` of a rejection; may be approximate.
        """
        ...

    def snapshot(self, now: float) -> RateLimiterSnapshot:
        """Return how many permits the current window holds."""
        ...

    async def areserve(self, now: float, max_wait: float) -> Reservation | None:
        """Async twin of :meth:`reserve`."""
        ...

    async def acancel(self, token: object) -> None:
        """Async twin of :meth:`cancel`."""
        ...


class BulkheadBackend(Protocol):
    """A counting semaphore with first-come, first-served waiting."""

    def acquire(self, timeout: float) -> object | None:
        """Take a slot, waiting up to ``timeout`` seconds; ``None`` if none.

        Returns a token to hand back to :meth:`release`.
        """
        ...

    def release(self, token: object) -> None:
        """Give a slot back."""
        ...

    async def aacquire(self, timeout: float) -> object | None:
        """Async twin of :meth:`acquire`; cancellation leaves no slot taken."""
        ...

    async def arelease(self, token: object) -> None:
        """Async twin of :meth:`release`."""
        ...

    def snapshot(self) -> BulkheadSnapshot:
        """Return slots in use and waiters."""
        ...


class BudgetBackend(Protocol):
    """A token bucket of retries."""

    def try_acquire(self, now: float) -> bool:
        """Take one retry token if there is one."""
        ...

    async def atry_acquire(self, now: float) -> bool:
        """Async twin of :meth:`try_acquire`."""
        ...

    def available(self, now: float) -> float:
        """Return the tokens currently in the bucket."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """Makes the per-name backends and owns any connections they use."""

    #: True when backends are in-process and never block.
    is_local: bool

    def breaker(self, name: str, config: CircuitBreakerConfig) -> BreakerBackend:
        """Return the breaker backend for ``name``."""
        ...

    def rate_limiter(self, name: str, config: RateLimiterConfig) -> RateLimiterBackend:
        """Return the rate-limiter backend for ``name``."""
        ...

    def bulkhead(self, name: str, config: BulkheadConfig) -> BulkheadBackend:
        """Return the bulkhead backend for ``name``."""
        ...

    def retry_budget(self, name: str, config: RetryBudgetConfig) -> BudgetBackend:
        """Return the retry-budget backend for ``name``."""
        ...

    def open(self) -> None:
        """Connect (idempotent). Must not raise when a server is down."""
        ...

    async def aopen(self) -> None:
        """Async twin of :meth:`open`."""
        ...

    def close(self) -> None:
        """Release connections (idempotent); the store may be opened again."""
        ...

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        ...


class MemoryStore:
    """The default store: state lives in this process only.

    With several worker processes each has its own breaker, limit and
    bulkhead per name; use ``RedisStore`` to share them.
    """

    is_local = True

    def breaker(self, name: str, config: CircuitBreakerConfig) -> BreakerBackend:
        """Return a fresh in-process breaker state machine."""
        from ._breaker_state import LocalBreakerState

        return LocalBreakerState(config)

    def rate_limiter(self, name: str, config: RateLimiterConfig) -> RateLimiterBackend:
        """Return a fresh in-process sliding-window limiter."""
        from ._ratelimit import LocalRateLimiterState

        return LocalRateLimiterState(config)

    def bulkhead(self, name: str, config: BulkheadConfig) -> BulkheadBackend:
        """Return a fresh in-process semaphore."""
        from ._bulkhead import LocalBulkheadState

        return LocalBulkheadState(config)

    def retry_budget(self, name: str, config: RetryBudgetConfig) -> BudgetBackend:
        """Return a fresh in-process token bucket."""
        from ._budget import LocalBudgetState

        return LocalBudgetState(config)

    def open(self) -> None:
        """Nothing to connect."""

    async def aopen(self) -> None:
        """Nothing to connect."""

    def close(self) -> None:
        """Nothing to release."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "MemoryStore()"
