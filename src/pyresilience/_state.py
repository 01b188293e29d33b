"""Value types shared by the policies and the state stores."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "BreakerSnapshot",
    "BulkheadSnapshot",
    "CircuitState",
    "Permit",
    "PolicyStatus",
    "RateLimiterSnapshot",
    "Reservation",
    "Transition",
]


class CircuitState(str, enum.Enum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Transition(NamedTuple):
    """A breaker state change, reported so the caller can emit events."""

    old: CircuitState
    new: CircuitState


class Permit(NamedTuple):
    """The breaker's answer to "may this call run?".

    ``probe`` marks a half-open trial call (truthy: ``True``, or the number
    of the half-open episode that admitted it); report its outcome with that
    same value (or give it back with ``release_probe``). ``retry_after`` is
    set when the call is rejected.
    """

    allowed: bool
    probe: int = False
    retry_after: float = 0.0
    transitions: tuple[Transition, ...] = ()


ALLOW = Permit(True)


class Reservation(NamedTuple):
    """A rate-limit permit granted to start ``wait`` seconds from now.

    ``token`` identifies the reservation so it can be given back unused.
    """

    wait: float
    token: object


@dataclass(frozen=True)
class BreakerSnapshot:
    """A point-in-time view of a breaker, for status pages and metrics."""

    state: CircuitState
    consecutive_failures: int
    window_calls: int
    window_failures: int
    window_slow_calls: int
    half_open_in_flight: int
    half_open_successes: int
    retry_after: float


@dataclass(frozen=True)
class RateLimiterSnapshot:
    """Permits used in the current window, out of ``max_calls``."""

    used: int
    max_calls: int
    period: float


@dataclass(frozen=True)
class BulkheadSnapshot:
    """Slots in use and callers waiting, out of ``max_concurrent``."""

    in_flight: int
    waiting: int
    max_concurrent: int


@dataclass(frozen=True)
class PolicyStatus:
    """A point-in-time view of one named policy's state."""

    name: str
    breaker: BreakerSnapshot | None
    rate_limiter: RateLimiterSnapshot | None
    bulkhead: BulkheadSnapshot | None
    retry_budget: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, the shape every status page and CLI shows.

        ``state`` is the breaker state (``"closed"``, ``"open"``,
        ``"half_open"``) or ``None`` when the policy has no breaker.
        """
        breaker, limiter, bulkhead = self.breaker, self.rate_limiter, self.bulkhead
        return {
            "state": breaker.state.value if breaker else None,
            "retry_after": breaker.retry_after if breaker else None,
            "consecutive_failures": breaker.consecutive_failures if breaker else None,
            "rate_limiter": (
                {
                    "used": limiter.used,
                    "max_calls": limiter.max_calls,
                    "period": limiter.period,
                }
                if limiter
                else None
            ),
            "bulkhead": (
                {
                    "in_flight": bulkhead.in_flight,
                    "waiting": bulkhead.waiting,
                    "max_concurrent": bulkhead.max_concurrent,
                }
                if bulkhead
                else None
            ),
            "retry_budget": self.retry_budget,
        }
