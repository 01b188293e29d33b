"""Breaker transitions with their times, and latency percentiles.

Event counts come from :class:`pyresilience.MetricsCollector`; the
:class:`BreakerLog` listener here adds what a counter cannot: when each
breaker changed state, and from what.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .. import CircuitState, EventType, ResilienceEvent

__all__ = ["BreakerChange", "BreakerLog", "percentile"]

_NEW_STATE = {
    EventType.CIRCUIT_OPEN: CircuitState.OPEN,
    EventType.CIRCUIT_HALF_OPEN: CircuitState.HALF_OPEN,
    EventType.CIRCUIT_CLOSED: CircuitState.CLOSED,
}


@dataclass(frozen=True)
class BreakerChange:
    """A breaker moved from ``old`` to ``new``, ``at`` seconds into the run."""

    at: float
    policy: str
    old: CircuitState
    new: CircuitState


class BreakerLog:
    """A listener that records every breaker transition, thread-safe.

    Sync workers, the async loop and timeout worker threads may all report
    at once.

    Args:
        origin: Wall-clock time (``time.time()``) that counts as second 0.
    """

    def __init__(self, origin: float = 0.0) -> None:
        self.origin = origin
        self._lock = threading.Lock()
        self._changes: list[BreakerChange] = []
        self._states: dict[str, CircuitState] = {}

    def __call__(self, event: ResilienceEvent) -> None:
        new = _NEW_STATE.get(event.event_type)
        if new is None:
            return
        policy = event.policy or event.function_name
        with self._lock:
            old = self._states.get(policy, CircuitState.CLOSED)
            self._states[policy] = new
            at = event.timestamp - self.origin
            self._changes.append(BreakerChange(at, policy, old, new))

    def changes(self, policy: str | None = None) -> tuple[BreakerChange, ...]:
        """Return transitions in time order, of one policy or of all."""
        with self._lock:
            changes = sorted(self._changes, key=lambda change: change.at)
        return tuple(c for c in changes if policy is None or c.policy == policy)


def percentile(values: Sequence[float], share: float) -> float | None:
    """Return the nearest-rank percentile (``share`` in ``[0, 1]``).

    ``None`` for no values. With 100 values, ``share=0.99`` is the 99th
    smallest, so a single outlier shows at p99 rather than hiding.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
