"""Events that policies emit, and how they reach listeners.

A listener is any callable taking one :class:`ResilienceEvent`. No event
object is built when a policy has no listeners, and a listener that raises is
logged and never breaks the call it observes.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "EventType",
    "ResilienceEvent",
    "ResilienceListener",
    "emitter_for",
    "resilience_context",
]

logger = logging.getLogger(__name__)

#: Per-task metadata (request id, tenant, ...) copied into every event's
#: ``context``. Set it with ``resilience_context.set({...})``.
resilience_context: contextvars.ContextVar[Mapping[str, Any] | None] = (
    contextvars.ContextVar("resilience_context", default=None)
)


class EventType(str, enum.Enum):
    """What happened. Values are stable strings, safe for metrics labels."""

    SUCCESS = "success"
    FAILURE = "failure"
    RETRY = "retry"
    RETRY_EXHAUSTED = "retry_exhausted"
    RETRY_BUDGET_EXHAUSTED = "retry_budget_exhausted"
    TIMEOUT = "timeout"
    CIRCUIT_OPEN = "circuit_open"
    CIRCUIT_HALF_OPEN = "circuit_half_open"
    CIRCUIT_CLOSED = "circuit_closed"
    CIRCUIT_REJECTED = "circuit_rejected"
    FALLBACK_USED = "fallback_used"
    BULKHEAD_REJECTED = "bulkhead_rejected"
    RATE_LIMITED = "rate_limited"
    CACHE_HIT = "cache_hit"
    CACHE_MISS = "cache_miss"
    STORE_UNAVAILABLE = "store_unavailable"
    STORE_RECOVERED = "store_recovered"


@dataclass(frozen=True)
class ResilienceEvent:
    """One observation made by a policy.

    Attributes:
        event_type: What happened.
        function_name: Qualified name of the protected function.
        attempt: 1-based attempt number, 0 where it does not apply.
        error: The exception involved, if any.
        detail: Short free text, e.g. ``"sleeping 0.4s"``.
        policy: Registry name of the policy, if the call went through one.
        timestamp: Wall-clock seconds since the epoch.
        context: A copy of :data:`resilience_context` at the time of the event.
        delay: For ``RETRY``: seconds slept before the next attempt.
    """

    event_type: EventType
    function_name: str
    attempt: int = 0
    error: BaseException | None = None
    detail: str = ""
    policy: str | None = None
    timestamp: float = field(default_factory=time.time)
    context: Mapping[str, Any] = field(default_factory=dict)
    delay: float | None = None


class ResilienceListener(Protocol):
    """Anything that can be called with a :class:`ResilienceEvent`."""

    def __call__(self, event: ResilienceEvent) -> None: ...


Emit = Callable[..., None]


def emitter_for(
    listeners: Sequence[Callable[[ResilienceEvent], Any]],
    policy: str | None,
) -> Emit | None:
    """Return ``emit(event_type, function_name, ...)`` for ``listeners``.

    Returns ``None`` when there are no listeners, so hot paths skip event
    construction with a single truth test.
    """
    if not listeners:
        return None
    targets = tuple(listeners)

    def emit(
        event_type: EventType,
        function_name: str,
        attempt: int = 0,
        error: BaseException | None = None,
        detail: str = "",
        delay: float | None = None,
    ) -> None:
        context = resilience_context.get()
        event = ResilienceEvent(
            event_type=event_type,
            function_name=function_name,
            attempt=attempt,
            error=error,
            detail=detail,
            policy=policy,
            context=dict(context) if context else {},
            delay=delay,
        )
        for listener in targets:
            try:
                listener(event)
            except Exception:
                # A broken listener must never break the call it observes.
                logger.exception(
                    "pyresilience.listener_failed: %r raised on %s",
                    listener,
                    event_type.value,
                )

    return emit
