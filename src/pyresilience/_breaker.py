"""The public :class:`CircuitBreaker`: a facade over a breaker backend.

Policies use the backend directly on their hot path; this class is for
standalone use, status pages and manual control (``force_open``, ``reset``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._clock import SYSTEM_CLOCK, Clock
from ._config import CircuitBreakerConfig
from ._events import EventType, emitter_for
from ._exceptions import CircuitOpenError
from ._state import BreakerSnapshot, CircuitState, Permit, Transition
from ._store import BreakerBackend

__all__ = ["CircuitBreaker", "circuit_open_error", "transition_event"]

_EVENT_OF_STATE = {
    CircuitState.OPEN: EventType.CIRCUIT_OPEN,
    CircuitState.HALF_OPEN: EventType.CIRCUIT_HALF_OPEN,
    CircuitState.CLOSED: EventType.CIRCUIT_CLOSED,
}


def transition_event(transition: Transition) -> EventType:
    """The event type announcing a move into ``transition.new``."""
    return _EVENT_OF_STATE[transition.new]


def circuit_open_error(name: str | None, permit: Permit) -> CircuitOpenError:
    """Build the rejection for a refused permit, saying when to come back."""
    return CircuitOpenError.fast(name, permit.retry_after or None)


class CircuitBreaker:
    """A circuit breaker usable on its own, or the view of a policy's breaker.

    ``allow_request()`` asks for permission; report the outcome with
    ``record_success()`` or ``record_failure()``. See
    :class:`CircuitBreakerConfig` for the state machine.

    Args:
        config: Thresholds and timings; defaults to ``CircuitBreakerConfig()``.
        name: Policy name used in errors and events.
        clock: Time source (inject ``FakeClock`` in tests).
        backend: Where the state lives; in memory unless a store made one.
        listeners: Called with a ``ResilienceEvent`` on every state change.
    """

    def __init__(
        self,
        config: CircuitBreakerConfig | None = None,
        *,
        name: str | None = None,
        clock: Clock | None = None,
        backend: BreakerBackend | None = None,
        listeners: Sequence[Callable[..., Any]] = (),
    ) -> None:
        from ._breaker_state import LocalBreakerState

        self.config = config or CircuitBreakerConfig()
        self.name = name
        self.clock = clock or SYSTEM_CLOCK
        self.backend = backend or LocalBreakerState(self.config)
        self._emit = emitter_for(listeners, name)
        self._label = name or "circuit_breaker"
        self._probes = 0

    @property
    def state(self) -> CircuitState:
        """The state a call made now would see."""
        return self.backend.snapshot(self.clock.monotonic()).state

    @property
    def metrics(self) -> BreakerSnapshot:
        """State and counters, as a frozen snapshot."""
        return self.backend.snapshot(self.clock.monotonic())

    def statistics(self) -> BreakerSnapshot:
        """Same as :attr:`metrics`."""
        return self.metrics

    def allow_request(self) -> bool:
        """Ask to make a call; True means go ahead and report the outcome."""
        permit = self.backend.acquire(self.clock.monotonic())
        self._announce(permit.transitions)
        if permit.probe:
            self._probes += 1
        return permit.allowed

    def check(self) -> None:
        """Like :meth:`allow_request` but raise ``CircuitOpenError`` on refusal."""
        permit = self.backend.acquire(self.clock.monotonic())
        self._announce(permit.transitions)
        if not permit.allowed:
            raise circuit_open_error(self.name, permit)
        if permit.probe:
            self._probes += 1

    def record_success(self, duration: float = 0.0) -> None:
        """Report a call that succeeded (``duration`` feeds slow-call rates)."""
        self._record(success=True, duration=duration)

    def record_failure(self, error: BaseException | None = None) -> None:
        """Report a call that failed; ``error`` is checked against the config."""
        if error is not None and not self.is_failure(error):
            self._record(success=True, duration=0.0)
            return
        self._record(success=False, duration=0.0)

    def is_failure(self, error: BaseException) -> bool:
        """Whether ``error`` counts against the breaker under this config."""
        config = self.config
        return isinstance(error, config.error_types) and not isinstance(
            error, config.ignore_on
        )

    def reset(self) -> None:
        """Close the breaker and clear its counters."""
        self._force(CircuitState.CLOSED)

    def force_open(self) -> None:
        """Open the breaker now; it half-opens after ``recovery_timeout``."""
        self._force(CircuitState.OPEN)

    def force_close(self) -> None:
        """Close the breaker now."""
        self._force(CircuitState.CLOSED)

    def _force(self, state: CircuitState) -> None:
        self._probes = 0
        self._announce(self.backend.force(state, self.clock.monotonic()))

    def _record(self, *, success: bool, duration: float) -> None:
        probe = self._probes > 0
        if probe:
            self._probes -= 1
        limit = self.config.slow_call_duration
        slow = bool(limit and duration >= limit)
        transitions = self.backend.record(
            self.clock.monotonic(), success=success, slow=slow, probe=probe
        )
        self._announce(transitions)

    def _announce(self, transitions: tuple[Transition, ...]) -> None:
        if self._emit is not None:
            for transition in transitions:
                self._emit(
                    transition_event(transition),
                    self._label,
                    detail=f"{transition.old.value} -> {transition.new.value}",
                )

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value!r})"
