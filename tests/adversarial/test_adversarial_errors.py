"""Our exceptions keep their fields across pickling and copying."""

from __future__ import annotations

import copy
import pickle

import pytest

from pyresilience import (
    BulkheadFullError,
    CircuitBreakerConfig,
    CircuitOpenError,
    ConfigError,
    RateLimitExceededError,
    ResilienceError,
    ResilienceTimeoutError,
    ShutdownError,
    UnknownPolicyError,
    resilient,
)
from pyresilience.testing import FakeClock

FIELDS = ("policy", "retry_after", "seconds", "path")


def _raised_circuit_open_error() -> CircuitOpenError:
    """A rejection as the pipeline really raises it (formatted lazily)."""

    @resilient(
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1), clock=FakeClock()
    )
    def fn() -> None:
        raise OSError

    with pytest.raises(OSError):
        fn()
    with pytest.raises(CircuitOpenError) as caught:
        fn()
    return caught.value


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(CircuitOpenError("open", policy="p", retry_after=2.5), id="open"),
        pytest.param(BulkheadFullError("full", policy="p"), id="bulkhead"),
        pytest.param(
            RateLimitExceededError("limited", policy="p", retry_after=0.5), id="limit"
        ),
        pytest.param(
            ResilienceTimeoutError("slow", policy="p", seconds=1.5), id="timeout"
        ),
        pytest.param(ShutdownError("closed", policy="p"), id="shutdown"),
        pytest.param(UnknownPolicyError("no such policy", policy="x"), id="unknown"),
        pytest.param(ConfigError("bad", path='R["a"]'), id="config"),
    ],
)
def test_errors_survive_pickle_and_copy(error: Exception) -> None:
    """Worker processes and loggers can ship our errors without losing fields."""
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(clone) is type(error)
        assert str(clone) == str(error)
        for field in FIELDS:
            assert getattr(clone, field, None) == getattr(error, field, None)


def test_pipeline_rejection_survives_pickle() -> None:
    """A CircuitOpenError raised by the pipeline pickles with its message."""
    error = _raised_circuit_open_error()
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, ResilienceError)
    assert clone.retry_after == error.retry_after == pytest.approx(30.0)
    assert clone.policy == error.policy
    assert error.policy is not None and "fn" in error.policy
    assert str(clone) == str(error) and "next probe in 30s" in str(clone)
