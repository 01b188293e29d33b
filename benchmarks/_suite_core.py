"""Per-call overhead of each pattern, ours against peers and floors.

Sections: happy path (sync and async), retry path (two failures, then a
success), rejection by an open breaker, and 8 threads sharing one function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _floors as floors
from . import _ours as ours
from . import _peers as peers
from ._cases import Case, run_async, run_sync, run_threads
from ._harness import Settings
from ._report import Section
from ._subjects import FlakyError, awork, make_aflaky, make_flaky, work

__all__ = ["GROUPS", "core_sections", "open_cases"]

RETRY_PEERS = ("tenacity @retry", "backoff @on_exception", "stamina @retry")
SYNC_BREAKER_PEERS = ("pybreaker", "circuitbreaker @circuit")
ASYNC_BREAKER_PEERS = ("circuitbreaker @circuit", "aiobreaker", "pybreaker")
COMBO = "ours 5 patterns @resilient"
COMBO_REGISTRY = "ours 5 patterns registry.decorator"
FIVE_FLOOR = "hand-written 5 patterns"


def _combo_case(label: str, build: Callable[..., Any], fn: Any) -> Case:
    counter = ours.FallbackCounter()

    def make() -> Any:
        return build(fn, counter)

    note = (
        "retry(3, no delay) + breaker + bulkhead(10) + limiter (never reached)"
        " + fallback; a fallback use during timing would be reported here"
    )
    case = Case(label, "ours", make, note=note)
    case.fallback_counter = counter  # type: ignore[attr-defined]
    return case


def _retry_cases(fn: Any) -> list[Case]:
    is_async = asyncio.iscoroutinefunction(fn)
    loop = floors.aretry_loop if is_async else floors.retry_loop
    return [
        Case("try/except retry loop", "floor", lambda: loop(fn)),
        Case("tenacity @retry", "peer", lambda: peers.tenacity_retry(fn)),
        Case("backoff @on_exception", "peer", lambda: peers.backoff_retry(fn)),
        Case("stamina @retry", "peer", lambda: peers.stamina_retry(fn)),
        Case("ours retry", "ours", lambda: ours.ours_retry(fn)),
    ]


def _sync_happy_cases(pool: ThreadPoolExecutor) -> list[Case]:
    return [
        Case("bare call", "floor", lambda: work),
        Case("bare wrapper", "floor", lambda: floors.wrapper(work)),
        *_retry_cases(work),
        Case("pybreaker", "peer", lambda: peers.pybreaker_breaker(work)),
        Case(
            "circuitbreaker @circuit",
            "peer",
            lambda: peers.circuitbreaker_breaker(work),
        ),
        Case("ours circuit_breaker", "ours", lambda: ours.ours_breaker(work)),
        Case(
            "ours rate_limiter",
            "ours",
            lambda: ours.ours_limiter(work),
            note="no sync rate-limiter peer in the list; shown for scale",
        ),
        Case(
            "BoundedSemaphore wrapper", "floor", lambda: floors.semaphore_wrapper(work)
        ),
        Case("ours bulkhead", "ours", lambda: ours.ours_bulkhead(work)),
        Case("try/except fallback", "floor", lambda: floors.try_except_fallback(work)),
        Case("ours fallback", "ours", lambda: ours.ours_fallback(work)),
        Case(
            "thread-pool timeout",
            "floor",
            lambda: floors.thread_timeout_wrapper(work, 10.0, pool),
        ),
        Case("ours timeout", "ours", lambda: ours.ours_timeout(work)),
        Case("functools.lru_cache", "floor", lambda: peers.lru_cache(work)),
        Case("ours cache", "ours", lambda: ours.ours_cache(work)),
        Case(
            FIVE_FLOOR,
            "floor",
            lambda: floors.five_patterns(work, ours.LIMIT_CALLS, ours.LIMIT_PERIOD),
        ),
        _combo_case(COMBO, ours.ours_combo, work),
        _combo_case(COMBO_REGISTRY, ours.ours_registry_combo, work),
    ]


def _async_happy_cases() -> list[Case]:
    return [
        Case("bare await", "floor", lambda: awork),
        Case("bare wrapper", "floor", lambda: floors.awrapper(awork)),
        *_retry_cases(awork),
        Case(
            "circuitbreaker @circuit",
            "peer",
            lambda: peers.circuitbreaker_breaker(awork),
        ),
        Case("aiobreaker", "peer", lambda: peers.aiobreaker_breaker(awork)),
        Case("pybreaker", "peer", lambda: peers.pybreaker_breaker(awork)),
        Case("ours circuit_breaker", "ours", lambda: ours.ours_breaker(awork)),
        Case(
            "aiolimiter",
            "peer",
            lambda: peers.aiolimiter_limiter(
                awork, ours.LIMIT_CALLS, ours.LIMIT_PERIOD
            ),
        ),
        Case("ours rate_limiter", "ours", lambda: ours.ours_limiter(awork)),
        Case(
            "asyncio.Semaphore wrapper",
            "floor",
            lambda: floors.asemaphore_wrapper(awork),
        ),
        Case("ours bulkhead", "ours", lambda: ours.ours_bulkhead(awork)),
        Case(
            "try/except fallback", "floor", lambda: floors.atry_except_fallback(awork)
        ),
        Case("ours fallback", "ours", lambda: ours.ours_fallback(awork)),
        Case("asyncio.timeout", "floor", lambda: floors.atimeout_wrapper(awork, 10.0)),
        Case("ours timeout", "ours", lambda: ours.ours_timeout(awork)),
        Case("ours cache", "ours", lambda: ours.ours_cache(awork)),
        Case(
            FIVE_FLOOR,
            "floor",
            lambda: floors.afive_patterns(awork, ours.LIMIT_CALLS, ours.LIMIT_PERIOD),
        ),
        _combo_case(COMBO, ours.ours_combo, awork),
        _combo_case(COMBO_REGISTRY, ours.ours_registry_combo, awork),
    ]


def _judge_happy(section: Section, *, is_async: bool) -> None:
    section.judge("ours retry", RETRY_PEERS, 1.0, strict=True)
    section.judge("ours retry", ["try/except retry loop"], 3.0)
    breaker_peers = ASYNC_BREAKER_PEERS if is_async else SYNC_BREAKER_PEERS
    section.judge("ours circuit_breaker", breaker_peers, 1.0, strict=True)
    if is_async:
        section.judge("ours rate_limiter", ["aiolimiter"], 1.0, strict=True)
        stand_ins = {
            "ours bulkhead": "asyncio.Semaphore wrapper",
            "ours timeout": "asyncio.timeout",
        }
    else:
        section.judge("ours rate_limiter", ["bare wrapper"], 1.0, informative=True)
        stand_ins = {
            "ours bulkhead": "BoundedSemaphore wrapper",
            "ours timeout": "thread-pool timeout",
            "ours cache": "functools.lru_cache",
        }
    stand_ins["ours fallback"] = "try/except fallback"
    for case, stand_in in stand_ins.items():
        section.judge(case, [stand_in], 1.0, informative=True)
    section.judge(FIVE_FLOOR, ["bare wrapper"], 6.0, informative=True)
    for combo in (COMBO, COMBO_REGISTRY):
        section.judge(combo, ["bare wrapper"], 6.0)
        section.judge(combo, [FIVE_FLOOR], 1.0, informative=True)


def _report_fallbacks(section: Section, cases: list[Case]) -> None:
    for case in cases:
        counter = getattr(case, "fallback_counter", None)
        row = section.find(case.label)
        if counter is None or row is None or not counter.uses:
            continue
        row.note = (
            f"fallback answered {counter.uses} call(s), last for "
            f"{type(counter.last).__name__}: {counter.last}; the row is not a "
            "clean happy path"
        )


def happy_sections(
    settings: Settings, loop: asyncio.AbstractEventLoop
) -> list[Section]:
    """Time the happy path of every pattern, sync then async."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        cases = _sync_happy_cases(pool)
        sync = run_sync("sync happy path (function returns at once)", cases, settings)
    _report_fallbacks(sync, cases)
    _judge_happy(sync, is_async=False)

    cases = _async_happy_cases()
    title = "async happy path (coroutine returns at once)"
    asynchronous = run_async(title, cases, settings, loop)
    _report_fallbacks(asynchronous, cases)
    _judge_happy(asynchronous, is_async=True)
    return [sync, asynchronous]


def retry_sections(
    settings: Settings, loop: asyncio.AbstractEventLoop
) -> list[Section]:
    """Time a call that fails twice, then succeeds (three attempts, no wait)."""
    sync = run_sync(
        "sync retry path (2 failures, then success; no wait)",
        _retry_cases(make_flaky()),
        settings,
    )
    asynchronous = run_async(
        "async retry path (2 failures, then success; no wait)",
        _retry_cases(make_aflaky()),
        settings,
        loop,
    )
    for section in (sync, asynchronous):
        section.judge("ours retry", RETRY_PEERS, 1.0, informative=True)
        section.judge("ours retry", ["try/except retry loop"], 1.0, informative=True)
    return [sync, asynchronous]


class _Switch:
    """A function that fails while ``failing`` is set, to trip breakers."""

    def __init__(self) -> None:
        self.failing = True

    def __call__(self) -> int:
        if self.failing:
            raise FlakyError("tripping the breaker")
        return work()


def _tripped(
    build: Callable[[Any], Any], failures: int, run: Callable[[Any], Any] | None
) -> Any:
    """Return ``build(fn)`` after ``failures`` failed calls opened its breaker.

    ``run`` drives a coroutine to completion for async cases (``None``: sync).
    """
    switch = _Switch()
    if run is None:
        guarded = build(switch)
    else:

        async def target() -> int:
            return switch()

        guarded = build(target)
    for _ in range(failures):
        try:
            result = guarded()
            if run is not None:
                run(result)
        except Exception:
            pass
    switch.failing = False
    return guarded


def _rejecting(guarded: Any, errors: tuple[type[BaseException], ...]) -> Any:
    def call() -> None:
        try:
            guarded()
        except errors:
            pass

    return call


def _arejecting(guarded: Any, errors: tuple[type[BaseException], ...]) -> Any:
    async def call() -> None:
        try:
            await guarded()
        except errors:
            pass

    return call


def open_cases(run: Callable[[Any], Any] | None) -> list[Case]:
    """Return the open-breaker cases; ``run`` drives coroutines (None: sync)."""
    wrap = _rejecting if run is None else _arejecting

    def peer(build: Callable[[Any], Any]) -> Callable[[], Any]:
        return lambda: wrap(_tripped(build, 1, run), peers.BREAKER_ERRORS)

    def mine() -> Any:
        errors = (ours.core().CircuitOpenError,)
        return wrap(_tripped(ours.ours_open_breaker, 1, run), errors)

    floor = floors.raise_and_catch if run is None else floors.araise_and_catch
    day = 86400.0
    cases = [
        Case("raise + catch", "floor", lambda: floor, expect=None),
        Case(
            "pybreaker",
            "peer",
            peer(lambda f: peers.pybreaker_breaker(f, 1, day)),
            expect=None,
        ),
        Case(
            "circuitbreaker @circuit",
            "peer",
            peer(lambda f: peers.circuitbreaker_breaker(f, 1, day)),
            expect=None,
        ),
    ]
    if run is not None:
        build = peer(lambda f: peers.aiobreaker_breaker(f, 1, day))
        cases.append(Case("aiobreaker", "peer", build, expect=None))
    cases.append(Case("ours circuit_breaker", "ours", mine, expect=None))
    return cases


def open_sections(settings: Settings, loop: asyncio.AbstractEventLoop) -> list[Section]:
    """Time a call rejected by an open breaker, caught by the caller."""
    sync = run_sync("open-circuit rejection, sync", open_cases(None), settings)
    asynchronous = run_async(
        "open-circuit rejection, async",
        open_cases(loop.run_until_complete),
        settings,
        loop,
    )
    for section in (sync, asynchronous):
        section.judge("ours circuit_breaker", ["raise + catch"], 3.0)
        peer_names = ["pybreaker", "circuitbreaker @circuit", "aiobreaker"]
        section.judge("ours circuit_breaker", peer_names, 1.0, informative=True)
    return [sync, asynchronous]


def _thread_cases(label_suffix: str) -> list[Case]:
    return [
        Case(
            f"two-lock wrapper{label_suffix}",
            "floor",
            lambda: floors.two_lock_wrapper(work),
        ),
        Case(f"pybreaker{label_suffix}", "peer", lambda: peers.pybreaker_breaker(work)),
        Case(
            f"circuitbreaker @circuit{label_suffix}",
            "peer",
            lambda: peers.circuitbreaker_breaker(work),
        ),
        Case(
            f"ours circuit_breaker{label_suffix}",
            "ours",
            lambda: ours.ours_breaker(work),
        ),
        Case(f"ours 5 patterns{label_suffix}", "ours", lambda: ours.ours_combo(work)),
    ]


def thread_sections(settings: Settings) -> list[Section]:
    """Time one shared function called from 8 threads, and from one."""
    threads = settings.threads
    suffix = f" x{threads} threads"
    section = run_threads(
        f"{threads} threads calling one shared function (wall time / calls)",
        _thread_cases(suffix),
        settings,
    )
    single = run_sync("same functions, one thread", _thread_cases(""), settings)
    section.judge(f"ours circuit_breaker{suffix}", [f"two-lock wrapper{suffix}"], 2.0)
    section.judge(
        f"ours 5 patterns{suffix}", [f"two-lock wrapper{suffix}"], 2.0, informative=True
    )
    for row in section.rows:
        alone = single.find(row.case.removesuffix(suffix))
        if row.value and alone and alone.value:
            factor = row.value / alone.value
            row.note = f"{factor:.2f}x its one-thread cost ({alone.value:.0f} ns)"
    return [section, single]


#: Section groups of the core suite, by the key ``--section`` selects them with.
GROUPS: dict[str, Callable[[Settings, asyncio.AbstractEventLoop], list[Section]]] = {
    "happy": happy_sections,
    "retry": retry_sections,
    "open": open_sections,
    "threads": lambda settings, loop: thread_sections(settings),
}


def core_sections(settings: Settings, groups: Sequence[str] = ()) -> list[Section]:
    """Run the per-call groups named in ``groups`` (all when empty)."""
    chosen = [key for key in GROUPS if not groups or key in groups]
    loop = asyncio.new_event_loop()
    try:
        return [section for key in chosen for section in GROUPS[key](settings, loop)]
    finally:
        loop.close()
