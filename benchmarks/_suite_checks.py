"""Checks that are not speeds: sleeps, cyclic garbage, memory per function."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import _floors as floors
from . import _ours as ours
from . import _peers as peers
from ._cases import ANY, Case, build_all
from ._harness import Settings, agarbage_per_call, garbage_per_call, memory_per_object
from ._report import Row, Section
from ._subjects import Unavailable, awork, make_aflaky, make_flaky, work
from ._suite_core import open_cases

__all__ = [
    "CHECK_GROUPS",
    "SleepSpy",
    "garbage_section",
    "memory_section",
    "sleep_section",
]

Fn = Callable[..., Any]

_ASYNCIO_SLEEP = asyncio.sleep.__code__


class SleepSpy:
    """Count calls of ``time.sleep`` and ``asyncio.sleep`` in this thread.

    A profile hook sees every call, however the sleeping function was
    bound (``SystemClock`` keeps its own reference to ``time.sleep``), so
    nothing needs patching. ``sleep(0)`` counts too: it still gives up the
    GIL or the event loop, which a zero-delay retry has no reason to do.
    """

    def __init__(self) -> None:
        self.count = 0
        self._previous: Any = None
        # A coroutine reports a "call" each time it resumes; its frame tells
        # a first start from a resumption. Holding the frames keeps their ids
        # from being reused while the spy runs.
        self._started: dict[int, FrameType] = {}

    def __enter__(self) -> SleepSpy:
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(self._previous)
        self._started.clear()

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and arg is time.sleep:
            self.count += 1
        elif (
            event == "call"
            and frame.f_code is _ASYNCIO_SLEEP
            and id(frame) not in self._started
        ):
            self._started[id(frame)] = frame
            self.count += 1


def _ours_zero_delay(fn: Fn) -> Fn:
    pr = ours.core()
    # Jitter on: a zero delay must stay zero after jitter too.
    retry = pr.RetryConfig(max_attempts=3, delay=0.0, jitter=True)
    return pr.resilient(retry=retry)(fn)  # type: ignore[no-any-return]


def sleep_section(settings: Settings, loop: asyncio.AbstractEventLoop) -> Section:
    """Count sleeps per call of a retry with zero delay (two retries per call)."""
    section = Section("zero-delay retry: sleeps per call (2 retries per call)")
    calls = max(20, settings.garbage_calls // 10)
    flaky, aflaky = make_flaky(), make_aflaky()
    cases: list[tuple[str, str, Callable[[], Fn], bool]] = [
        ("ours retry delay=0, sync", "ours", lambda: _ours_zero_delay(flaky), False),
        ("ours retry delay=0, async", "ours", lambda: _ours_zero_delay(aflaky), True),
        (
            "tenacity wait_none, sync",
            "peer",
            lambda: peers.tenacity_retry(flaky),
            False,
        ),
        ("stamina zero waits, sync", "peer", lambda: peers.stamina_retry(flaky), False),
        ("backoff interval=0, sync", "peer", lambda: peers.backoff_retry(flaky), False),
    ]
    for label, kind, build, is_async in cases:
        try:
            fn = build()
            with SleepSpy() as spy:
                for _ in range(calls):
                    result = fn()
                    if is_async:
                        loop.run_until_complete(result)
        except Unavailable as exc:
            section.skip(label, kind, str(exc), "sleeps/call")
            continue
        except Exception as exc:
            section.skip(
                label, kind, f"failed: {type(exc).__name__}: {exc}", "sleeps/call"
            )
            continue
        section.add(Row(label, kind, spy.count / calls, "sleeps/call"))
        if kind == "ours":
            section.require_at_most(label, 0.0)
    return section


def _garbage_cases(is_async: bool) -> list[Case]:
    fn: Fn = awork if is_async else work
    flaky: Fn = make_aflaky() if is_async else make_flaky()
    retry_loop: Callable[[Fn], Fn] = (
        floors.aretry_loop if is_async else floors.retry_loop
    )
    cases = [
        Case("ours retry, happy", "ours", lambda: ours.ours_retry(fn)),
        Case("ours circuit_breaker, happy", "ours", lambda: ours.ours_breaker(fn)),
        Case("ours rate_limiter, happy", "ours", lambda: ours.ours_limiter(fn)),
        Case("ours bulkhead, happy", "ours", lambda: ours.ours_bulkhead(fn)),
        Case("ours fallback, happy", "ours", lambda: ours.ours_fallback(fn)),
        Case("ours timeout, happy", "ours", lambda: ours.ours_timeout(fn)),
        Case("ours cache, hit", "ours", lambda: ours.ours_cache(fn)),
        Case("ours 5 patterns, happy", "ours", lambda: ours.ours_combo(fn)),
        Case("ours retry, 2 failures", "ours", lambda: ours.ours_retry(flaky)),
        Case("try/except retry loop, 2 failures", "floor", lambda: retry_loop(flaky)),
        Case("tenacity, 2 failures", "peer", lambda: peers.tenacity_retry(flaky)),
    ]
    return cases


def garbage_section(settings: Settings, loop: asyncio.AbstractEventLoop) -> Section:
    """Count objects only the cyclic collector frees, per call."""
    section = Section("cyclic garbage: objects gc.collect() frees per call")
    unit = "objs/call"
    calls = settings.garbage_calls
    for is_async in (False, True):
        suffix = ", async" if is_async else ", sync"
        run = loop.run_until_complete if is_async else None
        cases = _garbage_cases(is_async)
        for case in open_cases(run):
            if case.kind != "floor":
                cases.append(Case(f"{case.label}, open", case.kind, case.build, None))
        for case in cases:
            case.label += suffix
            case.expect = ANY

        def check(fn: Fn, is_async: bool = is_async) -> Any:
            return loop.run_until_complete(fn()) if is_async else fn()

        for case, fn in build_all(section, cases, check, unit):
            if is_async:
                value = agarbage_per_call(fn, calls, loop)
            else:
                value = garbage_per_call(fn, calls)
            section.add(Row(case.label, case.kind, value, unit))
            if case.kind == "ours":
                section.require_at_most(case.label, 0.01)
    return section


def _fresh_functions(count: int) -> list[Fn]:
    def make(index: int) -> Fn:
        def fn() -> int:
            return index

        return fn

    return [make(index) for index in range(count)]


def _decorator_of(decorate: Callable[[Fn], Fn], fns: list[Fn]) -> Callable[[int], Fn]:
    return lambda index: decorate(fns[index])


def _call(fn: Fn) -> Any:
    return fn()


_MEMORY_CASES: list[tuple[str, str, Callable[[Fn], Fn]]] = [
    ("bare wrapper", "floor", floors.wrapper),
    ("tenacity @retry", "peer", peers.tenacity_retry),
    ("backoff @on_exception", "peer", peers.backoff_retry),
    ("stamina @retry", "peer", peers.stamina_retry),
    ("pybreaker", "peer", peers.pybreaker_breaker),
    ("circuitbreaker @circuit", "peer", peers.circuitbreaker_breaker),
    ("ours retry", "ours", ours.ours_retry),
    ("ours circuit_breaker", "ours", ours.ours_breaker),
    ("ours 5 patterns", "ours", ours.ours_combo),
]


def memory_section(settings: Settings, loop: asyncio.AbstractEventLoop) -> Section:
    """Measure bytes held per decorated function, after one call of each."""
    section = Section("memory per decorated function (tracemalloc, after 1 call)")
    count = settings.memory_objects
    for label, kind, decorate in _MEMORY_CASES:
        try:
            decorate(_fresh_functions(1)[0])()
            fns = _fresh_functions(count)
            made, used = memory_per_object(_decorator_of(decorate, fns), _call, count)
        except Unavailable as exc:
            section.skip(label, kind, str(exc), "B/fn")
            continue
        except Exception as exc:
            section.skip(label, kind, f"failed: {type(exc).__name__}: {exc}", "B/fn")
            continue
        section.add(
            Row(label, kind, used, "B/fn", note=f"{made:,.0f} B after decorating")
        )
    section.judge("ours retry", ["tenacity @retry"], 1.0)
    return section


#: Check groups of the core suite, by the key ``--section`` selects them with.
CHECK_GROUPS: dict[str, Callable[[Settings, asyncio.AbstractEventLoop], Section]] = {
    "sleeps": sleep_section,
    "garbage": garbage_section,
    "memory": memory_section,
}
