"""Value types shared by the policies and the state stores."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "BreakerSnapshot",
    "BulkheadSnapshot",
    "CircuitState",
    "Permit",
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

    ``probe`` marks a half-open trial call whose outcome must be reported
    with ``probe=True`` (or given back with ``release_probe``).
    ``retry_after`` is set when the call is rejected.
    """

    allowed: bool
    probe: bool = False
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
