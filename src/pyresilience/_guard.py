"""Inbound protection: run a block of code under a policy's admission checks.

Web adapters use this to decide whether a *request* may run at all: the
breaker, the rate limiter and the bulkhead of a named policy are consulted in
pipeline order, the bulkhead slot is held until the block exits, and the
block's outcome is reported to the breaker. Retry, timeout, cache and
fallback do not apply to a block.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from ._exceptions import RejectedError
from ._gate import PROCESS_GATE
from ._state import ALLOW, CircuitState, Permit, Reservation

if TYPE_CHECKING:
    from ._engine import PolicyRuntime

__all__ = ["AsyncGuard", "Guard"]

_CLOSED = CircuitState.CLOSED


class _GuardBase:
    __slots__ = (
        "_calls",
        "label",
        "permit",
        "reservation",
        "runtime",
        "slot",
        "started",
    )

    def __init__(self, runtime: PolicyRuntime, label: str) -> None:
        self.runtime = runtime
        self.label = label
        self.permit: Permit | None = None
        self.reservation: Reservation | None = None
        self.slot: object | None = None
        self.started = 0.0
        self._calls: list[None] | None = None

    def _admit_gate(self) -> None:
        gate = self.runtime.gate
        if gate.tracking:
            self._calls = gate.calls
            self._calls.append(None)
        # Counted first, checked second: see PolicyRuntime._call.
        if not (gate.accepting and PROCESS_GATE.accepting):
            self._leave_gate()
            self.runtime._refuse_if_closed()

    def _take_permit(self) -> bool:
        """Ask an in-process quiet breaker without the backend; True if done."""
        runtime = self.runtime
        quiet = runtime.quiet_breaker
        if quiet is not None and quiet.state is _CLOSED:
            self.permit = ALLOW
            return True
        return False

    def _nothing_to_report(self) -> bool:
        """A success on a quiet, closed, count-mode breaker changes nothing."""
        runtime = self.runtime
        quiet = runtime.quiet_breaker
        return (
            self.permit is ALLOW
            and quiet is not None
            and quiet.state is _CLOSED
            and not quiet.consecutive_failures
            and not runtime.slow_limit
        )

    def _leave_gate(self) -> None:
        if self._calls is not None:
            self._calls.pop()
            self._calls = None

    def _check_breaker(self, permit: Permit) -> None:
        runtime = self.runtime
        if permit.transitions:
            runtime._announce(self.label, permit.transitions)
        if not permit.allowed:
            runtime._reject_circuit(self.label, 1, permit)
        self.permit = permit

    def _outcome(self, error: BaseException | None) -> tuple[bool, bool] | None:
        """(success, slow) to record, or None when nothing may be counted."""
        runtime = self.runtime
        if runtime.breaker is None:
            return None  # nothing to report to
        if error is not None and not isinstance(error, Exception):
            return None  # interrupts and cancellation count for nothing
        if isinstance(error, RejectedError):
            # Another policy turned the work away, as in call(): no verdict.
            return None
        success = error is None or not runtime._counts_as_failure(error)
        return success, runtime._is_slow(self.started)


class Guard(_GuardBase):
    """``with policy.guard():`` for sync code."""

    __slots__ = ()

    def __enter__(self) -> Guard:
        self._admit_gate()
        try:
            self._enter()
        except BaseException:
            self._leave_gate()
            raise
        return self

    def _enter(self) -> None:
        runtime = self.runtime
        clock = runtime.clock
        if runtime.breaker_state is not None and not self._take_permit():
            self._check_breaker(runtime.breaker_state.acquire(clock.monotonic()))
        try:
            if runtime.limiter is not None:
                reservation = runtime.limiter.reserve(
                    clock.monotonic(), runtime.limiter_wait
                )
                if reservation is None:
                    runtime._reject_limit(self.label, 1)
                self.reservation = reservation
                if reservation is not None and reservation.wait > 0:
                    clock.sleep(reservation.wait)
            if runtime.bulkhead is not None:
                self.slot = runtime.bulkhead.acquire(runtime.bulkhead_wait)
                if self.slot is None:
                    runtime._reject_bulkhead(self.label, 1)
        except BaseException:
            self._undo(cancelled=True)
            raise
        self.started = clock.monotonic()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self._nothing_to_report():
                if self.slot is not None:
                    self.runtime.bulkhead.release(self.slot)  # type: ignore[union-attr]
                    self.slot = None
                return
            self._undo(cancelled=exc is not None and not isinstance(exc, Exception))
            outcome = self._outcome(exc)
            breaker, permit = self.runtime.breaker_state, self.permit
            if breaker is None or permit is None:
                return
            if outcome is None:
                if permit.probe:  # no verdict: the probe slot goes back
                    self.runtime._release_probe(permit)
                return
            self.runtime._announce(
                self.label,
                breaker.record(
                    self.runtime.clock.monotonic(),
                    success=outcome[0],
                    slow=outcome[1],
                    probe=permit.probe,
                ),
            )
        finally:
            self._leave_gate()

    def _undo(self, *, cancelled: bool) -> None:
        runtime = self.runtime
        if self.slot is not None and runtime.bulkhead is not None:
            runtime.bulkhead.release(self.slot)
            self.slot = None
        if not cancelled:
            return
        if self.reservation is not None and runtime.limiter is not None:
            runtime.limiter.cancel(self.reservation.token)
        permit = self.permit
        if runtime.breaker_state is not None and permit is not None and permit.probe:
            runtime._release_probe(permit)
            self.permit = None


class AsyncGuard(_GuardBase):
    """``async with policy.aguard():`` for async code."""

    __slots__ = ()

    async def __aenter__(self) -> AsyncGuard:
        self._admit_gate()
        try:
            await self._enter()
        except BaseException:
            self._leave_gate()
            raise
        return self

    async def _enter(self) -> None:
        runtime = self.runtime
        clock, local = runtime.clock, runtime.local
        breaker = runtime.breaker_state
        if breaker is not None and not self._take_permit():
            now = clock.monotonic()
            permit = breaker.acquire(now) if local else await breaker.aacquire(now)
            self._check_breaker(permit)
        try:
            limiter = runtime.limiter
            if limiter is not None:
                now, wait = clock.monotonic(), runtime.limiter_wait
                reservation = (
                    limiter.reserve(now, wait)
                    if local
                    else await limiter.areserve(now, wait)
                )
                if reservation is None:
                    runtime._reject_limit(self.label, 1)
                self.reservation = reservation
                if reservation is not None and reservation.wait > 0:
                    await clock.asleep(reservation.wait)
            if runtime.bulkhead is not None:
                self.slot = await runtime._atake_slot()
                if self.slot is None:
                    runtime._reject_bulkhead(self.label, 1)
        except BaseException:
            await self._undo(cancelled=True)
            raise
        self.started = clock.monotonic()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is None and self.runtime.local and self._nothing_to_report():
                if self.slot is not None:
                    self.runtime.bulkhead.release(self.slot)  # type: ignore[union-attr]
                    self.slot = None
                return
            await self._undo(
                cancelled=exc is not None and not isinstance(exc, Exception)
            )
            outcome = self._outcome(exc)
            permit = self.permit
            if self.runtime.breaker_state is None or permit is None:
                return
            if outcome is None:
                if permit.probe:  # no verdict: the probe slot goes back
                    await self.runtime._arelease_probe(permit)
                return
            await self.runtime._arecord(
                self.label, permit, success=outcome[0], slow=outcome[1]
            )
        finally:
            self._leave_gate()

    async def _undo(self, *, cancelled: bool) -> None:
        runtime = self.runtime
        bulkhead = runtime.bulkhead
        if self.slot is not None and bulkhead is not None:
            if runtime.local:
                bulkhead.release(self.slot)
            else:
                await bulkhead.arelease(self.slot)
            self.slot = None
        if not cancelled:
            return
        if self.reservation is not None and runtime.limiter is not None:
            await runtime._acancel(self.reservation.token)
        if self.permit is not None and self.permit.probe:
            await runtime._arelease_probe(self.permit)
            self.permit = None
