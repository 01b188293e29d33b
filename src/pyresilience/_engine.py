"""The pipeline that runs one call through every pattern of a policy.

Order, outermost first (see the README for why)::

    fallback -> cache -> total deadline -> retry (+ budget)
      -> per attempt: circuit breaker -> rate limiter -> bulkhead
         -> attempt timeout -> the function

A :class:`PolicyRuntime` holds one policy's live state (its backends from
the state store) and runs calls through it, for sync and async functions.
The sync and async paths mirror each other line for line; the state
machines they drive live in the backends, written once.

The per-attempt code is deliberately kept in one function per path: every
extra Python frame is paid on every call, and this is the hot path.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from ._breaker import CircuitBreaker, circuit_open_error, transition_event
from ._breaker_state import LocalBreakerState
from ._cache import MISS, ResultCache, make_key
from ._callables import check_fallback_fits, is_async_callable, qualified_name
from ._clock import Clock
from ._config import ResilienceConfig
from ._events import EventType, emitter_for
from ._exceptions import (
    BulkheadFullError,
    CircuitOpenError,
    DeadlineExceededError,
    RateLimitExceededError,
    RejectedError,
    ResilienceTimeoutError,
    ShutdownError,
)
from ._gate import PROCESS_GATE, Gate
from ._state import ALLOW, CircuitState, Permit, PolicyStatus, Transition
from ._store import StateStore
from ._timeout import call_with_timeout, call_with_timeout_async

__all__ = ["PolicyRuntime"]

_random = random.random
_NAME_CACHE_SIZE = 512
_DEADLINE_MARGIN = 1e-6
_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN


class PolicyRuntime:
    """One policy's configuration and live state, and the call pipeline.

    Args:
        name: Registry name (``None`` for a standalone decorator).
        config: The policy.
        store: Where breaker, limiter, bulkhead and budget state live.
        clock: Time source for back-off, windows and cool-downs.
        gate: Admission and in-flight tracking.
        state_key: Key under which the store keeps this policy's state.
    """

    def __init__(
        self,
        name: str | None,
        config: ResilienceConfig,
        *,
        store: StateStore,
        clock: Clock,
        gate: Gate,
        state_key: str,
    ) -> None:
        self.name = name
        self.config = config
        self.clock = clock
        self.gate = gate
        self.local = store.is_local
        self.emit = emitter_for(config.listeners, name)
        self.retry = config.retry
        self.fallback = config.fallback
        self.timeout = config.timeout
        self.per_attempt_timeout = bool(config.timeout and config.timeout.per_attempt)
        self.total_timeout = bool(config.timeout and not config.timeout.per_attempt)
        self.breaker: CircuitBreaker | None = None
        if config.circuit_breaker is not None:
            self.breaker = CircuitBreaker(
                config.circuit_breaker,
                name=name,
                clock=clock,
                backend=store.breaker(state_key, config.circuit_breaker),
                listeners=config.listeners,
            )
        self.breaker_state = self.breaker.backend if self.breaker else None
        self.slow_limit = (
            config.circuit_breaker.slow_call_duration if config.circuit_breaker else 0.0
        )
        self.monotonic = clock.monotonic
        # In-process breakers can say "open" without side effects, which lets
        # a rejected call fail before entering the retry machinery.
        self.rejects = getattr(self.breaker_state, "rejects", None)
        # An in-process breaker in count mode lets the hot path skip the
        # backend entirely while it is closed and has seen no failure.
        local = self.breaker_state
        self.quiet_breaker = (
            local if isinstance(local, LocalBreakerState) and local.count_mode else None
        )
        # With one attempt and no deadline the retry loop is skipped.
        self.single = config.retry is None and not self.total_timeout
        self._sync_names: dict[Callable[..., Any], str] = {}
        self._async_names: dict[Callable[..., Any], str] = {}
        # Entry points: ``call(fn, fname, args, kwargs, cache)`` for sync
        # functions and ``acall`` for async ones. Without a fallback there is
        # no outer layer to pay for on every failure.
        self.call: Callable[..., Any] = (
            self._call_with_fallback if config.fallback else self._call
        )
        self.acall: Callable[..., Awaitable[Any]] = (
            self._acall_with_fallback if config.fallback else self._acall
        )
        limiter, bulkhead, budget = (
            config.rate_limiter,
            config.bulkhead,
            config.retry_budget,
        )
        self.limiter = store.rate_limiter(state_key, limiter) if limiter else None
        self.limiter_wait = limiter.max_wait if limiter else 0.0
        self.bulkhead = store.bulkhead(state_key, bulkhead) if bulkhead else None
        self.bulkhead_wait = bulkhead.max_wait if bulkhead else 0.0
        self.budget = store.retry_budget(state_key, budget) if budget else None
        self.shared_cache = (
            ResultCache(config.cache, clock=clock) if config.cache else None
        )
        # With nothing to do per attempt, the retry loop calls the function
        # directly instead of going through _attempt.
        self.bare = not (
            self.breaker or self.limiter or self.bulkhead or self.per_attempt_timeout
        )
        self.bare = self.bare and not self.total_timeout and self.emit is None
        # The commonest wrapper, a lone in-process count-mode breaker, gets
        # a path with no attempt frame at all while the breaker is closed.
        self.plain_breaker = (
            self.quiet_breaker
            if self.single
            and not (self.limiter or self.bulkhead or self.timeout)
            and self.emit is None
            and not self.slow_limit
            else None
        )

    def name_of(self, fn: Callable[..., Any], *, is_async: bool) -> str:
        """Check that ``fn`` suits this kind of call and return its name.

        Remembered per function, so ad hoc ``policy.call(fn)`` calls (every
        request, in web adapters) pay for inspection once.
        """
        names = self._async_names if is_async else self._sync_names
        try:
            return names[fn]
        except (KeyError, TypeError):
            pass
        if is_async_callable(fn) != is_async:
            kind = "is async; use `await policy.acall(...)`"
            if is_async:
                kind = "is not async; use policy.call(...), in a worker thread "
                kind += "when inside an event loop"
            raise TypeError(f"{qualified_name(fn)} {kind}")
        check_fallback_fits(fn, self.config)
        name = qualified_name(fn)
        try:
            if len(names) >= _NAME_CACHE_SIZE:
                names.clear()  # bound memory when callers pass fresh lambdas
            names[fn] = name
        except TypeError:
            pass  # unhashable callable: inspect it every time
        return name

    def status(self) -> PolicyStatus:
        """A snapshot of breaker, limiter, bulkhead and budget state."""
        now = self.clock.monotonic()
        return PolicyStatus(
            name=self.name or "",
            breaker=self.breaker_state.snapshot(now) if self.breaker_state else None,
            rate_limiter=self.limiter.snapshot(now) if self.limiter else None,
            bulkhead=self.bulkhead.snapshot() if self.bulkhead else None,
            retry_budget=self.budget.available(now) if self.budget else None,
        )

    # -- shared helpers --------------------------------------------------------

    def new_cache(self) -> ResultCache | None:
        """A cache for one decorated function (entries are never shared)."""
        if self.config.cache is None:
            return None
        return ResultCache(self.config.cache, clock=self.clock)

    def _refuse_if_closed(self) -> None:
        if not (self.gate.accepting and PROCESS_GATE.accepting):
            where = "the registry is" if self.name else "pyresilience is"
            raise ShutdownError(
                f"calls are not accepted: {where} shut down", policy=self.name
            )

    def _should_retry(self, error: Exception) -> bool:
        retry = self.retry
        assert retry is not None
        return isinstance(error, retry.retry_on) and not isinstance(
            error, retry.ignore_on
        )

    def _delay(self, attempt: int, trigger: object) -> float:
        retry = self.retry
        assert retry is not None
        if retry.delay_func is not None:
            custom = retry.delay_func(attempt, trigger)
            if custom is not None:
                try:
                    custom = float(custom)
                except OverflowError:
                    custom = math.inf if custom > 0 else 0.0
                if not custom > 0:  # also catches NaN
                    return 0.0
                return custom if custom < retry.max_delay else retry.max_delay
        base = retry.backoff(attempt)
        if retry.jitter and base > 0:
            # Upper half of the interval: spreads callers, never past the cap.
            return base * (0.5 + 0.5 * _random())
        return base

    def _next_delay(
        self, fname: str, attempt: int, trigger: object, deadline: float | None
    ) -> float | None:
        """Sleep before the next attempt, or ``None`` to stop retrying now."""
        delay = self._delay(attempt, trigger)
        if deadline is not None and self.clock.monotonic() + delay >= deadline:
            # No attempt could start before the deadline: answer now.
            return None
        return delay

    def _counts_as_failure(self, error: BaseException) -> bool:
        assert self.breaker is not None
        return self.breaker.is_failure(error)

    def _is_slow(self, started: float) -> bool:
        limit = self.slow_limit
        return bool(limit) and self.monotonic() - started >= limit

    def _announce(self, fname: str, transitions: tuple[Transition, ...]) -> None:
        if self.emit is not None:
            for transition in transitions:
                self.emit(
                    transition_event(transition),
                    fname,
                    detail=f"{transition.old.value} -> {transition.new.value}",
                )

    def _reject_circuit(self, fname: str, attempt: int, permit: Permit) -> None:
        error = circuit_open_error(self.name or fname, permit)
        if self.emit is not None:
            self.emit(EventType.CIRCUIT_REJECTED, fname, attempt, error)
        try:
            raise error
        finally:
            # The traceback references this frame; dropping the local avoids
            # a reference cycle (and work for the garbage collector) per call.
            del error

    def _reject_limit(self, fname: str, attempt: int) -> None:
        assert self.limiter is not None and self.config.rate_limiter is not None
        limit = self.config.rate_limiter
        error = RateLimitExceededError(
            f"rate limit of {limit.max_calls} call{'s' if limit.max_calls > 1 else ''} "
            f"per {limit.period:g}s "
            f"exceeded for {self.name or fname}",
            policy=self.name,
            retry_after=self.limiter.next_free(self.monotonic()),
        )
        if self.emit is not None:
            self.emit(EventType.RATE_LIMITED, fname, attempt, error)
        try:
            raise error
        finally:
            del error

    def _reject_bulkhead(self, fname: str, attempt: int) -> None:
        assert self.config.bulkhead is not None
        error = BulkheadFullError(
            f"all {self.config.bulkhead.max_concurrent} bulkhead slots of "
            f"{self.name or fname} are busy",
            policy=self.name or fname,
        )
        if self.emit is not None:
            self.emit(EventType.BULKHEAD_REJECTED, fname, attempt, error)
        try:
            raise error
        finally:
            del error

    def _wait_budget(
        self, wait: float, deadline: float | None, now: float | None
    ) -> float:
        """``wait`` cut so that queueing never runs past the total deadline."""
        if deadline is None:
            return wait
        left = deadline - (self.monotonic() if now is None else now)
        # Strictly less than the time left: a call that could only start
        # exactly at the deadline would have no time to run.
        return max(0.0, min(wait, left - _DEADLINE_MARGIN))

    def _attempt_limit(self, deadline: float | None, fname: str) -> float:
        assert self.timeout is not None
        if deadline is None:
            return self.timeout.seconds
        left = deadline - self.clock.monotonic()
        if left <= 0:
            raise DeadlineExceededError(
                f"{fname}: total deadline of {self.timeout.seconds:g}s passed "
                "before the attempt could start",
                policy=self.name or fname,
                seconds=self.timeout.seconds,
            )
        return left

    # -- sync path -------------------------------------------------------------

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
                key = make_key(args, kwargs, fn if cache is self.shared_cache else None)
                if key is not None:
                    value = cache.get(key)
                    if self.emit is not None:
                        hit = value is not MISS
                        kind = EventType.CACHE_HIT if hit else EventType.CACHE_MISS
                        self.emit(kind, fname)
                    if value is not MISS:
                        return value
            rejects = self.rejects
            if rejects is not None and self.breaker_state.state is _OPEN:  # type: ignore[union-attr]
                wait = rejects(self.monotonic())
                if wait:
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
                result = self._attempt(fn, fname, args, kwargs, 1, None)
            else:
                result = self._retry(fn, fname, args, kwargs)
            if key is not None and self._cacheable(result):
                cache.put(key, result)  # type: ignore[union-attr]
            return result
        finally:
            if calls is not None:
                calls.pop()

    def _count_plain_failure(self, fname: str, error: Exception) -> None:
        plain = self.plain_breaker
        assert plain is not None
        transitions = plain.record(
            self.monotonic(),
            success=not self._counts_as_failure(error),
            slow=False,
            probe=0,
        )
        if transitions:
            self._announce(fname, transitions)

    def _cacheable(self, result: object) -> bool:
        retry = self.retry
        return not (retry and retry.retry_on_result and retry.retry_on_result(result))

    def _use_fallback(self, fname: str, error: Exception) -> Any:
        assert self.fallback is not None
        if self.emit is not None:
            self.emit(EventType.FALLBACK_USED, fname, error=error)
        handler = self.fallback.handler
        if not callable(handler):
            return handler
        value = handler(error)
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

    def _stop_if_breaker_opened(
        self, fname: str, attempt: int, cause: Exception
    ) -> None:
        """End the retry loop at once when this failure opened the breaker.

        Sleeping a back-off only to be rejected would delay the caller for
        nothing. (An in-process breaker can tell cheaply; a shared one is
        asked on the next attempt.)
        """
        rejects = self.rejects
        if rejects is None or self.breaker_state.state is not _OPEN:  # type: ignore[union-attr]
            return
        wait = rejects(self.monotonic())
        if not wait:
            return
        error = circuit_open_error(self.name or fname, Permit(False, False, wait))
        if self.emit is not None:
            self.emit(EventType.CIRCUIT_REJECTED, fname, attempt + 1, error)
        try:
            raise error from cause
        finally:
            del error

    def _plan_retry(
        self,
        fname: str,
        attempt: int,
        attempts: int,
        trigger: object,
        deadline: float | None,
    ) -> float | None:
        """Decide whether to retry after ``attempt``; return the sleep or None."""
        if attempt >= attempts:
            if self.emit is not None:
                error = trigger if isinstance(trigger, BaseException) else None
                self.emit(EventType.RETRY_EXHAUSTED, fname, attempt, error)
            return None
        budget = self.budget
        if budget is not None and not budget.try_acquire(self.clock.monotonic()):
            self._budget_exhausted(fname, attempt, trigger)
            return None
        return self._plan_sleep(fname, attempt, trigger, deadline)

    def _plan_sleep(
        self, fname: str, attempt: int, trigger: object, deadline: float | None
    ) -> float | None:
        delay = self._next_delay(fname, attempt, trigger, deadline)
        if self.emit is not None:
            error = trigger if isinstance(trigger, BaseException) else None
            if delay is None:
                self.emit(EventType.RETRY_EXHAUSTED, fname, attempt, error, "deadline")
            else:
                self.emit(EventType.RETRY, fname, attempt, error, delay=delay)
        return delay

    def _budget_exhausted(self, fname: str, attempt: int, trigger: object) -> None:
        if self.emit is not None:
            error = trigger if isinstance(trigger, BaseException) else None
            self.emit(EventType.RETRY_BUDGET_EXHAUSTED, fname, attempt, error)

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
                reservation = limiter.reserve(
                    now, self._wait_budget(self.limiter_wait, deadline, now)
                )
                if reservation is None:
                    self._reject_limit(fname, attempt)
                elif reservation.wait > 0:
                    self.clock.sleep(reservation.wait)
            if bulkhead is not None:
                slot = bulkhead.acquire(
                    self._wait_budget(self.bulkhead_wait, deadline, None)
                )
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
            if breaker is not None:
                self._announce(
                    fname,
                    breaker.record(
                        monotonic(),
                        success=not self._counts_as_failure(error),
                        slow=self._is_slow(started),
                        probe=permit.probe,  # type: ignore[union-attr]
                    ),
                )
            if emit is not None:
                kind = (
                    EventType.TIMEOUT
                    if isinstance(error, ResilienceTimeoutError)
                    else EventType.FAILURE
                )
                emit(kind, fname, attempt, error)
            raise
        except BaseException:
            # Interrupts and cancellation: hand back what was taken, count nothing.
            if permit is not None and permit.probe:
                self._release_probe(permit)
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

    # -- async path ------------------------------------------------------------

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
                key = make_key(args, kwargs, fn if cache is self.shared_cache else None)
                if key is not None:
                    value = cache.get(key)
                    if self.emit is not None:
                        hit = value is not MISS
                        kind = EventType.CACHE_HIT if hit else EventType.CACHE_MISS
                        self.emit(kind, fname)
                    if value is not MISS:
                        return value
            rejects = self.rejects
            if rejects is not None and self.breaker_state.state is _OPEN:  # type: ignore[union-attr]
                wait = rejects(self.monotonic())
                if wait:
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
        assert self.fallback is not None
        if self.emit is not None:
            self.emit(EventType.FALLBACK_USED, fname, error=error)
        handler = self.fallback.handler
        if not callable(handler):
            return handler
        value = handler(error)
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
                wait = self._wait_budget(self.limiter_wait, deadline, now)
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
            if breaker is not None:
                await self._arecord(
                    fname,
                    permit,  # type: ignore[arg-type]
                    success=not self._counts_as_failure(error),
                    slow=self._is_slow(started),
                    now=monotonic(),
                )
            if emit is not None:
                kind = (
                    EventType.TIMEOUT
                    if isinstance(error, ResilienceTimeoutError)
                    else EventType.FAILURE
                )
                emit(kind, fname, attempt, error)
            raise
        except BaseException:
            # Cancellation and interrupts: hand back what was taken, count nothing.
            if permit is not None and permit.probe:
                await self._arelease_probe(permit)
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
            self._announce(fname, transitions)

    def _release_probe(self, permit: Permit) -> None:
        breaker = self.breaker_state
        assert breaker is not None
        if isinstance(breaker, LocalBreakerState):
            breaker.release_probe(self.monotonic(), permit.probe)
        else:
            breaker.release_probe(self.monotonic())

    async def _arelease_probe(self, permit: Permit) -> None:
        breaker = self.breaker_state
        assert breaker is not None
        if self.local:
            self._release_probe(permit)
        else:
            await breaker.arelease_probe(self.monotonic())

    async def _atake_slot(self, deadline: float | None = None) -> object | None:
        bulkhead = self.bulkhead
        wait = self._wait_budget(self.bulkhead_wait, deadline, None)
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
