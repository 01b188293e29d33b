"""Time limits: worker threads for sync code, a cancel scope for async code.

Python cannot kill a thread. A sync function that times out keeps running in
its worker until it returns on its own; the caller just stops waiting. Those
*abandoned* workers are bounded by the pool size and counted by
:func:`timeout_worker_stats`. The worker runs in a copy of the caller's
``contextvars`` context. The limit starts when a worker picks the call up,
so time spent waiting for a free worker never counts against it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ._exceptions import ResilienceTimeoutError

__all__ = [
    "TimeoutWorkerStats",
    "call_with_timeout",
    "call_with_timeout_async",
    "shutdown_workers",
    "timeout_worker_stats",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POOL_SIZE = 32
_IDLE_SECONDS = 60.0
_STOP = object()  # tells one worker to exit


@dataclass(frozen=True)
class TimeoutWorkerStats:
    """Worker threads used for sync timeouts, over all pools."""

    threads: int
    busy: int
    abandoned: int


class _Job:
    __slots__ = (
        "abandoned",
        "args",
        "context",
        "done",
        "error",
        "fn",
        "kwargs",
        "result",
        "skip",
        "started",
        "started_at",
        "on_finish",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: Any,
        kwargs: Any,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.on_finish = on_finish
        self.context = contextvars.copy_context()
        self.started = threading.Event()
        self.done = threading.Event()
        self.started_at = 0.0
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        self.skip = False


class _WorkerPool:
    """Daemon threads, started on demand up to ``size``, retired when idle.

    Daemon threads, unlike ``ThreadPoolExecutor``'s, never keep the
    interpreter from exiting because of a call nobody waits for any more.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self.threads = 0
        self.idle = 0
        self.queued = 0
        self.abandoned = 0

    def submit(self, job: _Job) -> None:
        with self._lock:
            self.queued += 1
            # Start a worker unless enough idle ones wait for the queued jobs,
            # so a burst of calls gets a burst of workers (up to the size).
            if self.idle < self.queued and self.threads < self.size:
                self.threads += 1
                threading.Thread(
                    target=self._work, name="pyresilience-timeout", daemon=True
                ).start()
        self._jobs.put(job)

    def abandon(self, job: _Job) -> None:
        with self._lock:
            if job.done.is_set() or job.abandoned or job.skip:
                return
            if not job.started.is_set():
                job.skip = True  # never run a call nobody waits for
                finish, job.on_finish = job.on_finish, None
                count = 0
            else:
                finish = None
                job.abandoned = True
                self.abandoned += 1
                count = self.abandoned
        if finish is not None:
            finish()
        if not count:
            return
        # Warn on the first abandoned worker and when the pool is exhausted;
        # one line per timed-out call would flood the log under load.
        level = logging.WARNING if count in (1, self.size) else logging.DEBUG
        logger.log(
            level,
            "pyresilience.worker_abandoned: %s still running after its timeout "
            "(%d abandoned of %d; Python cannot stop a thread)",
            getattr(job.fn, "__qualname__", job.fn),
            count,
            self.size,
        )

    def stop(self) -> None:
        with self._lock:
            count = self.threads
        for _ in range(count):
            self._jobs.put(_STOP)

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            with self._lock:
                if job.skip:
                    continue
                job.started_at = time.monotonic()
                job.started.set()
            try:
                job.result = job.context.run(job.fn, *job.args, **job.kwargs)
            except BaseException as error:  # handed to the caller, not lost
                job.error = error
            # Before ``done``: the caller may call again as soon as it wakes.
            self._finish(job)
            with self._lock:
                job.done.set()
                if job.abandoned:
                    self.abandoned -= 1

    @staticmethod
    def _finish(job: _Job) -> None:
        finish, job.on_finish = job.on_finish, None
        if finish is not None:
            try:
                finish()
            except Exception:
                logger.exception("pyresilience.worker_finish_failed")

    def _next_job(self) -> _Job | None:
        """The next job, or None when this worker should exit."""
        while True:
            with self._lock:
                self.idle += 1
            try:
                item = self._jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                item = None
            with self._lock:
                self.idle -= 1
                if isinstance(item, _Job):
                    self.queued -= 1
                    return item
                if item is _STOP or self._jobs.empty():
                    self.threads -= 1
                    return None
            # Idle too long but work is queued: stay and take it.


_pools: dict[int, _WorkerPool] = {}
_pools_lock = threading.Lock()


def _pool(size: int | None) -> _WorkerPool:
    size = size or DEFAULT_POOL_SIZE
    pool = _pools.get(size)
    if pool is None:
        with _pools_lock:
            pool = _pools.setdefault(size, _WorkerPool(size))
    return pool


def call_with_timeout(
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    seconds: float,
    *,
    pool_size: int | None = None,
    policy: str | None = None,
    on_finish: Callable[[], None] | None = None,
    total: float | None = None,
) -> T:
    """Run ``fn`` in a worker and wait at most ``seconds`` once it starts.

    ``on_finish`` runs exactly once when ``fn`` returns or raises, even after
    the caller gave up waiting (or at once if the call never started).
    ``total`` is the whole call's deadline when ``seconds`` is what is left
    of it; errors then report the deadline, not the remainder.
    """
    pool = _pool(pool_size)
    job = _Job(fn, args, kwargs, on_finish)
    pool.submit(job)
    # Event.wait refuses timeouts above TIMEOUT_MAX (about 292 years).
    limit = min(seconds, threading.TIMEOUT_MAX)
    try:
        if not job.started.wait(limit) and not job.started.is_set():
            pool.abandon(job)
            raise ResilienceTimeoutError(
                f"no timeout worker became free within {seconds:g}s "
                f"({pool.abandoned} of {pool.size} workers abandoned)",
                policy=policy,
                seconds=seconds,
            )
        remaining = limit - (time.monotonic() - job.started_at)
        if not job.done.wait(max(remaining, 0.0)):
            pool.abandon(job)
            raise _timed_out(fn, seconds, total, policy)
    except BaseException:
        pool.abandon(job)
        raise
    if job.error is not None:
        error, job.error = job.error, None
        raise error
    return job.result  # type: ignore[no-any-return]


if sys.version_info >= (3, 11):

    async def call_with_timeout_async(
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        seconds: float,
        *,
        policy: str | None = None,
        total: float | None = None,
    ) -> T:
        """Await ``fn`` for at most ``seconds``; cancel it when time is up."""
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await fn(*args, **kwargs)
        except TimeoutError as error:
            # Only our own deadline becomes our error; a TimeoutError raised
            # by the function itself passes through untouched.
            if not scope.expired():
                raise
            raise _timed_out(fn, seconds, total, policy) from error

else:  # pragma: no cover - exercised on Python 3.10 only

    async def call_with_timeout_async(
        fn: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        seconds: float,
        *,
        policy: str | None = None,
        total: float | None = None,
    ) -> T:
        """Await ``fn`` for at most ``seconds``; cancel it when time is up."""
        task = asyncio.ensure_future(fn(*args, **kwargs))
        done, _ = await asyncio.wait((task,), timeout=seconds)
        if not done:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            raise _timed_out(fn, seconds, total, policy)
        return task.result()


def timeout_worker_stats() -> TimeoutWorkerStats:
    """Worker threads for sync timeouts: alive, busy, and abandoned."""
    with _pools_lock:
        pools = list(_pools.values())
    return TimeoutWorkerStats(
        threads=sum(pool.threads for pool in pools),
        busy=sum(pool.threads - pool.idle for pool in pools),
        abandoned=sum(pool.abandoned for pool in pools),
    )


def shutdown_workers() -> None:
    """Let idle timeout workers exit; abandoned ones end when their call does."""
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        pool.stop()


def _timed_out(
    fn: object, seconds: float, total: float | None, policy: str | None
) -> ResilienceTimeoutError:
    if total is not None:
        return ResilienceTimeoutError(
            f"{_name(fn)} ran past the total deadline of {total:g}s",
            policy=policy,
            seconds=total,
        )
    return ResilienceTimeoutError(
        f"{_name(fn)} timed out after {seconds:g}s", policy=policy, seconds=seconds
    )


def _name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
