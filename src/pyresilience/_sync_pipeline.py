"""The sync pipeline: one call of a sync function through every pattern.

Order, outermost first (see the README for why)::

    fallback -> cache -> total deadline -> retry (+ budget)
      -> per attempt: circuit breaker -> rate limiter -> bulkhead
         -> attempt timeout -> the function

``_async_pipeline`` mirrors this module line for line; the state machines
both drive live in the store's backends, written once. The per-attempt code
is deliberately kept in one function: every extra Python frame is paid on
every call, and this is the hot path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
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
from ._state import ALLOW, Permit
from ._timeout import call_with_timeout

__all__ = ["SyncPipeline"]


class SyncPipeline(RuntimeState):
    """Runs sync functions through the policy."""

    __slots__ = ()

    def _call_with_fallback(
        self,
        fn: Callable[..., Any],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cache: ResultCache | None,
    ) -> Any:
        """The pipeline with the fallback as its outermost layer."""
        try:
            return self._call(fn, fname, args, kwargs, cache)
        except Exception as error:
            fallback = self.fallback
            assert fallback is not None
            if not isinstance(error, fallback.fallback_on):
                raise
            return self._use_fallback(fname, error)

    def _call(
        self,
        fn: Callable[..., Any],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        cache: ResultCache | None,
    ) -> Any:
        """Cache, then retry and attempts; everything inside the fallback."""
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
                    # Raised here, not deeper, to keep rejections cheap.
                    if self.emit is None:
                        raise CircuitOpenError.fast(self.name or fname, wait)
                    self._reject_circuit(fname, 1, Permit(False, False, wait))
            plain = self.plain_breaker
            if plain is not None and plain.state is _CLOSED:
                # Breaker only, closed: run the function right here.
                try:
                    result = fn(*args, **kwargs)
                except RejectedError:
                    raise
                except Exception as error:
                    self._count_plain_failure(fname, error)
                    raise
                if plain.consecutive_failures:
                    plain.record(self.monotonic(), success=True, slow=False, probe=0)
            elif self.single:
                # Nothing to do per attempt (e.g. only a fallback or a cache):
                # call the function itself.
                if self.bare:
                    result = fn(*args, **kwargs)
                else:
                    result = self._attempt(fn, fname, args, kwargs, 1, None)
            else:
                result = self._retry(fn, fname, args, kwargs)
            if key is not None and self._cacheable(result):
                cache.put(key, result)  # type: ignore[union-attr]
            return result
        finally:
            if calls is not None:
                calls.pop()

    def _use_fallback(self, fname: str, error: Exception) -> Any:
        value = self._fallback_value(fname, error)
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            raise TypeError(
                f"the fallback handler of {self.name or fname} is async but "
                f"{fname} is sync; use a sync handler or decorate an async function"
            )
        return value

    def _retry(
        self,
        fn: Callable[..., Any],
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
                        result = fn(*args, **kwargs)
                    else:
                        result = self._attempt(
                            fn, fname, args, kwargs, attempt, deadline
                        )
                except RejectedError as rejection:
                    # Never retried; keep the failure that led here as the cause.
                    if last_error is not None and rejection.__cause__ is None:
                        raise rejection from last_error
                    raise
                except Exception as error:
                    last_error = error
                    if retry is None or not self._should_retry(error):
                        raise
                    if attempt < attempts:
                        self._stop_if_breaker_opened(fname, attempt, error)
                    delay = self._plan_retry(fname, attempt, attempts, error, deadline)
                    if delay is None:
                        raise
                    if delay > 0:
                        self.clock.sleep(delay)
                    continue
                if retry is None or retry.retry_on_result is None:
                    return result
                if not retry.retry_on_result(result):
                    return result
                delay = self._plan_retry(fname, attempt, attempts, result, deadline)
                if delay is None:
                    return result
                if delay > 0:
                    self.clock.sleep(delay)
        finally:
            # The raised error's traceback holds this frame; clearing the
            # local avoids a reference cycle per failed call.
            last_error = None

    def _attempt(
        self,
        fn: Callable[..., Any],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        attempt: int,
        deadline: float | None,
    ) -> Any:
        monotonic, emit = self.monotonic, self.emit
        breaker, limiter, bulkhead = self.breaker_state, self.limiter, self.bulkhead
        # One clock reading serves admission; outcomes that change state
        # read the clock again.
        now = monotonic()
        permit = None
        quiet = self.quiet_breaker
        if quiet is not None and quiet.state is _CLOSED:
            permit = ALLOW
        elif breaker is not None:
            permit = breaker.acquire(now)
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
                reservation = limiter.reserve(now, wait)
                if reservation is None:
                    self._reject_limit(fname, attempt)
                elif reservation.wait > 0:
                    self.clock.sleep(reservation.wait)
            if bulkhead is not None:
                wait = self.bulkhead_wait
                if deadline is not None:
                    wait = self._wait_budget(wait, deadline, None)
                slot = bulkhead.acquire(wait)
                if slot is None:
                    if reservation is not None:
                        # The call never ran: its permit goes back.
                        limiter.cancel(reservation.token)  # type: ignore[union-attr]
                        reservation = None
                    self._reject_bulkhead(fname, attempt)
            if self.slow_limit:
                started = monotonic()
            if self.timeout is None:
                ran = True
                result = fn(*args, **kwargs)
            else:
                limit = self._attempt_limit(deadline, fname)
                on_finish = None
                if slot is not None:
                    # The worker keeps the slot until the function really
                    # returns, even if we stop waiting for it: Python cannot
                    # stop the thread, and the dependency is still busy.
                    on_finish = partial(bulkhead.release, slot)  # type: ignore[union-attr]
                    slot = None
                ran = True
                result = call_with_timeout(
                    fn,
                    args,
                    kwargs,
                    limit,
                    pool_size=self.timeout.pool_size,
                    policy=self.name or fname,
                    on_finish=on_finish,
                    total=self.timeout.seconds if deadline is not None else None,
                )
        except RejectedError:
            if permit is not None and permit.probe:
                self._release_probe(permit)
            if reservation is not None and not ran:
                limiter.cancel(reservation.token)  # type: ignore[union-attr]
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
                self._announce(
                    fname,
                    breaker.record(
                        monotonic(),
                        success=not self._counts_as_failure(error),
                        slow=self._is_slow(started),
                        probe=permit.probe,  # type: ignore[union-attr]
                    ),
                    attempt,
                )
            raise
        except BaseException:
            # Interrupts and cancellation: hand back what was taken, count nothing.
            if permit is not None and permit.probe:
                self._release_probe(permit)
            # Known trade-off: the permit goes back even when the function had
            # already started, as the contract asks ("every token taken is
            # given back"), so a call cancelled mid-flight lets one more call
            # start within that period than max_calls.
            if reservation is not None:
                limiter.cancel(reservation.token)  # type: ignore[union-attr]
            raise
        finally:
            if slot is not None:
                bulkhead.release(slot)  # type: ignore[union-attr]
        if breaker is not None and not (
            permit is ALLOW
            and quiet is not None
            and quiet.state is _CLOSED
            and not quiet.consecutive_failures
            and not self.slow_limit
        ):
            finished = monotonic() if self.slow_limit else now
            transitions = breaker.record(
                finished,
                success=True,
                slow=bool(self.slow_limit) and finished - started >= self.slow_limit,
                probe=permit.probe,  # type: ignore[union-attr]
            )
            if transitions:
                self._announce(fname, transitions)
        if emit is not None:
            emit(EventType.SUCCESS, fname, attempt)
        return result
