"""The circuit breaker state machine, kept in this process.

This is the reference semantics; a shared store reproduces them on its
server. The CLOSED happy path reads one attribute and takes no lock, so a
healthy breaker costs almost nothing per call.
"""

from __future__ import annotations

import threading
from collections import deque

from ._config import CircuitBreakerConfig
from ._state import ALLOW, BreakerSnapshot, CircuitState, Permit, Transition

__all__ = ["LocalBreakerState"]

_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN
_NO_CHANGE: tuple[Transition, ...] = ()


class LocalBreakerState:
    """One breaker's state and counters, guarded by a lock."""

    def __init__(self, config: CircuitBreakerConfig) -> None:
        self.config = config
        self._recovery = config.recovery_timeout
        self._lock = threading.Lock()
        self.state = _CLOSED
        #: Failures in a row; public so the pipeline can skip reporting a
        #: success that would change nothing (CLOSED, count mode, no failures).
        self.consecutive_failures = 0
        self.count_mode = not config.sliding_window_size
        # Window mode: outcomes of the last N calls as (failed, slow) pairs.
        self._window: deque[tuple[bool, bool]] = deque()
        self._window_failures = 0
        self._window_slow = 0
        self._opened_at = 0.0
        #: When an OPEN breaker lets its next probe through (monotonic time);
        #: public so the pipeline can reject without a method call.
        self.open_until = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        # Each half-open episode gets a number; a probe carries the number of
        # the episode that admitted it, so a late probe from an earlier
        # episode can neither free a slot nor vote in a later one.
        self._episode = 0

    # -- decisions -----------------------------------------------------------

    def acquire(self, now: float) -> Permit:
        """Let a call through, start a probe, or reject with a retry hint."""
        state = self.state
        if state is _CLOSED:
            return ALLOW
        if state is _OPEN:
            # Rejecting needs no lock: a stale read only delays the probe by
            # one call, and the half-open decision below is taken under it.
            wait = self._opened_at + self._recovery - now
            if wait > 0:
                return tuple.__new__(Permit, (False, False, wait, ()))
        with self._lock:
            transitions: tuple[Transition, ...] = ()
            if self.state is _OPEN:
                wait = self._opened_at + self._recovery - now
                if wait > 0:
                    return Permit(False, retry_after=wait)
                transitions = (self._move(_HALF_OPEN, now),)
            if self.state is _CLOSED:
                return ALLOW
            if self._probes_in_flight < self.config.probe_limit:
                self._probes_in_flight += 1
                return Permit(True, probe=self._episode, transitions=transitions)
            return Permit(False, retry_after=0.0, transitions=transitions)

    def record(
        self, now: float, *, success: bool, slow: bool, probe: int
    ) -> tuple[Transition, ...]:
        """Count one finished call and return any state change it caused.

        ``probe`` is the permit's probe mark (the episode number of a
        half-open probe, 0 for an ordinary call).
        """
        if (
            success
            and not slow
            and self.state is _CLOSED
            and not self.consecutive_failures
            and self.count_mode
        ):
            return _NO_CHANGE  # the lock-free happy path
        with self._lock:
            if probe:
                if self.state is _HALF_OPEN and self._owns(probe):
                    return self._record_probe(now, success and not slow)
                # A probe of an episode that is over: its vote no longer counts.
                return _NO_CHANGE
            if self.state is _CLOSED:
                return self._record_closed(now, success, slow)
            # A late result from a call admitted before the breaker opened.
            return _NO_CHANGE

    def release_probe(self, now: float, probe: int = 0) -> None:
        """Give back a probe whose call was cancelled or rejected downstream."""
        with self._lock:
            if (
                self.state is _HALF_OPEN
                and self._probes_in_flight
                and self._owns(probe or self._episode)
            ):
                self._probes_in_flight -= 1

    def _owns(self, probe: int) -> bool:
        # ``True`` (== 1) from callers that do not track episodes counts as
        # the current episode.
        return probe is True or probe == self._episode

    def force(self, state: CircuitState, now: float) -> tuple[Transition, ...]:
        """Move to ``state`` by hand, clearing every counter."""
        with self._lock:
            if self.state is state:
                self._clear()
                if state is _OPEN:
                    self._opened_at = now
                    self.open_until = now + self._recovery
                return _NO_CHANGE
            return (self._move(state, now),)

    def snapshot(self, now: float) -> BreakerSnapshot:
        """Report the state a call made now would see."""
        with self._lock:
            state = self.state
            retry_after = 0.0
            if state is _OPEN:
                retry_after = self._opened_at + self.config.recovery_timeout - now
                if retry_after <= 0:
                    state, retry_after = _HALF_OPEN, 0.0
            return BreakerSnapshot(
                state=state,
                consecutive_failures=self.consecutive_failures,
                window_calls=len(self._window),
                window_failures=self._window_failures,
                window_slow_calls=self._window_slow,
                half_open_in_flight=self._probes_in_flight,
                half_open_successes=self._probe_successes,
                retry_after=retry_after,
            )

    # Async twins: in-process state never blocks, so they just delegate.

    async def aacquire(self, now: float) -> Permit:
        """Async twin of :meth:`acquire`."""
        return self.acquire(now)

    async def arecord(
        self, now: float, *, success: bool, slow: bool, probe: int
    ) -> tuple[Transition, ...]:
        """Async twin of :meth:`record`."""
        return self.record(now, success=success, slow=slow, probe=probe)

    async def arelease_probe(self, now: float, probe: int = 0) -> None:
        """Async twin of :meth:`release_probe`."""
        self.release_probe(now, probe)

    # -- transitions (lock held) -------------------------------------------

    def _record_probe(self, now: float, good: bool) -> tuple[Transition, ...]:
        self._probes_in_flight -= 1
        if not good:
            return (self._move(_OPEN, now),)
        self._probe_successes += 1
        if self._probe_successes >= self.config.success_threshold:
            return (self._move(_CLOSED, now),)
        return _NO_CHANGE

    def _record_closed(
        self, now: float, success: bool, slow: bool
    ) -> tuple[Transition, ...]:
        config = self.config
        if not config.sliding_window_size:
            self.consecutive_failures = 0 if success else self.consecutive_failures + 1
            if self.consecutive_failures >= config.failure_threshold:
                return (self._move(_OPEN, now),)
            return _NO_CHANGE
        self._push_outcome(not success, slow)
        if self._window_tripped():
            return (self._move(_OPEN, now),)
        return _NO_CHANGE

    def _push_outcome(self, failed: bool, slow: bool) -> None:
        window = self._window
        if len(window) >= self.config.sliding_window_size:
            old_failed, old_slow = window.popleft()
            self._window_failures -= old_failed
            self._window_slow -= old_slow
        window.append((failed, slow))
        self._window_failures += failed
        self._window_slow += slow
        self.consecutive_failures = 0 if not failed else self.consecutive_failures + 1

    def _window_tripped(self) -> bool:
        config = self.config
        calls = len(self._window)
        if calls < config.window_minimum:
            return False
        if self._window_failures / calls >= config.failure_rate_threshold:
            return True
        return bool(
            config.slow_call_duration
            and self._window_slow / calls >= config.slow_call_rate_threshold
        )

    def _move(self, new: CircuitState, now: float) -> Transition:
        old = self.state
        self.state = new
        self._clear()
        if new is _HALF_OPEN:
            self._episode += 1
        if new is _OPEN:
            self._opened_at = now
            self.open_until = now + self._recovery
        return Transition(old, new)

    def _clear(self) -> None:
        self.consecutive_failures = 0
        self._window.clear()
        self._window_failures = 0
        self._window_slow = 0
        self._probes_in_flight = 0
        self._probe_successes = 0
