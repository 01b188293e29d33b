"""Ready-made listeners: structured logging and in-process metrics."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ._events import EventType, ResilienceEvent

__all__ = ["JsonEventLogger", "MetricsCollector"]


class JsonEventLogger:
    """Log every event as one JSON object through :mod:`logging`.

    Args:
        logger: Where to log; default ``logging.getLogger("pyresilience.events")``.
        level: Level for ordinary events. Rejections, exhausted retries and
            breaker openings are logged at WARNING at least.
    """

    _LOUD = frozenset(
        {
            EventType.CIRCUIT_OPEN,
            EventType.RETRY_EXHAUSTED,
            EventType.RETRY_BUDGET_EXHAUSTED,
            EventType.STORE_UNAVAILABLE,
        }
    )

    def __init__(
        self, logger: logging.Logger | None = None, level: int = logging.INFO
    ) -> None:
        self.logger = logger or logging.getLogger("pyresilience.events")
        self.level = level

    def __call__(self, event: ResilienceEvent) -> None:
        """Log ``event``."""
        level = (
            max(self.level, logging.WARNING)
            if event.event_type in self._LOUD
            else self.level
        )
        if not self.logger.isEnabledFor(level):
            return
        self.logger.log(level, "%s", json.dumps(self.as_dict(event), default=str))

    @staticmethod
    def as_dict(event: ResilienceEvent) -> dict[str, Any]:
        """The JSON-ready fields of ``event``."""
        data: dict[str, Any] = {
            "event": event.event_type.value,
            "function": event.function_name,
            "policy": event.policy,
            "attempt": event.attempt,
            "timestamp": event.timestamp,
        }
        if event.error is not None:
            data["error"] = f"{type(event.error).__name__}: {event.error}"
        if event.detail:
            data["detail"] = event.detail
        if event.delay is not None:
            data["delay"] = event.delay
        if event.context:
            data["context"] = dict(event.context)
        return data


class MetricsCollector:
    """Count events per policy (or function) and event type; thread-safe.

    Use as a listener, then read :meth:`counts` or :meth:`summary`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, EventType]] = Counter()

    def __call__(self, event: ResilienceEvent) -> None:
        """Count ``event``."""
        key = (event.policy or event.function_name, event.event_type)
        with self._lock:
            self._counts[key] += 1

    def count(self, event_type: EventType, name: str | None = None) -> int:
        """How many ``event_type`` events were seen (for ``name``, or all)."""
        with self._lock:
            return sum(
                n
                for (owner, kind), n in self._counts.items()
                if kind is event_type and (name is None or owner == name)
            )

    def counts(self) -> dict[str, dict[str, int]]:
        """``{name: {event_type_value: count}}``."""
        result: dict[str, dict[str, int]] = {}
        with self._lock:
            for (owner, kind), n in self._counts.items():
                result.setdefault(owner, {})[kind.value] = n
        return result

    def summary(self) -> Mapping[str, int]:
        """Totals per event type over every name."""
        totals: Counter[str] = Counter()
        with self._lock:
            for (_, kind), n in self._counts.items():
                totals[kind.value] += n
        return dict(totals)

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()
