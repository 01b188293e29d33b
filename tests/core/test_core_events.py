"""Events: every type emitted where it happens; listeners cannot break calls."""

from __future__ import annotations

import json
import logging

import pytest

from pyresilience import (
    BulkheadConfig,
    BulkheadFullError,
    CacheConfig,
    CircuitBreakerConfig,
    CircuitOpenError,
    EventType,
    FallbackConfig,
    JsonEventLogger,
    RateLimiterConfig,
    RateLimitExceededError,
    ResilienceConfig,
    ResilienceEvent,
    ResilienceTimeoutError,
    RetryBudgetConfig,
    RetryConfig,
    TimeoutConfig,
    resilience_context,
    resilient,
)
from pyresilience.testing import FakeClock


def test_retry_success_failure_and_exhaustion_events(clock: FakeClock) -> None:
    """Each failed attempt, retry and the final give-up are reported."""
    events: list[ResilienceEvent] = []

    @resilient(
        retry=RetryConfig(max_attempts=3, jitter=False),
        listeners=[events.append],
        clock=clock,
    )
    def fn() -> None:
        raise ConnectionError

    with pytest.raises(ConnectionError):
        fn()
    kinds = [e.event_type for e in events]
    failure, retry = EventType.FAILURE, EventType.RETRY
    assert kinds == [failure, retry, failure, retry, failure, EventType.RETRY_EXHAUSTED]
    assert [e.attempt for e in events] == [1, 1, 2, 2, 3, 3]
    assert events[1].delay == 1.0 and isinstance(events[1].error, ConnectionError)
    assert events[0].function_name.endswith("fn")


def test_every_event_type_is_emitted(registry, clock, metrics) -> None:
    """A tour of the pipeline produces every pattern's event types."""
    import time

    listeners = [metrics]
    registry.register(
        "b",
        ResilienceConfig(
            circuit_breaker=CircuitBreakerConfig(
                failure_threshold=1, recovery_timeout=1.0, success_threshold=1
            ),
            listeners=listeners,
        ),
    )
    breaker = registry.policy("b")
    with pytest.raises(ConnectionError):
        breaker.call(_fail)
    with pytest.raises(CircuitOpenError):
        breaker.call(_ok)
    clock.advance(1.0)
    breaker.call(_ok)
    registry.register(
        "r",
        ResilienceConfig(
            rate_limiter=RateLimiterConfig(max_calls=1, period=60),
            cache=CacheConfig(),
            fallback=FallbackConfig(handler="fb", fallback_on=(KeyError,)),
            retry=RetryConfig(max_attempts=2, delay=0),
            retry_budget=RetryBudgetConfig(max_retries=1, refill_rate=0),
            listeners=listeners,
        ),
    )
    limited = registry.policy("r")
    limited.call(_ok)
    limited.call(_ok)  # cache hit, no permit used
    with pytest.raises(RateLimitExceededError):
        limited.call(_fail)
    registry.register(
        "k",
        ResilienceConfig(
            bulkhead=BulkheadConfig(max_concurrent=1), listeners=listeners
        ),
    )
    crowded = registry.policy("k")
    with crowded.guard(), pytest.raises(BulkheadFullError):
        crowded.call(_fail)
    registry.register(
        "t",
        ResilienceConfig(
            timeout=TimeoutConfig(seconds=0.01),
            retry=RetryConfig(max_attempts=2, delay=0),
            retry_budget=RetryBudgetConfig(max_retries=1, refill_rate=0),
            fallback=FallbackConfig(handler="fb", fallback_on=(KeyError,)),
            listeners=listeners,
        ),
    )
    timed = registry.policy("t")
    with pytest.raises(ResilienceTimeoutError):
        timed.call(time.sleep, 0.2)
    with pytest.raises(ResilienceTimeoutError):
        timed.call(time.sleep, 0.2)  # budget spent: no retry this time
    assert timed.call(_missing) == "fb"
    seen = set(metrics.summary())
    expected = {kind.value for kind in EventType} - {
        "store_unavailable",
        "store_recovered",
    }
    assert expected <= seen, expected - seen


def _ok() -> str:
    return "ok"


def _fail() -> None:
    raise ConnectionError


def _missing() -> None:
    raise KeyError("k")


def test_raising_listener_is_logged_and_call_still_works(clock, caplog) -> None:
    """A listener that raises is logged; the call's result is unaffected."""

    def broken(event: ResilienceEvent) -> None:
        raise RuntimeError("listener bug")

    wrapped = resilient(
        retry=RetryConfig(max_attempts=2, delay=0), listeners=[broken], clock=clock
    )(_ok)
    with caplog.at_level(logging.ERROR, logger="pyresilience._events"):
        assert wrapped() == "ok"
    assert "listener_failed" in caplog.text
    assert "listener bug" in caplog.text


def test_no_event_is_built_without_listeners(clock, monkeypatch) -> None:
    """With no listeners, the pipeline never constructs an event object."""
    import pyresilience._events as events_module

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("event built with nobody listening")

    monkeypatch.setattr(events_module, "ResilienceEvent", forbidden)
    wrapped = resilient(
        retry=RetryConfig(max_attempts=3, delay=0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2),
        clock=clock,
    )(_fail)
    with pytest.raises((ConnectionError, CircuitOpenError)):
        wrapped()


def test_context_variable_lands_in_events(clock: FakeClock) -> None:
    """resilience_context's mapping is copied into each event's context."""
    events: list[ResilienceEvent] = []
    wrapped = resilient(
        retry=RetryConfig(max_attempts=2, delay=0),
        listeners=[events.append],
        clock=clock,
    )(_fail)
    token = resilience_context.set({"request_id": "r-1"})
    try:
        with pytest.raises(ConnectionError):
            wrapped()
    finally:
        resilience_context.reset(token)
    assert events and all(e.context == {"request_id": "r-1"} for e in events)


def test_json_event_logger_writes_one_json_object(clock, caplog) -> None:
    """JsonEventLogger logs parseable JSON with the event fields."""
    wrapped = resilient(
        retry=RetryConfig(max_attempts=2, delay=0),
        listeners=[JsonEventLogger()],
        clock=clock,
    )(_fail)
    with caplog.at_level(logging.INFO, logger="pyresilience.events"):
        with pytest.raises(ConnectionError):
            wrapped()
    records = [json.loads(r.getMessage()) for r in caplog.records]
    kinds = [r["event"] for r in records]
    assert kinds == ["failure", "retry", "failure", "retry_exhausted"]
    assert records[3]["error"] == "ConnectionError: "
    assert caplog.records[3].levelno == logging.WARNING


def test_failure_is_reported_before_the_opening_it_causes(clock: FakeClock) -> None:
    """FAILURE comes first, then CIRCUIT_OPEN with the same attempt number."""
    events: list[ResilienceEvent] = []
    wrapped = resilient(
        retry=RetryConfig(max_attempts=3, delay=0),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2),
        listeners=[events.append],
        clock=clock,
    )(_fail)
    with pytest.raises(CircuitOpenError):
        wrapped()
    kinds = [(e.event_type, e.attempt) for e in events]
    opened = kinds.index((EventType.CIRCUIT_OPEN, 2))
    assert kinds[opened - 1] == (EventType.FAILURE, 2)
