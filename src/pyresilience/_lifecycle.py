"""Process-wide lifecycle: in-flight counts, health and graceful shutdown."""

from __future__ import annotations

import time
from typing import Any

from ._gate import PROCESS_GATE
from ._registry import ResilienceRegistry, live_registries
from ._state import CircuitState
from ._timeout import shutdown_workers, timeout_worker_stats

__all__ = [
    "enable_in_flight_tracking",
    "get_in_flight_count",
    "health_check",
    "shutdown",
]


def enable_in_flight_tracking(enabled: bool = True) -> None:
    """Count calls of standalone ``@resilient`` functions too.

    Registry calls are always counted (``ResilienceRegistry.shutdown`` drains
    them); standalone functions are counted only after this is called,
    because counting costs a little on every call.
    """
    PROCESS_GATE.tracking = enabled


def get_in_flight_count() -> int:
    """Calls running now, over every registry (and standalone functions
    once :func:`enable_in_flight_tracking` was called)."""
    registries = live_registries()
    return PROCESS_GATE.in_flight + sum(r.in_flight for r in registries)


def shutdown(timeout: float = 30.0) -> bool:
    """Stop accepting calls process-wide and wait for running ones.

    New calls raise :class:`~pyresilience.ShutdownError`. Waits up to
    ``timeout`` seconds for in-flight calls, then lets idle timeout workers
    exit.

    Returns:
        True if every in-flight call finished in time.
    """
    PROCESS_GATE.accepting = False
    deadline = time.monotonic() + timeout
    drained = PROCESS_GATE.drain(timeout)
    for registry in live_registries():
        left = max(0.0, deadline - time.monotonic())
        drained = registry._gate.drain(left) and drained
    shutdown_workers()
    return drained


def resume() -> None:
    """Accept calls again after :func:`shutdown` (tests, reloads)."""
    PROCESS_GATE.accepting = True


def health_check(registry: ResilienceRegistry | None = None) -> dict[str, Any]:
    """A health summary: breaker states, in-flight calls, timeout workers.

    ``status`` is ``"healthy"`` when every breaker is closed, ``"degraded"``
    when one is open or half-open, and ``"shutting_down"`` after
    :func:`shutdown`.
    """
    registries = [registry] if registry is not None else live_registries()
    policies: dict[str, Any] = {}
    degraded = False
    for item in registries:
        for name, status in item.status().items():
            policies[name] = status.as_dict()
            if status.breaker and status.breaker.state is not CircuitState.CLOSED:
                degraded = True
    accepting = PROCESS_GATE.accepting and all(r.is_open for r in registries)
    workers = timeout_worker_stats()
    return {
        "status": "shutting_down"
        if not accepting
        else ("degraded" if degraded else "healthy"),
        "accepting": accepting,
        "in_flight": get_in_flight_count() if registry is None else registry.in_flight,
        "policies": policies,
        "timeout_workers": {
            "threads": workers.threads,
            "busy": workers.busy,
            "abandoned": workers.abandoned,
        },
    }
