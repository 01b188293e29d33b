"""The async pipeline: the twin of ``_sync_pipeline`` for coroutine functions.

It awaits the store's ``a*`` methods when the store is shared (Redis) and
calls the in-process backends directly otherwise, so a local store costs no
extra coroutine per pattern.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ._cache import MISS, ResultCache
from ._events import EventType
from ._exceptions import (
    CircuitOpenError,
    RejectedError,
    ResilienceTimeoutError,
)
from ._gate import PROCESS_GATE
from ._runtime import _CLOSED, _OPEN, RuntimeState
from ._state import Permit
from ._timeout import call_with_timeout_async

__all__ = ["AsyncPipeline"]


class AsyncPipeline(RuntimeState):
    """Runs async functions through the policy."""

    __slots__ = ()

    async def _acall_with_fallback(
        self,
        fn: Callable[..., Awaitable[Any]],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cache: ResultCache | None,
    ) -> Any:
        """Async twin of :meth:`_call_with_fallback`."""
        try:
            return await self._acall(fn, fname, args, kwargs, cache)
        except Exception as error:
            fallback = self.fallback
            assert fallback is not None
            if not isinstance(error, fallback.fallback_on):
                raise
            return await self._ause_fallback(fname, error)

    async def _acall(
        self,
        fn: Callable[..., Awaitable[Any]],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cache: ResultCache | None,
    ) -> Any:
        """Async twin of :meth:`_call`."""
        gate = self.gate
        # Count the call first, then check the gate: shutdown() closes the
        # gate before it drains, so no call can start after a drain ends.
        calls = gate.calls if gate.tracking else None
        if calls is not None:
            calls.append(None)
        try:
            if not (gate.accepting and PROCESS_GATE.accepting):
                self._refuse_if_closed()
            key = None
            if cache is not None:
                key, value = self._look_up(cache, fn, fname, args, kwargs)
                if value is not MISS:
                    return value
            local = self.local_breaker
            if local is not None and local.state is _OPEN:
                wait = local.open_until - self.monotonic()
                if wait > 0:
                    if self.emit is None:
                        raise CircuitOpenError.fast(self.name or fname, wait)
                    self._reject_circuit(fname, 1, Permit(False, False, wait))
            plain = self.plain_breaker
            if plain is not None and plain.state is _CLOSED:
                try:
                    result = await fn(*args, **kwargs)
                except RejectedError:
                    raise
                except Exception as error:
                    self._count_plain_failure(fname, error)
                    raise
                if plain.consecutive_failures:
                    plain.record(self.monotonic(), success=True, slow=False, probe=0)
            elif self.single:
                if self.bare:
                    result = await fn(*args, **kwargs)
                else:
                    result = await self._aattempt(fn, fname, args, kwargs, 1, None)
            else:
                result = await self._aretry(fn, fname, args, kwargs)
            if key is not None and self._cacheable(result):
                cache.put(key, result)  # type: ignore[union-attr]
            return result
        finally:
            if calls is not None:
                calls.pop()

    async def _ause_fallback(self, fname: str, error: Exception) -> Any:
        value = self._fallback_value(fname, error)
        if inspect.isawaitable(value):
            value = await value
        return value

    async def _aretry(
        self,
        fn: Callable[..., Awaitable[Any]],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        retry = self.retry
        attempts = retry.max_attempts if retry is not None else 1
        deadline = None
        if self.total_timeout:
            assert self.timeout is not None
            deadline = self.clock.monotonic() + self.timeout.seconds
        try:
            attempt = 0
            last_error: Exception | None = None
            while True:
                attempt += 1
                try:
                    if self.bare:
                        result = await fn(*args, **kwargs)
                    else:
                        result = await self._aattempt(
                            fn, fname, args, kwargs, attempt, deadline
                        )
                except RejectedError as rejection:
                    if last_error is not None and rejection.__cause__ is None:
                        raise rejection from last_error
                    raise
                except Exception as error:
                    last_error = error
                    if retry is None or not self._should_retry(error):
                        raise
                    if attempt < attempts:
                        self._stop_if_breaker_opened(fname, attempt, error)
                    delay = await self._aplan_retry(
                        fname, attempt, attempts, error, deadline
                    )
                    if delay is None:
                        raise
                    if delay > 0:
                        await self.clock.asleep(delay)
                    continue
                if retry is None or retry.retry_on_result is None:
                    return result
                if not retry.retry_on_result(result):
                    return result
                delay = await self._aplan_retry(
                    fname, attempt, attempts, result, deadline
                )
                if delay is None:
                    return result
                if delay > 0:
                    await self.clock.asleep(delay)
        finally:
            # The raised error's traceback holds this frame; clearing the
            # local avoids a reference cycle per failed call.
            last_error = None

    async def _aplan_retry(
        self,
        fname: str,
        attempt: int,
        attempts: int,
        trigger: object,
        deadline: float | None,
    ) -> float | None:
        """Async twin of :meth:`_plan_retry` (the budget may be remote)."""
        budget = self.budget
        if budget is None or self.local or attempt >= attempts:
            return self._plan_retry(fname, attempt, attempts, trigger, deadline)
        if not await budget.atry_acquire(self.clock.monotonic()):
            self._budget_exhausted(fname, attempt, trigger)
            return None
        return self._plan_sleep(fname, attempt, trigger, deadline)

    async def _aattempt(
        self,
        fn: Callable[..., Awaitable[Any]],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
        deadline: float | None,
    ) -> Any:
        monotonic, emit, local = self.monotonic, self.emit, self.local
        breaker, limiter, bulkhead = self.breaker_state, self.limiter, self.bulkhead
        now = monotonic()
        permit = None
        if breaker is not None:
            permit = breaker.acquire(now) if local else await breaker.aacquire(now)
            if permit.transitions:
                self._announce(fname, permit.transitions)
            if not permit.allowed:
                self._reject_circuit(fname, attempt, permit)
        reservation = None
        slot = None
        started = 0.0
        ran = False
        try:
            if limiter is not None:
                wait = self.limiter_wait
                if deadline is not None:
                    wait = self._wait_budget(wait, deadline, now)
                reservation = (
                    limiter.reserve(now, wait)
                    if local
                    else await limiter.areserve(now, wait)
                )
                if reservation is None:
                    self._reject_limit(fname, attempt)
                elif reservation.wait > 0:
                    await self.clock.asleep(reservation.wait)
            if bulkhead is not None:
                slot = bulkhead.acquire(0.0) if local else None
                if slot is None:
                    slot = await self._atake_slot(deadline)
                    if slot is None:
                        if reservation is not None:
                            await self._acancel(reservation.token)
                            reservation = None
                        self._reject_bulkhead(fname, attempt)
            if self.slow_limit:
                started = monotonic()
            if self.timeout is None:
                ran = True
                result = await fn(*args, **kwargs)
            else:
                limit = self._attempt_limit(deadline, fname)
                ran = True
                result = await call_with_timeout_async(
                    fn,
                    args,
                    kwargs,
                    limit,
                    policy=self.name or fname,
                    total=self.timeout.seconds if deadline is not None else None,
                )
        except RejectedError:
            if permit is not None and permit.probe:
                await self._arelease_probe(permit)
            if reservation is not None and not ran:
                await self._acancel(reservation.token)
            raise
        except Exception as error:
            # The attempt's own event first, then any state change it caused.
            if emit is not None:
                kind = (
                    EventType.TIMEOUT
                    if isinstance(error, ResilienceTimeoutError)
                    else EventType.FAILURE
                )
                emit(kind, fname, attempt, error)
            if breaker is not None:
                await self._arecord(
                    fname,
                    permit,  # type: ignore[arg-type]
                    success=not self._counts_as_failure(error),
                    slow=self._is_slow(started),
                    now=monotonic(),
                    attempt=attempt,
                )
            raise
        except BaseException:
            # Cancellation and interrupts: hand back what was taken, count nothing.
            if permit is not None and permit.probe:
                await self._arelease_probe(permit)
            # Known trade-off: the permit goes back even when the function had
            # already started, as the contract asks ("every token taken is
            # given back"), so a call cancelled mid-flight lets one more call
            # start within that period than max_calls.
            if reservation is not None:
                await self._acancel(reservation.token)
            raise
        finally:
            if slot is not None:
                if local:
                    bulkhead.release(slot)  # type: ignore[union-attr]
                else:
                    await bulkhead.arelease(slot)  # type: ignore[union-attr]
        if breaker is not None:
            finished = monotonic() if self.slow_limit else now
            slow = bool(self.slow_limit) and finished - started >= self.slow_limit
            if local:
                transitions = breaker.record(
                    finished,
                    success=True,
                    slow=slow,
                    probe=permit.probe,  # type: ignore[union-attr]
                )
                if transitions:
                    self._announce(fname, transitions)
            else:
                await self._arecord(
                    fname,
                    permit,  # type: ignore[arg-type]
                    success=True,
                    slow=slow,
                    now=finished,
                )
        if emit is not None:
            emit(EventType.SUCCESS, fname, attempt)
        return result

    async def _arecord(
        self,
        fname: str,
        permit: Permit,
        *,
        success: bool,
        slow: bool,
        now: float | None = None,
        attempt: int = 0,
    ) -> None:
        breaker = self.breaker_state
        assert breaker is not None
        if now is None:
            now = self.monotonic()
        if self.local:
            transitions = breaker.record(
                now, success=success, slow=slow, probe=permit.probe
            )
        else:
            transitions = await breaker.arecord(
                now, success=success, slow=slow, probe=permit.probe
            )
        if transitions:
            self._announce(fname, transitions, attempt)

    async def _arelease_probe(self, permit: Permit) -> None:
        breaker = self.breaker_state
        assert breaker is not None
        if self.local:
            self._release_probe(permit)
        else:
            await breaker.arelease_probe(self.monotonic(), permit.probe)

    async def _atake_slot(self, deadline: float | None = None) -> object | None:
        bulkhead = self.bulkhead
        wait = self.bulkhead_wait
        if deadline is not None:
            wait = self._wait_budget(wait, deadline, None)
        assert bulkhead is not None
        if not self.local:
            return await bulkhead.aacquire(wait)
        # In process: try without a coroutine first, queue only if needed.
        slot = bulkhead.acquire(0.0)
        if slot is None and wait > 0:
            slot = await bulkhead.aacquire(wait)
        return slot

    async def _acancel(self, token: object) -> None:
        limiter = self.limiter
        assert limiter is not None
        if self.local:
            limiter.cancel(token)
        else:
            await limiter.acancel(token)
