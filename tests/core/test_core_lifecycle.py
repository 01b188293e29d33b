"""Process-wide shutdown, in-flight counts and health."""

from __future__ import annotations

import threading

import pytest

import pyresilience
from pyresilience import (
    CircuitBreakerConfig,
    ResilienceConfig,
    ShutdownError,
    enable_in_flight_tracking,
    get_in_flight_count,
    health_check,
    resilient,
)
from pyresilience.testing import isolated_process_gate, resume


def test_in_flight_tracking_counts_standalone_calls() -> None:
    """With tracking enabled a running standalone call is counted."""
    release, entered = threading.Event(), threading.Event()

    @resilient(retry=pyresilience.RetryConfig(max_attempts=1))
    def work() -> None:
        entered.set()
        release.wait(5)

    with isolated_process_gate():
        enable_in_flight_tracking()
        before = get_in_flight_count()
        thread = threading.Thread(target=work)
        thread.start()
        entered.wait(5)
        assert get_in_flight_count() == before + 1
        release.set()
        thread.join(5)
        assert get_in_flight_count() == before


def test_shutdown_refuses_new_calls_and_reports_drain() -> None:
    """After shutdown() calls raise ShutdownError; resume() reopens."""
    fn = resilient(retry=pyresilience.RetryConfig(max_attempts=1))(lambda: 1)
    with isolated_process_gate():
        assert pyresilience.shutdown(timeout=1.0) is True
        with pytest.raises(ShutdownError):
            fn()
        resume()
        assert fn() == 1


def test_health_check_reports_breakers(registry) -> None:
    """An open breaker makes the health status degraded."""
    registry.register(
        "api",
        ResilienceConfig(circuit_breaker=CircuitBreakerConfig(failure_threshold=1)),
    )
    assert health_check(registry)["status"] == "healthy"
    registry.policy("api").circuit_breaker.force_open()
    report = health_check(registry)
    assert report["status"] == "degraded"
    assert report["policies"]["api"]["state"] == "open"
    assert set(report["timeout_workers"]) == {"threads", "busy", "abandoned"}
