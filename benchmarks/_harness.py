"""Timing primitives: calibrated loops, interleaved repeats, garbage and memory.

Every timing runs with the cyclic garbage collector disabled, so a collection
triggered by one case is never billed to another; :func:`garbage_per_call`
checks separately that a case leaves no cyclic garbage behind.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import statistics
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

__all__ = [
    "Settings",
    "Timing",
    "agarbage_per_call",
    "garbage_per_call",
    "memory_per_object",
    "time_async_group",
    "time_sync_group",
    "time_threads_group",
]

SyncFn = Callable[[], Any]
AsyncFn = Callable[[], Awaitable[Any]]

_NS = 1e9


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure.

    Args:
        repeats: Timed runs per case; the table reports best and median.
        min_time: Seconds one timed run should last; the loop count is
            doubled until a run takes at least this long.
        threads: Threads used by the shared-function throughput cases.
        garbage_calls: Calls made when counting cyclic garbage per call.
        memory_objects: Decorated functions made when measuring memory.
    """

    repeats: int = 7
    min_time: float = 0.04
    threads: int = 8
    garbage_calls: int = 2000
    memory_objects: int = 500

    @classmethod
    def for_mode(cls, *, quick: bool) -> Settings:
        """Return the settings for a full run, or a fast smoke run."""
        if quick:
            return cls(
                repeats=3,
                min_time=0.002,
                garbage_calls=200,
                memory_objects=50,
            )
        return cls()


@dataclass(frozen=True)
class Timing:
    """The per-call cost of one case over several timed runs.

    Attributes:
        best_ns: The fastest run, in nanoseconds per call. Ratios use it:
            the fastest run is the one least disturbed by the machine.
        median_ns: The median run, in nanoseconds per call.
        loops: Calls per timed run.
        error: Set when the case raised while being timed; the numbers are
            then meaningless (NaN).
    """

    best_ns: float
    median_ns: float
    loops: int
    error: str = ""


def _summarise(samples: Sequence[float], loops: int) -> Timing:
    return Timing(min(samples), statistics.median(samples), loops)


class _GcPaused:
    """Disable the cyclic collector for the duration of a block."""

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.collect()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()


def _run_sync(fn: SyncFn, loops: int) -> float:
    start = time.perf_counter()
    for _ in repeat(None, loops):
        fn()
    return time.perf_counter() - start


def _run_empty(loops: int) -> float:
    start = time.perf_counter()
    for _ in repeat(None, loops):
        pass
    return time.perf_counter() - start


def _calibrate(run: Callable[[int], float], min_time: float) -> int:
    loops = 1
    while True:
        elapsed = run(loops)
        if elapsed >= min_time or loops >= 1 << 26:
            return loops
        # Jump close to the target in one step once a run is measurable.
        if elapsed > min_time / 100:
            return max(loops + 1, int(loops * min_time / elapsed * 1.1))
        loops *= 2


def _loop_overhead_ns(loops: int) -> float:
    # The cost of the bare ``for`` loop, subtracted so that a row reports the
    # call it measures and not the harness's iteration.
    return min(_run_empty(loops) for _ in range(3)) * _NS / loops


Runner = Callable[[int], float]


def _failed(exc: BaseException) -> Timing:
    nan = float("nan")
    return Timing(nan, nan, 0, f"raised while timed: {type(exc).__name__}: {exc}")


def _time_group(
    runners: Sequence[Runner],
    settings: Settings,
    *,
    min_time: float,
    calls_per_loop: int = 1,
    subtract_loop: bool = True,
) -> list[Timing]:
    """Calibrate, then time interleaved runs of each runner.

    A runner takes a loop count, makes that many calls (on each of
    ``calls_per_loop`` threads) and returns the elapsed seconds. A runner
    that raises is dropped from later runs and reported as failed.
    """
    errors: dict[int, BaseException] = {}
    loops = [0] * len(runners)
    overhead = [0.0] * len(runners)
    samples: list[list[float]] = [[] for _ in runners]
    with _GcPaused():
        for index, run in enumerate(runners):
            try:
                run(1)
                loops[index] = _calibrate(run, min_time)
            except Exception as exc:
                errors[index] = exc
                continue
            if subtract_loop:
                overhead[index] = _loop_overhead_ns(loops[index])
        for _ in range(settings.repeats):
            for index, run in enumerate(runners):
                if index in errors:
                    continue
                try:
                    elapsed = run(loops[index])
                except Exception as exc:
                    errors[index] = exc
                    continue
                per_call = elapsed * _NS / (loops[index] * calls_per_loop)
                samples[index].append(max(per_call - overhead[index], 0.0))
    return [
        _failed(errors[index]) if index in errors else _summarise(s, loops[index])
        for index, s in enumerate(samples)
    ]


def time_sync_group(cases: Sequence[SyncFn], settings: Settings) -> list[Timing]:
    """Time sync callables, interleaving their runs.

    Runs are interleaved (case 1, case 2, ..., case 1, ...) so that a slow
    stretch of the machine touches every case of a comparison alike.

    Args:
        cases: Zero-argument callables, each warmed up before timing.
        settings: Repeats and run length.

    Returns:
        One :class:`Timing` per case, in order.
    """
    runners = [functools.partial(_run_sync, fn) for fn in cases]
    return _time_group(runners, settings, min_time=settings.min_time)


async def _run_async(fn: AsyncFn, loops: int) -> float:
    start = time.perf_counter()
    for _ in repeat(None, loops):
        await fn()
    return time.perf_counter() - start


def time_async_group(
    cases: Sequence[AsyncFn],
    settings: Settings,
    loop: asyncio.AbstractEventLoop,
) -> list[Timing]:
    """Time coroutine functions inside one running event loop.

    Each timed run is a single task awaiting the case in a loop, so the
    numbers hold the cost of creating and awaiting one coroutine per call
    and none of the event loop's start-up.

    Args:
        cases: Zero-argument coroutine functions.
        settings: Repeats and run length.
        loop: The event loop to run in (one per suite, reused).

    Returns:
        One :class:`Timing` per case, in order.
    """

    def runner(fn: AsyncFn) -> Runner:
        return lambda loops: loop.run_until_complete(_run_async(fn, loops))

    runners = [runner(fn) for fn in cases]
    return _time_group(runners, settings, min_time=settings.min_time)


def _run_threads(fn: SyncFn, threads: int, loops: int) -> float:
    barrier = threading.Barrier(threads + 1)
    failures: list[BaseException] = []

    def work() -> None:
        barrier.wait()
        try:
            for _ in repeat(None, loops):
                fn()
        except Exception as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()

    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return elapsed


def time_threads_group(cases: Sequence[SyncFn], settings: Settings) -> list[Timing]:
    """Time callables called at once from ``settings.threads`` threads.

    The reported cost is wall time divided by the total number of calls, so
    it is the cost per call as seen by the process's throughput: with the
    GIL, a cost far above the single-thread cost means threads queue on a
    lock (a convoy) rather than on the interpreter.

    Args:
        cases: Zero-argument callables shared by every thread.
        settings: Repeats, run length and thread count.

    Returns:
        One :class:`Timing` per case, in order.
    """
    threads = settings.threads
    runners = [functools.partial(_run_threads, fn, threads) for fn in cases]
    return _time_group(
        runners,
        settings,
        min_time=settings.min_time * 2,
        calls_per_loop=threads,
        subtract_loop=False,
    )


def garbage_per_call(fn: SyncFn, calls: int) -> float:
    """Return the objects the cyclic collector finds per call of ``fn``.

    Reference counting frees everything acyclic at once, so whatever
    :func:`gc.collect` still finds after the calls was kept alive only by
    reference cycles (exception tracebacks holding their own frame are the
    usual culprit).

    Args:
        fn: The case, warmed up here before counting.
        calls: How many calls to make.
    """
    fn()
    with _GcPaused():
        for _ in repeat(None, calls):
            fn()
        found = gc.collect()
    return found / calls


def agarbage_per_call(
    fn: AsyncFn, calls: int, loop: asyncio.AbstractEventLoop
) -> float:
    """Async twin of :func:`garbage_per_call`; all calls run in one task."""
    loop.run_until_complete(_run_async(fn, 1))
    with _GcPaused():
        loop.run_until_complete(_run_async(fn, calls))
        found = gc.collect()
    return found / calls


def memory_per_object(
    make: Callable[[int], Any],
    use: Callable[[Any], Any] | None,
    count: int,
) -> tuple[float, float]:
    """Return bytes held per object made by ``make``, before and after use.

    Args:
        make: Builds the ``i``-th object (e.g. decorates a fresh function).
            Whatever it allocates and keeps alive is billed to the object.
        use: Called once on each object after the first measurement (e.g.
            calls the decorated function, to count state made lazily), or
            ``None`` to skip the second measurement.
        count: How many objects to make.

    Returns:
        ``(bytes per object after making, bytes per object after use)``;
        the second value equals the first when ``use`` is ``None``.
    """
    keep: list[Any] = [None] * count
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(count):
            keep[index] = make(index)
        gc.collect()
        made = tracemalloc.get_traced_memory()[0]
        if use is not None:
            for obj in keep:
                use(obj)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (made - before) / count, (used - before) / count
