"""A policy's live state and the pieces its sync and async pipelines share.

:class:`RuntimeState` is built once per policy (per registry name, or per
standalone decorated function): it holds the policy's backends from the
state store and every decision that does not depend on how the function is
called. ``_sync_pipeline`` and ``_async_pipeline`` run calls through it;
``_engine.PolicyRuntime`` joins the two.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable
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
    DeadlineExceededError,
    RateLimitExceededError,
    ShutdownError,
)
from ._gate import PROCESS_GATE, Gate
from ._state import CircuitState, Permit, PolicyStatus, Transition
from ._store import StateStore

__all__ = ["RuntimeState"]

_random = random.random
_NAME_CACHE_SIZE = 512
_DEADLINE_MARGIN = 1e-6
_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN


class RuntimeState:
    """One policy's configuration and live state.

    Args:
        name: Registry name (``None`` for a standalone decorator).
        config: The policy.
        store: Where breaker, limiter, bulkhead and budget state live.
        clock: Time source for back-off, windows and cool-downs.
        gate: Admission and in-flight tracking.
        state_key: Key under which the store keeps this policy's state.
    """

    __slots__ = (
        "_names",
        "bare",
        "breaker",
        "breaker_state",
        "budget",
        "bulkhead",
        "bulkhead_wait",
        "clock",
        "config",
        "emit",
        "fallback",
        "gate",
        "limiter",
        "limiter_wait",
        "local",
        "monotonic",
        "name",
        "per_attempt_timeout",
        "plain_breaker",
        "quiet_breaker",
        "local_breaker",
        "retry",
        "shared_cache",
        "single",
        "slow_limit",
        "timeout",
        "total_timeout",
    )

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
        self.local_breaker = (
            self.breaker_state
            if isinstance(self.breaker_state, LocalBreakerState)
            else None
        )
        # An in-process breaker in count mode lets the hot path skip the
        # backend entirely while it is closed and has seen no failure.
        local = self.breaker_state
        self.quiet_breaker = (
            local if isinstance(local, LocalBreakerState) and local.count_mode else None
        )
        # With one attempt and no deadline the retry loop is skipped.
        self.single = config.retry is None and not self.total_timeout
        # Filled by name_of() on first ad hoc call; most runtimes never need it.
        self._names: dict[tuple[Callable[..., Any], bool], str] | None = None
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
        names = self._names
        if names is None:
            names = self._names = {}
        try:
            return names[fn, is_async]
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
            names[fn, is_async] = name
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

    def _announce(
        self, fname: str, transitions: tuple[Transition, ...], attempt: int = 0
    ) -> None:
        if self.emit is not None:
            for transition in transitions:
                self.emit(
                    transition_event(transition),
                    fname,
                    attempt,
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

    def _look_up(
        self,
        cache: ResultCache,
        fn: Callable[..., Any],
        fname: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> tuple[Hashable | None, Any]:
        """The call's cache key (None: unhashable) and its cached value or MISS."""
        # The shared cache of policy.call() keeps functions apart by key.
        key = make_key(args, kwargs, fn if cache is self.shared_cache else None)
        if key is None:
            return None, MISS
        value = cache.get(key)
        if self.emit is not None:
            hit = value is not MISS
            self.emit(EventType.CACHE_HIT if hit else EventType.CACHE_MISS, fname)
        return key, value

    def _fallback_value(self, fname: str, error: Exception) -> Any:
        """The fallback's answer to ``error``; awaitable for an async handler."""
        assert self.fallback is not None
        if self.emit is not None:
            self.emit(EventType.FALLBACK_USED, fname, error=error)
        handler = self.fallback.handler
        return handler(error) if callable(handler) else handler

    def _cacheable(self, result: object) -> bool:
        retry = self.retry
        return not (retry and retry.retry_on_result and retry.retry_on_result(result))

    def _stop_if_breaker_opened(
        self, fname: str, attempt: int, cause: Exception
    ) -> None:
        """End the retry loop at once when this failure opened the breaker.

        Sleeping a back-off only to be rejected would delay the caller for
        nothing. (An in-process breaker can tell cheaply; a shared one is
        asked on the next attempt.)
        """
        local = self.local_breaker
        if local is None or local.state is not _OPEN:
            return
        wait = local.open_until - self.monotonic()
        if wait <= 0:
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

    def _release_probe(self, permit: Permit) -> None:
        breaker = self.breaker_state
        assert breaker is not None
        breaker.release_probe(self.monotonic(), permit.probe)
